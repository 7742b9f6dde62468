"""Record, edit and delete payments.

- `record_payment()` sends the form with its derived Idempotency-Key (Debitura replays the original
  answer for the same key and body, so a retried submission cannot record the payment twice) and
  shows Debitura's `warnings[]`. A 409 means the same key is still being processed at Debitura:
  we wait briefly and ask again with the same key.
- `edit_payment()` / `delete_payment()`: a 409 means the case was closed as paid and would be left
  with a balance; the caller asks the person and resends with `reopen=True` (`NeedsReopen`). A 422
  means the payout is already invoiced and the payment is frozen (`WriteResult(ok=False)`).
  Neither call is idempotent on the API; an unknown outcome is resolved by re-reading the payments.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from blocks.parse import PaymentEditForm, PaymentForm, PaymentsSummary
from blocks.text import esc, format_money
from bot.debitura.errors import Conflict, DebituraError, OutcomeUnknown, Unprocessable
from bot.debitura.models import (
    CommissionPaymentStatus,
    CreatePaymentRequest,
    Payment,
    PaymentRecipient,
    UpdatePaymentRequest,
)
from bot.services import audit
from bot.services.writes import WriteResult

if TYPE_CHECKING:
    from bot.debitura.models import Case
    from bot.runtime import Runtime

log = logging.getLogger(__name__)

IN_FLIGHT_RETRIES = 3
IN_FLIGHT_DELAY = 1.5
REOPENED = " and reopened the case"

FROZEN_TEXT = (
    "This payment's payout has already been invoiced by Debitura, so the payment is frozen and cannot "
    "be {verb} here. Contact Debitura support to correct an invoiced payment."
)


@dataclass(frozen=True, slots=True)
class NeedsReopen:
    """Debitura's 409 on edit/delete: the case was closed as paid and would be left with a balance."""

    detail: str


def _reference(case: Case) -> str:
    return case.reference or case.id


def payments_summary(case: Case, payments: list[Payment]) -> PaymentsSummary:
    """Count, total and the case's remainder (for the close preconditions)."""
    total = sum((p.gross_amount or Decimal(0) for p in payments), Decimal(0))
    remainder = case.remainder if case.remainder is not None else Decimal(0)
    return PaymentsSummary(count=len(payments), total=total, remainder=remainder)


def create_request(form: PaymentForm) -> CreatePaymentRequest:
    return CreatePaymentRequest(
        date=form.date,
        payment_amount=form.amount,
        payment_recipient=PaymentRecipient(form.recipient.value),
        commission_payment_status=CommissionPaymentStatus(form.commission.value) if form.commission else None,
        payout_creditor=form.payout_creditor,
        payout_collection_partner=form.payout_partner,
        close_case=form.close_case,
        create_unpaid_commission_follow_up=form.follow_up,
    )


def update_request(form: PaymentEditForm, *, reopen: bool) -> UpdatePaymentRequest:
    return UpdatePaymentRequest(
        date=form.date,
        payment_amount=form.amount,
        payment_recipient=PaymentRecipient(form.recipient.value),
        commission_payment_status=CommissionPaymentStatus(form.commission.value) if form.commission else None,
        payout_creditor=form.payout_creditor,
        payout_collection_partner=form.payout_partner,
        reopen_case_if_needed=reopen,
    )


async def record_payment(runtime: Runtime, *, case: Case, form: PaymentForm, idempotency_key: str,
                         user_id: str, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
                         ) -> WriteResult:
    request = create_request(form)
    attempt = 0
    while True:
        try:
            response = await runtime.debitura.create_payment(case.id, request,
                                                             idempotency_key=idempotency_key)
            break
        except Conflict:
            # The same key is still being processed at Debitura: the answer will be the original one.
            attempt += 1
            if attempt > IN_FLIGHT_RETRIES:
                return WriteResult(
                    ok=False,
                    text=("Debitura is still processing this payment. Look at the payments in a minute "
                          "before you record it again."))
            await sleep(IN_FLIGHT_DELAY * attempt)
        except Unprocessable as exc:
            if exc.has_business_error("IdempotencyConflict"):
                return WriteResult(
                    ok=False,
                    text=("Debitura already recorded a different payment under this form's key. Open "
                          "Record payment again to record another one."))
            raise
    money = format_money(form.amount, case.currency)
    lines = []
    if response.case_closed:
        lines.append("The case is now closed as paid.")
    if response.remaining_amount is not None:
        lines.append(f"Outstanding now: {format_money(response.remaining_amount, case.currency)}.")
    if response.payout_creditor is not None and response.payout_collection_partner is not None:
        lines.append(f"Payout: {format_money(response.payout_creditor, case.currency)} to the creditor, "
                     f"{format_money(response.payout_collection_partner, case.currency)} to us.")
    summary = {"amount": str(form.amount), "date": form.date.isoformat(), "recipient": form.recipient.value,
               "commission": form.commission.value if form.commission else None,
               "split": bool(form.payout_creditor is not None), "close_case": form.close_case,
               "idempotency_key": idempotency_key}
    await audit.record_write(
        runtime, user_id=user_id, action="payment", case_id=case.id, case_reference=case.reference,
        summary=summary,
        result={"payment_id": response.payment_id, "case_closed": response.case_closed,
                "warnings": response.warnings},
        line=f"recorded a payment of {money}" + (" and closed the case" if response.case_closed else ""))
    return WriteResult(
        ok=True, text=f"Payment of {money} recorded on *{esc(_reference(case))}*.",
        warnings=tuple(response.warnings), details=tuple(lines),
        data={"payment_id": response.payment_id or "", "case_closed": "1" if response.case_closed else ""})


