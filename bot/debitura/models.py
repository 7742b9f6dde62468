"""Typed models of the Debitura Collection Partner API (requests and responses).

Conventions:

* Python names are snake_case; the camelCase wire names are aliases (``populate_by_name`` lets
  callers use either). Request models serialise with :meth:`RequestModel.to_json`.
* Responses are lenient: unknown fields are kept (``model_extra``), every nested object may be
  null, null lists become ``[]``, and values of open sets (lifecycle, close code, chat role) that
  we do not know are kept as they came instead of failing the whole response.
* Money is :class:`~decimal.Decimal` in and out; it leaves as a JSON number, never a string.
* ``Case.lifecycle`` / ``Case.close_code`` arrive as display strings ("More Info Required") while
  filters and writes use enum names ("NeedsAdditionalDetails"). :class:`LifecycleValue` and
  :class:`CloseCodeValue` keep both: ``.name`` (the enum, or ``None`` if unknown) and ``.display``
  (the text as received).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import IntEnum, StrEnum
from typing import Annotated, Any, ClassVar, Generic, Self, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    PlainSerializer,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import core_schema

__all__ = [
    "CHAT_MAX", "CLOSE_COMMENT_MAX", "INGESTION_ROWS_MAX", "MANAGED_CLAIM_DESCRIPTION_MAX",
    "MANAGED_COMMENTS_MAX", "MANAGED_CREDITOR_REFERENCE_MAX", "NOTE_MAX", "PARTNER_REFERENCE_MAX",
    "SETTABLE_CLOSE_CODES", "TEST_TAG_MAX", "UPLOAD_DESCRIPTION_MAX", "UPLOAD_EXTENSIONS",
    "UPLOAD_MAX_BYTES", "WELCOME_MAX", "AdvanceTarget", "AdvanceTestCaseRequest",
    "AdvanceTestCaseResponse", "AllocationOutstanding", "AssignedUser", "BankAccount", "Case",
    "CaseFile", "CasePage", "CaseValidation", "Chat", "ChatRole", "ChatUser", "CloseCaseRequest",
    "CloseCaseResponse", "CloseCode", "CloseCodeValue", "CollectionPartnerSummary",
    "CommissionPaymentStatus", "CreateIngestionJobRequest", "CreateIngestionJobResponse",
    "CreateManagedCasePaymentRequest", "CreateManagedCasePaymentResponse", "CreateManagedCaseRequest",
    "CreateNoteRequest", "CreatePaymentRequest", "CreatePaymentResponse", "CreateWebhookRequest",
    "Creditor", "CreditorDivision", "Debtor", "DebtorType", "ExclusivePeriod",
    "ExclusivePeriodExtension", "FireWebhookRequest", "FireWebhookResponse", "IngestionJobRow",
    "IngestionJobStatus", "IngestionJobStatusResponse", "IngestionRowType", "Lifecycle",
    "LifecycleValue", "ManagedCaseDebtor", "MeResponse", "Note", "PageData", "PartnerProfile",
    "Payment", "PaymentInvoice", "PaymentRecipient", "PriceChangeConfirmationResponse",
    "PriceChangeRequired", "ReplayEventResult", "ReplayLastEventResult", "RequestModel",
    "SendChatRequest", "SigningHandoff", "StartCaseRequest", "StartCaseResponse", "Timeline",
    "TimelineActor", "TimelineItem", "UpdateCaseFeesRequest", "UpdateFeesRequest", "UpdateFeesResponse",
    "UpdatePaymentRequest", "UpdateWebhookRequest", "UploadDocumentType", "User", "UserPage", "UserRef",
    "ValidationItem", "ValidationStatus", "Webhook", "WebhookEventRecord", "WebhookEventType",
    "normalise_code",
]


# --------------------------------------------------------------------------- helpers


def normalise_code(text: str) -> str:
    """Lowercase and keep only ASCII letters and digits ("Partially paid" -> "partiallypaid")."""
    return re.sub(r"[^0-9a-z]", "", text.casefold())


def _decimal_to_number(value: Decimal) -> int | float:
    """JSON number for a Decimal (the API takes doubles); integers stay integers."""
    if value == value.to_integral_value():
        return int(value)
    return float(value)


Money = Annotated[Decimal, PlainSerializer(_decimal_to_number, return_type=int | float, when_used="json")]
"""A Decimal that is written to JSON as a number."""


def _none_to_empty(value: Any) -> Any:
    return [] if value is None else value


NoneAsEmpty = BeforeValidator(_none_to_empty)

_CLOCK_SKEW = timedelta(minutes=5)


class ApiModel(BaseModel):
    """Base of every response model: camelCase aliases, unknown fields kept."""

    model_config = ConfigDict(
        extra="allow", populate_by_name=True, alias_generator=to_camel
    )


class RequestModel(BaseModel):
    """Base of request bodies: camelCase on the wire, unknown fields rejected (catches typos early)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, alias_generator=to_camel)

    def to_dict(self) -> dict[str, Any]:
        """The JSON body as a dict: camelCase names, None omitted, money as numbers, dates as YYYY-MM-DD."""
        data: dict[str, Any] = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))


# --------------------------------------------------------------------------- display-string enums

E = TypeVar("E", bound="_DisplayEnum")
_LOOKUPS: dict[type, dict[str, Any]] = {}


