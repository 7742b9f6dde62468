"""Value sets of the Collection Partner API, as the sandbox serves and parses them.

Source: docs/debitura/REFERENCE.md sections 6.1-6.8. Responses carry display strings; filters and
requests take enum names. Filters match case-insensitively and also accept the display strings
(and the older display strings of the quote states).
"""

from __future__ import annotations

import re

# Lifecycles in the API's enum order (used as the sort order for `Sort=Lifecycle`).
LIFECYCLES: tuple[str, ...] = (
    "PendingContractSigning",
    "PendingVerificationInternal",
    "PendingVerification",
    "NeedsAdditionalDetails",
    "Leads",
    "LeadsQuoteGiven",
    "Active",
    "Paused",
    "Closed",
    "Merged",
)
LIFECYCLE_DISPLAY: dict[str, str] = {
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
_LIFECYCLE_OLD_DISPLAY: dict[str, str] = {
    "Leads": "Pending quote by partner",
    "LeadsQuoteGiven": "Quote given by partner",
}
# Cases in these stages are hidden from every partner endpoint.
HIDDEN_LIFECYCLES: frozenset[str] = frozenset({"PendingContractSigning", "PendingVerificationInternal"})
# Where the sandbox accepts payments (REFERENCE 8.12, portal guidance).
PAYMENT_LIFECYCLES: frozenset[str] = frozenset({"Active", "Paused", "NeedsAdditionalDetails"})

SETTABLE_CLOSE_CODES: tuple[str, ...] = (
    "Paid",
    "PartiallyPaid",
    "DebtorInsolventBankrupt",
    "DebtorUntraceable",
    "DisputedLegalActionDeclinedByClient",
    "WithdrawnByClient",
    "PreLegalExhaustedNoPayment",
    "StatuteOfLimitationsExpired",
    "SettlementRejectedByClient",
    "UnresponsiveClient",
    "UneconomicalToPursue",
    "Other",
)
CLOSE_CODE_DISPLAY: dict[str, str] = {
    "Paid": "Paid",
    "PartiallyPaid": "Partially paid",
    "CaseNeverStarted": "Case never started",
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
CLOSE_CODES: tuple[str, ...] = tuple(CLOSE_CODE_DISPLAY)

ENGAGEMENT_PHASES: tuple[str, ...] = ("Pre-legal", "Legal", "Enforcement")

# REFERENCE 6.4 leaves the value set of TimelineItemDto.type open ("free string; UNCONFIRMED") and
# names its categories: assignment, lifecycle changes, payments, document uploads, communication, fee
# additions, notes, system events, principal/fee audit events. These are the sandbox's names for
# them (what its own writes record); the control API accepts only these.
TIMELINE_TYPES: tuple[str, ...] = (
    "Assignment",
    "LifecycleChange",
    "Activation",
    "CaseClosed",
    "EngagementPhase",
    "ExclusivePeriod",
    "Payment",
    "PaymentEdited",
    "PaymentDeleted",
    "Document",
    "Communication",
    "FeeChange",
    "PrincipalChange",
    "Note",
    "System",
)

CHAT_ROLE_LABELS: dict[int, str] = {0: "Partner", 1: "Creditor", 2: "Managed by partner"}

PAYMENT_RECIPIENTS: tuple[str, ...] = ("Creditor", "CollectionPartner", "Platform")
EDIT_PAYMENT_RECIPIENTS: tuple[str, ...] = ("Creditor", "CollectionPartner")
COMMISSION_STATUSES: tuple[str, ...] = ("Paid", "Unpaid")

UPLOAD_DOCUMENT_TYPES: tuple[str, ...] = (
    "OriginalInvoice",
    "DebtorDocuments",
    "CreditorDocuments",
    "PartnerDocuments",
    "DemandLetter",
    "Miscellaneous",
)
UPLOAD_EXTENSIONS: frozenset[str] = frozenset(
    {".pdf", ".doc", ".docx", ".xls", ".xlsx", ".jpg", ".jpeg", ".png", ".txt", ".zip", ".csv", ".eml"}
)
MAX_UPLOAD_BYTES = 25 * 1024 * 1024

WEBHOOK_EVENTS: tuple[str, ...] = (
    "case.assigned",
    "case.updated",
    "case.closed",
    "payment.created",
    "payment.deleted",
    "chat.created",
)

STANDARD_CLAIM_TYPES: frozenset[str] = frozenset({"Unpaid Invoice", "Loan Repayment"})
DISPUTED = "Yes, the claim is disputed"


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


_LIFECYCLE_LOOKUP: dict[str, str] = {}
for _name in LIFECYCLES:
    _LIFECYCLE_LOOKUP[_norm(_name)] = _name
    _LIFECYCLE_LOOKUP[_norm(LIFECYCLE_DISPLAY[_name])] = _name
for _name, _old in _LIFECYCLE_OLD_DISPLAY.items():
    _LIFECYCLE_LOOKUP[_norm(_old)] = _name

_CLOSE_LOOKUP: dict[str, str] = {}
for _name, _display in CLOSE_CODE_DISPLAY.items():
    _CLOSE_LOOKUP[_norm(_name)] = _name
    _CLOSE_LOOKUP[_norm(_display)] = _name


def parse_lifecycle(text: str) -> str | None:
    """Enum name for a filter value (name or display string, any case), None if unknown."""
    return _LIFECYCLE_LOOKUP.get(_norm(text)) if text.strip() else None


def parse_timeline_type(text: str) -> str | None:
    """The sandbox's timeline type for `text` (any case, spaces and dashes ignored), None if unknown."""
    key = _norm(text)
    return next((t for t in TIMELINE_TYPES if _norm(t) == key), None) if key else None


def lifecycle_names() -> str:
    """The lifecycles a control call accepts, for error messages."""
    return ", ".join(LIFECYCLES)


def parse_close_code(text: str) -> str | None:
    """Enum name for a close code given by name or display string, None if unknown."""
    return _CLOSE_LOOKUP.get(_norm(text)) if text.strip() else None
