"""Close a case (not idempotent on the API: an unknown outcome is resolved by re-reading the case)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from blocks.parse import CLOSE_CODES, CloseForm
from blocks.text import esc, format_money
from bot.debitura.errors import DebituraError, OutcomeUnknown
from bot.debitura.models import CloseCaseRequest, CloseCode, Lifecycle
from bot.services import audit
from bot.services.writes import WriteResult

if TYPE_CHECKING:
    from bot.debitura.models import Case
    from bot.runtime import Runtime

log = logging.getLogger(__name__)


def is_closed(case: Case) -> bool:
    return case.lifecycle is not None and case.lifecycle.name is Lifecycle.Closed


async def close_case(runtime: Runtime, *, case: Case, form: CloseForm, user_id: str) -> WriteResult:
    """Close with the form's code and comment. Debitura's refusals (400) propagate to the caller."""
    reference = case.reference or case.id
    label = CLOSE_CODES.get(form.close_code, form.close_code).lower()
    request = CloseCaseRequest(close_code=CloseCode(form.close_code), comment=form.comment)
    summary = {"close_code": form.close_code, "comment_chars": len(form.comment or "")}
    try:
        response = await runtime.debitura.close_case(case.id, request)
    except OutcomeUnknown:
        log.warning("close of case %s: outcome unknown; re-reading the case", case.id)
        try:
            fresh = await runtime.debitura.get_case(case.id)
        except DebituraError:
            return WriteResult(ok=False, text=(
                f"Debitura did not answer, and *{esc(reference)}* could not be re-read, so we cannot "
                "tell whether it was closed. Look at the case before trying again."))
        if not is_closed(fresh):
            return WriteResult(ok=False, text=(
                f"Debitura did not answer, and *{esc(reference)}* is still open: it was not closed. "
                "Try again."))
        await audit.record_write(runtime, user_id=user_id, action="close", case_id=case.id,
                                 case_reference=case.reference, summary=summary,
                                 result={"resolved": "case re-read"}, line=f"closed the case ({label})")
        return WriteResult(ok=True, text=(f"*{esc(reference)}* is closed (Debitura was slow to answer; "
                                          "re-reading the case confirmed it)."))
    details = []
    if response.final_outstanding_amount is not None:
        outstanding = format_money(response.final_outstanding_amount, case.currency)
        details.append(f"Outstanding at closing: {outstanding}")
    if response.total_recovered is not None:
        details.append(f"Recovered: {format_money(response.total_recovered, case.currency)}")
    await audit.record_write(runtime, user_id=user_id, action="close", case_id=case.id,
                             case_reference=case.reference, summary=summary,
                             result={"close_code": str(response.close_code.display) if response.close_code
                                     else form.close_code},
                             line=f"closed the case ({label})")
    return WriteResult(ok=True, text=f"*{esc(reference)}* is closed: {esc(label)}.", details=tuple(details))
