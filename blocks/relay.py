"""Messages the relay posts in case channels (and the feed), as pure Block Kit builders.

Every builder returns `(text, blocks)`: `text` is the notification fallback (short, escaped), the
blocks stay within Slack's limits (50 blocks, 3,000 characters per section). Text from Debitura is
escaped with `esc()`; long chat messages are split across several sections, never cut.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from blocks.ids import Action
from blocks.metadata import CaseRef
from blocks.text import (
    MAX_FALLBACK_TEXT,
    MAX_MESSAGE_BLOCKS,
    MAX_SECTION_TEXT,
    Block,
    actions,
    button,
    context,
    esc,
    format_amount,
    format_money,
    one_line,
    plural,
    quote,
    section,
    truncate,
)

MAX_TOPIC = 250
TIMELINE_ITEMS_PER_MESSAGE = 20
"""Each timeline item takes two blocks; 20 items + a heading stay well under 50 blocks."""
SPLIT_CHUNK = MAX_SECTION_TEXT - 100
"""Room for the quote markers added to each line of a chunk."""

Message = tuple[str, list[Block]]


def _when(unix: float) -> str:
    if not unix:
        return "unknown time"
    moment = datetime.fromtimestamp(unix, UTC)
    # Slack renders <!date> in the reader's time zone; the fallback is UTC.
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(unix)}^{{date_short_pretty}} {{time}}|{fallback}>"


def split_text(text: str, limit: int = SPLIT_CHUNK) -> list[str]:
    """Split `text` into chunks of at most `limit` characters, preferring line then word breaks."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    chunks: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit + 1)
        if cut < limit // 2:
            cut = rest.rfind(" ", 0, limit + 1)
        if cut < limit // 2:
            cut = limit
        chunks.append(rest[:cut])
        rest = rest[cut:].lstrip("\n") if rest[cut:cut + 1] == "\n" else rest[cut:]
    if rest or not chunks:
        chunks.append(rest)
    return chunks


