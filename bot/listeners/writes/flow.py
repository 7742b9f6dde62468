"""What a write flow is made of, and the small helpers the flows share.

A `WriteFlow` is one write kind (one submitted `Callback`): its title, who may do it, what the case
must be like, its form, how the submitted form is parsed, which form values make its idempotency
key, and the service it calls. `bot.listeners.modals` runs every flow the same way:

    open:    loading view -> allowed(user) -> resolve the case -> precondition(case) -> form(case)
    submit:  parse (inside the ack: errors / a Reply view / the form) -> "Sending…" view ->
             actor(user) -> load(case) -> key from key_fields -> ready(case, form) ->
             run_once(key, call) -> result view (or the Reply view the call asked for)
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slack_sdk.errors import SlackApiError

from blocks.forms import CaseSummary
from blocks.metadata import CaseRef, MetadataError, ModalContext
from blocks.parse import FormErrors
from bot.services import identity
from bot.services.errors import BadInput

if TYPE_CHECKING:
    from blocks.ids import Action, Callback
    from bot.debitura.models import Case
    from bot.runtime import Runtime
    from bot.services.writes import WriteResult

log = logging.getLogger(__name__)

View = dict[str, Any]
F = TypeVar("F")

STALE = "This button is from an older message Caseroom cannot read any more. Run the command again."


class WriteKind(StrEnum):
    """Every write a modal does. The values are what `ModalContext.kind` and `/case <kind>` carry
    (messages and modals already in Slack hold them: never rename a value)."""

    NOTE = "note"
    PICK = "pick"
    """A note from the message shortcut outside a case channel: the form asks for the case."""
    PAY = "pay"
    PAY_EDIT = "pay_edit"
    PAY_DELETE = "pay_delete"
    CHAT = "chat"
    UPLOAD = "upload"
    CLOSE = "close"
    ACTIVATE = "activate"
    FEES = "fees"
    FEES_CONFIRM = "fees_confirm"
    """The second step of fees, after Debitura's price-change gate."""


@dataclass(frozen=True, slots=True)
class Reply:
    """A view to show instead of going on: a confirmation step, a second question, a gone payment."""

    view: View


@dataclass(frozen=True, slots=True)
class Opener:
    """Who opens a form, and from which channel."""

    user_id: str
    channel_id: str | None


@dataclass(frozen=True, slots=True)
class Actor:
    """The user a write runs for; `email` is their Debitura team member's (chat, activate)."""

    user_id: str
    email: str = ""


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


@dataclass(frozen=True, slots=True)
class Write(Generic[F]):
    """Everything a flow's service call gets."""

    case: Case
    form: F
    sub: Submission
    key: str
    actor: Actor


