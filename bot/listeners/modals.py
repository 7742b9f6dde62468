"""Write modals: note, payment (record, edit, delete), chat, upload, close, activate, fees.

How every modal runs (docs/slack/PLATFORM.md, section 1):
- Opening: ack the button/command/shortcut, `views.open` a loading view with the trigger_id at once
  (it is valid 3 s), then load what the form needs (the case, its payments, the team...) and
  `views.update` the form in, with the view's hash. A slow Debitura never expires the trigger_id.
- Submitting: the form is parsed (`blocks.parse`) inside the ack; bad input goes back as
  `response_action: errors`. A valid form is acked with `response_action: update` to a "Sending…"
  view, the write runs after the ack, and `views.update` shows the result, Debitura's warnings, or
  the error in words with its error id.
- Who: guests and Slack Connect users are refused for every write; close, activate, fees and
  editing/deleting payments need an admin; chat and activate are sent as the user's Debitura team
  member (email match), and refused when there is none.
- Once: every write runs under `bot.services.writes.run_once` with a key derived from the view id,
  the case and the form values; payments and chats also send it as the Idempotency-Key.

`open_write_modal()` is what `/case note|pay|chat|close|activate|fees|upload <ref>` calls.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slack_sdk.errors import SlackApiError
from slack_sdk.webhook.async_client import AsyncWebhookClient

from blocks import forms
from blocks.forms import CaseSummary, Fees, PaymentInfo, TeamMember
from blocks.ids import Action, Block, Callback, Shortcut
from blocks.metadata import CaseRef, MetadataError, ModalContext, PaymentRef
from blocks.parse import (
    OPTION_CLOSE_CASE,
    OPTION_FOLLOW_UP,
    SLACK_INPUT_MAX,
    FeesForm,
    FormErrors,
    PaymentBalance,
    PaymentEditForm,
    PaymentsSummary,
    Recipient,
    close_precondition,
    parse_activate_form,
    parse_amount,
    parse_chat_form,
    parse_close_form,
    parse_fees_form,
    parse_note_form,
    parse_payment_edit_form,
    parse_payment_form,
    parse_pick_case_form,
    parse_reopen_choice,
    parse_upload_form,
    selected_value,
    selected_values,
    settles,
    text_value,
)
from blocks.text import esc, format_money
from bot.debitura.errors import DebituraError, NotFound
from bot.debitura.models import Lifecycle, PriceChangeRequired
from bot.services import activation, chats, closing, fees, identity, lookup, notes, payments, uploads
from bot.services.errors import BadInput, CaseroomError, report
from bot.services.writes import StillRunning, WriteResult, derive_key, run_once

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncAck, AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.debitura.models import Case, Payment
    from bot.runtime import Runtime

log = logging.getLogger(__name__)

WRITE_KINDS = ("note", "pay", "chat", "close", "activate", "fees", "upload")
TITLES = {
    "note": "Add note", "pay": "Record payment", "chat": "Send chat", "close": "Close case",
    "activate": "Activate case", "fees": "Update fees", "upload": "Upload file",
    "pay_edit": "Edit payment", "pay_delete": "Delete payment", "pick": "Add to case as note",
}
ADMIN_ONLY = {
    "close": "close cases", "activate": "activate cases", "fees": "change a case's principal and fees",
    "pay_edit": "edit payments", "pay_delete": "delete payments",
}
OPEN_ACTIONS = {
    Action.OPEN_NOTE: "note", Action.OPEN_PAYMENT: "pay", Action.OPEN_CHAT: "chat",
    Action.OPEN_UPLOAD: "upload", Action.OPEN_CLOSE: "close", Action.OPEN_ACTIVATE: "activate",
    Action.OPEN_FEES: "fees",
}
STALE = "This button is from an older message Caseroom cannot read any more. Run the command again."
PICK_RESOLVE_TIMEOUT = 2.0
"""Seconds a case lookup may take inside the pick-case ack (Slack allows 3 in all)."""

STAGE = "stage"
STAGE_CONFIRM = "confirm"
STAGE_REOPEN = "reopen"
PENDING = "p."

ACK_APPLY_WAIT = 5.0
"""Longest wait (seconds) for Slack to put the "Sending…" view in place before showing a result."""
ACK_APPLY_FIRST_POLL = 0.05

GONE_VIEW_ERRORS = frozenset({"not_found", "view_not_found"})
"""views.update on a modal the person already closed."""

ViewBuilder = Callable[[], Awaitable[dict[str, Any]]]


# --- small helpers -------------------------------------------------------------------------------

def summary_of(case: Case) -> CaseSummary:
    debtor = case.debtor.name if case.debtor is not None else None
    return CaseSummary(reference=case.reference or case.id, debtor=debtor, currency=case.currency,
                       remainder=case.remainder)


def summary_from_ctx(ctx: ModalContext) -> CaseSummary:
    ref = ctx.case.ref if ctx.case is not None else ""
    return CaseSummary(reference=ref or (ctx.case.id if ctx.case else "?"), currency=ctx.cur)


def user_id_of(body: dict[str, Any]) -> str:
    user = body.get("user") or {}
    return str(user.get("id") or "")


def channel_id_of(body: dict[str, Any]) -> str | None:
    channel = body.get("channel") or {}
    return str(channel.get("id") or "") or None


def action_value(body: dict[str, Any]) -> str:
    actions = body.get("actions") or []
    if not actions or not isinstance(actions[0], dict):
        return ""
    return str(actions[0].get("value") or "")


def zone(name: str | None) -> tzinfo:
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def today_in(name: str | None) -> date:
    return datetime.now(zone(name)).date()


def decimal_or_none(raw: str | None) -> Decimal | None:
    if not raw:
        return None
    try:
        return Decimal(raw)
    except InvalidOperation:
        return None


def pending_of(ctx: ModalContext) -> dict[str, str]:
    return {k[len(PENDING):]: v for k, v in ctx.extra.items() if k.startswith(PENDING)}


def with_extra(ctx: ModalContext, **extra: str) -> ModalContext:
    return ctx.model_copy(update={"extra": {**ctx.extra, **extra}})


def with_pending(ctx: ModalContext, stage: str, pending: dict[str, str]) -> ModalContext:
    kept = {k: v for k, v in ctx.extra.items() if not k.startswith(PENDING)}
    kept[STAGE] = stage
    kept.update({PENDING + k: v for k, v in pending.items()})
    return ctx.model_copy(update={"extra": kept})


async def user_timezone(runtime: Runtime, user_id: str) -> str | None:
    """The user's IANA time zone from their Slack profile (None when unknown)."""
    try:
        response = await runtime.slack.users_info(user=user_id)
    except SlackApiError as exc:
        log.info("users.info for the time zone of %s failed: %s", user_id, exc.response.get("error"))
        return None
    user = response.get("user") or {}
    tz = user.get("tz") if isinstance(user, dict) else None
    return str(tz) if tz else None