def _quoted_sections(message: str) -> list[Block]:
    """Escaped, quoted sections for a free text of any length (each section under 3,000 chars)."""
    escaped = esc(message.strip() or "(empty message)")
    # Quote markers add one character per line: split on the escaped text with headroom for them.
    blocks: list[Block] = []
    for chunk in split_text(escaped, SPLIT_CHUNK):
        body = quote(chunk)
        if len(body) > MAX_SECTION_TEXT:  # many short lines: fall back to plain chunks
            for sub in split_text(chunk, MAX_SECTION_TEXT // 2):
                blocks.append(section(quote(sub)))
        else:
            blocks.append(section(body))
    return blocks


def _case_buttons(case_id: str, reference: str) -> Block:
    value = CaseRef(id=case_id, ref=reference).encode_value()
    return actions([
        button("Reply", Action.REPLY, value),
        button("Add note", Action.NOTE_FROM_RELAY, value),
    ])


def build_chat_message(
    *,
    case_id: str,
    reference: str,
    author: str,
    role_label: str,
    from_creditor: bool,
    created: float,
    message: str,
    edited_at: float | None = None,
) -> Message:
    """A chat message relayed from Debitura: author, role, time, the text (escaped, split), buttons."""
    icon = ":speech_balloon:" if from_creditor else ":outbox_tray:"
    origin = "" if from_creditor else " · written outside Caseroom"
    head = f"{icon} *{esc(one_line(author))}* ({esc(role_label)}) · {_when(created)}{origin}"
    blocks: list[Block] = [context(head)]
    body = _quoted_sections(message)
    room = MAX_MESSAGE_BLOCKS - 3
    if len(body) > room:
        body = body[:room]
        body.append(context("_Message shortened: it is longer than a Slack message can hold._"))
    blocks.extend(body)
    if edited_at:
        blocks.append(context(f":pencil2: edited {_when(edited_at)}"))
    blocks.append(_case_buttons(case_id, reference))
    kind = "Creditor" if from_creditor else esc(role_label)
    text = truncate(f"{kind} chat on {esc(reference)}: {esc(one_line(message))}", MAX_FALLBACK_TEXT)
    if edited_at:
        text = truncate(f"(edited) {text}", MAX_FALLBACK_TEXT)
    return text, blocks


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    date: float
    title: str
    description: str
    actor: str
    type: str = ""


def _timeline_groups(entries: Sequence[TimelineEntry]) -> list[Sequence[TimelineEntry]]:
    ordered = sorted(entries, key=lambda e: e.date)
    return [ordered[start:start + TIMELINE_ITEMS_PER_MESSAGE]
            for start in range(0, len(ordered), TIMELINE_ITEMS_PER_MESSAGE)]


def _timeline_summary(reference: str, group: Sequence[TimelineEntry]) -> str:
    first = one_line(group[0].title) or "timeline update"
    more = f" (+{len(group) - 1} more)" if len(group) > 1 else ""
    return f"{reference}: {first}{more}"


def timeline_summaries(*, reference: str, entries: Sequence[TimelineEntry]) -> list[str]:
    """Plain text (not escaped), one per message of `build_timeline_messages`: for the feed line."""
    return [_timeline_summary(reference, group) for group in _timeline_groups(entries)]


def build_timeline_messages(*, reference: str, entries: Sequence[TimelineEntry]) -> list[Message]:
    """A burst of timeline items grouped into as few messages as Slack's block limit allows."""
    if not entries:
        return []
    out: list[Message] = []
    for group in _timeline_groups(entries):
        heading = f":spiral_note_pad: *{plural(len(group), 'timeline update')}* on {esc(reference)}"
        blocks: list[Block] = [section(heading)]
        for e in group:
            title = esc(one_line(e.title) or one_line(e.type) or "Timeline item")
            desc = esc(e.description.strip())
            text = f"*{title}*" + (f"\n{desc}" if desc else "")
            blocks.append(section(truncate(text, MAX_SECTION_TEXT)))
            who = esc(one_line(e.actor)) or "System"
            blocks.append(context(f"{who} · {_when(e.date)}"))
        out.append((truncate(esc(_timeline_summary(reference, group)), MAX_FALLBACK_TEXT), blocks))
    return out


def build_lifecycle_message(*, reference: str, old: str, new: str, at: float) -> Message:
    line = f":arrows_counterclockwise: Lifecycle of {esc(reference)}: *{esc(old)}* → *{esc(new)}*"
    return truncate(f"{esc(reference)}: {esc(old)} → {esc(new)}", MAX_FALLBACK_TEXT), [
        section(line), context(_when(at)),
    ]


def build_phase_message(*, reference: str, old: str, new: str, at: float) -> Message:
    old_t = esc(old) or "no phase"
    new_t = esc(new) or "no phase"
    line = f":compass: Engagement phase of {esc(reference)}: *{old_t}* → *{new_t}*"
    return f"{esc(reference)}: phase {old_t} → {new_t}", [section(line), context(_when(at))]


def payment_summary(*, reference: str, amount: str, currency: str, deleted: bool) -> str:
    """Plain text (not escaped): the payment message's notification text, and its feed line."""
    money = format_amount(amount or None)
    if amount and currency:
        money += f" {currency}"
    return f"{reference}: payment of {money} {'deleted' if deleted else 'registered'}"


def build_payment_message(
    *, reference: str, amount: str, currency: str, recipient: str, method: str, date: float, deleted: bool
) -> Message:
    money = format_money(amount or None, currency or None)
    text = esc(payment_summary(reference=reference, amount=amount, currency=currency, deleted=deleted))
    if deleted:
        line = f":wastebasket: Payment of *{money}* on {esc(reference)} was deleted"
    else:
        line = f":moneybag: Payment of *{money}* registered on {esc(reference)}"
    details = [p for p in (esc(recipient) and f"to {esc(recipient)}", esc(method), _when(date)) if p]
    return text, [section(line), context(" · ".join(details))]


def build_close_summary(
    *, reference: str, debtor: str, close_code: str, outstanding: str, currency: str, at: float,
    archived: bool,
) -> Message:
    code = esc(close_code) or "no close code"
    lines = [
        f":checkered_flag: *{esc(reference)} was closed* ({code})",
        f"Debtor: {esc(debtor) or '—'} · Outstanding: {format_money(outstanding or None, currency or None)}",
    ]
    blocks: list[Block] = [section("\n".join(lines)), context(_when(at))]
    if archived:
        blocks.append(context("This channel is archived now; it comes back if the case is reopened."))
    return f"{esc(reference)} closed ({code})", blocks


def build_reopened_message(*, reference: str, lifecycle: str, at: float) -> Message:
    line = f":leftwards_arrow_with_hook: *{esc(reference)} was reopened* (now {esc(lifecycle)})"
    return f"{esc(reference)} reopened", [section(line), context(_when(at))]


def build_feed_line(*, reference: str, summary: str, channel_id: str | None) -> str:
    """One mrkdwn line for the feed channel, linking the case channel when there is one.

    `summary` is plain text (`Delivery.feed`): it is escaped here, once. Never pass a message's
    `text`, which is escaped already (`R&D` would show as `R&amp;D`)."""
    where = f"<#{channel_id}>" if channel_id else esc(reference)
    return truncate(f"{where} · {esc(one_line(summary))}", MAX_FALLBACK_TEXT)


def build_topic(*, debtor: str, outstanding: str, currency: str, lifecycle: str, phase: str) -> str:
    """The channel topic (plain text, no formatting, at most 250 characters)."""
    parts = [
        one_line(debtor) or "Unknown debtor",
        f"Outstanding {format_money(outstanding or None, None)}{(' ' + currency) if currency else ''}",
        one_line(lifecycle) or "Unknown lifecycle",
        f"Phase {one_line(phase)}" if phase else "No engagement phase",
    ]
    return truncate(" · ".join(parts), MAX_TOPIC)


def build_payment_edit_message(
    *, reference: str, old_amount: str, old_currency: str, amount: str, currency: str, recipient: str,
    method: str, date: float, at: float,
) -> Message:
    """A payment changed in Debitura (amount, date, recipient or method): what it is now, and what the
    amount was when it changed."""
    money = format_money(amount or None, currency or None)
    before = format_money(old_amount or None, old_currency or None)
    text = esc(f"{reference}: payment edited, now {format_amount(amount or None)} {currency}".strip())
    if (old_amount, old_currency) != (amount, currency):
        line = f":pencil2: Payment on {esc(reference)} edited: *{before}* → *{money}*"
    else:
        line = f":pencil2: Payment of *{money}* on {esc(reference)} edited"
    details = [p for p in (esc(recipient) and f"to {esc(recipient)}", esc(method),
                           f"payment date {_when(date)}" if date else "", f"changed {_when(at)}") if p]
    return text, [section(line), context(" · ".join(details))]


TEST_CASE_MARK = ":test_tube: *Test case* · "


def mark_test_case(blocks: list[Block]) -> list[Block]:
    """A relayed message about a Debitura test case says so in its first line (no block added: the
    message may already hold Slack's 50)."""
    if not blocks:
        return blocks
    first = dict(blocks[0])
    target = None
    if first.get("type") == "section" and isinstance(first.get("text"), dict):
        target = first["text"] = dict(first["text"])
    elif first.get("type") == "context" and first.get("elements"):
        first["elements"] = [dict(e) for e in first["elements"]]
        target = first["elements"][0]
    if target is None or target.get("type") != "mrkdwn":
        return blocks
    if str(target.get("text", "")).startswith(TEST_CASE_MARK):
        return blocks
    target["text"] = truncate(TEST_CASE_MARK + str(target.get("text") or ""), MAX_SECTION_TEXT)
    return [first, *blocks[1:]]