def _describe_payment(amount: Decimal | None, currency: str | None) -> str:
    return format_money(amount, currency) if amount is not None else "the payment"


async def edit_payment(runtime: Runtime, *, case: Case, payment_id: str, form: PaymentEditForm, reopen: bool,
                       user_id: str) -> WriteResult | NeedsReopen:
    request = update_request(form, reopen=reopen)
    money = format_money(form.amount, case.currency)
    try:
        await runtime.debitura.update_payment(case.id, payment_id, request)
    except Conflict as exc:
        if reopen:
            raise
        return NeedsReopen(detail=exc.detail_text() or "")
    except Unprocessable as exc:
        log.info("payment %s on case %s is frozen: %s", payment_id, case.id, exc.detail_text())
        return WriteResult(ok=False, text=FROZEN_TEXT.format(verb="changed"))
    except OutcomeUnknown:
        resolved = await _reread_payment(runtime, case.id, payment_id)
        if resolved is _UNREADABLE or resolved is None or not _matches(resolved, form):
            return WriteResult(
                ok=False,
                text=("Debitura did not answer, and the payment does not show the change: it was most "
                      "likely not saved. Check the payments, then try again."
                      if resolved is not _UNREADABLE else
                      "Debitura did not answer, so we cannot tell whether the change was saved. Check "
                      "the payments before trying again."))
    await audit.record_write(
        runtime, user_id=user_id, action="payment_edit", case_id=case.id, case_reference=case.reference,
        summary={"payment_id": payment_id, **form.normalised(), "reopen": reopen},
        result={"ok": True}, line=f"changed a payment to {money}" + (REOPENED if reopen else ""))
    text = f"Payment on *{esc(_reference(case))}* changed to {money}."
    if reopen:
        text += " The case was reopened."
    return WriteResult(ok=True, text=text)


async def delete_payment(runtime: Runtime, *, case: Case, payment: Payment, reopen: bool, user_id: str
                         ) -> WriteResult | NeedsReopen:
    money = _describe_payment(payment.gross_amount, payment.currency or case.currency)
    try:
        await runtime.debitura.delete_payment(case.id, payment.id, reopen_case_if_needed=reopen)
    except Conflict as exc:
        if reopen:
            raise
        return NeedsReopen(detail=exc.detail_text() or "")
    except Unprocessable as exc:
        log.info("payment %s on case %s is frozen: %s", payment.id, case.id, exc.detail_text())
        return WriteResult(ok=False, text=FROZEN_TEXT.format(verb="deleted"))
    except OutcomeUnknown:
        resolved = await _reread_payment(runtime, case.id, payment.id)
        if resolved is _UNREADABLE:
            return WriteResult(ok=False, text=("Debitura did not answer, so we cannot tell whether the "
                                               "payment was deleted. Check the payments, then try again."))
        if resolved is not None:
            return WriteResult(ok=False, text=("Debitura did not answer, and the payment is still there: it "
                                               "was not deleted. Try again."))
    await audit.record_write(
        runtime, user_id=user_id, action="payment_delete", case_id=case.id, case_reference=case.reference,
        summary={"payment_id": payment.id, "amount": str(payment.gross_amount), "reopen": reopen},
        result={"ok": True}, line=f"deleted a payment of {money}" + (REOPENED if reopen else ""))
    text = f"Payment of {money} deleted from *{esc(_reference(case))}*; the amount is outstanding again."
    if reopen:
        text += " The case was reopened."
    return WriteResult(ok=True, text=text)


class _Unreadable:
    pass


_UNREADABLE = _Unreadable()


async def _reread_payment(runtime: Runtime, case_id: str, payment_id: str) -> Payment | _Unreadable | None:
    try:
        payments = await runtime.debitura.list_payments(case_id)
    except DebituraError:
        log.exception("could not re-read the payments of case %s", case_id)
        return _UNREADABLE
    return next((p for p in payments if p.id == payment_id), None)


def _matches(payment: Payment | _Unreadable, form: PaymentEditForm) -> bool:
    if not isinstance(payment, Payment):
        return False
    amount = payment.gross_amount
    same_amount = amount is not None and abs(amount - form.amount) < Decimal("0.005")
    same_date = payment.date is None or payment.date.date() == form.date
    return same_amount and same_date


async def find_payment(runtime: Runtime, case_id: str, payment_id: str) -> Payment | None:
    payments = await runtime.debitura.list_payments(case_id)
    return next((p for p in payments if p.id == payment_id), None)