class _DisplayEnum(StrEnum):
    """StrEnum whose value is the API enum name, with a display text and lenient parsing.

    A subclass must name its display texts in the class statement
    (``class Lifecycle(_DisplayEnum, displays=..., aliases=...)``): without them it fails to define.
    """

    _display_texts: ClassVar[Mapping[str, str]]
    """Enum name -> the text Debitura shows."""
    _alias_texts: ClassVar[Mapping[str, str]]
    """Extra display texts (older docs) -> enum name."""

    def __init_subclass__(
        cls, *, displays: Mapping[str, str], aliases: Mapping[str, str] | None = None
    ) -> None:
        super().__init_subclass__()
        cls._display_texts = displays
        cls._alias_texts = aliases or {}

    @property
    def display(self) -> str:
        """The text Debitura shows (and returns in case responses) for this value."""
        return self._display_texts.get(str(self), str(self))

    @classmethod
    def from_display(cls, text: str | None) -> Self | None:
        """Enum member for an enum name or a display text (any case, spaces, dashes); None if unknown."""
        if text is None:
            return None
        if isinstance(text, cls):
            return text
        return cls._lookup().get(normalise_code(str(text)))

    @classmethod
    def _lookup(cls) -> dict[str, Self]:
        table = _LOOKUPS.get(cls)
        if table is None:
            table = {}
            for member in cls:
                table[normalise_code(member.value)] = member
                table[normalise_code(member.display)] = member
            for alias, name in cls._alias_texts.items():
                table[normalise_code(alias)] = cls(name)
            _LOOKUPS[cls] = table
        return table


_LIFECYCLE_DISPLAY = {
    "PendingContractSigning": "Pending contract signing",
    "PendingVerificationInternal": "Pending Verification Internal",
    "PendingVerification": "Pending Verification",
    "NeedsAdditionalDetails": "More Info Required",
    "Leads": "Collecting Quotes",
    "LeadsQuoteGiven": "Pending Quote Selection",
    "Active": "Active",
    "Paused": "Paused",
    "Closed": "Closed",
    "Merged": "Merged",
}
_LIFECYCLE_ALIASES = {
    "Pending quote by partner": "Leads",
    "Quote given by partner": "LeadsQuoteGiven",
    "Needs Additional Details": "NeedsAdditionalDetails",
    "More Information Required": "NeedsAdditionalDetails",
}


class Lifecycle(_DisplayEnum, displays=_LIFECYCLE_DISPLAY, aliases=_LIFECYCLE_ALIASES):
    """Case lifecycle; values are the enum names the ``Statuses`` filter takes."""

    PendingContractSigning = "PendingContractSigning"
    PendingVerificationInternal = "PendingVerificationInternal"
    PendingVerification = "PendingVerification"
    NeedsAdditionalDetails = "NeedsAdditionalDetails"
    Leads = "Leads"
    LeadsQuoteGiven = "LeadsQuoteGiven"
    Active = "Active"
    Paused = "Paused"
    Closed = "Closed"
    Merged = "Merged"


_CLOSE_CODE_DISPLAY = {
    "Paid": "Paid",
    "PartiallyPaid": "Partially paid",
    "CaseNeverStarted": "Case never started",
    "CaseNeverStartedInternal": "Case never started - Internal",
    "InvalidCaseData": "Invalid Case Data",
    "DebtorInsolventBankrupt": "Debtor Insolvent/Bankrupt",
    "DebtorUntraceable": "Debtor Untraceable",
    "DisputedLegalActionDeclinedByClient": "Disputed \u2013 Legal Action Declined by Client",
    "WithdrawnByClient": "Withdrawn by Client",
    "PreLegalExhaustedNoPayment": "Pre-Legal Exhausted \u2013 No Payment",
    "StatuteOfLimitationsExpired": "Statute of Limitations Expired",
    "SettlementRejectedByClient": "Settlement Rejected by Client",
    "UnresponsiveClient": "Unresponsive Client",
    "UneconomicalToPursue": "Uneconomical to Pursue",
    "NoQuotesReceived": "No Quotes Received",
    "QuotesExpiredNotAccepted": "Quotes Expired \u2013 Not Accepted",
    "Other": "Other",
}
_CLOSE_CODE_ALIASES = {
    "Debtor Insolvent": "DebtorInsolventBankrupt",
    "Debtor Bankrupt": "DebtorInsolventBankrupt",
    "Disputed": "DisputedLegalActionDeclinedByClient",
    "Withdrawn": "WithdrawnByClient",
}


class CloseCode(_DisplayEnum, displays=_CLOSE_CODE_DISPLAY, aliases=_CLOSE_CODE_ALIASES):
    """Close codes; values are enum names. Only :data:`SETTABLE_CLOSE_CODES` may be sent to /close."""

    Paid = "Paid"
    PartiallyPaid = "PartiallyPaid"
    CaseNeverStarted = "CaseNeverStarted"
    CaseNeverStartedInternal = "CaseNeverStartedInternal"
    InvalidCaseData = "InvalidCaseData"
    DebtorInsolventBankrupt = "DebtorInsolventBankrupt"
    DebtorUntraceable = "DebtorUntraceable"
    DisputedLegalActionDeclinedByClient = "DisputedLegalActionDeclinedByClient"
    WithdrawnByClient = "WithdrawnByClient"
    PreLegalExhaustedNoPayment = "PreLegalExhaustedNoPayment"
    StatuteOfLimitationsExpired = "StatuteOfLimitationsExpired"
    SettlementRejectedByClient = "SettlementRejectedByClient"
    UnresponsiveClient = "UnresponsiveClient"
    UneconomicalToPursue = "UneconomicalToPursue"
    NoQuotesReceived = "NoQuotesReceived"
    QuotesExpiredNotAccepted = "QuotesExpiredNotAccepted"
    Other = "Other"

    @property
    def settable(self) -> bool:
        """Whether a partner may send this code to ``POST /cases/{id}/close``."""
        return self in SETTABLE_CLOSE_CODES