async def show(client: AsyncWebClient, view_id: str, view: dict[str, Any], view_hash: str | None = None
               ) -> None:
    """views.update; on a hash conflict (someone else updated it) retry once without the hash."""
    try:
        await client.views_update(view_id=view_id, view=view, hash=view_hash)
    except SlackApiError as exc:
        if exc.response.get("error") == "hash_conflict" and view_hash is not None:
            await client.views_update(view_id=view_id, view=view)
            return
        raise


async def open_loading(client: AsyncWebClient, trigger_id: str, title: str, *, push: bool = False
                       ) -> tuple[str, str | None]:
    """Open (or push) the loading view with the trigger_id; returns (view id, hash)."""
    view = forms.build_loading_view(title)
    if push:
        response = await client.views_push(trigger_id=trigger_id, view=view)
    else:
        response = await client.views_open(trigger_id=trigger_id, view=view)
    opened = response.get("view") or {}
    return str(opened.get("id") or ""), (opened.get("hash") or None)


async def fill(client: AsyncWebClient, view_id: str, view_hash: str | None, title: str, build: ViewBuilder,
               *, where: str, subject: str = "Case") -> None:
    """Build the view (loading data), show it; any error becomes an error view with an error id."""
    try:
        view = await build()
    except Exception as exc:
        view = forms.build_error_view(title, report(exc, where=where, subject=subject, logger=log))
    try:
        await show(client, view_id, view, view_hash)
    except SlackApiError as exc:
        if exc.response.get("error") in GONE_VIEW_ERRORS:
            log.info("%s: the modal was closed before its content arrived", where)
            return
        report(exc, where=f"{where}: views.update", logger=log)


async def tell(body: dict[str, Any], text: str) -> None:
    """Answer a button or shortcut ephemerally through its response_url (when the modal cannot open)."""
    url = body.get("response_url")
    if not isinstance(url, str) or not url:
        return
    try:
        await AsyncWebhookClient(url).send(text=text, response_type="ephemeral", replace_original=False)
    except Exception:
        log.exception("could not answer on the response_url")


async def opening(body: dict[str, Any], where: str, work: Callable[[], Awaitable[None]]) -> None:
    """Run an opening flow; when Slack refuses to open the modal (expired trigger...) say so."""
    try:
        await work()
    except SlackApiError as exc:
        await tell(body, report(exc, where=where, logger=log))


def result_view(title: str, result: WriteResult) -> dict[str, Any]:
    details = list(result.details)
    if result.replayed:
        details.append("This form was already submitted; this is the result of that submission.")
    return forms.build_result_view(title, result.text, warnings=result.warnings, details=details,
                                   success=result.ok)


async def guarded(runtime: Runtime, key: str, operation: Callable[[], Awaitable[WriteResult]]
                  ) -> WriteResult:
    try:
        return await run_once(runtime, key, operation)
    except StillRunning:
        return WriteResult(ok=False, text=("The same form is still being sent to Debitura. Check the case in "
                                           "a minute before you try again."))


async def allowed(runtime: Runtime, user_id: str, kind: str) -> None:
    """Refuse guests, other organisations and (for admin-only writes) non-admins; the Slack profile is
    re-read when older than identity.WRITE_MAX_AGE."""
    await identity.check_user(runtime, user_id, write=True)
    if kind in ADMIN_ONLY:
        await identity.require_admin(runtime, user_id, ADMIN_ONLY[kind])


def context_for(kind: str, case: Case, *, user_id: str, channel_id: str | None, **extra: str) -> ModalContext:
    return ModalContext(kind=kind, case=CaseRef(id=case.id, ref=case.reference or "", ch=channel_id),
                        ch=channel_id, user=user_id, cur=case.currency, extra=extra)


def case_of(ctx: ModalContext) -> CaseRef:
    if ctx.case is None:
        raise BadInput("This form has lost track of its case. Open it again from the case.")
    return ctx.case


