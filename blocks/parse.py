"""Form parsers: a modal's `view.state.values` -> a typed form, or the errors to show in the form.

Each `parse_<thing>_form(values, ...)` returns either the typed form or a `FormErrors` mapping of
`block_id` -> message, ready for `ack(response_action="errors", errors=...)`. Parsers are pure: the
clock (`now`) and whatever the form is checked against (the case's balance, currency...) are
arguments, so every rule is testable without Slack or the API.

Values are read by `block_id` from the one element each input block holds, whatever its
`action_id` (amount and recipient carry dispatch action ids, the rest `Element.VALUE`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from blocks.ids import Block
from bot.debitura.models import (
    CHAT_MAX,
    NOTE_MAX,
    WELCOME_MAX,
    CloseCode,
    CommissionPaymentStatus,
    PaymentRecipient,
    UploadDocumentType,
)
from bot.debitura.models import CLOSE_COMMENT_MAX as CLOSE_COMMENT_MAX
from bot.debitura.models import PARTNER_REFERENCE_MAX as PARTNER_REFERENCE_MAX
from bot.debitura.models import UPLOAD_DESCRIPTION_MAX as UPLOAD_DESCRIPTION_MAX
from bot.debitura.models import UPLOAD_EXTENSIONS as UPLOAD_EXTENSIONS
from bot.debitura.models import UPLOAD_MAX_BYTES as UPLOAD_MAX_BYTES

# --- limits (Slack's inputs and the API's fields) ------------------------------------------------
# The API's limits and value sets are the client's (bot.debitura.models); only labels live here.

SLACK_INPUT_MAX = 3000
"""A Slack plain_text_input holds at most 3,000 characters."""
NOTE_API_MAX = NOTE_MAX
NOTE_PARTS = (Block.NOTE_TEXT, Block.NOTE_TEXT_2, Block.NOTE_TEXT_3, Block.NOTE_TEXT_4)
"""The note form's text fields: Slack's 3,000 characters each, joined (line breaks) up to NOTE_API_MAX."""
CHAT_API_MAX = CHAT_MAX
WELCOME_API_MAX = WELCOME_MAX
UPLOAD_MAX_MB = UPLOAD_MAX_BYTES // (1024 * 1024)
MAX_AMOUNT = Decimal("999999999999.99")
SPLIT_TOLERANCE = Decimal("0.01")
CENT = Decimal("0.01")


class FormErrors(dict[str, str]):
    """block_id -> message, for `response_action: errors`. Falsy when there is nothing to show."""


# --- value sets ----------------------------------------------------------------------------------

Recipient = PaymentRecipient
"""Who received a payment (the client's enum; `Recipient.CREDITOR` is `PaymentRecipient.Creditor`)."""

RECIPIENT_LABELS: dict[Recipient, str] = {
    Recipient.CREDITOR: "The creditor (our client)",
    Recipient.COLLECTION_PARTNER: "Us (collection partner)",
    Recipient.PLATFORM: "Debitura (platform)",
}


CommissionStatus = CommissionPaymentStatus
"""Whether the creditor paid our commission (the client's enum)."""

COMMISSION_LABELS: dict[CommissionStatus, str] = {
    CommissionStatus.PAID: "Paid: the creditor paid our commission",
    CommissionStatus.UNPAID: "Unpaid: the creditor still owes our commission",
}

CLOSE_CODE_LABELS: dict[CloseCode, str] = {
    CloseCode.Paid: "Paid in full",
    CloseCode.PartiallyPaid: "Partially paid",
    CloseCode.DebtorInsolventBankrupt: "Debtor insolvent / bankrupt",
    CloseCode.DebtorUntraceable: "Debtor untraceable",
    CloseCode.DisputedLegalActionDeclinedByClient: "Disputed, legal action declined by client",
    CloseCode.WithdrawnByClient: "Withdrawn by client",
    CloseCode.PreLegalExhaustedNoPayment: "Pre-legal exhausted, no payment",
    CloseCode.StatuteOfLimitationsExpired: "Statute of limitations expired",
    CloseCode.SettlementRejectedByClient: "Settlement rejected by client",
    CloseCode.UnresponsiveClient: "Unresponsive client",
    CloseCode.UneconomicalToPursue: "Uneconomical to pursue",
    CloseCode.Other: "Other (explain in the comment)",
}
CLOSE_CODES: dict[str, str] = {code.value: CLOSE_CODE_LABELS.get(code, code.display)
                               for code in CloseCode if code.settable}
"""Every close code the API accepts (enum names, `SETTABLE_CLOSE_CODES` in enum order) with a label."""

DOCUMENT_TYPE_LABELS: dict[UploadDocumentType, str] = {
    UploadDocumentType.OriginalInvoice: "Original invoice",
    UploadDocumentType.DebtorDocuments: "Debtor documents",
    UploadDocumentType.CreditorDocuments: "Creditor documents",
    UploadDocumentType.PartnerDocuments: "Our documents (partner)",
    UploadDocumentType.DemandLetter: "Demand letter",
    UploadDocumentType.Miscellaneous: "Miscellaneous",
}
DOCUMENT_TYPES: dict[str, str] = {kind.value: DOCUMENT_TYPE_LABELS.get(kind, kind.value)
                                  for kind in UploadDocumentType}
"""Every upload document type (enum names) with a label."""
NO_DOCUMENT_TYPE = "none"
"""Option value for "no document type" (uncategorised upload)."""

OPTION_CLOSE_CASE = "close_case"
OPTION_FOLLOW_UP = "unpaid_commission_follow_up"
OPTION_REOPEN = "reopen_case"


# --- typed forms ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class NoteForm:
    text: str
    event_date: datetime | None = None
    """UTC; None = now (the API stamps it)."""


@dataclass(frozen=True, slots=True)
class PaymentForm:
    date: date
    amount: Decimal
    recipient: Recipient
    commission: CommissionStatus | None
    payout_creditor: Decimal | None = None
    payout_partner: Decimal | None = None
    close_case: bool = False
    follow_up: bool = True

    def normalised(self) -> dict[str, str]:
        """Canonical string form (what the idempotency key and the confirmation round-trip use)."""
        return _normalise(asdict(self))


@dataclass(frozen=True, slots=True)
class PaymentEditForm:
    date: date
    amount: Decimal
    recipient: Recipient
    commission: CommissionStatus | None
    payout_creditor: Decimal | None = None
    payout_partner: Decimal | None = None

    def normalised(self) -> dict[str, str]:
        return _normalise(asdict(self))

    @classmethod
    def from_normalised(cls, data: Mapping[str, str]) -> PaymentEditForm:
        """Inverse of `normalised()` (used when a confirmation view carries the pending edit)."""
        try:
            return cls(
                date=date.fromisoformat(data["date"]),
                amount=Decimal(data["amount"]),
                recipient=Recipient(data["recipient"]),
                commission=CommissionStatus(data["commission"]) if data.get("commission") else None,
                payout_creditor=Decimal(data["payout_creditor"]) if data.get("payout_creditor") else None,
                payout_partner=Decimal(data["payout_partner"]) if data.get("payout_partner") else None,
            )
        except (KeyError, ValueError, InvalidOperation) as exc:
            raise ValueError(f"malformed pending payment edit: {exc}") from None


@dataclass(frozen=True, slots=True)
class ChatForm:
    text: str


@dataclass(frozen=True, slots=True)
class UploadForm:
    file_id: str
    filename: str
    size: int | None
    document_type: str | None
    description: str | None


@dataclass(frozen=True, slots=True)
class CloseForm:
    close_code: str
    comment: str | None


@dataclass(frozen=True, slots=True)
class ActivateForm:
    welcome_message: str
    partner_reference: str | None
    assigned_user_email: str | None
    interest_fees: Decimal
    reminder_fees: Decimal
    collection_fees: Decimal


@dataclass(frozen=True, slots=True)
class FeesForm:
    principal: Decimal
    interest_fees: Decimal
    reminder_fees: Decimal
    collection_fees: Decimal

    def normalised(self) -> dict[str, str]:
        return _normalise(asdict(self))

    @classmethod
    def from_normalised(cls, data: Mapping[str, str]) -> FeesForm:
        try:
            return cls(
                principal=Decimal(data["principal"]),
                interest_fees=Decimal(data["interest_fees"]),
                reminder_fees=Decimal(data["reminder_fees"]),
                collection_fees=Decimal(data["collection_fees"]),
            )
        except (KeyError, InvalidOperation) as exc:
            raise ValueError(f"malformed pending fees: {exc}") from None


@dataclass(frozen=True, slots=True)
class PickCaseForm:
    ref: str
    note: NoteForm


@dataclass(frozen=True, slots=True)
class PaymentBalance:
    """What the payment form is checked against (from the case when the modal opened)."""

    remainder: Decimal | None = None
    currency: str | None = None


@dataclass(frozen=True, slots=True)
class PaymentsSummary:
    """The case's payments, for the close preconditions."""

    count: int
    total: Decimal
    remainder: Decimal


def _normalise(data: Mapping[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in data.items():
        if value is None:
            out[key] = ""
        elif isinstance(value, bool):
            out[key] = "1" if value else "0"
        elif isinstance(value, Decimal):
            out[key] = str(value.quantize(CENT))
        elif isinstance(value, date):
            out[key] = value.isoformat()
        else:
            out[key] = str(value)
    return out


def form_fingerprint(kind: str, view_id: str, case_id: str, values: Mapping[str, str]) -> str:
    """A stable digest of one submitted form (sha256 hex): the base of derived idempotency keys.

    The same view submitted twice with the same values gives the same digest; another view (a new
    modal) or any changed value gives another.
    """
    payload = json.dumps({"k": kind, "v": view_id, "c": case_id, "f": dict(sorted(values.items()))},
                         sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


# --- reading view state --------------------------------------------------------------------------

StateValues = Mapping[str, Mapping[str, Mapping[str, Any]]]


def element_state(values: StateValues, block: str) -> Mapping[str, Any] | None:
    """The state of the one element in input block `block` (None when the block is absent)."""
    elements = values.get(block)
    if not elements:
        return None
    for state in elements.values():
        return state
    return None


def text_value(values: StateValues, block: str) -> str:
    """A plain_text_input's value, stripped ("" when empty or absent)."""
    state = element_state(values, block)
    raw = state.get("value") if state else None
    return raw.strip() if isinstance(raw, str) else ""


def selected_value(values: StateValues, block: str) -> str | None:
    state = element_state(values, block)
    if not state:
        return None
    option = state.get("selected_option")
    if isinstance(option, Mapping):
        value = option.get("value")
        return value if isinstance(value, str) and value else None
    return None


def selected_values(values: StateValues, block: str) -> set[str]:
    state = element_state(values, block)
    options = state.get("selected_options") if state else None
    if not isinstance(options, list):
        return set()
    return {o["value"] for o in options if isinstance(o, Mapping) and isinstance(o.get("value"), str)}


def _date_value(values: StateValues, block: str) -> str | None:
    state = element_state(values, block)
    raw = state.get("selected_date") if state else None
    return raw if isinstance(raw, str) and raw else None


# --- shared field rules --------------------------------------------------------------------------

_AMOUNT = re.compile(r"^[+-]?\d+(\.\d+)?$")


def parse_amount(raw: str, *, minimum: Decimal = CENT, what: str = "The amount") -> Decimal | str:
    """A money amount typed by a person: digits, an optional dot and at most two decimals.

    Returns the Decimal, or the message to show. Commas are refused rather than guessed ("1,5" is
    1.5 in much of Europe and 15 in English thousands notation).
    """
    text = raw.strip().replace(" ", "").replace("\u00a0", "")
    if not text:
        return f"{what} is required."
    if "," in text:
        return "Use a dot for decimals and no thousands separators, e.g. 1234.50."
    if not _AMOUNT.match(text):
        return "Enter a number such as 250 or 250.00."
    try:
        value = Decimal(text)
    except InvalidOperation:  # pragma: no cover - the regex admits only valid decimals
        return "Enter a number such as 250 or 250.00."
    if abs(value) > MAX_AMOUNT:
        return f"{what} is too large."
    if value != value.quantize(CENT):
        return "At most two decimals (cents), e.g. 12.34."
    if value < minimum:
        return f"{what} must be at least {minimum:.2f}." if minimum > 0 else f"{what} cannot be negative."
    return value.quantize(CENT)


def _parse_not_future_date(raw: str | None, *, today: date) -> date | str | None:
    if raw is None:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        return "Pick a date from the calendar."
    if day > today:
        return "This date is in the future; pick today or an earlier day."
    return day


def _tz(name: str | None, default: tzinfo) -> tzinfo:
    if not name:
        return default
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return default


# --- parsers -------------------------------------------------------------------------------------

def parse_note_form(values: StateValues, *, now: datetime, tz: tzinfo = UTC) -> NoteForm | FormErrors:
    """Note: text (required; up to NOTE_API_MAX over the NOTE_PARTS fields of Slack's 3,000 each, joined
    with line breaks, never cut: over the limit is an error naming it), optional date and time, together
    not in the future.

    `tz` is the user's time zone (Slack profile); a timepicker's own `timezone` wins when present.
    A date without a time means noon that day (or now, if that is earlier); a time without a date
    means today.
    """
    errors = FormErrors()
    parts = [text_value(values, block) for block in NOTE_PARTS]
    text = "\n".join(p for p in parts if p)
    for block, part in zip(NOTE_PARTS, parts, strict=True):
        if len(part) > SLACK_INPUT_MAX:
            errors[block] = f"At most {SLACK_INPUT_MAX:,} characters in one field: go on in the next."
    if not parts[0]:
        errors[Block.NOTE_TEXT] = ("Write the note here first." if text else "Write the note.")
    elif len(text) > NOTE_API_MAX and not errors:
        errors[Block.NOTE_TEXT] = (f"A note holds at most {NOTE_API_MAX:,} characters; these fields hold "
                                   f"{len(text):,} together. Shorten it, or add the rest as a second note.")
    event = _event_time(values, now=now, tz=tz, errors=errors)
    if errors:
        return errors
    return NoteForm(text=text, event_date=event)


def _event_time(values: StateValues, *, now: datetime, tz: tzinfo, errors: FormErrors) -> datetime | None:
    day_raw = _date_value(values, Block.NOTE_DATE)
    time_state = element_state(values, Block.NOTE_TIME)
    time_raw = time_state.get("selected_time") if time_state else None
    if not day_raw and not time_raw:
        return None
    zone = _tz(time_state.get("timezone") if time_state else None, tz)
    local_now = now.astimezone(zone)
    day = local_now.date()
    if day_raw:
        try:
            day = date.fromisoformat(day_raw)
        except ValueError:
            errors[Block.NOTE_DATE] = "Pick a date from the calendar."
            return None
    if day > local_now.date():
        errors[Block.NOTE_DATE] = "The note's date is in the future; pick today or an earlier day."
        return None
    if isinstance(time_raw, str) and time_raw:
        try:
            clock = time.fromisoformat(time_raw)
        except ValueError:
            errors[Block.NOTE_TIME] = "Pick a time from the list."
            return None
        event = datetime.combine(day, clock, tzinfo=zone)
        if event > local_now + timedelta(minutes=1):
            errors[Block.NOTE_TIME] = "This time is in the future; pick an earlier time."
            return None
        event = min(event, local_now)
    else:
        event = min(datetime.combine(day, time(12, 0), tzinfo=zone), local_now)
    return event.astimezone(UTC)


def _parse_split(values: StateValues, amount: Decimal | None, errors: FormErrors
                 ) -> tuple[Decimal | None, Decimal | None]:
    raw_creditor = text_value(values, Block.PAY_PAYOUT_CREDITOR)
    raw_partner = text_value(values, Block.PAY_PAYOUT_PARTNER)
    if not raw_creditor and not raw_partner:
        return None, None
    if not raw_creditor or not raw_partner:
        missing = Block.PAY_PAYOUT_CREDITOR if not raw_creditor else Block.PAY_PAYOUT_PARTNER
        errors[missing] = "Give both payout amounts, or leave both empty to let Debitura split it."
        return None, None
    creditor = parse_amount(raw_creditor, minimum=Decimal(0), what="The creditor's payout")
    partner = parse_amount(raw_partner, minimum=Decimal(0), what="Our payout")
    if isinstance(creditor, str):
        errors[Block.PAY_PAYOUT_CREDITOR] = creditor
    if isinstance(partner, str):
        errors[Block.PAY_PAYOUT_PARTNER] = partner
    if isinstance(creditor, str) or isinstance(partner, str):
        return None, None
    if amount is not None and abs(creditor + partner - amount) > SPLIT_TOLERANCE:
        errors[Block.PAY_PAYOUT_PARTNER] = (
            f"The two payouts add up to {creditor + partner:.2f}; they must add up to the amount, "
            f"{amount:.2f} (within 0.01)."
        )
        return None, None
    return creditor, partner


def _parse_payment_core(values: StateValues, *, today: date, allowed: tuple[Recipient, ...],
                        errors: FormErrors) -> tuple[date | None, Decimal | None, Recipient | None,
                                                     CommissionStatus | None, Decimal | None, Decimal | None]:
    day_raw = _date_value(values, Block.PAY_DATE)
    day: date | None = None
    if day_raw is None:
        errors[Block.PAY_DATE] = "Pick the date the payment was received."
    else:
        parsed_day = _parse_not_future_date(day_raw, today=today)
        if isinstance(parsed_day, str):
            errors[Block.PAY_DATE] = parsed_day
        else:
            day = parsed_day
    amount_or_error = parse_amount(text_value(values, Block.PAY_AMOUNT))
    amount: Decimal | None = None
    if isinstance(amount_or_error, str):
        errors[Block.PAY_AMOUNT] = amount_or_error
    else:
        amount = amount_or_error
    recipient: Recipient | None = None
    raw_recipient = selected_value(values, Block.PAY_RECIPIENT)
    if raw_recipient is None:
        errors[Block.PAY_RECIPIENT] = "Who received the payment?"
    else:
        try:
            recipient = Recipient(raw_recipient)
        except ValueError:
            recipient = None
        if recipient not in allowed:
            errors[Block.PAY_RECIPIENT] = "Pick one of the listed recipients."
            recipient = None
    commission: CommissionStatus | None = None
    raw_commission = selected_value(values, Block.PAY_COMMISSION)
    if raw_commission is not None:
        try:
            commission = CommissionStatus(raw_commission)
        except ValueError:
            errors[Block.PAY_COMMISSION] = "Pick Paid or Unpaid."
    if recipient is Recipient.CREDITOR and commission is None and Block.PAY_COMMISSION not in errors:
        errors[Block.PAY_COMMISSION] = (
            "Required when the creditor received the payment: is our commission paid?")
    if recipient is not None and recipient is not Recipient.CREDITOR:
        commission = None  # the API forces Paid for the other recipients
    creditor, partner = _parse_split(values, amount, errors)
    return day, amount, recipient, commission, creditor, partner


def settles(amount: Decimal, remainder: Decimal | None) -> bool:
    """Whether a payment of `amount` settles a balance of `remainder` (positive balance only)."""
    return remainder is not None and remainder > 0 and amount >= remainder


def parse_payment_form(values: StateValues, *, today: date, balance: PaymentBalance
                       ) -> PaymentForm | FormErrors:
    """Payment: date, amount, recipient, commission (Creditor), optional split, options."""
    errors = FormErrors()
    day, amount, recipient, commission, creditor, partner = _parse_payment_core(
        values, today=today, allowed=tuple(Recipient), errors=errors)
    options = selected_values(values, Block.PAY_OPTIONS)
    close_case = OPTION_CLOSE_CASE in options
    if close_case and amount is not None and not settles(amount, balance.remainder):
        outstanding = "nothing" if balance.remainder is None or balance.remainder <= 0 else (
            f"{balance.remainder:.2f}" + (f" {balance.currency}" if balance.currency else ""))
        errors[Block.PAY_OPTIONS] = (
            f"This payment does not settle the balance ({outstanding} outstanding): untick "
            "\"close the case\", or close it afterwards as partially paid."
        )
    if errors:
        return errors
    assert day is not None and amount is not None and recipient is not None
    return PaymentForm(date=day, amount=amount, recipient=recipient, commission=commission,
                       payout_creditor=creditor, payout_partner=partner, close_case=close_case,
                       follow_up=OPTION_FOLLOW_UP in options)


def parse_payment_edit_form(values: StateValues, *, today: date) -> PaymentEditForm | FormErrors:
    """Payment edit: as a new payment, but only Creditor / CollectionPartner and no options."""
    errors = FormErrors()
    day, amount, recipient, commission, creditor, partner = _parse_payment_core(
        values, today=today, allowed=(Recipient.CREDITOR, Recipient.COLLECTION_PARTNER), errors=errors)
    if errors:
        return errors
    assert day is not None and amount is not None and recipient is not None
    return PaymentEditForm(date=day, amount=amount, recipient=recipient, commission=commission,
                           payout_creditor=creditor, payout_partner=partner)


def parse_reopen_choice(values: StateValues) -> bool:
    """Whether the "reopen the case" box (shown after a 409) is ticked."""
    return OPTION_REOPEN in selected_values(values, Block.PAY_REOPEN)


def parse_chat_form(values: StateValues) -> ChatForm | FormErrors:
    text = text_value(values, Block.CHAT_TEXT)
    if not text:
        return FormErrors({Block.CHAT_TEXT: "Write the message."})
    if len(text) > SLACK_INPUT_MAX:
        return FormErrors({Block.CHAT_TEXT: f"At most {SLACK_INPUT_MAX:,} characters."})
    return ChatForm(text=text)


def upload_extension_ok(filename: str) -> bool:
    return filename.lower().endswith(UPLOAD_EXTENSIONS)


def parse_upload_form(values: StateValues) -> UploadForm | FormErrors:
    """Upload: one file (allowed extension, at most 25 MB), optional type and description (≤500)."""
    errors = FormErrors()
    state = element_state(values, Block.UPLOAD_FILE)
    files = state.get("files") if state else None
    file_id = filename = ""
    size: int | None = None
    if not isinstance(files, list) or not files:
        errors[Block.UPLOAD_FILE] = "Attach the file to upload."
    elif len(files) > 1:
        errors[Block.UPLOAD_FILE] = "Upload one file at a time."
    else:
        info = files[0] if isinstance(files[0], Mapping) else {}
        file_id = str(info.get("id") or "")
        filename = str(info.get("name") or info.get("title") or "")
        raw_size = info.get("size")
        size = raw_size if isinstance(raw_size, int) else None
        if not file_id:
            errors[Block.UPLOAD_FILE] = "Slack did not pass the file on; attach it again."
        else:
            problem = check_upload_file(filename, size)
            if problem:
                errors[Block.UPLOAD_FILE] = problem
    raw_type = selected_value(values, Block.UPLOAD_TYPE)
    document_type: str | None = None
    if raw_type and raw_type != NO_DOCUMENT_TYPE:
        if raw_type not in DOCUMENT_TYPES:
            errors[Block.UPLOAD_TYPE] = "Pick one of the listed document types."
        else:
            document_type = raw_type
    description = text_value(values, Block.UPLOAD_DESCRIPTION) or None
    if description is not None and len(description) > UPLOAD_DESCRIPTION_MAX:
        errors[Block.UPLOAD_DESCRIPTION] = f"At most {UPLOAD_DESCRIPTION_MAX} characters."
    if errors:
        return errors
    return UploadForm(file_id=file_id, filename=filename, size=size, document_type=document_type,
                      description=description)


def check_upload_file(filename: str, size: int | None) -> str | None:
    """Why Debitura would refuse this file (None when it is acceptable)."""
    if not filename:
        return "The file has no name; rename it with one of the allowed extensions."
    if not upload_extension_ok(filename):
        return "Debitura accepts only " + " ".join(UPLOAD_EXTENSIONS) + " files."
    if size is not None and size > UPLOAD_MAX_BYTES:
        return f"The file is {size / 1024 / 1024:.1f} MB; Debitura accepts at most {UPLOAD_MAX_MB} MB."
    if size == 0:
        return "The file is empty."
    return None


def parse_close_form(values: StateValues, *, payments: PaymentsSummary | None = None
                     ) -> CloseForm | FormErrors:
    """Close: a close code, a comment (required for Other, ≤2,000), payment preconditions.

    `payments` (the case's payments when the modal opened) checks Paid / PartiallyPaid before we
    ask Debitura; when unknown, Debitura's own answer is shown instead.
    """
    errors = FormErrors()
    code = selected_value(values, Block.CLOSE_CODE)
    comment = text_value(values, Block.CLOSE_COMMENT) or None
    if code is None:
        errors[Block.CLOSE_CODE] = "Pick why the case is closed."
    elif code not in CLOSE_CODES:
        errors[Block.CLOSE_CODE] = "Pick one of the listed close codes."
    if comment is not None and len(comment) > CLOSE_COMMENT_MAX:
        errors[Block.CLOSE_COMMENT] = f"At most {CLOSE_COMMENT_MAX:,} characters."
    if code == "Other" and comment is None:
        errors[Block.CLOSE_COMMENT] = "Explain the reason: a comment is required with Other."
    if code in ("Paid", "PartiallyPaid") and payments is not None and Block.CLOSE_CODE not in errors:
        problem = close_precondition(code, payments)
        if problem:
            errors[Block.CLOSE_CODE] = problem
    if errors:
        return errors
    assert code is not None
    return CloseForm(close_code=code, comment=comment)


def close_precondition(code: str, payments: PaymentsSummary) -> str | None:
    """Debitura's rule: Paid needs payments covering the balance; PartiallyPaid payments short of it."""
    if code not in ("Paid", "PartiallyPaid"):
        return None
    if payments.count == 0:
        return (f"No payment is recorded on this case, so it cannot close as {CLOSE_CODES[code].lower()}. "
                "Record the payment first.")
    if code == "Paid" and payments.remainder > 0:
        return (f"{payments.remainder:.2f} is still outstanding after {payments.total:.2f} in payments: "
                "record the rest, or close as partially paid.")
    if code == "PartiallyPaid" and payments.remainder <= 0:
        return "The payments cover the whole balance: close it as paid in full."
    return None


def parse_activate_form(values: StateValues, *, user_emails: set[str] | None = None
                        ) -> ActivateForm | FormErrors:
    """Activate: welcome message (required), our reference (≤128), assigned user, three fees (≥0)."""
    errors = FormErrors()
    welcome = text_value(values, Block.ACT_WELCOME)
    if not welcome:
        errors[Block.ACT_WELCOME] = "Write the welcome message the creditor receives."
    elif len(welcome) > min(SLACK_INPUT_MAX, WELCOME_API_MAX):
        errors[Block.ACT_WELCOME] = f"At most {SLACK_INPUT_MAX:,} characters."
    reference = text_value(values, Block.ACT_REFERENCE) or None
    if reference is not None and len(reference) > PARTNER_REFERENCE_MAX:
        errors[Block.ACT_REFERENCE] = f"At most {PARTNER_REFERENCE_MAX} characters."
    assignee = selected_value(values, Block.ACT_ASSIGNEE)
    if assignee is not None and user_emails is not None and assignee.lower() not in user_emails:
        errors[Block.ACT_ASSIGNEE] = "This person is no longer on the Debitura team; pick another."
    fees = _parse_fees(values, errors)
    if errors:
        return errors
    interest, reminder, collection = fees
    assert interest is not None and reminder is not None and collection is not None
    return ActivateForm(welcome_message=welcome, partner_reference=reference, assigned_user_email=assignee,
                        interest_fees=interest, reminder_fees=reminder, collection_fees=collection)


def _parse_fees(values: StateValues, errors: FormErrors) -> tuple[Decimal | None, ...]:
    out: list[Decimal | None] = []
    for block, what in ((Block.FEE_INTEREST, "Interest"), (Block.FEE_REMINDER, "Reminder fees"),
                        (Block.FEE_COLLECTION, "Collection fees")):
        raw = text_value(values, block)
        if not raw:
            out.append(Decimal("0.00"))
            continue
        parsed = parse_amount(raw, minimum=Decimal(0), what=what)
        if isinstance(parsed, str):
            errors[block] = parsed
            out.append(None)
        else:
            out.append(parsed)
    return tuple(out)


def parse_fees_form(values: StateValues) -> FeesForm | FormErrors:
    """Fees: principal (≥0.01) and the three fees (≥0, empty = 0). All four are sent every time."""
    errors = FormErrors()
    principal = parse_amount(text_value(values, Block.FEE_PRINCIPAL), what="The principal")
    if isinstance(principal, str):
        errors[Block.FEE_PRINCIPAL] = principal
    interest, reminder, collection = _parse_fees(values, errors)
    if errors:
        return errors
    assert not isinstance(principal, str)
    assert interest is not None and reminder is not None and collection is not None
    return FeesForm(principal=principal, interest_fees=interest, reminder_fees=reminder,
                    collection_fees=collection)


def parse_pick_case_form(values: StateValues, *, now: datetime, tz: tzinfo = UTC
                         ) -> PickCaseForm | FormErrors:
    """The shortcut's note form used outside a case channel: a case reference plus the note."""
    errors = FormErrors()
    ref = text_value(values, Block.PICK_CASE)
    if not ref:
        errors[Block.PICK_CASE] = "Which case? A Debitura reference such as Q8OAXF3W, or partner:<our ref>."
    elif len(ref) > 200 or any(c.isspace() for c in ref.strip()):
        errors[Block.PICK_CASE] = "One case reference, without spaces (e.g. Q8OAXF3W or partner:4711)."
    note = parse_note_form(values, now=now, tz=tz)
    if isinstance(note, FormErrors):
        errors.update(note)
    if errors:
        return errors
    assert isinstance(note, NoteForm)
    return PickCaseForm(ref=ref, note=note)
