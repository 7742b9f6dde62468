"""Audit of every successful write made from Slack.

`record_write()` appends one entry to the audit stream (`runtime.stores.audit`, bot/store/audit.py):
who, what, which case, a summary of the request and the result.
When the case has a channel, it also posts one line there ("<@U1> recorded a payment of 250.00 EUR").

The write has already happened when this runs, so a failure here is logged and never raised: the
person must not be told their payment failed because the audit line could not be posted.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError

from blocks.text import esc, one_line, truncate
from bot.slack import sharing
from bot.slack.errors import slack_error

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)

MAX_SUMMARY_JSON = 4000
MAX_LINE = 500

DEFAULT_PHRASES = {
    "note": "added a note",
    "payment": "recorded a payment",
    "payment_edit": "edited a payment",
    "payment_delete": "deleted a payment",
    "chat": "sent a chat message",
    "upload": "uploaded a file",
    "close": "closed the case",
    "activate": "activated the case",
    "fees": "updated the fees",
}


def _json(value: Mapping[str, Any] | str | None) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str,
                                                          separators=(",", ":"))
    return truncate(text, MAX_SUMMARY_JSON)


def audit_line(user_id: str, action: str, phrase: str | None, case_reference: str | None) -> str:
    """The channel line: `<@U1> recorded a payment of 250.00 EUR on Q8OAXF3W.` (phrase is plain text)."""
    what = one_line(phrase or DEFAULT_PHRASES.get(action) or action.replace("_", " "))
    text = f"<@{esc(user_id)}> {esc(truncate(what, MAX_LINE))}"
    if case_reference:
        text += f" on {esc(case_reference)}"
    return text + "."


async def record_write(
    runtime: Runtime,
    *,
    user_id: str,
    action: str,
    case_id: str,
    case_reference: str | None,
    summary: Mapping[str, Any] | str | None,
    result: Mapping[str, Any] | str | None,
    line: str | None = None,
) -> str | None:
    """Append the audit entry and post the channel line. Returns the stream entry id (None on failure).

    `action` is a short verb-ish name (`note`, `payment`, `close`...); `line` the phrase after the
    user's name in the channel ("recorded a payment of 250.00 EUR"); without it a default per action
    is used. Never raises.
    """
    entry = {
        "ts": f"{time.time():.3f}",
        "user": user_id,
        "action": action,
        "case_id": case_id,
        "case_reference": case_reference or "",
        "summary": _json(summary),
        "result": _json(result),
        "process": runtime.process_id,
    }
    entry_id: str | None = None
    try:
        entry_id = await runtime.stores.audit.append(entry)
    except Exception:
        log.exception("could not append the audit entry for %s on case %s by %s", action, case_id, user_id)
    await post_channel_line(runtime, case_id=case_id, text=audit_line(user_id, action, line, case_reference))
    return entry_id


async def post_channel_line(runtime: Runtime, *, case_id: str, text: str) -> None:
    """Post `text` in the case's channel when it has one; log and swallow failures."""
    from bot.slack.channels import channel_for_case

    try:
        channel = await channel_for_case(runtime, case_id)
    except Exception:
        log.exception("could not look up the channel of case %s for the audit line", case_id)
        return
    if channel is None:
        return
    if channel.archived:
        return
    channel_id = channel.id
    try:  # the Slack Connect rule, as for the relay: no case data into a channel shared outside
        shared = await sharing.channel_sharing(runtime, channel_id) is sharing.Sharing.EXTERNAL
    except Exception as exc:
        why = slack_error(exc) if isinstance(exc, SlackApiError) else type(exc).__name__
        log.warning("could not check whether %s is shared outside the workspace (%s); audit line not "
                    "posted", channel_id, why)
        return
    if shared:
        log.warning("audit line not posted in %s: the channel is shared with another organisation",
                    channel_id)
        return
    try:
        await runtime.slack.chat_postMessage(channel=channel_id, text=text, unfurl_links=False,
                                             unfurl_media=False)
    except SlackApiError as exc:
        log.warning("could not post the audit line in %s: %s", channel_id, exc.response.get("error"))


async def recent_entries(runtime: Runtime, count: int = 50) -> list[dict[str, str]]:
    """The newest audit entries, newest first (for `caseroom check` and tests)."""
    return await runtime.stores.audit.recent(count)