# --- opening the forms ---------------------------------------------------------------------------

async def open_write_modal(
    runtime: Runtime,
    client: AsyncWebClient,
    *,
    kind: str,
    case_ref: str | None,
    trigger_id: str,
    user_id: str,
    channel_id: str | None,
) -> None:
    """Open the modal for `kind` on the case `case_ref` (or the channel's case when None).

    Opens a loading view at once with `trigger_id` (valid 3 s, single use), then fills it with
    `views.update` once the case (and whatever else the form needs) is loaded. Errors (unknown
    case, refused user...) are shown in the modal with an error id.
    """
    await _open_write_modal(runtime, client, kind=kind, case_ref=case_ref, trigger_id=trigger_id,
                            user_id=user_id, channel_id=channel_id)


async def _open_write_modal(runtime: Runtime, client: AsyncWebClient, *, kind: str, case_ref: str | None,
                            trigger_id: str, user_id: str, channel_id: str | None, push: bool = False
                            ) -> None:
    if kind not in WRITE_KINDS:
        raise ValueError(f"unknown write modal kind {kind!r}; expected one of {', '.join(WRITE_KINDS)}")
    title = TITLES[kind]
    view_id, view_hash = await open_loading(client, trigger_id, title, push=push)

    async def build() -> dict[str, Any]:
        await allowed(runtime, user_id, kind)
        case = await lookup.resolve_case(runtime, case_ref, channel_id=channel_id)
        return await build_form(runtime, kind, case, user_id=user_id, channel_id=channel_id)

    await fill(client, view_id, view_hash, title, build, where=f"open {kind} modal")


async def build_form(runtime: Runtime, kind: str, case: Case, *, user_id: str, channel_id: str | None
                     ) -> dict[str, Any]:
    """The filled form of `kind` for `case` (loads what the form needs)."""
    summary = summary_of(case)
    lifecycle = case.lifecycle.name if case.lifecycle is not None else None
    if kind == "note":
        tz = await user_timezone(runtime, user_id)
        ctx = context_for(kind, case, user_id=user_id, channel_id=channel_id, **({"tz": tz} if tz else {}))
        return forms.build_note_view(ctx, summary, timezone=tz)
    if kind == "pay":
        tz = await user_timezone(runtime, user_id)
        extra = {"rem": str(case.remainder) if case.remainder is not None else ""}
        if tz:
            extra["tz"] = tz
        ctx = context_for(kind, case, user_id=user_id, channel_id=channel_id, **extra)
        return forms.build_payment_view(ctx, summary, today=today_in(tz))
    if kind == "chat":
        member = await identity.team_member(runtime, user_id)
        ctx = context_for(kind, case, user_id=user_id, channel_id=channel_id)
        return forms.build_chat_view(ctx, summary, sender=member.name or member.email or "you")
    if kind == "upload":
        if lifecycle is Lifecycle.Merged:
            raise BadInput(f"*{esc(summary.reference)}* was merged into another case; it takes no files.")
        return forms.build_upload_view(context_for(kind, case, user_id=user_id, channel_id=channel_id),
                                       summary)
    if kind == "close":
        if closing.is_closed(case):
            raise BadInput(f"*{esc(summary.reference)}* is already closed.")
        listed = await runtime.debitura.list_payments(case.id)
        paid = payments.payments_summary(case, listed)
        ctx = context_for(kind, case, user_id=user_id, channel_id=channel_id, n=str(paid.count),
                          total=str(paid.total), rem=str(paid.remainder))
        line = (f"{paid.count} payment(s), {format_money(paid.total, case.currency)} in total; "
                f"outstanding {format_money(paid.remainder, case.currency)}.")
        return forms.build_close_view(ctx, summary, payments_line=line)
    if kind == "activate":
        if lifecycle is not Lifecycle.PendingVerification:
            shown = case.lifecycle.display if case.lifecycle is not None else "unknown"
            raise BadInput(f"Only cases pending verification can be activated; *{esc(summary.reference)}* "
                           f"is {esc(shown)}.")
        member = await identity.team_member(runtime, user_id)
        team = await runtime.debitura.all_users()
        ctx = context_for(kind, case, user_id=user_id, channel_id=channel_id)
        members = [TeamMember(email=u.email, name=u.name) for u in team if u.email]
        return forms.build_activate_view(
            ctx, summary, actor=member.name or member.email or "you", team=members,
            fees=Fees(interest=case.interest_fees, reminder=case.reminder_fees,
                      collection=case.collection_fees))
    if kind == "fees":
        if closing.is_closed(case) or lifecycle is Lifecycle.Merged:
            state = "merged" if lifecycle is Lifecycle.Merged else "closed"
            raise BadInput(f"*{esc(summary.reference)}* is {state}; its fees can no longer change.")
        ctx = context_for(kind, case, user_id=user_id, channel_id=channel_id)
        return forms.build_fees_view(ctx, summary, principal=case.gross_amount,
                                     fees=Fees(interest=case.interest_fees, reminder=case.reminder_fees,
                                               collection=case.collection_fees))
    raise ValueError(f"unknown write modal kind {kind!r}")


def payment_info(payment: Payment, case: Case) -> PaymentInfo:
    return PaymentInfo(id=payment.id, date=payment.date.date() if payment.date else None,
                       amount=payment.gross_amount or Decimal(0), currency=payment.currency or case.currency,
                       recipient=payment.recipient, method=payment.method,
                       invoice_status=payment.invoice.status if payment.invoice else None)


