"""The case card: what a person sees after `/case <ref>`.

`build_case_card()` is a pure function of the case (and, when the case needs info, its validation
detail). Every API string is escaped and truncated; the card stays far below the 50-block limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from blocks.ids import Action
from blocks.metadata import CaseRef
from blocks.text import (
    MAX_FALLBACK_TEXT,
    Block,
    actions,
    button,
    context,
    days_left,
    esc,
    esc_trunc,
    fields_section,
    format_date,
    format_money,
    header,
    one_line,
    plural,
    section,
    truncate,
)
from bot.debitura.models import Case, Lifecycle, ValidationStatus

MAX_VALIDATION_ITEMS = 20
MAX_VALIDATION_TEXT = 2800
MAX_NAME = 200


@dataclass(frozen=True, slots=True)
class CardOptions:
    """What the card is for: `shared` cards (posted in a channel) have no Share button."""

    today: date
    channel_id: str | None = None
    shared: bool = False
    shared_by: str | None = None
    """Slack user id of who shared the card (shown in a context line)."""
    demo: bool = False
    """`caseroom run --demo`: the case comes from the built-in sandbox; a context line says so."""


TEST_CASE_LINE = ":test_tube: *Test case* (a Debitura test case, not a real claim)"
"""The label of a test case (`isTestCase`), on every message that shows one."""
DEMO_LINE = ":construction: Demo data from the built-in sandbox (`caseroom run --demo`), not from Debitura"


def case_ref(case: Case, channel_id: str | None = None) -> CaseRef:
    return CaseRef(id=case.id, ref=case.reference or "", ch=channel_id)


def case_title(case: Case) -> str:
    """`Q8OAXF3W · Debtor Name` (plain text, not escaped)."""
    name = one_line(case.debtor.name) if case.debtor and case.debtor.name else "Unknown debtor"
    ref = case.reference or case.id
    return f"{ref} · {name}"


def lifecycle_text(case: Case) -> str:
    if case.lifecycle is None:
        return "—"
    text = case.lifecycle.display
    if case.lifecycle_name is Lifecycle.Closed and case.close_code is not None:
        text += f" ({case.close_code.display})"
    return text


def payments_so_far(case: Case) -> Decimal | None:
    """Principal + added fees - outstanding (the API does not return the payment total)."""
    if case.gross_amount is None or case.remainder is None:
        return None
    fees = case.total_added_fees
    if fees is None:
        fees = sum(
            (f for f in (case.interest_fees, case.reminder_fees, case.collection_fees) if f is not None),
            Decimal(0),
        )
    paid = case.gross_amount + fees - case.remainder
    return max(paid, Decimal(0))


def added_fees(case: Case) -> Decimal | None:
    if case.total_added_fees is not None:
        return case.total_added_fees
    parts = [f for f in (case.interest_fees, case.reminder_fees, case.collection_fees) if f is not None]
    return sum(parts, Decimal(0)) if parts else None


def can_activate(case: Case) -> bool:
    return case.lifecycle_name is Lifecycle.PendingVerification


def can_update_fees(case: Case) -> bool:
    return case.lifecycle_name not in (Lifecycle.Closed, Lifecycle.Merged)


def can_close(case: Case) -> bool:
    return case.lifecycle_name not in (Lifecycle.Closed, Lifecycle.Merged)


def _debtor_field(case: Case) -> str:
    debtor = case.debtor
    if debtor is None:
        return "*Debtor*\n—"
    bits = [esc_trunc(one_line(debtor.name) or "—", MAX_NAME)]
    detail = ", ".join(esc(one_line(p)) for p in (debtor.type, debtor.country or debtor.country_alpha2) if p)
    if detail:
        bits.append(detail)
    return "*Debtor*\n" + "\n".join(bits)


def _creditor_field(case: Case) -> str:
    creditor = case.creditor
    if creditor is None:
        return "*Creditor*\n—"
    name = esc_trunc(one_line(creditor.company_name) or "—", MAX_NAME)
    if creditor.division is not None and creditor.division.name:
        name += f"\n{esc_trunc(one_line(creditor.division.name), MAX_NAME)}"
    if case.creditor_reference:
        name += f"\nTheir ref: {esc_trunc(one_line(case.creditor_reference), 100)}"
    return "*Creditor*\n" + name


def _period_text(case: Case, today: date) -> str:
    end = case.exclusive_period_end_date
    if end is None:
        return "—"
    left = days_left(end, today=today)
    if left is None:
        return format_date(end)
    if left < 0:
        return f"{format_date(end)} (ended {plural(-left, 'day')} ago)"
    return f"{format_date(end)} ({plural(left, 'day')} left)"


def _validation_text(case: Case, validation: ValidationStatus | None) -> str:
    needs = case.needs_info or bool(validation and validation.needs_info)
    if not needs:
        return "*Validation*\nOK"
    lines = ["*Validation* :warning: needs info"]
    if validation is not None:
        shown = 0
        size = len(lines[0])
        for item in validation.items[:MAX_VALIDATION_ITEMS]:
            area = esc_trunc(one_line(item.resolution_area), 80)
            desc = esc_trunc(one_line(item.description), 300)
            line = f"• {area + ': ' if area else ''}{desc}"
            if size + len(line) + 1 > MAX_VALIDATION_TEXT:
                break
            lines.append(line)
            size += len(line) + 1
            shown += 1
        extra = len(validation.items) - shown
        if extra > 0:
            lines.append(f"… and {extra} more (see the validation view)")
        if validation.creditor_responded_at is not None:
            lines.append(f"Creditor responded {format_date(validation.creditor_responded_at)}")
    return "\n".join(lines)


def card_buttons(case: Case, options: CardOptions) -> list[Block]:
    value = case_ref(case, options.channel_id).encode_value()
    writes: list[dict[str, Any]] = [
        button("Add note", Action.OPEN_NOTE, value),
        button("Record payment", Action.OPEN_PAYMENT, value),
        button("Send chat", Action.OPEN_CHAT, value),
        button("Upload file", Action.OPEN_UPLOAD, value),
    ]
    if can_activate(case):
        writes.append(button("Activate", Action.OPEN_ACTIVATE, value, style="primary"))
    if can_update_fees(case):
        writes.append(button("Update fees", Action.OPEN_FEES, value))
    if can_close(case):
        writes.append(button("Close", Action.OPEN_CLOSE, value, style="danger"))
    reads: list[dict[str, Any]] = [
        button("Timeline", Action.SHOW_TIMELINE, value),
        button("Payments", Action.SHOW_PAYMENTS, value),
        button("Files", Action.SHOW_FILES, value),
        button("Chats", Action.SHOW_CHATS, value),
        button("Debtor and claim", Action.SHOW_DEBTOR, value),
        button("Follow", Action.FOLLOW, value),
    ]
    if not options.shared:
        reads.append(button("Share in channel", Action.SHARE, value))
    return [actions(writes), actions(reads)]


def build_case_card(case: Case, options: CardOptions, validation: ValidationStatus | None = None
                    ) -> dict[str, Any]:
    """The card message: `{"text": ..., "blocks": [...]}` (for respond() or chat.postMessage)."""
    currency = case.currency
    blocks: list[Block] = [header(f"Case {case_title(case)}")]
    if options.demo:
        blocks.append(context(DEMO_LINE))
    if case.is_test_case:
        blocks.append(context(TEST_CASE_LINE))
    blocks.append(fields_section([_debtor_field(case), _creditor_field(case)]))
    blocks.append(fields_section([
        f"*Principal*\n{format_money(case.gross_amount, currency)}",
        f"*Fees*\n{format_money(added_fees(case), currency)}",
        f"*Payments so far*\n{format_money(payments_so_far(case), currency)}",
        f"*Outstanding*\n{format_money(case.remainder, currency)}",
    ]))
    assigned = case.assigned_user
    assigned_text = "—"
    if assigned is not None and (assigned.name or assigned.email):
        assigned_text = esc_trunc(one_line(assigned.name or assigned.email), MAX_NAME)
    blocks.append(fields_section([
        f"*Lifecycle*\n{esc(lifecycle_text(case))}",
        f"*Engagement phase*\n{esc(one_line(case.current_engagement_phase) or 'None')}",
        f"*Exclusive period ends*\n{_period_text(case, options.today)}",
        f"*Assigned to*\n{assigned_text}",
    ]))
    blocks.append(section(_validation_text(case, validation)))
    if case.claim_description:
        blocks.append(section(f"*Claim*\n{esc_trunc(case.claim_description.strip(), 1500)}"))
    dates = [
        f"Created {format_date(case.date_created)}",
        f"Due {format_date(case.due_date)}",
    ]
    if case.date_collection_started is not None:
        dates.append(f"Collection started {format_date(case.date_collection_started)}")
    if case.date_updated is not None:
        dates.append(f"Updated {format_date(case.date_updated)}")
    if case.date_finished is not None:
        dates.append(f"Finished {format_date(case.date_finished)}")
    blocks.append(context(" · ".join(dates)))
    if options.shared and options.shared_by:
        blocks.append(context(f"Shared by <@{esc(options.shared_by)}>"))
    blocks.extend(card_buttons(case, options))
    # format_money escapes the currency itself: escape the other parts, not the whole (once only).
    fallback = truncate(f"Case {esc(case_title(case))}: {esc(lifecycle_text(case))}, outstanding "
                        f"{format_money(case.remainder, currency)}", MAX_FALLBACK_TEXT)
    return {"text": fallback, "blocks": blocks}
