"""What Caseroom keeps of Debitura's objects: small frozen snapshots, shared by the relay, the Slack
gateway and the services (a case channel's topic, a chat marked as sent from Slack).

The Debitura models are converted once (`snapshot_*`), so the diff, the block builders and the
delivery queue depend on these few fields only, and the outbox and the case state stay small in Redis.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from bot.debitura.models import Case, Chat, ChatRole, Payment, TimelineItem


def ts(value: datetime | None) -> float:
    """Unix seconds (naive datetimes are UTC); 0.0 for None."""
    if value is None:
        return 0.0
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def short_hash(text: str, length: int = 12) -> str:
    """A short stable digest used as a dedupe field (48 bits is plenty within one case)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


class CaseSnap(BaseModel):
    """The case fields the relay shows and compares."""

    model_config = ConfigDict(frozen=True)

    id: str
    reference: str = ""
    lifecycle: str = ""
    """Enum name when known (`Active`), else the display text as received."""
    lifecycle_display: str = ""
    phase: str = ""
    debtor: str = ""
    outstanding: str = ""
    """Decimal as text ("" when unknown)."""
    currency: str = ""
    assignee_email: str = ""
    assignee_name: str = ""
    close_code: str = ""
    date_updated: float = 0.0
    has_payments: bool = True
    """False only when the amounts prove nothing was paid (remainder = principal + fees)."""
    is_test: bool = False
    """A Debitura test case (`isTestCase`): labelled wherever it is shown."""
    period_end: float = Field(default=0.0, validation_alias=AliasChoices("period_end", "exclusive_end"))
    """The exclusive period's end (`exclusivePeriodEndDate`, unix seconds; 0 when none). Also read as
    `exclusive_end` (the attention contract's name, issue 13: `CaseSnap(exclusive_end=...)` and snapshots
    stored under that key load into this field)."""
    needs_info: bool = False
    """The case needs more information from the creditor (`validation.needsInfo`)."""
    principal: str = ""
    """grossAmount as text, for the pinned summary."""
    fees: str = ""
    """The added fees (totalAddedFees, else their sum) as text."""
    # --- attention (issue 13, appended): read from the same case object, no extra request ---
    created: float = 0.0
    """dateCreated (unix seconds; 0 unknown)."""
    finished: float = 0.0
    """dateFinished (unix seconds; 0 unknown): when a closed case was closed."""

    @property
    def exclusive_end(self) -> float:
        """The exclusive period's end (the attention contract's name for `period_end`)."""
        return self.period_end

    @property
    def closed(self) -> bool:
        return self.lifecycle == "Closed"


def _has_payments(case: Case) -> bool:
    if case.remainder is None or case.gross_amount is None:
        return True
    fees = case.total_added_fees
    if fees is None:
        fees = sum((f or Decimal(0) for f in (case.interest_fees, case.reminder_fees, case.collection_fees)),
                   Decimal(0))
    return case.remainder < case.gross_amount + fees - Decimal("0.005")


def snapshot_case(case: Case) -> CaseSnap:
    lc = case.lifecycle
    outstanding = case.remainder
    return CaseSnap(
        id=case.id,
        reference=case.reference or "",
        lifecycle=lc.value if lc is not None else "",
        lifecycle_display=lc.display if lc is not None else "",
        phase=case.current_engagement_phase or "",
        debtor=(case.debtor.name or "") if case.debtor is not None else "",
        outstanding=str(outstanding) if outstanding is not None else "",
        currency=case.currency or "",
        assignee_email=(case.assigned_user.email or "") if case.assigned_user is not None else "",
        assignee_name=(case.assigned_user.name or "") if case.assigned_user is not None else "",
        close_code=case.close_code.display if case.close_code is not None else "",
        date_updated=ts(case.date_updated),
        has_payments=_has_payments(case),
        is_test=bool(case.is_test_case),
        period_end=ts(case.exclusive_period_end_date),
        needs_info=case.needs_info,
        principal=str(case.gross_amount) if case.gross_amount is not None else "",
        fees=_fees_text(case),
        created=ts(case.date_created),
        finished=ts(case.date_finished),
    )


def _fees_text(case: Case) -> str:
    if case.total_added_fees is not None:
        return str(case.total_added_fees)
    parts = [f for f in (case.interest_fees, case.reminder_fees, case.collection_fees) if f is not None]
    return str(sum(parts, Decimal(0))) if parts else ""


@dataclass(frozen=True, slots=True)
class ChatSnap:
    id: str
    created: float
    updated: float
    role: int | None
    role_label: str
    author: str
    message: str

    @property
    def version(self) -> str:
        """Changes when the message is edited (its dateUpdated moves)."""
        return f"{self.updated or self.created:.3f}"

    @property
    def from_creditor(self) -> bool:
        return self.role == ChatRole.CREDITOR


def snapshot_chat(chat: Chat) -> ChatSnap:
    role = chat.role
    if isinstance(role, ChatRole):
        fallback = role.label
    else:
        fallback = f"Role {role}" if role is not None else "Unknown role"
    label = chat.role_label or fallback
    author = chat.user.full_name if chat.user is not None else ""
    return ChatSnap(
        id=chat.id,
        created=ts(chat.date_created),
        updated=ts(chat.date_updated),
        role=int(role) if role is not None else None,
        role_label=label,
        author=author or label,
        message=chat.message or "",
    )


