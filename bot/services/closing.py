"""Close a case (not idempotent on the API: an unknown outcome is resolved by re-reading the case)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from blocks.parse import CLOSE_CODES, CloseForm
from blocks.text import esc, format_money
from bot.debitura.models import CloseCaseRequest, CloseCaseResponse, CloseCode, Lifecycle
from bot.services.writes import Applied, Audit, Reread, WriteResult, write_through

if TYPE_CHECKING:
    from bot.debitura.models import Case
    from bot.runtime import Runtime


def is_closed(case: Case) -> bool:
    return case.lifecycle is not None and case.lifecycle.name is Lifecycle.Closed


async def close_case(runtime: Runtime, *, case: Case, form: CloseForm, user_id: str) -> WriteResult:
    """Close with the form's code and comment. Debitura's refusals (400) propagate to the caller."""
    ref = esc(case.reference or case.id)
    label = CLOSE_CODES.get(form.close_code, form.close_code).lower()
    request = CloseCaseRequest(close_code=CloseCode(form.close_code), comment=form.comment)
    summary = {"close_code": form.close_code, "comment_chars": len(form.comment or "")}

    def done(response: CloseCaseResponse) -> Applied:
        details = []
        if response.final_outstanding_amount is not None:
            outstanding = format_money(response.final_outstanding_amount, case.currency)
            details.append(f"Outstanding at closing: {outstanding}")
        if response.total_recovered is not None:
            details.append(f"Recovered: {format_money(response.total_recovered, case.currency)}")
        code = str(response.close_code.display) if response.close_code else form.close_code
        return Applied(WriteResult(ok=True, text=f"*{ref}* is closed: {esc(label)}.", details=tuple(details)),
                       {"close_code": code})

    reread = Reread(
        "the case", lambda: runtime.debitura.get_case(case.id), is_closed,
        unreadable=(f"Debitura did not answer, and *{ref}* could not be re-read, so we cannot tell whether "
                    "it was closed. Look at the case before trying again."),
        not_applied=f"Debitura did not answer, and *{ref}* is still open: it was not closed. Try again.",
        confirmed=f"*{ref}* is closed (Debitura was slow to answer; re-reading the case confirmed it).")
    return await write_through(runtime, case=case, user_id=user_id,
                               audit_as=Audit("close", summary, line=f"closed the case ({label})"),
                               send=lambda: runtime.debitura.close_case(case.id, request), done=done,
                               reread=reread)