async def load_payment(runtime: Runtime, ref: PaymentRef) -> tuple[Case, Payment]:
    case = await runtime.debitura.get_case(ref.id)
    payment = await payments.find_payment(runtime, case.id, ref.pid)
    if payment is None:
        raise BadInput(f"This payment is no longer on *{esc(case.reference or case.id)}* (it may have been "
                       "deleted). Open the payments again.")
    return case, payment


async def open_payment_change(runtime: Runtime, client: AsyncWebClient, body: dict[str, Any], kind: str
                              ) -> None:
    """Edit / Delete on a payment of the payments view."""
    title = TITLES[kind]
    user_id = user_id_of(body)
    view_id, view_hash = await open_loading(client, str(body.get("trigger_id") or ""), title,
                                            push=bool(body.get("view")))

    async def build() -> dict[str, Any]:
        try:
            ref = PaymentRef.decode(action_value(body))
        except MetadataError:
            raise BadInput(STALE) from None
        await allowed(runtime, user_id, kind)
        case, payment = await load_payment(runtime, ref)
        info = payment_info(payment, case)
        channel_id = channel_id_of(body) or ref.ch
        tz = await user_timezone(runtime, user_id)
        extra = {"before": forms.payment_line(info)}
        if tz:
            extra["tz"] = tz
        ctx = context_for(kind, case, user_id=user_id, channel_id=channel_id, **extra)
        ctx = ctx.model_copy(update={"pid": payment.id})
        if kind == "pay_edit":
            return forms.build_payment_edit_view(ctx, summary_of(case), info, today=today_in(tz))
        return forms.build_payment_delete_view(ctx, summary_of(case), info)

    await fill(client, view_id, view_hash, title, build, where=f"open {kind} modal", subject="Payment")


async def open_note_from_message(runtime: Runtime, client: AsyncWebClient, body: dict[str, Any]) -> None:
    """The message shortcut: the note form filled with the message and its permalink."""
    user_id = user_id_of(body)
    channel_id = channel_id_of(body)
    message = body.get("message") or {}
    view_id, view_hash = await open_loading(client, str(body.get("trigger_id") or ""), TITLES["note"])

    async def build() -> dict[str, Any]:
        await allowed(runtime, user_id, "note")
        permalink = await message_permalink(runtime, channel_id, str(message.get("ts") or ""))
        text = note_text_from_message(str(message.get("text") or ""), permalink)
        tz = await user_timezone(runtime, user_id)
        case_id = await lookup.case_id_for_channel(runtime, channel_id)
        if case_id is None:
            ctx = ModalContext(kind="pick", ch=channel_id, user=user_id, extra={"tz": tz} if tz else {})
            return forms.build_pick_case_view(ctx, initial_text=text, timezone=tz)
        case = await runtime.debitura.get_case(case_id)
        ctx = context_for("note", case, user_id=user_id, channel_id=channel_id, **({"tz": tz} if tz else {}))
        return forms.build_note_view(ctx, summary_of(case), initial_text=text, timezone=tz)

    await fill(client, view_id, view_hash, TITLES["note"], build, where="shortcut note from message")


async def message_permalink(runtime: Runtime, channel_id: str | None, ts: str) -> str | None:
    if not channel_id or not ts:
        return None
    try:
        response = await runtime.slack.chat_getPermalink(channel=channel_id, message_ts=ts)
    except SlackApiError as exc:
        log.info("chat.getPermalink failed for %s/%s: %s", channel_id, ts, exc.response.get("error"))
        return None
    link = response.get("permalink")
    return str(link) if link else None


def note_text_from_message(text: str, permalink: str | None) -> str:
    """The message text plus its permalink, cut so the whole fits Slack's 3,000-character input."""
    suffix = f"\n\n(From Slack: {permalink})" if permalink else ""
    room = SLACK_INPUT_MAX - len(suffix)
    body = text.strip()
    if len(body) > room:
        body = body[: room - 1].rstrip() + "…"
    return (body + suffix).strip()


# --- submissions ---------------------------------------------------------------------------------

async def run_after_ack(runtime: Runtime, client: AsyncWebClient, sub: Submission, title: str,
                        work: ViewBuilder, *, where: str, subject: str = "Case") -> None:
    """The part of a submission after the ack: do the write, show its result (or the error).

    The result goes to the "Sending…" view by its external_id, never by view id: Slack applies the
    ack's `response_action: update` when it receives our HTTP answer (or Socket Mode ack), which can
    be after a fast write finished. Updating by view id could then be overwritten by the "Sending…"
    view; by external_id the update can only land once that view is in place.
    """
    try:
        view = await work()
    except Exception as exc:
        view = forms.build_error_view(title, report(exc, where=where, subject=subject, logger=log))
    await show_on_working_view(client, sub, view, where=where)