@dataclass(frozen=True, slots=True)
class TimelineSnap:
    fingerprint: str
    date: float
    type: str
    title: str
    description: str
    actor: str


def snapshot_timeline_item(item: TimelineItem) -> TimelineSnap:
    actor = ""
    if item.actor is not None:
        actor = item.actor.name or item.actor.type or ""
    return TimelineSnap(
        fingerprint=item.fingerprint(),
        date=ts(item.date),
        type=item.type or "",
        title=item.title or "",
        description=item.description or "",
        actor=actor,
    )


@dataclass(frozen=True, slots=True)
class PaymentSnap:
    id: str
    date: float
    amount: str
    currency: str
    recipient: str
    method: str
    created: float = 0.0
    """When it was registered (dateCreated); `date` is the payment's own (booking) date."""


def snapshot_payment(payment: Payment) -> PaymentSnap:
    amount = payment.gross_amount
    return PaymentSnap(
        id=payment.id,
        date=ts(payment.date or payment.date_created),
        amount=str(amount) if amount is not None else "",
        currency=payment.currency or "",
        recipient=payment.recipient or "",
        method=payment.method or "",
        created=ts(payment.date_created) or ts(payment.date),
    )


def decimal_or_none(text: str) -> Decimal | None:
    try:
        return Decimal(text) if text else None
    except ArithmeticError:
        return None


# --- attention marks (issue 13) ----------------------------------------------------------------------


class CaseMarks(BaseModel):
    """What the relay derives about a case from what it fetched, for people's queues (App Home,
    reminders, digests): kept in the case state hash (field `att`, JSON without defaults, ~100 bytes).
    A state written before these existed loads as `CaseMarks()` (everything unknown)."""

    model_config = ConfigDict(frozen=True)

    lc: str = ""
    """The lifecycle `lc_since` refers to ("" never computed)."""
    lc_since: float = 0.0
    """When the case entered `lc` (its dateUpdated at the change, else the fetch time), or first sight
    when it was already in it then."""
    chat_role: int | None = None
    """Role of the newest chat (ChatRole value; None: no chat, or chats never read)."""
    chat_at: float = 0.0
    """When the newest chat was written."""
    waiting_since: float = 0.0
    """The creditor waits for a reply: the first creditor chat after the last partner chat (0: not
    waiting)."""
    paid_at: float = 0.0
    """When the newest payment still on the case was registered (0: none known)."""
    closed_at: float = 0.0
    """When the case was closed (dateFinished, else when the relay saw it close; 0: open or unknown)."""


PARTNER_ROLES = frozenset({int(ChatRole.COLLECTION_PARTNER), int(ChatRole.MANAGED_BY_PARTNER)})


def _change_time(snap: CaseSnap, now: float) -> float:
    return snap.date_updated if 0 < snap.date_updated <= now else now


def next_marks(old: CaseMarks, *, before: CaseSnap | None, after: CaseSnap | None,
               chats: Sequence[ChatSnap] | None, payments: Sequence[PaymentSnap] | None,
               first_seen: float, now: float) -> CaseMarks:
    """The marks after a fetch. Pure. `before` is the case the state held, `after` the case now known
    (None: not read this time); `chats`/`payments` are the full lists when read (None: not read)."""
    update: dict[str, object] = {}
    case = after or before
    if case is not None and case.lifecycle and case.lifecycle != old.lc:
        seen_change = (before is not None and before.lifecycle and before.lifecycle != case.lifecycle)
        update["lc"] = case.lifecycle
        update["lc_since"] = _change_time(case, now) if seen_change else (first_seen or now)
    if case is not None:
        if case.closed:
            if case.finished:
                update["closed_at"] = case.finished
            elif not old.closed_at:
                seen_close = before is not None and before.lifecycle and not before.closed
                update["closed_at"] = _change_time(case, now) if seen_close else 0.0
        elif old.closed_at:
            update["closed_at"] = 0.0
    if chats is not None:
        waiting = 0.0
        newest: ChatSnap | None = None
        for chat in sorted(chats, key=lambda c: c.created):
            newest = chat
            if chat.role == ChatRole.CREDITOR:
                waiting = waiting or chat.created
            elif chat.role in PARTNER_ROLES:
                waiting = 0.0
        update["chat_role"] = newest.role if newest is not None else None
        update["chat_at"] = newest.created if newest is not None else 0.0
        update["waiting_since"] = waiting
    if payments is not None:
        update["paid_at"] = max((p.created or p.date for p in payments), default=0.0)
    return old.model_copy(update=update) if update else old


@dataclass(frozen=True, slots=True)
class TrackedCase:
    """One case as a queue sees it: the stored snapshot, its marks and when Caseroom first saw it."""

    case: CaseSnap
    marks: CaseMarks
    first_seen: float = 0.0

    @property
    def lifecycle_since(self) -> float:
        """When the case entered its current lifecycle, or first sight when unknown."""
        if self.marks.lc and self.marks.lc == self.case.lifecycle and self.marks.lc_since:
            return self.marks.lc_since
        return self.first_seen