SETTABLE_CLOSE_CODES: frozenset[CloseCode] = frozenset(
    {
        CloseCode.Paid, CloseCode.PartiallyPaid, CloseCode.DebtorInsolventBankrupt,
        CloseCode.DebtorUntraceable, CloseCode.DisputedLegalActionDeclinedByClient,
        CloseCode.WithdrawnByClient, CloseCode.PreLegalExhaustedNoPayment,
        CloseCode.StatuteOfLimitationsExpired, CloseCode.SettlementRejectedByClient,
        CloseCode.UnresponsiveClient, CloseCode.UneconomicalToPursue, CloseCode.Other,
    }
)


class _CodeValue(Generic[E]):
    """A value received as display text: ``.name`` is the enum member (None if unknown), ``.display``
    the text as received.

    Compares equal to its enum member, to another value with the same name, and to any string that
    normalises to the same member. Serialises back to the display text it came with.
    """

    __slots__ = ("display", "name")
    enum: type[E]
    """The enum (set on the class by each subclass)."""

    def __init__(self, display: str, name: E | None = None) -> None:
        self.display = display
        self.name: E | None = name

    @classmethod
    def parse(cls, raw: str | _DisplayEnum) -> Self:
        text = str(raw)  # a member's str is its value (the enum name)
        member = cls.enum.from_display(text)
        if isinstance(raw, _DisplayEnum):
            return cls(member.display if member else text, member)
        return cls(text, member)

    @property
    def known(self) -> bool:
        return self.name is not None

    @property
    def value(self) -> str:
        """The enum name if known, else the raw display text (what a filter would take)."""
        return self.name.value if self.name is not None else self.display

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _CodeValue):
            if self.name is not None or other.name is not None:
                return bool(self.name == other.name)
            return normalise_code(self.display) == normalise_code(other.display)
        if isinstance(other, str):
            member = self.enum.from_display(other)
            if member is not None or self.name is not None:
                return bool(member == self.name)
            return normalise_code(other) == normalise_code(self.display)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.name.value if self.name is not None else normalise_code(self.display))

    def __str__(self) -> str:
        return self.display

    def __repr__(self) -> str:
        name = self.name.value if self.name is not None else None
        return f"{type(self).__name__}(name={name!r}, display={self.display!r})"

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        def validate(value: Any) -> Any:
            if isinstance(value, cls):
                return value
            if isinstance(value, str):
                return cls.parse(value)
            raise ValueError(f"expected a string for {cls.__name__}, got {type(value).__name__}")

        return core_schema.no_info_plain_validator_function(
            validate,
            serialization=core_schema.plain_serializer_function_ser_schema(lambda v: v.display),
        )


class LifecycleValue(_CodeValue[Lifecycle]):
    enum = Lifecycle


class CloseCodeValue(_CodeValue[CloseCode]):
    enum = CloseCode


# --------------------------------------------------------------------------- other enums


class ChatRole(IntEnum):
    COLLECTION_PARTNER = 0
    CREDITOR = 1
    MANAGED_BY_PARTNER = 2

    @property
    def label(self) -> str:
        return {0: "Partner", 1: "Creditor", 2: "Managed by partner"}[self.value]


def _chat_role(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("chat role must be an integer")
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, int):
        try:
            return ChatRole(value)
        except ValueError:
            return int(value)
    return value


class PaymentRecipient(StrEnum):
    Creditor = "Creditor"
    CollectionPartner = "CollectionPartner"
    Platform = "Platform"
    # constant-style aliases of the same members (the forms' spelling, `blocks.parse.Recipient`)
    CREDITOR = "Creditor"
    COLLECTION_PARTNER = "CollectionPartner"
    PLATFORM = "Platform"


class CommissionPaymentStatus(StrEnum):
    Paid = "Paid"
    Unpaid = "Unpaid"
    # constant-style aliases (`blocks.parse.CommissionStatus`)
    PAID = "Paid"
    UNPAID = "Unpaid"


class UploadDocumentType(StrEnum):
    OriginalInvoice = "OriginalInvoice"
    DebtorDocuments = "DebtorDocuments"
    CreditorDocuments = "CreditorDocuments"
    PartnerDocuments = "PartnerDocuments"
    DemandLetter = "DemandLetter"
    Miscellaneous = "Miscellaneous"


# --------------------------------------------------------------------------- limits of the write fields
# (the request models check them; blocks.parse and blocks.forms show and check the same ones)

NOTE_MAX = 10_000
CHAT_MAX = 10_000
WELCOME_MAX = 5000
CLOSE_COMMENT_MAX = 2000
PARTNER_REFERENCE_MAX = 128
UPLOAD_DESCRIPTION_MAX = 500
UPLOAD_MAX_BYTES = 25 * 1024 * 1024
UPLOAD_EXTENSIONS: tuple[str, ...] = (
    ".pdf", ".doc", ".docx", ".xls", ".xlsx", ".jpg", ".jpeg", ".png", ".txt", ".zip", ".csv", ".eml",
)
"""The file extensions Debitura accepts (lower case), in the order people are shown them."""


class WebhookEventType(StrEnum):
    CASE_ASSIGNED = "case.assigned"
    CASE_UPDATED = "case.updated"
    CASE_CLOSED = "case.closed"
    PAYMENT_CREATED = "payment.created"
    PAYMENT_DELETED = "payment.deleted"
    CHAT_CREATED = "chat.created"


# --------------------------------------------------------------------------- pagination


class PageData(ApiModel):
    total_results: int | None = None
    page_size: int | None = None
    current_page: int | None = None
    response_count: int | None = None
    total_pages: int | None = None


class _Paged(ApiModel):
    page: PageData | None = None

    @model_validator(mode="before")
    @classmethod
    def _page_data_alias(cls, data: Any) -> Any:
        # One docs page calls the envelope key `pageData`; the spec says `page`.
        if isinstance(data, dict) and data.get("page") is None and isinstance(data.get("pageData"), dict):
            data = {**data, "page": data["pageData"]}
        return data

    def has_more(self, requested_page: int, page_size: int, received: int) -> bool:
        """Whether another page follows the one just read."""
        if received == 0:
            return False
        p = self.page
        if p is not None and p.total_pages is not None:
            # Count on the page we asked for: a server that echoes a wrong currentPage cannot loop us.
            return requested_page < p.total_pages
        return received >= page_size


