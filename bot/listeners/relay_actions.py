"""Buttons on relayed messages in case channels: Reply (send a chat) and Add note.

Both ack at once and open the write modal (`bot.listeners.writes.opening`) with the clicking user, so the
chat or note is sent as that person (a Debitura team member, checked by the modal), never as a bot.
The button value carries the case (`CaseRef`); a stale or tampered value gets an ephemeral message
with an error id.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from blocks.ids import Action
from blocks.metadata import CaseRef, MetadataError
from bot.services.errors import BadInput, report

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.runtime import Runtime

log = logging.getLogger(__name__)

STALE_BUTTON = "This button is from a message Caseroom cannot read any more. Use /case in the channel."

BUTTON_KINDS = {Action.REPLY: "chat", Action.NOTE_FROM_RELAY: "note"}


def parse_button(body: dict[str, Any]) -> tuple[CaseRef, str, str | None, str]:
    """(case, user id, channel id, trigger id) of a relay button click; BadInput if unreadable."""
    actions = body.get("actions") or []
    value = str(actions[0].get("value") or "") if actions and isinstance(actions[0], dict) else ""
    try:
        ref = CaseRef.decode(value)
    except MetadataError:
        raise BadInput(STALE_BUTTON) from None
    user = body.get("user") or {}
    channel = body.get("channel") or {}
    trigger_id = str(body.get("trigger_id") or "")
    if not trigger_id:
        raise BadInput("Slack sent this click without a trigger; click the button again.")
    return ref, str(user.get("id") or ""), (str(channel.get("id") or "") or None), trigger_id


def register(app: AsyncApp, runtime: Runtime) -> None:
    for action_id, kind in BUTTON_KINDS.items():
        _register_button(app, runtime, action_id, kind)


def _register_button(app: AsyncApp, runtime: Runtime, action_id: Action, kind: str) -> None:
    @app.action(action_id)
    async def _open(ack: AsyncAck, respond: AsyncRespond, body: dict[str, Any],
                    client: AsyncWebClient) -> None:
        await ack()
        try:
            ref, user_id, channel_id, trigger_id = parse_button(body)
            from bot.listeners.writes.opening import open_write_modal

            await open_write_modal(runtime, client, kind=kind, case_ref=ref.id, trigger_id=trigger_id,
                                   user_id=user_id, channel_id=channel_id or ref.ch)
        except Exception as exc:
            text = report(exc, where=f"relay button {kind}", logger=log)
            await respond(text=text, response_type="ephemeral", replace_original=False)
