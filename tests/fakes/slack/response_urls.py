"""What a POST to a response_url does: Slack's webhook-style rules and answers.

Budget: 5 accepted posts within 30 minutes of issue (`used_url` / `expired_url`, HTTP 404).
Body: `text`/`blocks` (checked like messages: 400 `invalid_blocks`, 400 `no_text`),
`response_type` ephemeral (default: a new message only the user sees) or in_channel (a message for
everyone), `replace_original` (edit the message the interaction came from, ephemeral or not),
`delete_original`, `thread_ts`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.fakes.slack.validation import MAX_MESSAGE_TEXT, validate_message
from tests.fakes.slack.workspace import RESPONSE_URL_TTL, RESPONSE_URL_USES, Message, ResponseUrl, Workspace


@dataclass
class Outcome:
    status: int
    error: str | None = None
    message_ts: str | None = None
    """The message the post created or changed (ephemeral or in the channel)."""


def post(ws: Workspace, record: ResponseUrl | None, body: Any) -> Outcome:
    if not isinstance(body, dict):
        return Outcome(400, "invalid_payload")
    if record is None:
        return Outcome(404, "no_service")
    if ws.now() - record.issued_at > RESPONSE_URL_TTL:
        return Outcome(404, "expired_url")
    if record.uses >= RESPONSE_URL_USES:
        return Outcome(404, "used_url")
    outcome = _apply(ws, record, body)
    if outcome.error is None:
        record.uses += 1
    return outcome


def _original(ws: Workspace, record: ResponseUrl) -> Message | None:
    if record.message_ts is None:
        return None
    channel = ws.channels.get(record.channel_id or "")
    found = channel.find(record.message_ts) if channel else None
    return found or ws.ephemerals.get(record.message_ts)


def _apply(ws: Workspace, record: ResponseUrl, body: dict[str, Any]) -> Outcome:
    channel = ws.channels.get(record.channel_id or "")
    if body.get("delete_original"):
        original = _original(ws, record)
        if original is None:
            return Outcome(404, "message_not_found")
        ws.delete_message(original)
        return Outcome(200, message_ts=original.ts)
    if validate_message(body):
        return Outcome(400, "invalid_blocks")
    text = str(body.get("text") or "")[:MAX_MESSAGE_TEXT]
    blocks = body.get("blocks")
    if not text and not blocks and not body.get("attachments"):
        return Outcome(400, "no_text")
    if body.get("replace_original") and record.message_ts is not None:
        original = _original(ws, record)
        if original is None:
            return Outcome(404, "message_not_found")
        original.text, original.blocks = text, blocks
        original.edited = {"user": ws.BOT_USER_ID, "ts": ws.new_ts()}
        return Outcome(200, message_ts=original.ts)
    if channel is None:
        return Outcome(404, "channel_not_found")
    if body.get("response_type") == "in_channel":
        if channel.is_archived:
            return Outcome(410, "channel_is_archived")
        message = ws.add_bot_message(
            channel,
            text=text,
            blocks=blocks,
            attachments=body.get("attachments"),
            thread_ts=body.get("thread_ts"),
            metadata=None,
        )
        return Outcome(200, message_ts=message.ts)
    ephemeral = ws.add_ephemeral(channel.id, record.user_id, text=text, blocks=blocks)
    return Outcome(200, message_ts=ephemeral.ts)
