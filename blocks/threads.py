"""Messages about thread replies and reactions in case channels (all ephemeral, to one person).

- `build_thread_offer`: under a reply to a relayed creditor chat, "Send this to the creditor as
  you?" with Send / Edit / Don't send (the value of each is the `ThreadReply`).
- `build_thread_sent`, `build_thread_kept`, `build_edit_not_sent`, `build_thread_notice`: what the
  offer becomes, and the later notices.
Times are Slack date tokens (`<!date^…>`), shown in the reader's own time zone.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from blocks.ids import Action
from blocks.metadata import ThreadReply
from blocks.text import (
    MAX_FALLBACK_TEXT,
    actions,
    button,
    context,
    esc,
    esc_trunc,
    one_line,
    section,
    truncate,
)

Message = dict[str, Any]

EXCERPT = 600
"""Characters of the reply quoted in the offer."""


def slack_time(at: float) -> str:
    """HH:MM in the reader's time zone (the fallback is UTC)."""
    fallback = datetime.fromtimestamp(at, UTC).strftime("%H:%M UTC")
    return f"<!date^{int(at)}^{{time}}|{fallback}>"


def _quote(text: str) -> str:
    body = esc_trunc(text.strip(), EXCERPT)
    return "\n".join("> " + line for line in body.splitlines() or [" "])


def build_thread_offer(reply: ThreadReply, *, text: str, sender: str, problem: str | None = None) -> Message:
    """The confirmation under a thread reply: nothing is sent until the author clicks Send."""
    value = reply.encode_value()
    ref = esc(reply.ref or reply.id[:8])
    blocks = [
        section(f":incoming_envelope: *Send this to the creditor as you?* (case *{ref}*)\n{_quote(text)}"),
    ]
    if problem:
        blocks.append(section(f":warning: {problem}"))
    blocks += [
        actions([
            button("Send", Action.THREAD_SEND, value, style="primary"),
            button("Edit", Action.THREAD_EDIT, value),
            button("Don't send", Action.THREAD_SKIP, value),
        ]),
        context(f"Sent as *{esc_trunc(sender, 200)}* (your Debitura account); the creditor is emailed. "
                "Until you click Send this stays an internal message. Edit your reply in Slack before "
                "clicking Send and the edited text is sent."),
    ]
    fallback = truncate(f"Send this to the creditor as you? {esc(one_line(text))}", MAX_FALLBACK_TEXT)
    return {"text": fallback, "blocks": blocks}


def build_thread_sent(reference: str, *, at: float, replayed: bool = False) -> Message:
    when = slack_time(at)
    head = (f":white_check_mark: Already sent to the creditor at {when} (case *{esc(reference)}*); "
            "it was sent once.") if replayed else (
            f":white_check_mark: Sent to the creditor at {when} (case *{esc(reference)}*).")
    text = f"{head}\nEditing your reply in Slack from now on does not send it again."
    return {"text": truncate(one_line(text), MAX_FALLBACK_TEXT), "blocks": [section(text)]}


def build_thread_kept() -> Message:
    text = "Not sent: your reply stays an internal message in this channel."
    return {"text": text, "blocks": [context(text)]}


def build_edit_not_sent(reference: str, *, at: float | None) -> Message:
    when = f" at {slack_time(at)}" if at else ""
    text = (f":pencil2: Your edit was *not* sent: this reply already went to the creditor{when} "
            f"(case *{esc(reference)}*). To correct it, reply again in the thread and send that.")
    return {"text": truncate(one_line(text), MAX_FALLBACK_TEXT), "blocks": [section(text)]}


def build_thread_notice(text: str) -> Message:
    """A one-line ephemeral (mrkdwn, already escaped): a refusal, a note added."""
    return {"text": truncate(one_line(text), MAX_FALLBACK_TEXT), "blocks": [section(text)]}
