"""Activate a PendingVerification case (`POST /start`), in the name of the Slack user's team member.

Not idempotent: a retry after success answers 400 (wrong state), so an unknown outcome is resolved by
re-reading the case's lifecycle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from blocks.parse import ActivateForm
from blocks.text import esc
from bot.debitura.models import Lifecycle, StartCaseRequest, StartCaseResponse
from bot.services.writes import Applied, Audit, Reread, WriteResult, write_through

if TYPE_CHECKING:
    from bot.debitura.models import Case
    from bot.runtime import Runtime


def start_request(form: ActivateForm, *, actor_email: str) -> StartCaseRequest:
    return StartCaseRequest(
        welcome_message=form.welcome_message,
        user_email=actor_email,
        collection_partner_reference=form.partner_reference,
        assigned_user_email=form.assigned_user_email,
        interest_fees=form.interest_fees,
        reminder_fees=form.reminder_fees,
        collection_fees=form.collection_fees,
    )


def is_active(case: Case) -> bool:
    return case.lifecycle is not None and case.lifecycle.name is Lifecycle.Active


async def activate_case(runtime: Runtime, *, case: Case, form: ActivateForm, actor_email: str,
                        user_id: str) -> WriteResult:
    ref = esc(case.reference or case.id)
    request = start_request(form, actor_email=actor_email)
    summary = {"actor": actor_email, "partner_reference": form.partner_reference,
               "assigned_user": form.assigned_user_email, "welcome_chars": len(form.welcome_message),
               "interest_fees": str(form.interest_fees), "reminder_fees": str(form.reminder_fees),
               "collection_fees": str(form.collection_fees)}

    def done(response: StartCaseResponse) -> Applied:
        details = []
        if form.partner_reference:
            details.append(f"Our reference: `{esc(form.partner_reference)}` (find it with partner:<ref>).")
        text = f"*{ref}* is active. The creditor was sent the welcome message."
        return Applied(WriteResult(ok=True, text=text, details=tuple(details)),
                       {"status": str(response.status.display) if response.status else None})

    reread = Reread(
        "the case", lambda: runtime.debitura.get_case(case.id), is_active,
        unreadable=(f"Debitura did not answer, and *{ref}* could not be re-read, so we cannot tell whether "
                    "it was activated. Look at the case before trying again."),
        not_applied=f"Debitura did not answer, and *{ref}* is not active: it was not activated. Try again.",
        confirmed=f"*{ref}* is active (Debitura was slow to answer; re-reading the case confirmed it).")
    return await write_through(runtime, case=case, user_id=user_id,
                               audit_as=Audit("activate", summary, line="activated the case"),
                               send=lambda: runtime.debitura.start_case(case.id, request), done=done,
                               reread=reread)