# --------------------------------------------------------------------------- case


class Debtor(ApiModel):
    type: str | None = None
    name: str | None = None
    contact_person: str | None = None
    company_registration_number: str | None = None
    address: str | None = None
    zip_code: str | None = None
    city: str | None = None
    state: str | None = None
    state_alpha2: str | None = None
    country_alpha2: str | None = None
    country: str | None = None
    email: str | None = None
    phone: str | None = None


class CollectionPartnerSummary(ApiModel):
    name: str | None = None
    office_email: str | None = None
    office_phone: str | None = None
    public_site: str | None = None
    survey_cadence_mode: int | None = None


class CreditorDivision(ApiModel):
    id: str | None = None
    name: str | None = None


class Creditor(ApiModel):
    id: str | None = None
    company_name: str | None = None
    company_registration_number: str | None = None
    office_email: str | None = None
    office_phone: str | None = None
    address: str | None = None
    city: str | None = None
    zip_code: str | None = None
    state: str | None = None
    country: str | None = None
    division: CreditorDivision | None = None


class BankAccount(ApiModel):
    id: int | None = None
    label: str | None = None
    scheme: str | None = None
    currency_code: str | None = None
    bank_country_code: str | None = None
    account_holder_name: str | None = None
    iban: str | None = None
    bic: str | None = None
    account_number: str | None = None
    local_identifier: str | None = None
    local_identifier_type: str | None = None
    bank_name: str | None = None
    bank_address: str | None = None
    bank_city: str | None = None
    bank_zip_code: str | None = None
    bank_state: str | None = None


class SigningHandoff(ApiModel):
    combined_signing_url: str | None = None


class CaseValidation(ApiModel):
    needs_info: bool | None = None


class AssignedUser(ApiModel):
    email: str | None = None
    name: str | None = None


class AllocationOutstanding(ApiModel):
    principal: Money | None = None
    interest: Money | None = None
    reminder_fees: Money | None = None
    collection_fees: Money | None = None


class Case(ApiModel):
    """A collection case (spec name InvoiceDto). There is no collectionPartnerReference on it."""

    id: str
    date_created: datetime | None = None
    date_updated: datetime | None = None
    reference: str | None = None
    creditor_reference: str | None = None
    creditor_comments: str | None = None
    claim_description: str | None = None
    gross_amount: Money | None = None
    remainder: Money | None = None
    interest_fees: Money | None = None
    reminder_fees: Money | None = None
    collection_fees: Money | None = None
    total_added_fees: Money | None = None
    currency: str | None = None
    is_test_case: bool | None = None
    lifecycle: LifecycleValue | None = None
    due_date: datetime | None = None
    date: datetime | None = None
    date_finished: datetime | None = None
    date_collection_started: datetime | None = None
    close_code: CloseCodeValue | None = None
    current_engagement_phase: str | None = None
    claim_type: str | None = None
    creditor_division_id: str | None = None
    debtor: Debtor | None = None
    collection_partner: CollectionPartnerSummary | None = None
    creditor: Creditor | None = None
    bank_account: BankAccount | None = None
    blended_age_uplift_points: Decimal | None = None
    pre_legal_success_fee: Decimal | None = None
    solution_url: str | None = None
    signing_handoff: SigningHandoff | None = None
    exclusive_period_end_date: datetime | None = None
    dispute_status: str | None = None
    validation: CaseValidation | None = None
    assigned_user: AssignedUser | None = None
    allocation_outstanding: AllocationOutstanding | None = None

    @property
    def lifecycle_name(self) -> Lifecycle | None:
        return self.lifecycle.name if self.lifecycle is not None else None

    @property
    def needs_info(self) -> bool:
        return bool(self.validation and self.validation.needs_info)


class CasePage(_Paged):
    cases: Annotated[list[Case], NoneAsEmpty] = Field(default_factory=list)


class User(ApiModel):
    id: str
    name: str | None = None
    email: str | None = None


class UserPage(_Paged):
    users: Annotated[list[User], NoneAsEmpty] = Field(default_factory=list)


class PartnerProfile(ApiModel):
    """``GET /me`` (CollectionPartnerMeResponse)."""

    id: str | None = None
    company_name: str | None = None
    logo_url: str | None = None
    company_registration_number: str | None = None
    vat_number: str | None = None
    address: str | None = None
    zip_code: str | None = None
    city: str | None = None
    state: str | None = None
    country: str | None = None
    office_email: str | None = None
    office_phone: str | None = None
    invoice_email: str | None = None
    billing_contact: str | None = None
    invoice_currency: int | None = None
    commission_type: int | None = None
    pre_legal_revenue_share: Decimal | None = None
    legal_revenue_share: Decimal | None = None
    verified_profile: bool | None = None
    full_address: str | None = None
    survey_cadence_mode: int | None = None


MeResponse = PartnerProfile


# --------------------------------------------------------------------------- timeline


class TimelineActor(ApiModel):
    type: str | None = None
    name: str | None = None


