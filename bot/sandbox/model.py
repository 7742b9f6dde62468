"""The sandbox's own data model: plain dataclasses, saved and loaded as JSON.

Timestamps are stored as ISO 8601 UTC strings of one fixed shape (`2026-04-07T10:34:35.214Z`), so
they sort as text. Money is stored as float rounded to cents. Nested objects that the API returns
as they are (debtor, bank account) are kept as the wire dicts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


def iso(dt: datetime) -> str:
    """The fixed timestamp shape used everywhere in the sandbox."""
    return dt.astimezone(UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def parse_iso(text: str) -> datetime:
    """Parse an ISO 8601 timestamp (a trailing Z or an offset; naive means UTC)."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def now() -> datetime:
    return datetime.now(UTC)


def money(value: float) -> float:
    return round(float(value) + 0.0, 2)


@dataclass
class Partner:
    id: str
    company_name: str
    registration: str
    vat: str
    address: str
    zip_code: str
    city: str
    country: str
    office_email: str
    office_phone: str
    invoice_email: str
    public_site: str
    api_user_id: int


@dataclass
class TeamUser:
    id: str  # uuid (GET /users, userId on writes)
    int_id: int  # int32 (chat user.id, createdBy.userId)
    first_name: str
    last_name: str
    email: str
    date_created: str
    active: bool = True

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"


@dataclass
class Division:
    id: str
    name: str


@dataclass
class Creditor:
    id: str
    company_name: str
    registration: str
    office_email: str
    office_phone: str
    address: str
    city: str
    zip_code: str
    country: str
    contact_first: str
    contact_last: str
    contact_int_id: int
    divisions: list[Division] = field(default_factory=list)


@dataclass
class ChatRec:
    id: str
    date_created: str
    date_updated: str | None
    role: int
    message: str
    is_seen: bool
    user_int_id: int
    user_first: str
    user_last: str
    user_email: str


@dataclass
class TimelineRec:
    date: str
    type: str
    title: str
    description: str
    actor_type: str
    actor_name: str | None


@dataclass
class PaymentRec:
    id: str
    date_created: str
    date_updated: str | None
    date: str
    amount: float
    recipient: str
    method: str
    commission_status: str
    payout_creditor: float
    payout_partner: float
    invoiced: bool = False
    invoice_id: str | None = None
    invoice_reference: str | None = None


@dataclass
class FileRec:
    id: str
    date_created: str
    date_updated: str
    file_name: str
    description: str | None
    document_type: str | None
    entity_type: str
    size: int
    content_b64: str | None = None  # None: content generated from the id (seeded files)


@dataclass
class NoteRec:
    id: str
    description: str
    created_at: str
    event_date: str | None
    user_int_id: int
    user_name: str


@dataclass
class ExclusivePeriodRec:
    start: str
    end: str
    terminated: bool = False
    extensions: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class CaseRec:
    id: str
    partner_id: str  # who the case is assigned to; cases of other partners are 404 for us
    reference: str
    date_created: str
    date_updated: str | None
    creditor_id: str
    division_id: str | None
    creditor_reference: str | None
    creditor_comments: str | None
    claim_description: str | None
    claim_type: str
    dispute_status: str | None
    gross_amount: float
    interest_fees: float
    reminder_fees: float
    collection_fees: float
    currency: str
    is_test: bool
    lifecycle: str  # enum name
    close_code: str | None  # enum name
    close_comment: str | None
    due_date: str
    date: str
    date_finished: str | None
    date_collection_started: str | None
    engagement_phase: str | None
    debtor_id: str
    debtor: dict[str, Any]
    bank_account: dict[str, Any] | None
    success_fee: float | None
    intentional_rate: bool
    blended_age_uplift: float | None
    needs_info: bool
    validation_items: list[dict[str, Any]]
    creditor_responded_at: str | None
    assigned_user_id: str | None
    partner_reference: str | None = None
    exclusive_period: ExclusivePeriodRec | None = None
    seed_index: int = -1  # >= 0: chats, timeline, files, notes not generated yet (lazy seeding)
    chats: list[ChatRec] = field(default_factory=list)
    timeline: list[TimelineRec] = field(default_factory=list)
    payments: list[PaymentRec] = field(default_factory=list)
    files: list[FileRec] = field(default_factory=list)
    notes: list[NoteRec] = field(default_factory=list)
    managing_partner_id: str | None = None  # who submitted it through POST /managed-cases (None: seeded)
    tag: str | None = None  # the tag given at POST /managed-cases (groups test cases for deletion)
    last_deleted_payment: dict[str, Any] | None = None  # what `payment.deleted` carries when fired again

    @property
    def total_fees(self) -> float:
        return money(self.interest_fees + self.reminder_fees + self.collection_fees)

    @property
    def total_payments(self) -> float:
        return money(sum(p.amount for p in self.payments))

    @property
    def raw_remainder(self) -> float:
        return money(self.gross_amount + self.total_fees - self.total_payments)

    @property
    def remainder(self) -> float:
        return max(0.0, self.raw_remainder)


def to_dict(obj: Any) -> Any:
    return dataclasses.asdict(obj)


def case_from_dict(d: dict[str, Any]) -> CaseRec:
    d = dict(d)
    d["chats"] = [ChatRec(**x) for x in d.get("chats", [])]
    d["timeline"] = [TimelineRec(**x) for x in d.get("timeline", [])]
    d["payments"] = [PaymentRec(**x) for x in d.get("payments", [])]
    d["files"] = [FileRec(**x) for x in d.get("files", [])]
    d["notes"] = [NoteRec(**x) for x in d.get("notes", [])]
    ep = d.get("exclusive_period")
    d["exclusive_period"] = ExclusivePeriodRec(**ep) if ep else None
    return CaseRec(**d)


def creditor_from_dict(d: dict[str, Any]) -> Creditor:
    d = dict(d)
    d["divisions"] = [Division(**x) for x in d.get("divisions", [])]
    return Creditor(**d)