async def show_on_working_view(client: AsyncWebClient, sub: Submission, view: dict[str, Any], *,
                               where: str) -> None:
    if not sub.external_id:  # acked without a working view: update the submitted view itself
        try:
            await show(client, sub.view_id, view)
        except SlackApiError as exc:
            report(exc, where=f"{where}: views.update", logger=log)
        return
    delay, waited = ACK_APPLY_FIRST_POLL, 0.0
    while True:
        try:
            await client.views_update(external_id=sub.external_id, view=view)
            return
        except SlackApiError as exc:
            if exc.response.get("error") not in GONE_VIEW_ERRORS:
                report(exc, where=f"{where}: views.update", logger=log)
                return
            if waited >= ACK_APPLY_WAIT:
                log.info("%s: the modal was closed before the result arrived", where)
                return
        await asyncio.sleep(delay)
        waited += delay
        delay = min(delay * 2, 0.5)


def decode_ctx(view: dict[str, Any]) -> ModalContext:
    try:
        return ModalContext.decode(view.get("private_metadata"))
    except MetadataError:
        raise BadInput("This form is from an older version of Caseroom. Open it again.") from None


def state_values(view: dict[str, Any]) -> dict[str, Any]:
    state = view.get("state") or {}
    values = state.get("values") if isinstance(state, dict) else None
    return values if isinstance(values, dict) else {}


async def ack_errors(ack: AsyncAck, errors: FormErrors) -> None:
    await ack(response_action="errors", errors=dict(errors))


async def ack_working(ack: AsyncAck, title: str, sub: Submission) -> None:
    """Ack with the "Sending…" view, tagged with a fresh external_id the result is shown on."""
    sub.external_id = f"caseroom-{sub.view_id}-{uuid.uuid4().hex[:12]}"
    await ack(response_action="update", view=forms.build_working_view(title, external_id=sub.external_id))


