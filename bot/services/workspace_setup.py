"""Multi-workspace mode: a workspace's Debitura settings, set up from App Home by its admins.

No Bolt types here. `setup_status` says what App Home shows; `save_setup` checks the API key with
Debitura (GET /me) before anything is stored, then stores it encrypted (bot/store/workspaces.py) and
tells the deployment (the workspace's runtime is rebuilt with the key, its relay starts or resumes).
The key is never echoed, logged or put in a view.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from blocks.workspace_setup import SetupForm, SetupStatus
from bot.debitura.client import DebituraClient
from bot.debitura.errors import DebituraError, Unauthorized
from bot.services.errors import BadInput, Refused
from bot.store.workspaces import WorkspaceHandle

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)

KEY_CHECK_TIMEOUT = 2.5
"""GET /me runs inside the 3 s a modal submission has for its answer."""


class KeyRefused(BadInput):
    """Debitura refused the key (or could not be asked); `message` is for the form's key field."""


def workspace(runtime: Runtime) -> WorkspaceHandle | None:
    return runtime.workspace


def may_set_up(runtime: Runtime, user_id: str) -> bool:
    """The installer and the admins chosen in the setup (the workspace's CASEROOM_ADMIN_USERS)."""
    handle = runtime.workspace
    if handle is None:
        return False
    return user_id == handle.installer or user_id in handle.config.admins


def setup_status(runtime: Runtime, user_id: str) -> SetupStatus | None:
    handle = runtime.workspace
    if handle is None:
        return None
    config = handle.config
    return SetupStatus(configured=config.configured, key_invalid=not config.usable and config.configured,
                       problem=config.key_problem, is_admin=may_set_up(runtime, user_id),
                       partner_name=config.partner_name)


def needs_setup(runtime: Runtime) -> bool:
    """Multi-workspace mode and the workspace has no usable Debitura key."""
    handle = runtime.workspace
    return handle is not None and not handle.config.usable


async def check_key(runtime: Runtime, api_key: str) -> str:
    """GET /me with `api_key`; the partner's company name, or KeyRefused."""
    client = DebituraClient(str(runtime.settings.debitura_api_url), api_key, metrics=runtime.metrics,
                            max_retries=1, timeout=KEY_CHECK_TIMEOUT)
    try:
        profile = await asyncio.wait_for(client.me(), KEY_CHECK_TIMEOUT)
    except Unauthorized:
        raise KeyRefused("Debitura refused this API key. Copy it again from the Partner Portal "
                         "(API Keys); nothing was saved.") from None
    except (TimeoutError, DebituraError) as exc:
        log.info("Debitura key check failed: %s", type(exc).__name__)
        raise KeyRefused("Debitura could not be asked about this key just now; nothing was saved. "
                         "Try again in a minute.") from None
    finally:
        await client.aclose()
    return profile.company_name or ""


async def save_setup(runtime: Runtime, user_id: str, form: SetupForm) -> None:
    """Check and store the settings. Raises Refused (not an admin) or KeyRefused (for the key field)."""
    handle = runtime.workspace
    if handle is None:
        raise Refused("Workspace settings exist only when Caseroom serves several workspaces.")
    if not may_set_up(runtime, user_id):
        raise Refused("Only the person who installed Caseroom here and the admins they chose can change "
                      "its settings.")
    lifecycles = form.lifecycles
    if form.api_key is not None:
        partner = await check_key(runtime, form.api_key)
        await handle.store.save_debitura(api_key=form.api_key, webhook_secret=form.webhook_secret,
                                         admins=form.admins, lifecycles=lifecycles, partner_name=partner,
                                         user_id=user_id)
    else:
        if not handle.config.configured:
            raise KeyRefused("Paste this workspace's Debitura API key.")
        await handle.store.save_access(admins=form.admins, lifecycles=lifecycles,
                                       webhook_secret=form.webhook_secret, user_id=user_id)
    log.info("workspace %s: Debitura settings saved by %s", handle.id, user_id)
    await handle.changed()
