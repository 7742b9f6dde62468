"""Update a case's principal and fees (`PUT /fees`), with Debitura's price-change gate.

The API replaces what it is sent, so all four values are always sent. When the success fee would
move, Debitura answers 409 with the current and proposed fee and applies nothing: `update_fees()`
returns that `PriceChangeRequired`, the caller shows it, and `confirm=True` resends the same values
with `confirmPriceChange` or `keepIntentionalRate`, whichever the API asked for.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import TYPE_CHECKING

from blocks.parse import FeesForm
from blocks.text import esc, format_money
from bot.debitura.errors import DebituraError, OutcomeUnknown
from bot.debitura.models import PriceChangeRequired, UpdateFeesRequest
from bot.services import audit
from bot.services.writes import WriteResult

if TYPE_CHECKING:
    from bot.debitura.models import Case
    from bot.runtime import Runtime

log = logging.getLogger(__name__)


def fees_request(form: FeesForm, *, confirm: bool = False, intentional: bool = False) -> UpdateFeesRequest:
    return UpdateFeesRequest(
        gross_amount=form.principal,
        interest_fees=form.interest_fees,
        reminder_fees=form.reminder_fees,
        collection_fees=form.collection_fees,
        confirm_price_change=confirm and not intentional,
        keep_intentional_rate=confirm and intentional,
    )


def _applied(case: Case, form: FeesForm) -> bool:
    def same(a: Decimal | None, b: Decimal) -> bool:
        return a is not None and abs(a - b) < Decimal("0.005")

    return (same(case.gross_amount, form.principal)
            and same(case.interest_fees, form.interest_fees)
            and same(case.reminder_fees, form.reminder_fees)
            and same(case.collection_fees, form.collection_fees))


async def update_fees(runtime: Runtime, *, case: Case, form: FeesForm, user_id: str, confirm: bool = False,
                      intentional: bool = False) -> WriteResult | PriceChangeRequired:
    """Send the fees; PriceChangeRequired when Debitura asks to confirm a success-fee change."""
    reference = case.reference or case.id
    request = fees_request(form, confirm=confirm, intentional=intentional)
    summary = {**form.normalised(), "confirm_price_change": request.confirm_price_change,
               "keep_intentional_rate": request.keep_intentional_rate}
    try:
        response = await runtime.debitura.update_fees(case.id, request)
    except OutcomeUnknown:
        log.warning("fees of case %s: outcome unknown; re-reading the case", case.id)
        try:
            fresh = await runtime.debitura.get_case(case.id)
        except DebituraError:
            return WriteResult(ok=False, text=(
                f"Debitura did not answer, and *{esc(reference)}* could not be re-read, so we cannot "
                "tell whether the fees changed. Look at the case before trying again."))
        if not _applied(fresh, form):
            return WriteResult(ok=False, text=(
                f"Debitura did not answer, and the amounts of *{esc(reference)}* are unchanged: nothing "
                "was applied. Try again."))
        await audit.record_write(runtime, user_id=user_id, action="fees", case_id=case.id,
                                 case_reference=case.reference, summary=summary,
                                 result={"resolved": "case re-read"}, line="updated the principal and fees")
        return WriteResult(ok=True, text=(f"Fees of *{esc(reference)}* updated (Debitura was slow to answer; "
                                          "re-reading the case confirmed it)."))
    if isinstance(response, PriceChangeRequired):
        return response
    cur = case.currency
    details = [f"Principal {format_money(response.gross_amount, cur)}, added fees "
               f"{format_money(response.total_added_fees, cur)}, "
               f"outstanding {format_money(response.remainder, cur)}."]
    if response.recalculated_success_fee is not None:
        details.append(f"Success fee now {response.recalculated_success_fee} %.")
    await audit.record_write(
        runtime, user_id=user_id, action="fees", case_id=case.id, case_reference=case.reference,
        summary=summary,
        result={"gross_amount": str(response.gross_amount), "remainder": str(response.remainder),
                "success_fee": str(response.recalculated_success_fee)},
        line=f"updated the principal to {format_money(form.principal, cur)} and the fees")
    return WriteResult(ok=True, text=f"Principal and fees of *{esc(reference)}* updated.",
                       details=tuple(details))