class WriteFlow(ABC, Generic[F]):
    """One write kind. Subclasses set the class attributes and implement parse, key_fields and call;
    a flow opened from a case's button or `/case <kind>` also implements `form` and sets `open_action`."""

    kind: ClassVar[WriteKind]
    callback: ClassVar[Callback]
    """The submitted modal's callback_id."""
    title: ClassVar[str]
    """Title of the loading, "Sending…", result and error views."""
    where: ClassVar[str]
    """How the submission is named in logs."""
    key_kind: ClassVar[str]
    """The kind in its derived idempotency key (kept as released: keys must not change on upgrade)."""
    admin_only: ClassVar[str | None] = None
    """What `require_admin` says a non-admin may not do; None when every team member may."""
    open_action: ClassVar[Action | None] = None
    """The case button that opens this form (and `/case <kind>` opens it too)."""
    subject: ClassVar[str] = "Case"
    """What a NotFound is about, in words (`report(subject=...)`)."""

    # -- opening ----------------------------------------------------------------------------------

    def precondition(self, case: Case) -> None:
        """Raise BadInput when the case cannot take this write (checked when the form opens)."""

    async def form(self, runtime: Runtime, case: Case, opener: Opener) -> View:
        """The filled form for `case` (loads what it needs)."""
        raise ValueError(f"the {self.kind} form is not opened from a case")

    # -- submitting -------------------------------------------------------------------------------

    @abstractmethod
    async def parse(self, runtime: Runtime, sub: Submission) -> F | FormErrors | Reply:
        """Inside the ack: the typed form, the errors to show, or a view to show without writing."""

    def case_ref(self, sub: Submission) -> CaseRef | None:
        """The case, read before the ack (None: `load` finds it after the ack)."""
        return case_of(sub.ctx)

    async def actor(self, runtime: Runtime, user_id: str) -> Actor:
        """Refuse users who may not do this write."""
        await allowed(runtime, user_id, self)
        return Actor(user_id)

    async def load(self, runtime: Runtime, form: F, ref: CaseRef | None) -> Case:
        if ref is None:
            raise BadInput("This form has lost track of its case. Open it again from the case.")
        return await runtime.debitura.get_case(ref.id)

    @abstractmethod
    def key_fields(self, form: F, sub: Submission) -> Mapping[str, str]:
        """The form values that make the write's idempotency key (with the view and case ids)."""

    def fixed_key(self, sub: Submission) -> str | None:
        """An Idempotency-Key set by where the form came from (a Slack message written once), used
        instead of the derived one; None: derive it from the view and the values."""
        return None

    async def ready(self, runtime: Runtime, case: Case, form: F) -> F | Reply:
        """Last checks on the fresh case before the write (raise BadInput, or answer with a view)."""
        return form

    @abstractmethod
    async def call(self, runtime: Runtime, write: Write[F]) -> WriteResult | Reply:
        """The service call, run once per key. A Reply is a next step (nothing written)."""


# --- helpers shared by the flows -----------------------------------------------------------------

async def allowed(runtime: Runtime, user_id: str, flow: WriteFlow[Any]) -> None:
    """Refuse guests, other organisations and (for admin-only writes) non-admins; the Slack profile is
    re-read when older than identity.WRITE_MAX_AGE."""
    await identity.check_user(runtime, user_id, write=True)
    if flow.admin_only:
        await identity.require_admin(runtime, user_id, flow.admin_only)


async def team_email(runtime: Runtime, user_id: str) -> str:
    """The email of the user's Debitura team member (refuses guests / Slack Connect too)."""
    member = await identity.team_member(runtime, user_id)
    if not member.email:
        raise BadInput("Your Debitura account has no email address; nothing was sent.")
    return member.email


def summary_of(case: Case) -> CaseSummary:
    debtor = case.debtor.name if case.debtor is not None else None
    return CaseSummary(reference=case.reference or case.id, debtor=debtor, currency=case.currency,
                       remainder=case.remainder)


def summary_from_ctx(ctx: ModalContext) -> CaseSummary:
    ref = ctx.case.ref if ctx.case is not None else ""
    return CaseSummary(reference=ref or (ctx.case.id if ctx.case else "?"), currency=ctx.cur)


def context_for(kind: str, case: Case, *, user_id: str, channel_id: str | None, **extra: str) -> ModalContext:
    return ModalContext(kind=str(kind), case=CaseRef(id=case.id, ref=case.reference or "", ch=channel_id),
                        ch=channel_id, user=user_id, cur=case.currency, extra=extra)


def case_of(ctx: ModalContext) -> CaseRef:
    if ctx.case is None:
        raise BadInput("This form has lost track of its case. Open it again from the case.")
    return ctx.case


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


def decode_ctx(view: dict[str, Any]) -> ModalContext:
    try:
        return ModalContext.decode(view.get("private_metadata"))
    except MetadataError:
        raise BadInput("This form is from an older version of Caseroom. Open it again.") from None


def state_values(view: dict[str, Any]) -> dict[str, Any]:
    state = view.get("state") or {}
    values = state.get("values") if isinstance(state, dict) else None
    return values if isinstance(values, dict) else {}


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


def tz_extra(tz: str | None) -> dict[str, str]:
    return {"tz": tz} if tz else {}


STAGE = "stage"
STAGE_CONFIRM = "confirm"
STAGE_REOPEN = "reopen"
PENDING = "p."


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