class TimelineItem(ApiModel):
    """One timeline entry. Items have no id: use :meth:`fingerprint` to deduplicate."""

    date: datetime | None = None
    type: str | None = None
    title: str | None = None
    description: str | None = None
    actor: TimelineActor | None = None

    def fingerprint(self) -> str:
        """sha256 hex of (date, type, title, description, actor type, actor name); stable across fetches."""
        when = None
        if self.date is not None:
            d = self.date if self.date.tzinfo is None else self.date.astimezone(UTC)
            when = d.replace(tzinfo=None).isoformat(timespec="microseconds")
        actor = [self.actor.type, self.actor.name] if self.actor is not None else None
        canonical = json.dumps(
            [when, self.type, self.title, self.description, actor], ensure_ascii=False, separators=(",", ":")
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class Timeline(ApiModel):
    """``GET /cases/{id}/timeline`` (older servers returned a bare array; accepted too)."""

    items: Annotated[list[TimelineItem], NoneAsEmpty] = Field(default_factory=list)
    current_engagement_phase: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _bare_array(cls, data: Any) -> Any:
        if isinstance(data, list):
            return {"items": data}
        return data


# --------------------------------------------------------------------------- chats


class ChatUser(ApiModel):
    id: int | None = None
    date_created: datetime | None = None
    date_updated: datetime | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p) or (self.email or "")


class Chat(ApiModel):
    id: str
    date_created: datetime | None = None
    date_updated: datetime | None = None
    role: Annotated[ChatRole | int | None, BeforeValidator(_chat_role)] = None
    role_label: str | None = None
    message: str | None = None
    is_seen: bool | None = None
    user: ChatUser | None = None

    @property
    def known_role(self) -> ChatRole | None:
        return self.role if isinstance(self.role, ChatRole) else None


class SendChatRequest(RequestModel):
    message: str = Field(min_length=1, max_length=CHAT_MAX)
    user_email: str | None = None
    user_id: str | None = None

    @model_validator(mode="after")
    def _needs_user(self) -> Self:
        if not self.message.strip():
            raise ValueError("message must not be blank")
        if not self.user_email and not self.user_id:
            raise ValueError("a chat message needs user_email (or the deprecated user_id) of a team member")
        return self


# --------------------------------------------------------------------------- payments


class PaymentInvoice(ApiModel):
    status: str | None = None
    reference: str | None = None
    invoice_id: str | None = None


class Payment(ApiModel):
    id: str
    date_created: datetime | None = None
    date_updated: datetime | None = None
    date: datetime | None = None
    gross_amount: Money | None = None
    recipient: str | None = None
    method: str | None = None
    currency: str | None = None
    invoice: PaymentInvoice | None = None


def _check_payouts(amount: Decimal, creditor: Decimal | None, partner: Decimal | None) -> None:
    if (creditor is None) != (partner is None):
        raise ValueError("give both payout_creditor and payout_collection_partner, or neither")
    if creditor is not None and partner is not None and abs(creditor + partner - amount) > Decimal("0.01"):
        raise ValueError("payout_creditor + payout_collection_partner must equal payment_amount (\u00b10.01)")


PositiveMoney = Annotated[Money, Field(ge=Decimal("0.01"))]
NonNegativeMoney = Annotated[Money, Field(ge=Decimal("0"))]


class CreatePaymentRequest(RequestModel):
    date: date
    payment_amount: PositiveMoney
    payment_recipient: PaymentRecipient
    commission_payment_status: CommissionPaymentStatus | None = None
    payout_creditor: NonNegativeMoney | None = None
    payout_collection_partner: NonNegativeMoney | None = None
    close_case: bool | None = None
    create_unpaid_commission_follow_up: bool | None = None

    @field_validator("date", mode="before")
    @classmethod
    def _date_only(cls, value: Any) -> Any:
        return value.date() if isinstance(value, datetime) else value

    @model_validator(mode="after")
    def _rules(self) -> Self:
        _check_payouts(self.payment_amount, self.payout_creditor, self.payout_collection_partner)
        if self.payment_recipient is PaymentRecipient.Creditor and self.commission_payment_status is None:
            raise ValueError("commission_payment_status is required when the creditor received the payment")
        return self


class CreatePaymentResponse(ApiModel):
    payment_id: str | None = None
    case_reference: str | None = None
    date: datetime | None = None
    payment_amount: Money | None = None
    payout_creditor: Money | None = None
    payout_collection_partner: Money | None = None
    payment_recipient: str | None = None
    commission_payment_status: str | None = None
    close_case: bool | None = None
    case_closed: bool | None = None
    close_code: CloseCodeValue | None = None
    remaining_amount: Money | None = None
    warnings: Annotated[list[str], NoneAsEmpty] = Field(default_factory=list)


class UpdatePaymentRequest(RequestModel):
    date: date
    payment_amount: PositiveMoney
    payment_recipient: PaymentRecipient
    commission_payment_status: CommissionPaymentStatus | None = None
    payout_creditor: NonNegativeMoney | None = None
    payout_collection_partner: NonNegativeMoney | None = None
    reopen_case_if_needed: bool = False

    @field_validator("date", mode="before")
    @classmethod
    def _date_only(cls, value: Any) -> Any:
        return value.date() if isinstance(value, datetime) else value

    @model_validator(mode="after")
    def _rules(self) -> Self:
        if self.payment_recipient is PaymentRecipient.Platform:
            raise ValueError("a payment can be edited to Creditor or CollectionPartner only")
        _check_payouts(self.payment_amount, self.payout_creditor, self.payout_collection_partner)
        if self.payment_recipient is PaymentRecipient.Creditor and self.commission_payment_status is None:
            raise ValueError("commission_payment_status is required when the creditor received the payment")
        return self


# --------------------------------------------------------------------------- files / notes


class CaseFile(ApiModel):
    id: str
    date_created: datetime | None = None
    date_updated: datetime | None = None
    case_id: str | None = None
    entity_type: str | None = None
    entity_id: str | None = None
    file_name: str | None = None
    url: str | None = None
    description: str | None = None
    document_type: str | None = None


class UserRef(ApiModel):
    """``createdBy`` / ``closedBy``: an int user id and a name."""

    user_id: int | None = None
    user_name: str | None = None