class Submission:
    """One view_submission: its context, values, user and view id (parsed once)."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body
        self.view: dict[str, Any] = body.get("view") or {}
        self.view_id = str(self.view.get("id") or "")
        self.values = state_values(self.view)
        self.user_id = user_id_of(body)
        self.ctx = decode_ctx(self.view)
        self.external_id: str | None = None
        """external_id of the "Sending…" view this submission was acked with."""

    @property
    def tz(self) -> str | None:
        return self.ctx.extra.get("tz") or None


async def submit_note(runtime: Runtime, client: AsyncWebClient, ack: AsyncAck, sub: Submission) -> None:
    form = parse_note_form(sub.values, now=datetime.now(UTC), tz=zone(sub.tz))
    if isinstance(form, FormErrors):
        return await ack_errors(ack, form)
    ref = case_of(sub.ctx)
    await ack_working(ack, TITLES["note"], sub)
    key = derive_key("note", sub.view_id, ref.id, {"text": form.text, "at": str(form.event_date or "")})

    async def work() -> dict[str, Any]:
        await allowed(runtime, sub.user_id, "note")
        case = await runtime.debitura.get_case(ref.id)
        result = await guarded(runtime, key, lambda: notes.add_note(runtime, case=case, form=form,
                                                                    user_id=sub.user_id))
        return result_view(TITLES["note"], result)

    await run_after_ack(runtime, client, sub, TITLES["note"], work, where="submit note")


async def submit_pick_case(runtime: Runtime, client: AsyncWebClient, ack: AsyncAck, sub: Submission) -> None:
    form = parse_pick_case_form(sub.values, now=datetime.now(UTC), tz=zone(sub.tz))
    if isinstance(form, FormErrors):
        return await ack_errors(ack, form)
    try:
        query = lookup.parse_ref(form.ref)
    except BadInput as exc:
        return await ack_errors(ack, FormErrors({Block.PICK_CASE: plain_words(exc.message)}))
    case: Case | None = None
    try:
        case = await asyncio.wait_for(lookup.fetch_case(runtime, query), timeout=PICK_RESOLVE_TIMEOUT)
    except NotFound:
        return await ack_errors(ack, FormErrors({
            Block.PICK_CASE: f"No case {form.ref} among the cases assigned to you. Check the reference."}))
    except (TimeoutError, DebituraError):
        case = None  # looked up again after the ack, where errors are shown with an id
    await ack_working(ack, TITLES["note"], sub)
    note_form = form.note

    async def work() -> dict[str, Any]:
        await allowed(runtime, sub.user_id, "note")
        found = case if case is not None else await lookup.fetch_case(runtime, query)
        key = derive_key("note", sub.view_id, found.id,
                         {"text": note_form.text, "at": str(note_form.event_date or "")})
        result = await guarded(runtime, key, lambda: notes.add_note(runtime, case=found, form=note_form,
                                                                    user_id=sub.user_id))
        return result_view(TITLES["note"], result)

    await run_after_ack(runtime, client, sub, TITLES["note"], work, where="submit note (picked case)")


def plain_words(mrkdwn_text: str) -> str:
    """Form errors are plain text: drop mrkdwn backticks and unescape what esc() escaped."""
    text = mrkdwn_text.replace("`", "")
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


async def submit_payment(runtime: Runtime, client: AsyncWebClient, ack: AsyncAck, sub: Submission) -> None:
    balance = PaymentBalance(remainder=decimal_or_none(sub.ctx.extra.get("rem")), currency=sub.ctx.cur)
    form = parse_payment_form(sub.values, today=today_in(sub.tz), balance=balance)
    if isinstance(form, FormErrors):
        return await ack_errors(ack, form)
    ref = case_of(sub.ctx)
    await ack_working(ack, TITLES["pay"], sub)
    key = derive_key("payment", sub.view_id, ref.id, form.normalised())

    async def work() -> dict[str, Any]:
        await allowed(runtime, sub.user_id, "pay")
        case = await runtime.debitura.get_case(ref.id)
        result = await guarded(runtime, key, lambda: payments.record_payment(
            runtime, case=case, form=form, idempotency_key=key, user_id=sub.user_id))
        return result_view(TITLES["pay"], result)

    await run_after_ack(runtime, client, sub, TITLES["pay"], work, where="submit payment")


async def submit_payment_edit(runtime: Runtime, client: AsyncWebClient, ack: AsyncAck, sub: Submission
                              ) -> None:
    ctx = sub.ctx
    title = TITLES["pay_edit"]
    stage = ctx.extra.get(STAGE, "")
    if stage == "":
        form = parse_payment_edit_form(sub.values, today=today_in(sub.tz))
        if isinstance(form, FormErrors):
            return await ack_errors(ack, form)
        after = forms.payment_line(PaymentInfo(id=ctx.pid or "", date=form.date, amount=form.amount,
                                               currency=ctx.cur, recipient=form.recipient.value))
        confirm_ctx = with_pending(with_extra(ctx, after=after), STAGE_CONFIRM, form.normalised())
        before = ctx.extra.get("before", "the payment")
        view = forms.build_payment_edit_confirm_view(confirm_ctx, summary_from_ctx(ctx), before=before,
                                                     after=after)
        await ack(response_action="update", view=view)
        return
    reopen = parse_reopen_choice(sub.values)
    if stage == STAGE_REOPEN and not reopen:
        return await ack_errors(ack, FormErrors({
            Block.PAY_REOPEN: "Tick the box to reopen the case, or Cancel to leave the payment as it is."}))
    try:
        pending = PaymentEditForm.from_normalised(pending_of(ctx))
    except ValueError:
        raise BadInput("This form has lost the change to save. Open Edit again.") from None
    ref = case_of(ctx)
    payment_id = ctx.pid or ""
    await ack_working(ack, title, sub)
    key = derive_key("payment_edit", sub.view_id, ref.id, {**pending.normalised(), "pid": payment_id,
                                                          "reopen": "1" if reopen else "0"})

    async def work() -> dict[str, Any]:
        await allowed(runtime, sub.user_id, "pay_edit")
        case = await runtime.debitura.get_case(ref.id)
        outcome: list[payments.NeedsReopen] = []

        async def op() -> WriteResult:
            done = await payments.edit_payment(runtime, case=case, payment_id=payment_id, form=pending,
                                               reopen=reopen, user_id=sub.user_id)
            if isinstance(done, payments.NeedsReopen):
                outcome.append(done)
                return WriteResult(ok=False, text="")
            return done

        result = await guarded(runtime, key, op)
        if outcome:
            reopen_ctx = with_extra(ctx, **{STAGE: STAGE_REOPEN})
            return forms.build_payment_edit_confirm_view(
                reopen_ctx, summary_of(case), before=ctx.extra.get("before", "the payment"),
                after=ctx.extra.get("after", ""), needs_reopen=True)
        return result_view(title, result)

    await run_after_ack(runtime, client, sub, title, work, where="submit payment edit",
                        subject="Case or payment")


async def submit_payment_delete(runtime: Runtime, client: AsyncWebClient, ack: AsyncAck, sub: Submission
                                ) -> None:
    ctx = sub.ctx
    title = TITLES["pay_delete"]
    reopen = parse_reopen_choice(sub.values)
    if ctx.extra.get(STAGE) == STAGE_REOPEN and not reopen:
        return await ack_errors(ack, FormErrors({
            Block.PAY_REOPEN: "Tick the box to reopen the case, or Cancel to keep the payment."}))
    ref = case_of(ctx)
    payment_id = ctx.pid or ""
    await ack_working(ack, title, sub)
    key = derive_key("payment_delete", sub.view_id, ref.id,
                     {"pid": payment_id, "reopen": "1" if reopen else "0"})

    async def work() -> dict[str, Any]:
        await allowed(runtime, sub.user_id, "pay_delete")
        case = await runtime.debitura.get_case(ref.id)
        payment = await payments.find_payment(runtime, case.id, payment_id)
        if payment is None:
            return forms.build_result_view(
                title, "This payment is not on the case any more (already deleted).", success=False)
        outcome: list[payments.NeedsReopen] = []

        async def op() -> WriteResult:
            done = await payments.delete_payment(runtime, case=case, payment=payment, reopen=reopen,
                                                 user_id=sub.user_id)
            if isinstance(done, payments.NeedsReopen):
                outcome.append(done)
                return WriteResult(ok=False, text="")
            return done

        result = await guarded(runtime, key, op)
        if outcome:
            reopen_ctx = with_extra(ctx, **{STAGE: STAGE_REOPEN})
            return forms.build_payment_delete_view(reopen_ctx, summary_of(case), payment_info(payment, case),
                                                   needs_reopen=True)
        return result_view(title, result)

    await run_after_ack(runtime, client, sub, title, work, where="submit payment delete",
                        subject="Case or payment")


async def submit_chat(runtime: Runtime, client: AsyncWebClient, ack: AsyncAck, sub: Submission) -> None:
    form = parse_chat_form(sub.values)
    if isinstance(form, FormErrors):
        return await ack_errors(ack, form)
    ref = case_of(sub.ctx)
    await ack_working(ack, TITLES["chat"], sub)
    key = derive_key("chat", sub.view_id, ref.id, {"text": form.text})

    async def work() -> dict[str, Any]:
        member = await identity.team_member(runtime, sub.user_id)  # also refuses guests / Slack Connect
        if not member.email:
            raise BadInput("Your Debitura account has no email address; nothing was sent.")
        case = await runtime.debitura.get_case(ref.id)
        email = member.email
        result = await guarded(runtime, key, lambda: chats.send_chat(
            runtime, case=case, form=form, sender_email=email, idempotency_key=key, user_id=sub.user_id))
        return result_view(TITLES["chat"], result)

    await run_after_ack(runtime, client, sub, TITLES["chat"], work, where="submit chat")


async def submit_upload(runtime: Runtime, client: AsyncWebClient, ack: AsyncAck, sub: Submission) -> None:
    form = parse_upload_form(sub.values)
    if isinstance(form, FormErrors):
        return await ack_errors(ack, form)
    ref = case_of(sub.ctx)
    await ack_working(ack, TITLES["upload"], sub)
    key = derive_key("upload", sub.view_id, ref.id, {"file": form.file_id, "type": form.document_type or "",
                                                     "description": form.description or ""})

    async def work() -> dict[str, Any]:
        await allowed(runtime, sub.user_id, "upload")
        case = await runtime.debitura.get_case(ref.id)
        result = await guarded(runtime, key, lambda: uploads.upload_from_slack(
            runtime, case=case, form=form, user_id=sub.user_id))
        return result_view(TITLES["upload"], result)

    await run_after_ack(runtime, client, sub, TITLES["upload"], work, where="submit upload")


async def submit_close(runtime: Runtime, client: AsyncWebClient, ack: AsyncAck, sub: Submission) -> None:
    extra = sub.ctx.extra
    known = None
    if {"n", "total", "rem"} <= extra.keys():
        known = PaymentsSummary(count=int(extra["n"]), total=Decimal(extra["total"]),
                                remainder=Decimal(extra["rem"]))
    form = parse_close_form(sub.values, payments=known)
    if isinstance(form, FormErrors):
        return await ack_errors(ack, form)
    ref = case_of(sub.ctx)
    await ack_working(ack, TITLES["close"], sub)
    key = derive_key("close", sub.view_id, ref.id, {"code": form.close_code, "comment": form.comment or ""})

    async def work() -> dict[str, Any]:
        await allowed(runtime, sub.user_id, "close")
        case = await runtime.debitura.get_case(ref.id)
        if form.close_code in ("Paid", "PartiallyPaid"):
            fresh = payments.payments_summary(case, await runtime.debitura.list_payments(case.id))
            problem = close_precondition(form.close_code, fresh)
            if problem:
                raise BadInput(esc(problem))
        result = await guarded(runtime, key, lambda: closing.close_case(runtime, case=case, form=form,
                                                                        user_id=sub.user_id))
        return result_view(TITLES["close"], result)

    await run_after_ack(runtime, client, sub, TITLES["close"], work, where="submit close")


async def submit_activate(runtime: Runtime, client: AsyncWebClient, ack: AsyncAck, sub: Submission) -> None:
    form = parse_activate_form(sub.values)
    if isinstance(form, FormErrors):
        return await ack_errors(ack, form)
    ref = case_of(sub.ctx)
    await ack_working(ack, TITLES["activate"], sub)
    key = derive_key("activate", sub.view_id, ref.id, {"welcome": form.welcome_message,
                                                      "ref": form.partner_reference or "",
                                                      "assignee": form.assigned_user_email or ""})

    async def work() -> dict[str, Any]:
        await allowed(runtime, sub.user_id, "activate")
        member = await identity.team_member(runtime, sub.user_id)
        if not member.email:
            raise BadInput("Your Debitura account has no email address; nothing was sent.")
        email = member.email
        case = await runtime.debitura.get_case(ref.id)
        result = await guarded(runtime, key, lambda: activation.activate_case(
            runtime, case=case, form=form, actor_email=email, user_id=sub.user_id))
        return result_view(TITLES["activate"], result)

    await run_after_ack(runtime, client, sub, TITLES["activate"], work, where="submit activate")


async def _fees_write(runtime: Runtime, sub: Submission, form: FeesForm, *, confirm: bool, intentional: bool,
                      stage_key: str) -> dict[str, Any]:
    ref = case_of(sub.ctx)
    await allowed(runtime, sub.user_id, "fees")
    case = await runtime.debitura.get_case(ref.id)
    gate: list[PriceChangeRequired] = []

    async def op() -> WriteResult:
        done = await fees.update_fees(runtime, case=case, form=form, user_id=sub.user_id, confirm=confirm,
                                      intentional=intentional)
        if isinstance(done, PriceChangeRequired):
            gate.append(done)
            return WriteResult(ok=False, text="")
        return done

    key = derive_key("fees", sub.view_id, ref.id, {**form.normalised(), "stage": stage_key})
    result = await guarded(runtime, key, op)
    if gate:
        change = gate[0]
        ctx = with_pending(sub.ctx, STAGE_CONFIRM, form.normalised())
        ctx = with_extra(ctx, intentional="1" if change.is_intentional_rate else "0")
        return forms.build_fees_confirm_view(ctx, summary_of(case), current=change.current_success_fee,
                                             proposed=change.proposed_success_fee,
                                             intentional=change.is_intentional_rate, warning=change.warning,
                                             message=change.message)
    return result_view(TITLES["fees"], result)


async def submit_fees(runtime: Runtime, client: AsyncWebClient, ack: AsyncAck, sub: Submission) -> None:
    form = parse_fees_form(sub.values)
    if isinstance(form, FormErrors):
        return await ack_errors(ack, form)
    await ack_working(ack, TITLES["fees"], sub)

    async def work() -> dict[str, Any]:
        return await _fees_write(runtime, sub, form, confirm=False, intentional=False, stage_key="first")

    await run_after_ack(runtime, client, sub, TITLES["fees"], work, where="submit fees")


async def submit_fees_confirm(runtime: Runtime, client: AsyncWebClient, ack: AsyncAck, sub: Submission
                              ) -> None:
    try:
        form = FeesForm.from_normalised(pending_of(sub.ctx))
    except ValueError:
        raise BadInput("This form has lost the fees to save. Open Update fees again.") from None
    intentional = sub.ctx.extra.get("intentional") == "1"
    await ack_working(ack, TITLES["fees"], sub)

    async def work() -> dict[str, Any]:
        return await _fees_write(runtime, sub, form, confirm=True, intentional=intentional,
                                 stage_key="keep" if intentional else "confirm")

    await run_after_ack(runtime, client, sub, TITLES["fees"], work, where="submit fees confirmation")


SUBMITS: dict[Callback, Callable[[Runtime, AsyncWebClient, AsyncAck, Submission], Awaitable[None]]] = {
    Callback.NOTE: submit_note,
    Callback.PICK_CASE: submit_pick_case,
    Callback.PAYMENT: submit_payment,
    Callback.PAYMENT_EDIT: submit_payment_edit,
    Callback.PAYMENT_DELETE: submit_payment_delete,
    Callback.CHAT: submit_chat,
    Callback.UPLOAD: submit_upload,
    Callback.CLOSE: submit_close,
    Callback.ACTIVATE: submit_activate,
    Callback.FEES: submit_fees,
    Callback.FEES_CONFIRM: submit_fees_confirm,
}


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


# --- registration --------------------------------------------------------------------------------

def register(app: AsyncApp, runtime: Runtime) -> None:
    """Registers the write-side actions, view submissions, the message shortcut and view_closed."""
    for action_id, kind in OPEN_ACTIONS.items():
        _register_open(app, runtime, action_id, kind)

    @app.action(Action.EDIT_PAYMENT)
    async def _edit_payment(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await opening(body, "open payment edit",
                      lambda: open_payment_change(runtime, client, body, "pay_edit"))

    @app.action(Action.DELETE_PAYMENT)
    async def _delete_payment(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await opening(body, "open payment delete",
                      lambda: open_payment_change(runtime, client, body, "pay_delete"))

    @app.action(Action.PAYMENT_AMOUNT_CHANGED)
    async def _amount_changed(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await refresh_payment_view(client, body)

    @app.action(Action.RECIPIENT_CHANGED)
    async def _recipient_changed(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await refresh_payment_view(client, body)

    @app.shortcut(Shortcut.NOTE_FROM_MESSAGE)
    async def _note_from_message(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await opening(body, "shortcut note from message",
                      lambda: open_note_from_message(runtime, client, body))

    for callback_id, handler in SUBMITS.items():
        _register_submit(app, runtime, callback_id, handler)

    closed_ids = re.compile("^(" + "|".join(re.escape(str(c)) for c in Callback) + ")$")

    @app.view_closed(closed_ids)
    async def _closed(ack: AsyncAck, body: dict[str, Any]) -> None:
        """Confirmation views ask to be told when closed: nothing was changed; say so in the log."""
        await ack()
        view = body.get("view") or {}
        try:
            ctx = ModalContext.decode(view.get("private_metadata"))
        except MetadataError:
            ctx = None
        case = ctx.case.id if ctx is not None and ctx.case is not None else None
        log.info("modal %s closed without confirming by %s (case %s): nothing was changed",
                 view.get("callback_id"), user_id_of(body), case)


def _register_open(app: AsyncApp, runtime: Runtime, action_id: Action, kind: str) -> None:
    @app.action(action_id)
    async def _open(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        trigger_id = str(body.get("trigger_id") or "")

        async def work() -> None:
            try:
                ref = CaseRef.decode(action_value(body))
            except MetadataError:
                view_id, _ = await open_loading(client, trigger_id, TITLES[kind])
                await show(client, view_id, forms.build_error_view(TITLES[kind], STALE))
                return
            await _open_write_modal(runtime, client, kind=kind, case_ref=ref.id, trigger_id=trigger_id,
                                    user_id=user_id_of(body), channel_id=channel_id_of(body) or ref.ch,
                                    push=bool(body.get("view")))

        await opening(body, f"open {kind} modal", work)


def _register_submit(app: AsyncApp, runtime: Runtime, callback_id: Callback,
                     handler: Callable[[Runtime, AsyncWebClient, AsyncAck, Submission], Awaitable[None]]
                     ) -> None:
    @app.view_submission(callback_id)
    async def _submit(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        try:
            sub = Submission(body)
            await handler(runtime, client, ack, sub)
        except CaseroomError as exc:
            # Raised before the ack (stale metadata...): answer in the modal.
            title = TITLES.get(callback_id.name.lower(), "Caseroom")
            await ack(response_action="update",
                      view=forms.build_error_view(title, report(exc, where=f"submit {callback_id}")))

