"""Read-side messages: case list, batch find, timeline, payments, files, exclusive period,
validation, usage and plain notices.

Each builder is a pure function returning `{"text": ..., "blocks": [...]}` that stays within
Slack's message limits whatever the data: at most 50 blocks, 3,000 characters per section. Long
lists are packed several rows to a section and cut with a "… and N more" line; long texts are
truncated.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from blocks.card import case_ref, case_title, lifecycle_text
from blocks.ids import Action
from blocks.metadata import ListPage, PaymentRef
from blocks.text import (
    MAX_FALLBACK_TEXT,
    MAX_MESSAGE_BLOCKS,
    MAX_SECTION_TEXT,
    Block,
    actions,
    button,
    context,
    days_left,
    esc,
    esc_trunc,
    format_date,
    format_datetime,
    format_money,
    header,
    one_line,
    plural,
    section,
    truncate,
)
from bot.debitura.models import Case, CaseFile, CasePage, ExclusivePeriod, Payment, Timeline, ValidationStatus

Message = dict[str, Any]

LIST_PAGE_SIZE = 20
MAX_PAYMENT_ROWS_WITH_BUTTONS = 20
MAX_TIMELINE_DESCRIPTION = 600
MAX_ROW = 900


def message(text: str, blocks: list[Block]) -> Message:
    if len(blocks) > MAX_MESSAGE_BLOCKS:
        raise ValueError(f"{len(blocks)} blocks; a message holds {MAX_MESSAGE_BLOCKS}")
    return {"text": truncate(text, MAX_FALLBACK_TEXT), "blocks": blocks}


def pack_rows(rows: Sequence[str], *, max_blocks: int, more: str = "… and {n} more") -> list[Block]:
    """Pack mrkdwn rows into as few sections as possible (≤ 3,000 chars each, ≤ max_blocks).

    Rows that do not fit are dropped and counted in a last line (`more` with `{n}`).
    """
    if max_blocks < 1:
        raise ValueError("max_blocks must be at least 1")
    blocks: list[Block] = []
    current: list[str] = []
    size = 0
    reserve = 40  # room for the "… and N more" line in the last block
    for index, raw in enumerate(rows):
        row = truncate(raw, MAX_ROW)
        added = len(row) + (1 if current else 0)
        last_block = len(blocks) == max_blocks - 1
        limit = MAX_SECTION_TEXT - (reserve if last_block else 0)
        if size + added > limit:
            if last_block:
                remaining = len(rows) - index
                current.append(more.format(n=remaining))
                blocks.append(section("\n".join(current)))
                return blocks
            blocks.append(section("\n".join(current)))
            current, size = [], 0
            added = len(row)
        current.append(row)
        size += added
    if current:
        blocks.append(section("\n".join(current)))
    return blocks


# --- usage and notices ------------------------------------------------------------------------------

def usage_lines(command: str) -> list[str]:
    """The usage, as mrkdwn: the `<case>` placeholders are escaped like any text (Slack would read
    `<...>` as a link or a mention)."""
    c = command
    return [esc(line) for line in (
        f"`{c} <case>` shows the case card. A case is a Debitura reference (`Q8OAXF3W`), a case id, "
        f"`partner:<your ref>` or `creditor:<creditor id>:<their ref>`; leave it out in a case's channel.",
        f"`{c} list [mine] [lifecycle:Active,Paused] [phase:Legal] [page N]` your cases (`mine`: assigned "
        f"to you) · `{c} find <ref1,ref2,...>` look up your references",
        f"`{c} timeline|payments|files|period|validation <case>` details · `{c} chats <case> [page N]` "
        f"the chat with the creditor, newest last · `{c} debtor <case>` debtor and claim (only you see it)",
        f"`{c} note <case> [text]` add a note · `{c} pay|chat|close|activate|fees|upload <case>` open a form",
        f"`{c} follow <case>` join the case's channel · `{c} unfollow <case>` stop relaying it",
        f"`{c} mute|unmute <case>` hide a case from your Home, messages and reminders (or bring it back)",
    )]


def build_usage(command: str, *, problem: str | None = None, example: str | None = None) -> Message:
    """Usage in a few lines; `problem` (mrkdwn, escaped) leads when the command was malformed."""
    blocks: list[Block] = []
    if problem:
        blocks.append(section(f":warning: {problem}"))
    if example:
        blocks.append(section(f"Example: `{esc(command)} {esc(example)}`"))
    blocks.append(section("*Caseroom*\n" + "\n".join(usage_lines(command))))
    fallback = (problem or "Caseroom usage") if problem else "Caseroom usage"
    return message(fallback, blocks)


def build_notice(text: str) -> Message:
    """A one-section message (text is mrkdwn, already escaped)."""
    return message(text, [section(text)])


def build_loading(text: str = "Looking that up…") -> Message:
    return build_notice(f":hourglass_flowing_sand: {esc(text)}")


# --- list and find -------------------------------------------------------------------------------------

def case_row(case: Case) -> str:
    """One mrkdwn line: `*Q8OAXF3W* · Debtor · Active · 1,234.00 EUR outstanding`."""
    name = one_line(case.debtor.name) if case.debtor and case.debtor.name else "Unknown debtor"
    debtor = esc_trunc(name, 120)
    parts = [f"*{esc(case.reference or case.id)}*", debtor, esc(lifecycle_text(case))]
    if case.remainder is not None:
        parts.append(f"{format_money(case.remainder, case.currency)} outstanding")
    if case.needs_info:
        parts.append(":warning: needs info")
    if case.is_test_case:
        parts.append(":test_tube: Test case")
    return " · ".join(parts)


def build_case_list(page: CasePage, request: ListPage, *, command: str, channel_id: str | None = None,
                    has_more: bool | None = None, note: str | None = None) -> Message:
    """A page of `/case list`, one section per case with an Open button, and Previous / Next.

    `has_more` says whether a next page exists when the listing's page data cannot (a page filtered
    here, `mine` or `phase:`); `note` is a context line (mrkdwn) about how the page was made."""
    statuses = ", ".join(request.st) if request.st else "all statuses"
    if request.ph:
        statuses += " · phase " + ", ".join(request.ph)
    total = page.page.total_results if page.page and page.page.total_results is not None else None
    total_pages = page.page.total_pages if page.page and page.page.total_pages is not None else None
    title = f"{'Cases assigned to you' if request.mine else 'Your cases'} ({esc(statuses)})"
    blocks: list[Block] = [section(f"*{title}*")]
    if not page.cases:
        if request.page > 1:
            blocks.append(section(f"No cases on this page. `{esc(command)} list` starts at page 1."))
        elif request.st or request.ph or request.mine:
            blocks.append(section(f"No cases match. `{esc(command)} list` without filters shows every "
                                  "case."))
        else:
            blocks.append(section("No cases are assigned to you."))
    for case in page.cases[:LIST_PAGE_SIZE]:
        value = case_ref(case, channel_id).encode_value()
        blocks.append(section(case_row(case), accessory=button("Open", Action.SHOW_CARD, value)))
    summary = f"Page {request.page}"
    if total_pages:
        summary += f" of {total_pages}"
    if total is not None:
        summary += f" · {plural(total, 'case')}"
    blocks.append(context(summary))
    if note:
        blocks.append(context(note))
    nav: list[dict[str, Any]] = []
    if request.page > 1:
        prev = request.model_copy(update={"page": request.page - 1}).encode_value()
        nav.append(button("Previous", Action.LIST_PAGE, prev))
    if has_more is None:
        has_more = (total_pages is not None and request.page < total_pages) or (
            total_pages is None and len(page.cases) >= LIST_PAGE_SIZE)
    if has_more:
        nxt = request.model_copy(update={"page": request.page + 1}).encode_value()
        nav.append(button("Next", Action.LIST_PAGE, nxt))
    # Both buttons share Action.LIST_PAGE, and Slack wants action_ids unique within a block.
    blocks.extend(actions([element]) for element in nav)
    return message(f"Your cases, page {request.page}", blocks)


def build_find_result(refs: Sequence[str], found: dict[str, Case], *, command: str = "/case") -> Message:
    """`/case find`: one row per reference asked, found or not (packed; at most 100 refs)."""
    rows: list[str] = []
    missing = 0
    for ref in refs:
        case = found.get(ref)
        if case is None:
            missing += 1
            rows.append(f"`{esc_trunc(ref, 128)}` → not found, or not assigned to you")
        else:
            rows.append(f"`{esc_trunc(ref, 128)}` → {case_row(case)}")
    head = f"*Found {len(refs) - missing} of {plural(len(refs), 'reference')}*"
    blocks: list[Block] = [section(head)]
    blocks.extend(pack_rows(rows, max_blocks=MAX_MESSAGE_BLOCKS - 2))
    blocks.append(context(f"Open one with its Debitura reference: `{esc(command)} Q8OAXF3W`"))
    return message(f"Found {len(refs) - missing} of {len(refs)} references", blocks)


# --- per-case views -----------------------------------------------------------------------------------

def _case_view(case: Case, what: str, body: list[Block], channel_id: str | None) -> Message:
    """A per-case view: a header naming it, the body, and a "Back to the case" button.

    The header is plain text (shown as typed); `text`, the notification, is mrkdwn: escaped."""
    back = actions([button("Back to the case", Action.SHOW_CARD, case_ref(case, channel_id).encode_value())])
    title = case_title(case)
    return message(f"{what} of {esc(title)}", [header(f"{what} · {title}"), *body, back])


def build_timeline(case: Case, timeline: Timeline, *, channel_id: str | None = None) -> Message:
    """Newest first; as many items as fit in one message, each description cut to 600 chars."""
    items = sorted(
        timeline.items,
        key=lambda i: (i.date is not None, i.date.timestamp() if i.date is not None else 0.0),
        reverse=True,
    )
    rows: list[str] = []
    for item in items:
        title = esc_trunc(one_line(item.title) or one_line(item.type) or "Event", 200)
        line = f"*{format_datetime(item.date)}* · {title}"
        actor = item.actor
        if actor is not None and (actor.name or actor.type):
            line += f" _({esc_trunc(one_line(actor.name or actor.type), 100)})_"
        if item.description:
            line += "\n" + esc_trunc(item.description.strip(), MAX_TIMELINE_DESCRIPTION)
        rows.append(line)
    phase = timeline.current_engagement_phase or case.current_engagement_phase
    phase_text = esc(one_line(phase) or "none")
    blocks = [context(f"{plural(len(items), 'item')} · engagement phase: {phase_text}")]
    if rows:
        blocks.extend(pack_rows(rows, max_blocks=MAX_MESSAGE_BLOCKS - 3, more="… and {n} older items"))
    else:
        blocks.append(section("No timeline entries yet."))
    return _case_view(case, "Timeline", blocks, channel_id)


def payment_row(payment: Payment) -> str:
    amount = format_money(payment.gross_amount, payment.currency)
    parts = [f"*{format_date(payment.date)}*", amount]
    if payment.recipient:
        parts.append(f"to {esc(one_line(payment.recipient))}")
    if payment.method:
        parts.append(esc_trunc(one_line(payment.method), 60))
    if payment.invoice is not None and (payment.invoice.status or payment.invoice.reference):
        inv = esc_trunc(one_line(payment.invoice.reference or ""), 60)
        status = esc_trunc(one_line(payment.invoice.status or ""), 60)
        parts.append(f"invoice {inv} {status}".strip())
    return " · ".join(parts)


def build_payments(case: Case, payments: Sequence[Payment], *, can_edit: bool,
                   channel_id: str | None = None) -> Message:
    """Newest first. The newest 20 get Edit / Delete buttons (when `can_edit`); older ones are listed."""
    ordered = sorted(payments, key=lambda p: p.date.timestamp() if p.date else 0.0, reverse=True)
    total = sum((p.gross_amount for p in ordered if p.gross_amount is not None), Decimal(0))
    blocks = [context(
        f"{plural(len(ordered), 'payment')} · total {format_money(total, case.currency)} · "
        f"outstanding {format_money(case.remainder, case.currency)}")]
    if not ordered:
        blocks.append(section("No payments recorded."))
    with_buttons = ordered[:MAX_PAYMENT_ROWS_WITH_BUTTONS] if can_edit else []
    for payment in with_buttons:
        value = PaymentRef(id=case.id, ref=case.reference or "", pid=payment.id, ch=channel_id).encode_value()
        blocks.append(section(payment_row(payment)))
        blocks.append(actions([
            button("Edit", Action.EDIT_PAYMENT, value),
            # The delete form itself asks for confirmation (and offers to reopen a Paid case).
            button("Delete", Action.DELETE_PAYMENT, value, style="danger"),
        ]))
    rest = ordered[len(with_buttons):]
    if rest:
        room = MAX_MESSAGE_BLOCKS - len(blocks) - 2  # the header and the Back button
        blocks.extend(pack_rows([payment_row(p) for p in rest], max_blocks=room,
                                more="… and {n} older payments"))
    return _case_view(case, "Payments", blocks, channel_id)


def _file_link(file: CaseFile) -> str:
    name = esc_trunc(one_line(file.file_name) or "file", 200)
    if not file.url or not file.url.startswith(("https://", "http://")):
        return name
    url = file.url.replace("|", "%7C").replace("<", "%3C").replace(">", "%3E").replace(" ", "%20")
    url = url.replace("&", "&amp;")
    if len(url) > 2000:
        return name
    return f"<{url}|{name.replace('|', '¦')}>"


def build_files(case: Case, files: Sequence[CaseFile], *, channel_id: str | None = None) -> Message:
    ordered = sorted(files, key=lambda f: f.date_created.timestamp() if f.date_created else 0.0, reverse=True)
    rows: list[str] = []
    for file in ordered:
        line = f"{_file_link(file)} · {format_date(file.date_created)}"
        if file.document_type:
            line += f" · {esc_trunc(one_line(file.document_type), 60)}"
        if file.description:
            line += f"\n{esc_trunc(one_line(file.description), 500)}"
        rows.append(line)
    blocks = [context(f"{plural(len(ordered), 'file')} · links expire after about an hour")]
    if rows:
        blocks.extend(pack_rows(rows, max_blocks=MAX_MESSAGE_BLOCKS - 3, more="… and {n} older files"))
    else:
        blocks.append(section("No files on this case."))
    return _case_view(case, "Files", blocks, channel_id)


def build_period(case: Case, period: ExclusivePeriod, *, today: date, channel_id: str | None = None
                 ) -> Message:
    remaining = period.days_remaining
    if remaining is None:
        remaining = days_left(period.current_end_date, today=today)
    lines = [
        f"*Status* {esc(one_line(period.status) or '—')}",
        f"*Engagement started* {format_date(period.engagement_start_date)}",
        f"*Ends* {format_date(period.current_end_date)}"
        + (f" ({plural(remaining, 'day')} left)" if remaining is not None and remaining >= 0 else "")
        + (f" (ended {plural(-remaining, 'day')} ago)" if remaining is not None and remaining < 0 else ""),
    ]
    rows = [
        f"• {format_date(ext.event_date)} · {esc_trunc(one_line(ext.type) or 'Extension', 60)} → "
        f"new end {format_date(ext.new_end_date)}"
        for ext in period.extensions
    ]
    blocks = [section("\n".join(lines))]
    if rows:
        blocks.append(section(f"*Extensions ({len(rows)})*"))
        blocks.extend(pack_rows(rows, max_blocks=MAX_MESSAGE_BLOCKS - 4))
    return _case_view(case, "Exclusive period", blocks, channel_id)


def build_validation(case: Case, validation: ValidationStatus, *, channel_id: str | None = None) -> Message:
    blocks: list[Block] = []
    if not validation.needs_info:
        blocks.append(section("Nothing is missing: the case does not need more information."))
    else:
        blocks.append(section(":warning: *Needs info* from the creditor:"))
        rows = [
            f"• *{esc_trunc(one_line(item.resolution_area) or 'General', 80)}* "
            f"{esc_trunc(one_line(item.description), 800)}"
            for item in validation.items
        ]
        if rows:
            blocks.extend(pack_rows(rows, max_blocks=MAX_MESSAGE_BLOCKS - 4))
        else:
            blocks.append(section("Debitura lists no items."))
    if validation.creditor_responded_at is not None:
        blocks.append(context(f"Creditor responded {format_datetime(validation.creditor_responded_at)}"))
    return _case_view(case, "Validation", blocks, channel_id)


def build_follow_result(case: Case, channel_id: str, *, created: bool) -> Message:
    what = "Created" if created else "Opened"
    text = f"{what} <#{esc(channel_id)}> for {esc(case_title(case))}; you are in it."
    return build_notice(text)


def build_unfollow_result(case: Case, *, was_followed: bool) -> Message:
    if was_followed:
        return build_notice(f"Stopped relaying {esc(case_title(case))}. Its channel stays as it is.")
    return build_notice(f"{esc(case_title(case))} was not being relayed.")


__all__ = [
    "LIST_PAGE_SIZE", "Message", "build_case_list", "build_files", "build_find_result",
    "build_follow_result", "build_loading", "build_notice", "build_payments", "build_period",
    "build_timeline", "build_unfollow_result", "build_usage", "build_validation", "message", "pack_rows",
]
