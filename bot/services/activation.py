"""Activate a PendingVerification case (`POST /start`), in the name of the Slack user's team member.

Not idempotent: a retry after success answers 400 (wrong state), so an unknown outcome is resolved by
re-reading the case's lifecycle.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from blocks.parse import ActivateForm
from blocks.text import esc
from bot.debitura.errors import DebituraError, OutcomeUnknown
from bot.debitura.models import Lifecycle, StartCaseRequest
from bot.services import audit
from bot.services.writes import WriteResult

if TYPE_CHECKING:
    from bot.debitura.models import Case
    from bot.runtime import Runtime

log = logging.getLogger(__name__)


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


async def activate_case(runtime: Runtime, *, case: Case, form: ActivateForm, actor_email: str,
                        user_id: str) -> WriteResult:
    reference = case.reference or case.id
    summary = {"actor": actor_email, "partner_reference": form.partner_reference,
               "assigned_user": form.assigned_user_email, "welcome_chars": len(form.welcome_message),
               "interest_fees": str(form.interest_fees), "reminder_fees": str(form.reminder_fees),
               "collection_fees": str(form.collection_fees)}
    try:
        response = await runtime.debitura.start_case(case.id, start_request(form, actor_email=actor_email))
    except OutcomeUnknown:
        log.warning("activation of case %s: outcome unknown; re-reading the case", case.id)
        try:
            fresh = await runtime.debitura.get_case(case.id)
        except DebituraError:
            return WriteResult(ok=False, text=(
                f"Debitura did not answer, and *{esc(reference)}* could not be re-read, so we cannot "
                "tell whether it was activated. Look at the case before trying again."))
        if fresh.lifecycle is None or fresh.lifecycle.name is not Lifecycle.Active:
            return WriteResult(ok=False, text=(
                f"Debitura did not answer, and *{esc(reference)}* is not active: it was not activated. "
                "Try again."))
        await audit.record_write(runtime, user_id=user_id, action="activate", case_id=case.id,
                                 case_reference=case.reference, summary=summary,
                                 result={"resolved": "case re-read"}, line="activated the case")
        return WriteResult(ok=True, text=(f"*{esc(reference)}* is active (Debitura was slow to answer; "
                                          "re-reading the case confirmed it)."))
    await audit.record_write(runtime, user_id=user_id, action="activate", case_id=case.id,
                             case_reference=case.reference, summary=summary,
                             result={"status": str(response.status.display) if response.status else None},
                             line="activated the case")
    details = []
    if form.partner_reference:
        details.append(f"Our reference: `{esc(form.partner_reference)}` (find it with partner:<ref>).")
    return WriteResult(ok=True, text=(f"*{esc(reference)}* is active. The creditor was sent the welcome "
                                      "message."), details=tuple(details))