class CreateNoteRequest(RequestModel):
    description: str = Field(min_length=1, max_length=NOTE_MAX)
    event_date: datetime | None = None

    @model_validator(mode="after")
    def _rules(self) -> Self:
        if not self.description.strip():
            raise ValueError("note text must not be blank")
        if self.event_date is not None:
            when = self.event_date if self.event_date.tzinfo else self.event_date.replace(tzinfo=UTC)
            if when > datetime.now(UTC).replace(microsecond=0) + _CLOCK_SKEW:
                raise ValueError("a note's event_date must not be in the future")
        return self


class Note(ApiModel):
    id: str | None = None
    case_reference: str | None = None
    title: str | None = None
    description: str | None = None
    visibility: str | None = None
    created_at: datetime | None = None
    event_date: datetime | None = None
    created_by: UserRef | None = None


# --------------------------------------------------------------------------- close / start / fees


def _close_code_in(value: Any) -> Any:
    if isinstance(value, str) and not isinstance(value, CloseCode):
        member = CloseCode.from_display(value)
        if member is None:
            raise ValueError(f"unknown close code {value!r}")
        return member
    return value


class CloseCaseRequest(RequestModel):
    close_code: Annotated[CloseCode, BeforeValidator(_close_code_in)]
    comment: str | None = Field(default=None, max_length=CLOSE_COMMENT_MAX)

    @field_validator("close_code")
    @classmethod
    def _settable(cls, value: CloseCode) -> CloseCode:
        if value not in SETTABLE_CLOSE_CODES:
            raise ValueError(f"close code {value.value} is set by Debitura only; it cannot be sent")
        return value


class CloseCaseResponse(ApiModel):
    case_reference: str | None = None
    close_code: CloseCodeValue | None = None
    close_code_description: str | None = None
    comment: str | None = None
    closed_at: datetime | None = None
    closed_by: UserRef | None = None
    final_outstanding_amount: Money | None = None
    total_payments: Money | None = None
    total_recovered: Money | None = None


class StartCaseRequest(RequestModel):
    welcome_message: str = Field(min_length=1, max_length=WELCOME_MAX)
    user_email: str | None = None
    user_id: str | None = None
    collection_partner_reference: str | None = Field(default=None, max_length=PARTNER_REFERENCE_MAX)
    assigned_user_email: str | None = None
    assigned_user_id: str | None = None
    interest_fees: NonNegativeMoney | None = None
    reminder_fees: NonNegativeMoney | None = None
    collection_fees: NonNegativeMoney | None = None

    @model_validator(mode="after")
    def _needs_user(self) -> Self:
        if not self.user_email and not self.user_id:
            raise ValueError("activating a case needs user_email (or deprecated user_id) of a team member")
        return self


class StartCaseResponse(ApiModel):
    case_id: str | None = None
    case_reference: str | None = None
    status: LifecycleValue | None = None
    activated_at: datetime | None = None
    collection_partner_reference: str | None = None


class UpdateFeesRequest(RequestModel):
    """``PUT /cases/{id}/fees``. All three fees are required (omitted fees may be zeroed by the API)."""

    interest_fees: NonNegativeMoney
    reminder_fees: NonNegativeMoney
    collection_fees: NonNegativeMoney
    gross_amount: NonNegativeMoney | None = None
    confirm_price_change: bool = False
    keep_intentional_rate: bool = False

    @model_validator(mode="after")
    def _one_flag(self) -> Self:
        if self.confirm_price_change and self.keep_intentional_rate:
            raise ValueError("send confirm_price_change or keep_intentional_rate, not both")
        return self

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        # The flags are sent only when set: confirmPriceChange on an intentional rate is a 400.
        for flag in ("confirmPriceChange", "keepIntentionalRate"):
            if data.get(flag) is False:
                del data[flag]
        return data


UpdateCaseFeesRequest = UpdateFeesRequest


class UpdateFeesResponse(ApiModel):
    case_id: str | None = None
    gross_amount: Money | None = None
    interest_fees: Money | None = None
    reminder_fees: Money | None = None
    collection_fees: Money | None = None
    total_added_fees: Money | None = None
    recalculated_success_fee: Decimal | None = None
    remainder: Money | None = None


class PriceChangeRequired(ApiModel):
    """The 409 of ``PUT /fees``: the success fee would move; nothing was applied.

    :meth:`confirmation` builds the request that accepts the change: ``keepIntentionalRate`` when
    the current rate is intentional, else ``confirmPriceChange``.
    """

    case_id: str | None = None
    confirmation_required: bool | None = None
    is_intentional_rate: bool = False
    current_success_fee: Decimal | None = None
    proposed_success_fee: Decimal | None = None
    warning: str | None = None
    message: str | None = None
    request: UpdateFeesRequest | None = Field(default=None, exclude=True, repr=False)
    """The request that was refused (set by the client)."""

    def confirmation(self, request: UpdateFeesRequest | None = None) -> UpdateFeesRequest:
        base = request if request is not None else self.request
        if base is None:
            raise ValueError("no original fees request to confirm; pass it in")
        if self.is_intentional_rate:
            return base.model_copy(update={"keep_intentional_rate": True, "confirm_price_change": False})
        return base.model_copy(update={"confirm_price_change": True, "keep_intentional_rate": False})

    @property
    def text(self) -> str:
        """A one-line explanation for people."""
        parts = [self.message or self.warning or "The success fee would change."]
        if self.current_success_fee is not None or self.proposed_success_fee is not None:
            parts.append(f"Current {self.current_success_fee}%, proposed {self.proposed_success_fee}%.")
        return " ".join(parts)


PriceChangeConfirmationResponse = PriceChangeRequired


# --------------------------------------------------------------------------- exclusive period / validation


class ExclusivePeriodExtension(ApiModel):
    type: str | None = None
    event_date: datetime | None = None
    new_end_date: datetime | None = None


