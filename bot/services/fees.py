"""Update a case's principal and fees (`PUT /fees`), with Debitura's price-change gate.

The API replaces what it is sent, so all four values are always sent. When the success fee would
move, Debitura answers 409 with the current and proposed fee and applies nothing: `update_fees()`
returns that `PriceChangeRequired`, the caller shows it, and `confirm=True` resends the same values
with `confirmPriceChange` or `keepIntentionalRate`, whichever the API asked for.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from blocks.parse import FeesForm
from blocks.text import esc, format_money
from bot.debitura.models import PriceChangeRequired, UpdateFeesRequest, UpdateFeesResponse
from bot.services.writes import Applied, Audit, Reread, WriteResult, write_through

if TYPE_CHECKING:
    from bot.debitura.models import Case
    from bot.runtime import Runtime


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
    ref = esc(case.reference or case.id)
    cur = case.currency
    request = fees_request(form, confirm=confirm, intentional=intentional)
    summary = {**form.normalised(), "confirm_price_change": request.confirm_price_change,
               "keep_intentional_rate": request.keep_intentional_rate}

    def done(response: UpdateFeesResponse | PriceChangeRequired) -> Applied | PriceChangeRequired:
        if isinstance(response, PriceChangeRequired):
            return response  # nothing applied: the caller asks to confirm
        details = [f"Principal {format_money(response.gross_amount, cur)}, added fees "
                   f"{format_money(response.total_added_fees, cur)}, "
                   f"outstanding {format_money(response.remainder, cur)}."]
        if response.recalculated_success_fee is not None:
            details.append(f"Success fee now {response.recalculated_success_fee} %.")
        text = f"Principal and fees of *{ref}* updated."
        return Applied(WriteResult(ok=True, text=text, details=tuple(details)),
                       {"gross_amount": str(response.gross_amount), "remainder": str(response.remainder),
                        "success_fee": str(response.recalculated_success_fee)},
                       line=f"updated the principal to {format_money(form.principal, cur)} and the fees")

    reread = Reread(
        "the case", lambda: runtime.debitura.get_case(case.id), lambda fresh: _applied(fresh, form),
        unreadable=(f"Debitura did not answer, and *{ref}* could not be re-read, so we cannot tell whether "
                    "the fees changed. Look at the case before trying again."),
        not_applied=(f"Debitura did not answer, and the amounts of *{ref}* are unchanged: nothing was "
                     "applied. Try again."),
        confirmed=f"Fees of *{ref}* updated (Debitura was slow to answer; re-reading the case confirmed it).")
    return await write_through(runtime, case=case, user_id=user_id,
                               audit_as=Audit("fees", summary, line="updated the principal and fees"),
                               send=lambda: runtime.debitura.update_fees(case.id, request), done=done,
                               reread=reread)
