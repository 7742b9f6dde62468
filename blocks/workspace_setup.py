"""Multi-workspace admin setup: the App Home section shown while a workspace is not set up (or its
Debitura key was refused), and the setup modal (API key, webhook secret, admins, relay lifecycles).

The key and the secret are never put back into a view: the modal says whether one is saved, and an
empty field keeps it.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from blocks.forms import MAX_OPTIONS, View, input_block, modal, option, text_element
from blocks.ids import Action, Block, Callback, Element
from blocks.parse import FormErrors, StateValues, element_state, selected_values, text_value
from blocks.text import context, esc, plain, section
from bot.debitura.models import Lifecycle

API_KEY_MAX = 200
WEBHOOK_SECRET_MAX = 200
ADMINS_MAX = 50


@dataclass(frozen=True)
class SetupStatus:
    configured: bool
    key_invalid: bool
    problem: str
    is_admin: bool
    partner_name: str = ""


@dataclass(frozen=True)
class SetupForm:
    api_key: str | None
    """None: keep the saved key."""
    webhook_secret: str | None
    admins: list[str]
    lifecycles: list[str]


def setup_home_blocks(status: SetupStatus) -> list[dict[str, Any]]:
    """The setup section of App Home (a view of its own while the workspace needs setting up)."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": plain("Caseroom setup", 150)},
    ]
    if status.key_invalid:
        text = (":warning: *Debitura refused this workspace's API key*, so relaying case events is paused "
                "here (other workspaces are not affected).")
        if status.problem:
            text += f"\n{esc(status.problem)}"
    elif not status.configured:
        text = ("Caseroom is installed, but not connected to Debitura yet: it needs this workspace's "
                "Debitura API key.")
    else:
        partner = f" as *{esc(status.partner_name)}*" if status.partner_name else ""
        text = f"Caseroom is connected to Debitura{partner}."
    blocks.append(section(text))
    if status.is_admin:
        blocks.append({
            "type": "actions",
            "elements": [{
                "type": "button", "action_id": str(Action.OPEN_WORKSPACE_SETUP), "style": "primary",
                "text": plain("Set up Debitura" if not status.configured else "Change Debitura settings", 75),
                "value": "setup",
            }],
        })
        blocks.append(context("Only this workspace's installer and the admins chosen here see this button. "
                              "The key is checked with Debitura before it is saved, stored encrypted and "
                              "never shown again."))
    else:
        blocks.append(context("An admin of Caseroom in this workspace (the person who installed it) can "
                              "set it up from here."))
    return blocks


def build_setup_home(status: SetupStatus) -> View:
    return {"type": "home", "blocks": setup_home_blocks(status)}


def lifecycle_options() -> list[dict[str, Any]]:
    return [option(str(member), member.display) for member in list(Lifecycle)[:MAX_OPTIONS]]


def build_setup_modal(*, key_saved: bool, secret_saved: bool, admins: Sequence[str],
                      lifecycles: Sequence[str]) -> View:
    options = lifecycle_options()
    chosen = [o for o in options if o["value"] in set(lifecycles)]
    lifecycle_el: dict[str, Any] = {"type": "multi_static_select", "action_id": str(Element.VALUE),
                                    "options": options, "placeholder": plain("Lifecycles", 150)}
    if chosen:
        lifecycle_el["initial_options"] = chosen
    admins_el: dict[str, Any] = {"type": "multi_users_select", "action_id": str(Element.VALUE),
                                 "placeholder": plain("People who may change these settings", 150),
                                 "max_selected_items": ADMINS_MAX}
    if admins:
        admins_el["initial_users"] = list(admins)[:ADMINS_MAX]
    blocks: list[dict[str, Any]] = [
        input_block(Block.SETUP_API_KEY, "Debitura API key",
                    text_element(max_length=API_KEY_MAX,
                                 placeholder="Leave empty to keep the saved key" if key_saved
                                 else "Partner Portal > API Keys"),
                    optional=key_saved,
                    hint="Checked with Debitura (GET /me) before it is saved; stored encrypted, never shown "
                         "again." + (" A key is saved." if key_saved else "")),
        input_block(Block.SETUP_WEBHOOK_SECRET, "Webhook secret (base64)",
                    text_element(max_length=WEBHOOK_SECRET_MAX,
                                 placeholder="Leave empty to keep the saved secret" if secret_saved
                                 else "From the Debitura webhook subscription"),
                    optional=True,
                    hint="Debitura signs its webhooks with it; deliveries go to "
                         "/debitura/webhooks/<team id>."),
        input_block(Block.SETUP_ADMINS, "Caseroom admins", admins_el, optional=True,
                    hint="They may change these settings and do the admin-only writes (close, activate, "
                         "fees, edit or delete payments). The installer always may."),
        input_block(Block.SETUP_LIFECYCLES, "Relay cases in these lifecycles", lifecycle_el, optional=True),
    ]
    return modal(Callback.WORKSPACE_SETUP, "Caseroom setup", blocks, submit="Save")


def parse_setup_form(values: StateValues, *, key_saved: bool) -> SetupForm | FormErrors:
    errors = FormErrors()
    key = text_value(values, Block.SETUP_API_KEY)
    if not key and not key_saved:
        errors[Block.SETUP_API_KEY] = "Paste this workspace's Debitura API key."
    elif key and (len(key) > API_KEY_MAX or any(c.isspace() for c in key)):
        errors[Block.SETUP_API_KEY] = ("That does not look like an API key (no spaces, at most 200 "
                                       "characters).")
    secret = text_value(values, Block.SETUP_WEBHOOK_SECRET)
    if secret:
        try:
            base64.b64decode(secret, validate=True)
        except (binascii.Error, ValueError):
            errors[Block.SETUP_WEBHOOK_SECRET] = "The webhook secret is base64, as Debitura shows it."
    state = element_state(values, Block.SETUP_ADMINS) or {}
    users = state.get("selected_users") or []
    admins = [u for u in users if isinstance(u, str)] if isinstance(users, list) else []
    lifecycles = sorted(selected_values(values, Block.SETUP_LIFECYCLES))
    if errors:
        return errors
    return SetupForm(api_key=key or None, webhook_secret=secret or None, admins=admins, lifecycles=lifecycles)
