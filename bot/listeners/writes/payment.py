"""Payments: record one (a form that follows what is typed), edit or delete one (admins; a
confirmation step, and a second question when Debitura needs the case reopened)."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from slack_sdk.errors import SlackApiError

from blocks import forms
from blocks.forms import CaseSummary, PaymentInfo
from blocks.ids import Action, Block, Callback
from blocks.metadata import MetadataError, ModalContext, PaymentRef
from blocks.parse import (
    OPTION_CLOSE_CASE,
    OPTION_FOLLOW_UP,
    FormErrors,
    PaymentBalance,
    PaymentEditForm,
    PaymentForm,
    Recipient,
    parse_amount,
    parse_payment_edit_form,
    parse_payment_form,
    parse_reopen_choice,
    selected_value,
    selected_values,
    settles,
    text_value,
)
from blocks.text import esc
from bot.listeners.writes.flow import (
    STAGE,
    STAGE_CONFIRM,
    STAGE_REOPEN,
    STALE,
    Opener,
    Reply,
    Submission,
    View,
    Write,
    WriteFlow,
    WriteKind,
    action_value,
    allowed,
    case_of,
    channel_id_of,
    context_for,
    decimal_or_none,
    decode_ctx,
    pending_of,
    state_values,
    summary_from_ctx,
    summary_of,
    today_in,
    user_id_of,
    user_timezone,
    with_extra,
    with_pending,
)
from bot.listeners.writes.views import fill, open_loading
from bot.services import payments
from bot.services.errors import BadInput
from bot.services.writes import WriteResult

if TYPE_CHECKING:
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.debitura.models import Case, Payment
    from bot.runtime import Runtime

F = TypeVar("F")


class PaymentFlow(WriteFlow[PaymentForm]):
    kind = WriteKind.PAY
    callback = Callback.PAYMENT
    title = "Record payment"
    where = "submit payment"
    key_kind = "payment"
    open_action = Action.OPEN_PAYMENT

    async def form(self, runtime: Runtime, case: Case, opener: Opener) -> View:
        tz = await user_timezone(runtime, opener.user_id)
        extra = {"rem": str(case.remainder) if case.remainder is not None else ""}
        if tz:
            extra["tz"] = tz
        ctx = context_for(self.kind, case, user_id=opener.user_id, channel_id=opener.channel_id, **extra)
        return forms.build_payment_view(ctx, summary_of(case), today=today_in(tz))

    async def parse(self, runtime: Runtime, sub: Submission) -> PaymentForm | FormErrors:
        balance = PaymentBalance(remainder=decimal_or_none(sub.ctx.extra.get("rem")), currency=sub.ctx.cur)
        return parse_payment_form(sub.values, today=today_in(sub.tz), balance=balance)

    def key_fields(self, form: PaymentForm, sub: Submission) -> Mapping[str, str]:
        return form.normalised()

    async def call(self, runtime: Runtime, write: Write[PaymentForm]) -> WriteResult:
        return await payments.record_payment(runtime, case=write.case, form=write.form,
                                             idempotency_key=write.key, user_id=write.actor.user_id)


# --- edit and delete: opened from a payment of the payments view ---------------------------------

class PaymentChangeFlow(WriteFlow[F]):
    """A write on one payment, opened by its Edit / Delete button (a PaymentRef value)."""

    payment_action: ClassVar[Action]
    subject = "Case or payment"

    @abstractmethod
    def payment_form(self, ctx: ModalContext, case: Case, info: PaymentInfo, tz: str | None) -> View:
        """The form for this payment."""


def payment_info(payment: Payment, case: Case) -> PaymentInfo:
    return PaymentInfo(id=payment.id, date=payment.date.date() if payment.date else None,
                       amount=payment.gross_amount or Decimal(0), currency=payment.currency or case.currency,
                       recipient=payment.recipient, method=payment.method,
                       invoice_status=payment.invoice.status if payment.invoice else None)


def reopen_of(sub: Submission, refusal: str) -> bool | FormErrors:
    """The "reopen the case" box; once it was asked for (after a 409), it must be ticked."""
    reopen = parse_reopen_choice(sub.values)
    if sub.ctx.extra.get(STAGE) == STAGE_REOPEN and not reopen:
        return FormErrors({Block.PAY_REOPEN: refusal})
    return reopen


@dataclass(frozen=True, slots=True)
class PaymentChange:
    payment_id: str
    reopen: bool
    edit: PaymentEditForm | None = None
    """The new values (edit); None for a delete."""
    payment: Payment | None = None
    """The payment as it is on the case (delete, found just before the write)."""

    def key_fields(self) -> dict[str, str]:
        edited = self.edit.normalised() if self.edit is not None else {}
        return {**edited, "pid": self.payment_id, "reopen": "1" if self.reopen else "0"}


class PaymentEditFlow(PaymentChangeFlow[PaymentChange]):
    kind = WriteKind.PAY_EDIT
    callback = Callback.PAYMENT_EDIT
    title = "Edit payment"
    where = "submit payment edit"
    key_kind = "payment_edit"
    admin_only = "edit payments"
    payment_action = Action.EDIT_PAYMENT

    def payment_form(self, ctx: ModalContext, case: Case, info: PaymentInfo, tz: str | None) -> View:
        return forms.build_payment_edit_view(ctx, summary_of(case), info, today=today_in(tz))

    async def parse(self, runtime: Runtime, sub: Submission) -> PaymentChange | FormErrors | Reply:
        ctx = sub.ctx
        if ctx.extra.get(STAGE, "") == "":  # step 1, the form: answer with the confirmation
            form = parse_payment_edit_form(sub.values, today=today_in(sub.tz))
            if isinstance(form, FormErrors):
                return form
            after = forms.payment_line(PaymentInfo(id=ctx.pid or "", date=form.date, amount=form.amount,
                                                   currency=ctx.cur, recipient=form.recipient.value))
            confirm_ctx = with_pending(with_extra(ctx, after=after), STAGE_CONFIRM, form.normalised())
            before = ctx.extra.get("before", "the payment")
            return Reply(forms.build_payment_edit_confirm_view(confirm_ctx, summary_from_ctx(ctx),
                                                               before=before, after=after))
        reopen = reopen_of(sub, "Tick the box to reopen the case, or Cancel to leave the payment as it is.")
        if isinstance(reopen, FormErrors):
            return reopen
        try:
            pending = PaymentEditForm.from_normalised(pending_of(ctx))
        except ValueError:
            raise BadInput("This form has lost the change to save. Open Edit again.") from None
        return PaymentChange(payment_id=ctx.pid or "", reopen=reopen, edit=pending)

    def key_fields(self, form: PaymentChange, sub: Submission) -> Mapping[str, str]:
        return form.key_fields()

    async def call(self, runtime: Runtime, write: Write[PaymentChange]) -> WriteResult | Reply:
        form, ctx = write.form, write.sub.ctx
        assert form.edit is not None
        done = await payments.edit_payment(runtime, case=write.case, payment_id=form.payment_id,
                                           form=form.edit, reopen=form.reopen, user_id=write.actor.user_id)
        if isinstance(done, payments.NeedsReopen):
            return Reply(forms.build_payment_edit_confirm_view(
                with_extra(ctx, **{STAGE: STAGE_REOPEN}), summary_of(write.case),
                before=ctx.extra.get("before", "the payment"), after=ctx.extra.get("after", ""),
                needs_reopen=True))
        return done


class PaymentDeleteFlow(PaymentChangeFlow[PaymentChange]):
    kind = WriteKind.PAY_DELETE
    callback = Callback.PAYMENT_DELETE
    title = "Delete payment"
    where = "submit payment delete"
    key_kind = "payment_delete"
    admin_only = "delete payments"
    payment_action = Action.DELETE_PAYMENT

    def payment_form(self, ctx: ModalContext, case: Case, info: PaymentInfo, tz: str | None) -> View:
        return forms.build_payment_delete_view(ctx, summary_of(case), info)

    async def parse(self, runtime: Runtime, sub: Submission) -> PaymentChange | FormErrors:
        reopen = reopen_of(sub, "Tick the box to reopen the case, or Cancel to keep the payment.")
        if isinstance(reopen, FormErrors):
            return reopen
        return PaymentChange(payment_id=sub.ctx.pid or "", reopen=reopen)

    def key_fields(self, form: PaymentChange, sub: Submission) -> Mapping[str, str]:
        return form.key_fields()

    async def ready(self, runtime: Runtime, case: Case, form: PaymentChange) -> PaymentChange | Reply:
        payment = await payments.find_payment(runtime, case.id, form.payment_id)
        if payment is None:
            return Reply(forms.build_result_view(
                self.title, "This payment is not on the case any more (already deleted).", success=False))
        return replace(form, payment=payment)

    async def call(self, runtime: Runtime, write: Write[PaymentChange]) -> WriteResult | Reply:
        payment = write.form.payment
        assert payment is not None
        done = await payments.delete_payment(runtime, case=write.case, payment=payment,
                                             reopen=write.form.reopen, user_id=write.actor.user_id)
        if isinstance(done, payments.NeedsReopen):
            return Reply(forms.build_payment_delete_view(
                with_extra(write.sub.ctx, **{STAGE: STAGE_REOPEN}), summary_of(write.case),
                payment_info(payment, write.case), needs_reopen=True))
        return done


PAY = PaymentFlow()
PAY_EDIT = PaymentEditFlow()
PAY_DELETE = PaymentDeleteFlow()


async def load_payment(runtime: Runtime, ref: PaymentRef) -> tuple[Case, Payment]:
    case = await runtime.debitura.get_case(ref.id)
    payment = await payments.find_payment(runtime, case.id, ref.pid)
    if payment is None:
        raise BadInput(f"This payment is no longer on *{esc(case.reference or case.id)}* (it may have been "
                       "deleted). Open the payments again.")
    return case, payment


async def open_payment_change(runtime: Runtime, client: AsyncWebClient, body: dict[str, Any],
                              flow: PaymentChangeFlow[Any]) -> None:
    """Edit / Delete on a payment of the payments view."""
    user_id = user_id_of(body)
    view_id, view_hash = await open_loading(client, str(body.get("trigger_id") or ""), flow.title,
                                            push=bool(body.get("view")))

    async def build() -> View:
        try:
            ref = PaymentRef.decode(action_value(body))
        except MetadataError:
            raise BadInput(STALE) from None
        await allowed(runtime, user_id, flow)
        case, payment = await load_payment(runtime, ref)
        info = payment_info(payment, case)
        channel_id = channel_id_of(body) or ref.ch
        tz = await user_timezone(runtime, user_id)
        extra = {"before": forms.payment_line(info)}
        if tz:
            extra["tz"] = tz
        ctx = context_for(flow.kind, case, user_id=user_id, channel_id=channel_id, **extra)
        return flow.payment_form(ctx.model_copy(update={"pid": payment.id}), case, info, tz)

    await fill(client, view_id, view_hash, flow.title, build, where=f"open {flow.kind} modal",
               subject="Payment")


# --- the payment form following what is typed ----------------------------------------------------

def payment_form_shape(blocks: list[Any]) -> tuple[bool, bool | None]:
    """(close option offered, commission field: None absent / its `optional` flag) of a payment form."""
    close_offered = False
    commission: bool | None = None
    for block in blocks:
        if not isinstance(block, dict) or block.get("type") != "input":
            continue
        if block.get("block_id") == Block.PAY_OPTIONS:
            options = (block.get("element") or {}).get("options") or []
            close_offered = any(o.get("value") == OPTION_CLOSE_CASE for o in options if isinstance(o, dict))
        elif block.get("block_id") == Block.PAY_COMMISSION:
            commission = bool(block.get("optional"))
    return close_offered, commission


async def refresh_payment_view(client: AsyncWebClient, body: dict[str, Any]) -> None:
    """Amount or recipient changed: offer "close the case" only when the amount settles the balance,
    and ask for the commission only when the creditor received the payment."""
    view = body.get("view") or {}
    if view.get("callback_id") != Callback.PAYMENT:
        return
    ctx = decode_ctx(view)
    values = dict(state_values(view))
    for action in body.get("actions") or []:
        # The dispatched element's own value is in the action (the view state may lag behind it).
        if isinstance(action, dict) and action.get("block_id"):
            values[str(action["block_id"])] = {str(action.get("action_id")): action}
    amount = parse_amount(text_value(values, Block.PAY_AMOUNT))
    remainder = decimal_or_none(ctx.extra.get("rem"))
    settled = not isinstance(amount, str) and settles(amount, remainder)
    raw_recipient = selected_value(values, Block.PAY_RECIPIENT)
    try:
        recipient = Recipient(raw_recipient) if raw_recipient else None
    except ValueError:
        recipient = None
    options = selected_values(values, Block.PAY_OPTIONS)
    has_options_state = Block.PAY_OPTIONS in values
    ref = case_of(ctx)
    summary = CaseSummary(reference=ref.ref or ref.id, currency=ctx.cur, remainder=remainder)
    new_view = forms.build_payment_view(
        ctx, summary, today=today_in(ctx.extra.get("tz")), settles=settled, recipient=recipient,
        follow_up=(OPTION_FOLLOW_UP in options) if has_options_state else True,
        close_case=OPTION_CLOSE_CASE in options)
    old_blocks = view.get("blocks") or []
    if payment_form_shape(old_blocks) == payment_form_shape(new_view["blocks"]):
        return  # nothing the person sees would change: spare Slack a views.update per keystroke
    if old_blocks and isinstance(old_blocks[0], dict) and old_blocks[0].get("type") == "context":
        new_view["blocks"][0] = old_blocks[0]  # keep the case line as it was opened (debtor name)
    try:
        await client.views_update(view_id=str(view.get("id") or ""), hash=view.get("hash"), view=new_view)
    except SlackApiError as exc:
        if exc.response.get("error") != "hash_conflict":  # a newer keystroke already updated it
            raise
