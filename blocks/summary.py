"""The pinned summary of a case channel: amounts, lifecycle, exclusive period, validation, assignee.

Posted and pinned when a channel is created for an active case, and edited in place (chat.update)
whenever one of these changes, from what the relay fetched anyway (bot.slack.channels.set_summary).
No debtor contact details: the channel is seen by everyone in it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from blocks.card import TEST_CASE_LINE
from blocks.text import (
    MAX_FALLBACK_TEXT,
    Block,
    context,
    days_left,
    esc,
    esc_trunc,
    fields_section,
    format_date,
    format_money,
    one_line,
    plural,
    section,
    truncate,
)

Message = tuple[str, list[Block]]


def _period(end: float, today: date) -> str:
    if not end:
        return "None"
    when = datetime.fromtimestamp(end, UTC)
    left = days_left(when, today=today)
    if left is None:
        return format_date(when)
    if left < 0:
        return f"{format_date(when)} (ended {plural(-left, 'day')} ago)"
    return f"{format_date(when)} ({plural(left, 'day')} left)"


def build_summary(*, reference: str, debtor: str, principal: str, fees: str, outstanding: str, currency: str,
                  lifecycle: str, phase: str, period_end: float, needs_info: bool, assignee: str,
                  is_test: bool, today: date) -> Message:
    """(fallback text, blocks) of the summary message. Pure: the same case gives the same message, so
    its digest tells whether the pinned one must be edited (`today` only moves the days left)."""
    cur = currency or None
    name = esc_trunc(one_line(debtor), 200) or "—"
    blocks: list[Block] = [section(f":pushpin: *Case {esc(reference)}* · {name}")]
    if is_test:
        blocks.append(context(TEST_CASE_LINE))
    blocks.append(fields_section([
        f"*Principal*\n{format_money(principal or None, cur)}",
        f"*Fees*\n{format_money(fees or None, cur)}",
        f"*Outstanding*\n{format_money(outstanding or None, cur)}",
        f"*Lifecycle*\n{esc(one_line(lifecycle)) or '—'}",
        f"*Engagement phase*\n{esc(one_line(phase)) or 'None'}",
        f"*Exclusive period ends*\n{_period(period_end, today)}",
        f"*Validation*\n{':warning: needs info from the creditor' if needs_info else 'OK'}",
        f"*Assigned to*\n{esc_trunc(one_line(assignee), 200) or '—'}",
    ]))
    blocks.append(context("Kept current by Caseroom. `/case` here shows the full card."))
    text = truncate(f"{esc(reference)}: {esc(one_line(lifecycle))}, outstanding "
                    f"{format_money(outstanding or None, cur)}", MAX_FALLBACK_TEXT)
    return text, blocks
