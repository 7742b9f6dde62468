"""Multi-workspace admin setup: App Home's setup section and the setup modal.

- `app_home_opened`, only while the workspace has no usable Debitura key (never set, or refused):
  publishes the setup section (a "Set up Debitura" button for the installer and the admins). A
  matcher lets every other App Home open go to the App Home listener registered after this module.
- the button, and the global shortcut "Caseroom settings" (any time): open the setup modal.
- the modal's submission: the key is checked with GET /me inside the 3 s ack (an error on the field
  when refused), stored encrypted, and App Home is published again.

In single-workspace mode nothing here answers (`runtime.workspace` is None): settings come from the
environment.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from blocks.forms import build_result_view
from blocks.ids import Action, Block, Callback, Shortcut
from blocks.workspace_setup import SetupStatus, build_setup_home, build_setup_modal, parse_setup_form
from bot.services import workspace_setup as setup
from bot.services.errors import CaseroomError, report

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncAck, AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.runtime import Runtime

log = logging.getLogger(__name__)

SINGLE_WORKSPACE = ("Caseroom's settings come from its environment on this deployment (single-workspace "
                    "mode); ask whoever runs it.")


def register(app: AsyncApp, runtime: Runtime) -> None:
    async def home_needs_setup(body: dict[str, Any]) -> bool:
        event = body.get("event") or {}
        if event.get("tab") not in (None, "home"):
            return False
        try:
            return setup.needs_setup(runtime)
        except Exception:  # no workspace resolved: not ours to answer
            return False

    @app.event("app_home_opened", matchers=[home_needs_setup])
    async def _home(event: dict[str, Any], client: AsyncWebClient) -> None:
        user_id = str(event.get("user") or "")
        status = setup.setup_status(runtime, user_id)
        if status is None or not user_id:
            return
        await client.views_publish(user_id=user_id, view=build_setup_home(status))

    async def open_modal(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        user_id = str((body.get("user") or {}).get("id") or "")
        handle = setup.workspace(runtime)
        if handle is None:
            await ack()
            await _tell(client, body, user_id, SINGLE_WORKSPACE)
            return
        if not setup.may_set_up(runtime, user_id):
            await ack()
            await _tell(client, body, user_id, "Only the person who installed Caseroom here and the admins "
                                               "they chose can change its settings.")
            return
        await ack()
        config = handle.config
        view = build_setup_modal(key_saved=config.configured, secret_saved=bool(config.webhook_secret),
                                 admins=config.admins, lifecycles=config.lifecycles
                                 or list(runtime.settings.caseroom_relay_lifecycles))
        await client.views_open(trigger_id=body["trigger_id"], view=view)

    app.action(Action.OPEN_WORKSPACE_SETUP)(open_modal)
    app.shortcut(Shortcut.WORKSPACE_SETUP)(open_modal)

    @app.view(Callback.WORKSPACE_SETUP)
    async def _submit(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        user_id = str((body.get("user") or {}).get("id") or "")
        handle = setup.workspace(runtime)
        values = ((body.get("view") or {}).get("state") or {}).get("values") or {}
        form = parse_setup_form(values, key_saved=bool(handle and handle.config.configured))
        if isinstance(form, dict):
            await ack(response_action="errors", errors=dict(form))
            return
        try:
            await setup.save_setup(runtime, user_id, form)
        except setup.KeyRefused as exc:
            await ack(response_action="errors", errors={str(Block.SETUP_API_KEY): exc.message})
            return
        except CaseroomError as exc:
            await ack(response_action="errors", errors={str(Block.SETUP_API_KEY): exc.message})
            return
        except Exception as exc:
            text = report(exc, where="workspace setup")
            await ack(response_action="errors", errors={str(Block.SETUP_API_KEY): text[:150]})
            return
        await ack()
        try:
            await client.views_publish(user_id=user_id, view=build_setup_home(
                SetupStatus(configured=True, key_invalid=False, problem="", is_admin=True,
                                  partner_name="")))
        except Exception as exc:  # the settings are saved; a stale Home is only cosmetic
            log.info("App Home not refreshed after setup: %s", type(exc).__name__)


async def _tell(client: AsyncWebClient, body: dict[str, Any], user_id: str, text: str) -> None:
    """Answer the person where they are: a modal (the trigger_id of their click or shortcut), else an
    ephemeral message in the channel."""
    channel = (body.get("channel") or {}).get("id") or body.get("channel_id")
    try:
        if body.get("trigger_id"):
            await client.views_open(trigger_id=body["trigger_id"],
                                    view=build_result_view("Caseroom setup", text, success=False))
        elif channel:
            await client.chat_postEphemeral(channel=channel, user=user_id, text=text)
    except Exception as exc:
        log.info("could not tell %s about workspace settings: %s", user_id, type(exc).__name__)