class ExclusivePeriod(ApiModel):
    engagement_start_date: datetime | None = None
    current_end_date: datetime | None = None
    days_remaining: int | None = None
    status: str | None = None
    extensions: Annotated[list[ExclusivePeriodExtension], NoneAsEmpty] = Field(default_factory=list)


class ValidationItem(ApiModel):
    resolution_area: str | None = None
    description: str | None = None


class ValidationStatus(ApiModel):
    needs_info: bool | None = None
    creditor_responded_at: datetime | None = None
    items: Annotated[list[ValidationItem], NoneAsEmpty] = Field(default_factory=list)


# --------------------------------------------------------------------------- webhooks


class Webhook(ApiModel):
    """A webhook subscription. ``secret`` (Base64) only comes on create or regenerate."""

    id: str
    url: str | None = None
    events: Annotated[list[str], NoneAsEmpty] = Field(default_factory=list)
    is_active: bool | None = None
    created_utc: datetime | None = None
    updated_utc: datetime | None = None
    disabled_reason: str | None = None
    secret: SecretStr | None = None
    is_test_mode: bool | None = None


def _https_url(value: str | None) -> str | None:
    if value is not None and not value.lower().startswith(("https://", "http://")):
        raise ValueError("webhook url must be an absolute https:// URL")
    return value


class CreateWebhookRequest(RequestModel):
    url: Annotated[str, Field(min_length=1, max_length=1024)]
    events: list[str] = Field(min_length=1)
    is_test_mode: bool = False

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        _https_url(value)
        return value


class UpdateWebhookRequest(RequestModel):
    url: str | None = Field(default=None, max_length=1024)
    events: list[str] | None = None
    is_active: bool | None = None
    regenerate_secret: bool | None = None
    is_test_mode: bool | None = None

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        return _https_url(value)


class WebhookEventRecord(ApiModel):
    """A row of ``GET /webhooks/events`` (the delivery log); ``payload`` is the JSON body as a string."""

    id: str
    subscription_id: str | None = None
    case_id: str | None = None
    event_type: str | None = None
    payload: str | None = None
    created_at: datetime | None = None
    delivered_at: datetime | None = None
    attempt_count: int | None = None
    last_response_code: int | None = None
    last_error: str | None = None

    def payload_json(self) -> Any:
        """The payload parsed, or None if absent or not JSON."""
        if not self.payload:
            return None
        try:
            return json.loads(self.payload)
        except ValueError:
            return None


class ReplayEventResult(ApiModel):
    event_id: str | None = None
    subscription_id: str | None = None
    event_type: str | None = None




# --------------------------------------------------------------------------- managed cases
# (cases we submit as managing partner; test cases are made here with is_test=True)

MANAGED_COMMENTS_MAX = 4000
MANAGED_CLAIM_DESCRIPTION_MAX = 4000
MANAGED_CREDITOR_REFERENCE_MAX = 50
TEST_TAG_MAX = 100
Day = date
"""``date`` under another name, for annotations in models that have a field called ``date``."""
INGESTION_ROWS_MAX = 1000
"""Rows per ingestion job: the published advice (not a hard limit the API states)."""


class DebtorType(StrEnum):
    Company = "Company"
    Person = "Person"


class ManagedCaseDebtor(RequestModel):
    """The debtor of a case we submit (the wire shape of the case's ``debtor``).

    Company and Person both need ``name``; a Company also needs ``contact_person``; the country
    is given as ``country_alpha2`` or ``country``; a US debtor needs ``state_alpha2``.
    """

    type: DebtorType
    name: Annotated[str, Field(min_length=1)]
    contact_person: str | None = None
    company_registration_number: str | None = None
    address: str | None = None
    zip_code: str | None = None
    city: str | None = None
    state: str | None = None
    state_alpha2: str | None = None
    country_alpha2: str | None = None
    country: str | None = None
    email: str | None = None
    phone: str | None = None

    @model_validator(mode="after")
    def _rules(self) -> Self:
        if not self.name.strip():
            raise ValueError("the debtor needs a name")
        if self.type is DebtorType.Company and not (self.contact_person or "").strip():
            raise ValueError("a Company debtor needs contact_person")
        if not (self.country_alpha2 or "").strip() and not (self.country or "").strip():
            raise ValueError("the debtor needs country_alpha2 or country")
        is_us = (self.country_alpha2 or "").strip().upper() == "US" or (
            (self.country or "").strip().lower() in ("united states", "united states of america", "usa")
        )
        if is_us and not (self.state_alpha2 or "").strip():
            raise ValueError("a US debtor needs state_alpha2 (two-letter state code)")
        return self


class CreateManagedCaseRequest(RequestModel):
    """``POST /managed-cases``: a case we submit for a client (or ourselves).

    ``is_test=True`` makes a test case (routed back to us, excluded from production figures,
    deletable with ``DELETE /test/cases``); ``tag`` groups test cases for cleanup by tag.
    ``collection_partner_id`` overrides the assignment by jurisdiction.
    """

    creditor_company_name: Annotated[str, Field(min_length=1)]
    creditor_country_alpha2: str | None = None
    creditor_country: str | None = None
    currency_code: Annotated[str, Field(min_length=1)]
    date: Day
    due_date: Day | None = None
    comments: str | None = Field(default=None, max_length=MANAGED_COMMENTS_MAX)
    claim_description: str | None = Field(default=None, max_length=MANAGED_CLAIM_DESCRIPTION_MAX)
    creditor_reference: str | None = Field(default=None, max_length=MANAGED_CREDITOR_REFERENCE_MAX)
    debtor: ManagedCaseDebtor
    amount_to_recover: PositiveMoney
    is_test: bool = False
    tag: str | None = Field(default=None, max_length=TEST_TAG_MAX)
    collection_partner_id: str | None = None

    @field_validator("date", "due_date", mode="before")
    @classmethod
    def _date_only(cls, value: Any) -> Any:
        return value.date() if isinstance(value, datetime) else value

    @model_validator(mode="after")
    def _rules(self) -> Self:
        if not self.creditor_company_name.strip():
            raise ValueError("creditor_company_name must not be blank")
        if not (self.creditor_country_alpha2 or "").strip() and not (self.creditor_country or "").strip():
            raise ValueError("give creditor_country_alpha2 or creditor_country")
        if self.collection_partner_id is not None and not _GUID.fullmatch(self.collection_partner_id):
            raise ValueError("collection_partner_id must be a GUID")
        if self.tag is not None and not self.tag.strip():
            raise ValueError("tag must not be blank")
        return self


