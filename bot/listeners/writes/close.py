"""Close a case (admins): a close code and a comment, with Debitura's payment preconditions."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING

from blocks import forms
from blocks.ids import Action, Callback
from blocks.parse import CloseForm, FormErrors, PaymentsSummary, close_precondition, parse_close_form
from blocks.text import esc, format_money
from bot.listeners.writes.flow import (
    Opener,
    Submission,
    View,
    Write,
    WriteFlow,
    WriteKind,
    context_for,
    summary_of,
)
from bot.services import closing, payments
from bot.services.errors import BadInput

if TYPE_CHECKING:
    from bot.debitura.models import Case
    from bot.runtime import Runtime
    from bot.services.writes import WriteResult


class CloseFlow(WriteFlow[CloseForm]):
    kind = WriteKind.CLOSE
    callback = Callback.CLOSE
    title = "Close case"
    where = "submit close"
    key_kind = "close"
    admin_only = "close cases"
    open_action = Action.OPEN_CLOSE

    def precondition(self, case: Case) -> None:
        if closing.is_closed(case):
            raise BadInput(f"*{esc(case.reference or case.id)}* is already closed.")

    async def form(self, runtime: Runtime, case: Case, opener: Opener) -> View:
        paid = payments.payments_summary(case, await runtime.debitura.list_payments(case.id))
        ctx = context_for(self.kind, case, user_id=opener.user_id, channel_id=opener.channel_id,
                          n=str(paid.count), total=str(paid.total), rem=str(paid.remainder))
        line = (f"{paid.count} payment(s), {format_money(paid.total, case.currency)} in total; "
                f"outstanding {format_money(paid.remainder, case.currency)}.")
        return forms.build_close_view(ctx, summary_of(case), payments_line=line)

    async def parse(self, runtime: Runtime, sub: Submission) -> CloseForm | FormErrors:
        extra = sub.ctx.extra
        known = None
        if {"n", "total", "rem"} <= extra.keys():  # the payments when the form opened
            known = PaymentsSummary(count=int(extra["n"]), total=Decimal(extra["total"]),
                                    remainder=Decimal(extra["rem"]))
        return parse_close_form(sub.values, payments=known)

    def key_fields(self, form: CloseForm, sub: Submission) -> Mapping[str, str]:
        return {"code": form.close_code, "comment": form.comment or ""}

    async def ready(self, runtime: Runtime, case: Case, form: CloseForm) -> CloseForm:
        if form.close_code in ("Paid", "PartiallyPaid"):  # the payments now
            fresh = payments.payments_summary(case, await runtime.debitura.list_payments(case.id))
            problem = close_precondition(form.close_code, fresh)
            if problem:
                raise BadInput(esc(problem))
        return form

    async def call(self, runtime: Runtime, write: Write[CloseForm]) -> WriteResult:
        return await closing.close_case(runtime, case=write.case, form=write.form,
                                        user_id=write.actor.user_id)


CLOSE = CloseFlow()
