"""Update a case's principal and fees (admins), through Debitura's price-change gate: when the
success fee would move, the confirmation (FEES_CONFIRM) resends the same values confirmed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from blocks import forms
from blocks.forms import Fees
from blocks.ids import Action, Callback
from blocks.parse import FeesForm, FormErrors, parse_fees_form
from blocks.text import esc
from bot.debitura.models import Lifecycle, PriceChangeRequired
from bot.listeners.writes.flow import (
    STAGE_CONFIRM,
    Opener,
    Reply,
    Submission,
    View,
    Write,
    WriteFlow,
    WriteKind,
    context_for,
    pending_of,
    summary_of,
    with_extra,
    with_pending,
)
from bot.services import closing, fees
from bot.services.errors import BadInput

if TYPE_CHECKING:
    from bot.debitura.models import Case
    from bot.runtime import Runtime
    from bot.services.writes import WriteResult


@dataclass(frozen=True, slots=True)
class FeesStep:
    form: FeesForm
    confirm: bool = False
    intentional: bool = False

    @property
    def stage(self) -> str:
        if not self.confirm:
            return "first"
        return "keep" if self.intentional else "confirm"


class _FeesWrite(WriteFlow[FeesStep]):
    """What both steps share: the write and its key (the stage keeps their keys apart)."""

    title = "Update fees"
    key_kind = "fees"
    admin_only = "change a case's principal and fees"

    def key_fields(self, form: FeesStep, sub: Submission) -> Mapping[str, str]:
        return {**form.form.normalised(), "stage": form.stage}

    async def call(self, runtime: Runtime, write: Write[FeesStep]) -> WriteResult | Reply:
        step = write.form
        done = await fees.update_fees(runtime, case=write.case, form=step.form, user_id=write.actor.user_id,
                                      confirm=step.confirm, intentional=step.intentional)
        if not isinstance(done, PriceChangeRequired):
            return done
        ctx = with_pending(write.sub.ctx, STAGE_CONFIRM, step.form.normalised())
        ctx = with_extra(ctx, intentional="1" if done.is_intentional_rate else "0")
        return Reply(forms.build_fees_confirm_view(
            ctx, summary_of(write.case), current=done.current_success_fee, proposed=done.proposed_success_fee,
            intentional=done.is_intentional_rate, warning=done.warning, message=done.message))


class FeesFlow(_FeesWrite):
    kind = WriteKind.FEES
    callback = Callback.FEES
    where = "submit fees"
    open_action = Action.OPEN_FEES

    def precondition(self, case: Case) -> None:
        merged = case.lifecycle is not None and case.lifecycle.name is Lifecycle.Merged
        if closing.is_closed(case) or merged:
            state = "merged" if merged else "closed"
            raise BadInput(f"*{esc(case.reference or case.id)}* is {state}; its fees can no longer change.")

    async def form(self, runtime: Runtime, case: Case, opener: Opener) -> View:
        ctx = context_for(self.kind, case, user_id=opener.user_id, channel_id=opener.channel_id)
        return forms.build_fees_view(ctx, summary_of(case), principal=case.gross_amount,
                                     fees=Fees(interest=case.interest_fees, reminder=case.reminder_fees,
                                               collection=case.collection_fees))

    async def parse(self, runtime: Runtime, sub: Submission) -> FeesStep | FormErrors:
        form = parse_fees_form(sub.values)
        return form if isinstance(form, FormErrors) else FeesStep(form)


class FeesConfirmFlow(_FeesWrite):
    """The price-change confirmation: the pending values, sent again confirmed."""

    kind = WriteKind.FEES_CONFIRM
    callback = Callback.FEES_CONFIRM
    where = "submit fees confirmation"

    async def parse(self, runtime: Runtime, sub: Submission) -> FeesStep:
        try:
            form = FeesForm.from_normalised(pending_of(sub.ctx))
        except ValueError:
            raise BadInput("This form has lost the fees to save. Open Update fees again.") from None
        return FeesStep(form, confirm=True, intentional=sub.ctx.extra.get("intentional") == "1")


FEES = FeesFlow()
FEES_CONFIRM = FeesConfirmFlow()