class CreateManagedCasePaymentRequest(RequestModel):
    """``POST /managed-cases/{id}/payments`` (test cases only): the whole amount goes to the creditor."""

    date: date
    payment_amount: PositiveMoney
    close_case: bool = False

    @field_validator("date", mode="before")
    @classmethod
    def _date_only(cls, value: Any) -> Any:
        return value.date() if isinstance(value, datetime) else value


class CreateManagedCasePaymentResponse(ApiModel):
    payment_id: str | None = None
    case_reference: str | None = None
    date: datetime | None = None
    payment_amount: Money | None = None
    case_closed: bool | None = None
    remaining_amount: Money | None = None


# --------------------------------------------------------------------------- test cases and test webhooks


class AdvanceTarget(StrEnum):
    """Where ``POST /test/cases/{id}/advance`` can take a test case."""

    ACTIVE = "Active"
    CLOSED_PAID = "Closed:Paid"
    CLOSED_NO_PAYMENT = "Closed:NoPayment"


class AdvanceTestCaseRequest(RequestModel):
    to: AdvanceTarget
    amount: PositiveMoney | None = None

    @model_validator(mode="after")
    def _rules(self) -> Self:
        if self.to is AdvanceTarget.CLOSED_PAID and self.amount is None:
            raise ValueError("advancing to Closed:Paid needs the paid amount")
        return self


class AdvanceTestCaseResponse(ApiModel):
    """``advanced`` is False when the case already was at the target (nothing changed)."""

    advanced: bool | None = None
    state: str | None = None


class FireWebhookRequest(RequestModel):
    """``POST /test/webhooks/fire``: send ``event`` for a test case, carrying its current state."""

    event: str
    case_id: str
    subscription_id: str | None = None

    @model_validator(mode="after")
    def _rules(self) -> Self:
        if not self.event.strip():
            raise ValueError("event must not be blank")
        if not _GUID.fullmatch(self.case_id):
            raise ValueError("case_id must be a GUID")
        if self.subscription_id is not None and not _GUID.fullmatch(self.subscription_id):
            raise ValueError("subscription_id must be a GUID")
        return self


class FireWebhookResponse(ApiModel):
    """``enqueued_count`` 0: no active test subscription takes this event type."""

    event_type: str | None = None
    case_id: str | None = None
    enqueued_count: int | None = None


class ReplayLastEventResult(ApiModel):
    """``POST /test/cases/{id}/replay-last-event``: which recorded event went out again."""

    event_id: str | None = None
    subscription_id: str | None = None
    event_type: str | None = None


# --------------------------------------------------------------------------- ingestion jobs


class IngestionRowType(IntEnum):
    """Row types of an ingestion job; only notes are accepted today (others answer 400)."""

    NOTE = 0


class IngestionJobStatus(IntEnum):
    """``AsyncJobStatus`` (0-4). Debitura publishes the numbers only; these names are our reading
    (UNCONFIRMED): queued, running, done, failed, cancelled. Unknown numbers are kept as ``int``."""

    QUEUED = 0
    RUNNING = 1
    COMPLETED = 2
    FAILED = 3
    CANCELLED = 4


def _job_status(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("job status must be an integer")
    if isinstance(value, int):
        try:
            return IngestionJobStatus(value)
        except ValueError:
            return int(value)
    return value


class IngestionJobRow(RequestModel):
    """One row of ``POST /ingestion-jobs``: a note (``description``) on ``case_id``."""

    type: IngestionRowType = IngestionRowType.NOTE
    case_id: str
    description: str | None = Field(default=None, max_length=NOTE_MAX)
    event_date: datetime | None = None
    external_ref: str | None = None

    @model_validator(mode="after")
    def _rules(self) -> Self:
        if not _GUID.fullmatch(self.case_id):
            raise ValueError("case_id must be a GUID")
        if self.type is IngestionRowType.NOTE and not (self.description or "").strip():
            raise ValueError("a note row needs a description")
        if self.event_date is not None and self.event_date.tzinfo is None:
            raise ValueError("event_date must carry a time zone")
        return self


class CreateIngestionJobRequest(RequestModel):
    rows: list[IngestionJobRow] = Field(min_length=1, max_length=INGESTION_ROWS_MAX)


class CreateIngestionJobResponse(ApiModel):
    job_id: str | None = None
    rows_queued: int | None = None


class IngestionJobStatusResponse(ApiModel):
    """``GET /ingestion-jobs/{jobId}``: the job's status and how many rows succeeded or failed."""

    status: Annotated[IngestionJobStatus | int | None, BeforeValidator(_job_status)] = None
    rows_total: int | None = None
    rows_succeeded: int | None = None
    rows_failed: int | None = None

    @property
    def finished(self) -> bool:
        """Every row has an outcome (the counts say so, or the status is a final one)."""
        if self.status in _FINAL_JOB_STATUSES:
            return True
        total, ok, failed = self.rows_total, self.rows_succeeded, self.rows_failed
        return total is not None and ok is not None and failed is not None and ok + failed >= total


_FINAL_JOB_STATUSES = (IngestionJobStatus.COMPLETED, IngestionJobStatus.FAILED, IngestionJobStatus.CANCELLED)
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
