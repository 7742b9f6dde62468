"""The write endpoints and their documented rules (REFERENCE sections 5, 8.10-8.20).

Each function validates the request, checks the case state, applies the change, appends the
timeline items a partner would see, bumps `dateUpdated` and emits webhook events.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.sandbox.enums import (
    CLOSE_CODE_DISPLAY,
    COMMISSION_STATUSES,
    DISPUTED,
    EDIT_PAYMENT_RECIPIENTS,
    LIFECYCLE_DISPLAY,
    MAX_UPLOAD_BYTES,
    PAYMENT_LIFECYCLES,
    PAYMENT_RECIPIENTS,
    SETTABLE_CLOSE_CODES,
    STANDARD_CLAIM_TYPES,
    UPLOAD_DOCUMENT_TYPES,
    UPLOAD_EXTENSIONS,
)
from bot.sandbox.http import ApiFail, FieldErrors, Fields, json_body, not_found, path_uuid
from bot.sandbox.model import (
    CaseRec,
    ChatRec,
    ExclusivePeriodRec,
    FileRec,
    NoteRec,
    PaymentRec,
    TeamUser,
    TimelineRec,
    iso,
    money,
    now,
)
from bot.sandbox.seed import success_fee_for

if TYPE_CHECKING:
    from bot.sandbox.app import Sandbox

IDEMPOTENCY_TTL = 24 * 3600.0
PRICE_GATE_POINTS = 0.1


# ---------------------------------------------------------------- idempotency


@dataclass
class _Stored:
    fingerprint: str
    status: int | None  # None: in flight
    body: Any
    at: float


class Idempotency:
    """Generic (payments) and chat idempotency stores."""

    def __init__(self) -> None:
        self.generic: dict[str, _Stored] = {}
        self.chat: dict[tuple[str, str, str], tuple[str, float]] = {}  # (case, key, body hash) -> chat id

    def reset(self) -> None:
        self.generic.clear()
        self.chat.clear()

    def expire(self) -> None:
        cutoff = time.time() - IDEMPOTENCY_TTL
        for k in [k for k, v in self.generic.items() if v.at < cutoff and v.status is not None]:
            del self.generic[k]
        for ck in [k for k, v in self.chat.items() if v[1] < cutoff]:
            del self.chat[ck]


def _idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not key.strip():
        raise FieldErrors({"Idempotency-Key": ["The Idempotency-Key header must not be empty."]})
    if len(key) > 255:
        raise FieldErrors({"Idempotency-Key": ["The Idempotency-Key header must be at most 255 characters."]})
    return key


def _fingerprint(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


# ---------------------------------------------------------------- helpers


def actor(
    sb: Sandbox, f: Fields, *, email_field: str = "userEmail", id_field: str = "userId"
) -> TeamUser | None:
    """The team member named by userEmail (wins) or userId; None after recording field errors."""
    email = f.email(email_field)
    user_id = f.uuid(id_field)
    if f.errors:
        return None
    if email is not None:
        user = sb.state.user_by_email(email)
    elif user_id is not None:
        user = sb.state.user_by_id(user_id)
    else:
        raise ApiFail(
            400,
            "MissingUserIdentifier",
            "Provide userEmail (or the deprecated userId) of an active member of your team.",
            error="MissingUserIdentifier",
        )
    if user is None:
        raise ApiFail(
            400,
            "MissingUserIdentifier",
            "The given user is not an active member of your team (see GET /users).",
            error="MissingUserIdentifier",
        )
    return user


def add_timeline(
    case: CaseRec,
    type_: str,
    title: str,
    description: str,
    *,
    actor_type: str,
    actor_name: str | None,
    when: str | None = None,
) -> None:
    case.timeline.append(
        TimelineRec(
            date=when or iso(now()),
            type=type_,
            title=title,
            description=description,
            actor_type=actor_type,
            actor_name=actor_name,
        )
    )


def api_actor_name(sb: Sandbox) -> str:
    return f"{sb.state.partner.company_name} (API)"


def set_lifecycle(
    sb: Sandbox,
    case: CaseRec,
    lifecycle: str,
    *,
    actor_type: str,
    actor_name: str | None,
    close_code: str | None = None,
    comment: str | None = None,
) -> None:
    """Change the lifecycle with its timeline item and webhooks (case.updated, case.closed)."""
    old = case.lifecycle
    case.lifecycle = lifecycle
    if lifecycle == "Closed":
        case.close_code = close_code or case.close_code or "Other"
        case.close_comment = comment
        case.date_finished = iso(now())
    else:
        case.close_code = None
        case.close_comment = None
        case.date_finished = None
    if lifecycle == "Active" and case.date_collection_started is None:
        case.date_collection_started = iso(now())
    case.needs_info = lifecycle == "NeedsAdditionalDetails"
    if old != lifecycle:
        add_timeline(
            case,
            "LifecycleChange",
            "Lifecycle changed",
            f"Lifecycle changed from {LIFECYCLE_DISPLAY[old]} to {LIFECYCLE_DISPLAY[lifecycle]}.",
            actor_type=actor_type,
            actor_name=actor_name,
        )
    sb.state.touch(case)
    if old != lifecycle:
        sb.state.emit(
            "case.updated",
            case,
            lifecycle=LIFECYCLE_DISPLAY[lifecycle],
            oldLifecycle=LIFECYCLE_DISPLAY[old],
            newLifecycle=LIFECYCLE_DISPLAY[lifecycle],
        )
    if lifecycle == "Closed" and old != "Closed":
        assert case.close_code is not None
        if case.exclusive_period is not None and case.close_code != "Paid":
            case.exclusive_period.terminated = True
        sb.state.emit(
            "case.closed",
            case,
            lifecycle=LIFECYCLE_DISPLAY[lifecycle],
            closeCode=CLOSE_CODE_DISPLAY[case.close_code],
            closeComment=comment,
        )


def _split(f: Fields, amount: float | None, case: CaseRec) -> tuple[float, float] | None:
    """Explicit payout split (both or neither, summing to the amount within 0.01), None if omitted."""
    creditor = f.number("payoutCreditor", minimum=0)
    partner = f.number("payoutCollectionPartner", minimum=0)
    if (creditor is None) != (partner is None):
        missing = "payoutCollectionPartner" if partner is None else "payoutCreditor"
        if not f.errors:
            raise ApiFail(
                400,
                "InvalidPayoutSplit",
                f"Supply both payoutCreditor and payoutCollectionPartner, or neither ({missing} is missing).",
            )
        return None
    if creditor is None or partner is None or amount is None:
        return None
    if abs(creditor + partner - amount) > 0.01 + 1e-9:
        raise ApiFail(
            400,
            "InvalidPayoutSplit",
            f"payoutCreditor + payoutCollectionPartner ({money(creditor + partner)}) must equal "
            f"paymentAmount ({amount}) within 0.01.",
        )
    return money(creditor), money(partner)


def _default_split(case: CaseRec, amount: float) -> tuple[float, float]:
    partner = money(amount * (case.success_fee or 0.0) / 100)
    return money(amount - partner), partner


def _not_merged(case: CaseRec) -> None:
    if case.lifecycle == "Merged":
        raise ApiFail(400, "InvalidCaseState", "Merged cases are read-only.")


# ---------------------------------------------------------------- chats


async def send_chat(sb: Sandbox, request: Request, case: CaseRec) -> Response:
    key = _idempotency_key(request)
    data = await json_body(request)
    f = Fields(data)
    message = f.string("message", required=True, max_len=10_000, min_len=1)
    user = actor(sb, f)
    f.check()
    assert message is not None and user is not None
    _not_merged(case)
    sb.state.materialize(case)
    sb.idempotency.expire()
    if key is not None:
        body_hash = _fingerprint(data)
        hit = sb.idempotency.chat.get((case.id, key, body_hash))
        if hit is not None:
            existing = next((c for c in case.chats if c.id == hit[0]), None)
            if existing is not None:
                return JSONResponse(sb.state.chat_json(existing))
    chat = post_partner_chat(sb, case, user, message)
    if key is not None:
        sb.idempotency.chat[(case.id, key, _fingerprint(data))] = (chat.id, time.time())
    return JSONResponse(sb.state.chat_json(chat))


def post_chat(
    sb: Sandbox, case: CaseRec, *, role: int, message: str, first: str, last: str, email: str, int_id: int
) -> ChatRec:
    chat = ChatRec(
        id=str(uuid.uuid4()),
        date_created=iso(now()),
        date_updated=None,
        role=role,
        message=message,
        is_seen=False,
        user_int_id=int_id,
        user_first=first,
        user_last=last,
        user_email=email,
    )
    case.chats.append(chat)
    add_timeline(
        case,
        "Communication",
        "Chat message",
        f"{'Creditor' if role == 1 else 'Partner'} wrote a chat message.",
        actor_type="Creditor user" if role == 1 else "Partner user",
        actor_name=f"{first} {last}",
    )
    sb.state.touch(case)
    sb.state.emit("chat.created", case, chatId=chat.id, role=role)
    return chat



def post_partner_chat(sb: Sandbox, case: CaseRec, user: TeamUser, message: str) -> ChatRec:
    """A chat message from a member of the partner's team (role 0)."""
    return post_chat(
        sb, case, role=0, message=message, first=user.first_name, last=user.last_name, email=user.email,
        int_id=user.int_id,
    )


# ---------------------------------------------------------------- payments


async def create_payment(sb: Sandbox, request: Request, case: CaseRec) -> Response:
    key = _idempotency_key(request)
    data = await json_body(request)
    return await run_idempotent(
        sb, request, key, _fingerprint(case.id, data), lambda: _create_payment(sb, case, data)
    )


async def run_idempotent(
    sb: Sandbox,
    request: Request,
    key: str | None,
    fingerprint: str,
    produce: Callable[[], tuple[int, Any]],
) -> Response:
    """The generic Idempotency-Key rules (payments, managed cases, ingestion jobs).

    Scope: partner + key. The same key with the same request replays the stored answer; with
    another request 422 IdempotencyConflict; while the first request with the key runs 409. Only
    answers are stored: a rejected request (400...) leaves the key free for a fixed retry.
    """
    sb.idempotency.expire()
    store_key = None
    if key is not None:
        store_key = f"{sb.state.partner.id}:{key}"
        stored = sb.idempotency.generic.get(store_key)
        if stored is not None:
            if stored.fingerprint != fingerprint:
                raise ApiFail(
                    422,
                    "IdempotencyConflict",
                    "This Idempotency-Key was already used with a different request body.",
                )
            if stored.status is None:
                raise ApiFail(
                    409,
                    "IdempotencyInFlight",
                    "A request with this Idempotency-Key is still being processed; retry shortly.",
                )
            return JSONResponse(stored.body, status_code=stored.status)
        sb.idempotency.generic[store_key] = _Stored(fingerprint, None, None, time.time())
    try:
        hold = sb.hold_seconds(request)
        if hold:
            await asyncio.sleep(hold)
        status, body = produce()
    except BaseException:
        if store_key is not None:
            sb.idempotency.generic.pop(store_key, None)
        raise
    if store_key is not None:
        sb.idempotency.generic[store_key] = _Stored(fingerprint, status, body, time.time())
    return JSONResponse(body, status_code=status)


def _commission_needed_from_creditor(f: Fields, recipient: str | None, commission: str | None) -> None:
    """A payment to the creditor must say whether our commission is paid (create and edit alike)."""
    if recipient == "Creditor" and commission is None and "commissionPaymentStatus" not in f.errors:
        f.fail(
            "commissionPaymentStatus",
            "The commissionPaymentStatus field is required when paymentRecipient is Creditor.",
        )

def _create_payment(sb: Sandbox, case: CaseRec, data: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    f = Fields(data)
    day = f.day("date", required=True)
    amount = f.number("paymentAmount", required=True, minimum=0.01)
    recipient = f.enum("paymentRecipient", PAYMENT_RECIPIENTS, required=True)
    commission = f.enum("commissionPaymentStatus", COMMISSION_STATUSES)
    close_case = f.boolean("closeCase")
    f.boolean("createUnpaidCommissionFollowUp", default=True)
    _commission_needed_from_creditor(f, recipient, commission)
    split = _split(f, amount, case)
    f.check()
    assert day is not None and amount is not None and recipient is not None
    if case.lifecycle not in PAYMENT_LIFECYCLES:
        raise ApiFail(
            400,
            "InvalidCaseState",
            f"Payments can only be registered on Active, Paused or More Info Required cases; "
            f"this case is {LIFECYCLE_DISPLAY[case.lifecycle]}.",
        )
    sb.state.materialize(case)
    warnings: list[str] = []
    before = case.remainder
    if split is None:
        split = _default_split(case, amount)
    elif split[0] <= 0:
        warnings.append("payoutCreditor is 0: the creditor receives nothing from this payment.")
    if before <= 0.005:
        warnings.append("The case already has no outstanding balance.")
    elif amount > before + 0.005:
        warnings.append(f"The payment exceeds the outstanding balance ({before:.2f} {case.currency}).")
    commission_status = commission if recipient == "Creditor" and commission else "Paid"
    ts = now()
    payment = PaymentRec(
        id=str(uuid.uuid4()),
        date_created=iso(ts),
        date_updated=None,
        date=iso(
            ts.replace(year=day.year, month=day.month, day=day.day, hour=0, minute=0, second=0, microsecond=0)
        ),
        amount=money(amount),
        recipient=recipient,
        method="BankTransfer",
        commission_status=commission_status,
        payout_creditor=split[0],
        payout_partner=split[1],
    )
    case.payments.append(payment)
    add_timeline(
        case,
        "Payment",
        "Payment registered",
        f"Payment of {amount:.2f} {case.currency} registered ({recipient}).",
        actor_type="Partner user",
        actor_name=api_actor_name(sb),
    )
    sb.state.touch(case)
    sb.state.emit(
        "payment.created", case, paymentId=payment.id, amount=payment.amount, currency=case.currency
    )
    closed = False
    if close_case:
        if case.raw_remainder <= 0.005:
            set_lifecycle(
                sb,
                case,
                "Closed",
                actor_type="Partner user",
                actor_name=api_actor_name(sb),
                close_code="Paid",
            )
            closed = True
        else:
            warnings.append(
                "closeCase was ignored: the payment does not settle the balance "
                f"({case.remainder:.2f} {case.currency} outstanding). Use POST /close with PartiallyPaid."
            )
    return 200, {
        "paymentId": payment.id,
        "caseReference": case.reference,
        "date": payment.date,
        "paymentAmount": payment.amount,
        "payoutCreditor": split[0],
        "payoutCollectionPartner": split[1],
        "paymentRecipient": recipient,
        "commissionPaymentStatus": commission_status,
        "closeCase": close_case,
        "caseClosed": closed,
        "closeCode": "Paid" if closed else None,
        "remainingAmount": case.remainder,
        "warnings": warnings,
    }


def _payment_from_path(request: Request, case: CaseRec) -> PaymentRec:
    pid = path_uuid(request, "paymentId")
    payment = next((p for p in case.payments if p.id == pid), None)
    if payment is None:
        raise not_found("Payment not found on this case.")
    return payment


def _reopen(sb: Sandbox, case: CaseRec) -> None:
    set_lifecycle(sb, case, "Active", actor_type="Partner user", actor_name=api_actor_name(sb))


async def update_payment(sb: Sandbox, request: Request, case: CaseRec) -> Response:
    payment = _payment_from_path(request, case)
    f = Fields(await json_body(request))
    day = f.day("date", required=True)
    amount = f.number("paymentAmount", required=True, minimum=0.01)
    recipient = f.enum("paymentRecipient", EDIT_PAYMENT_RECIPIENTS, required=True)
    commission = f.enum("commissionPaymentStatus", COMMISSION_STATUSES)
    reopen = f.boolean("reopenCaseIfNeeded")
    _commission_needed_from_creditor(f, recipient, commission)
    split = _split(f, amount, case)
    f.check()
    assert day is not None and amount is not None and recipient is not None
    if case.lifecycle == "Merged":
        raise ApiFail(400, "InvalidCaseState", "Merged cases are read-only.")
    if payment.invoiced:
        raise ApiFail(
            422, "PaymentInvoiced", "The payout of this payment is already invoiced; the payment is frozen."
        )
    sb.state.materialize(case)
    old_amount = payment.amount
    would_reopen = (
        case.lifecycle == "Closed"
        and case.close_code == "Paid"
        and money(case.raw_remainder + old_amount - amount) > 0.005
    )
    if would_reopen and not reopen:
        raise ApiFail(
            409,
            "ReopenRequired",
            "This change leaves a Paid-closed case with a balance; resend with reopenCaseIfNeeded: true.",
        )
    new_split = split or _default_split(case, amount)
    ts = now()
    payment.date = iso(
        ts.replace(year=day.year, month=day.month, day=day.day, hour=0, minute=0, second=0, microsecond=0)
    )
    payment.amount = money(amount)
    payment.recipient = recipient
    payment.commission_status = commission if recipient == "Creditor" and commission else "Paid"
    payment.payout_creditor, payment.payout_partner = new_split
    payment.date_updated = iso(ts)
    add_timeline(
        case,
        "PaymentEdited",
        "Payment changed",
        f"Payment changed from {old_amount:.2f} to {amount:.2f} {case.currency}.",
        actor_type="Partner user",
        actor_name=api_actor_name(sb),
    )
    sb.state.touch(case)
    if would_reopen:
        _reopen(sb, case)
    return JSONResponse(sb.state.payment_json(case, payment))


async def delete_payment(sb: Sandbox, request: Request, case: CaseRec) -> Response:
    payment = _payment_from_path(request, case)
    raw = request.query_params.get("reopenCaseIfNeeded") or request.query_params.get("reopencaseifneeded")
    if raw is not None and raw.strip().lower() not in ("true", "false", "1", "0"):
        raise FieldErrors({"reopenCaseIfNeeded": [f"The value '{raw}' is not valid."]})
    reopen = raw is not None and raw.strip().lower() in ("true", "1")
    if case.lifecycle == "Merged":
        raise ApiFail(400, "InvalidCaseState", "Merged cases are read-only.")
    if payment.invoiced:
        raise ApiFail(
            422, "PaymentInvoiced", "The payout of this payment is already invoiced; the payment is frozen."
        )
    would_reopen = (
        case.lifecycle == "Closed"
        and case.close_code == "Paid"
        and money(case.raw_remainder + payment.amount) > 0.005
    )
    if would_reopen and not reopen:
        raise ApiFail(
            409,
            "ReopenRequired",
            "Deleting this payment leaves a Paid-closed case with a balance; "
            "resend with reopenCaseIfNeeded=true.",
        )
    remove_payment(sb, case, payment, actor_type="Partner user", actor_name=api_actor_name(sb))
    if would_reopen:
        _reopen(sb, case)
    return Response(status_code=204)


def remove_payment(
    sb: Sandbox, case: CaseRec, payment: PaymentRec, *, actor_type: str, actor_name: str | None
) -> None:
    sb.state.materialize(case)
    case.payments.remove(payment)
    case.last_deleted_payment = {"paymentId": payment.id, "amount": payment.amount, "currency": case.currency}
    add_timeline(
        case,
        "PaymentDeleted",
        "Payment deleted",
        f"Payment of {payment.amount:.2f} {case.currency} was deleted.",
        actor_type=actor_type,
        actor_name=actor_name,
    )
    sb.state.touch(case)
    sb.state.emit(
        "payment.deleted", case, paymentId=payment.id, amount=payment.amount, currency=case.currency
    )


# ---------------------------------------------------------------- files


def _form_value(form: Any, name: str) -> Any:
    for key, value in form.multi_items():
        if key.lower() == name.lower():
            return value
    return None


async def upload_file(sb: Sandbox, request: Request, case: CaseRec) -> Response:
    ctype = request.headers.get("content-type", "").lower()
    if not ctype.startswith("multipart/form-data"):
        raise ApiFail(400, "MissingFile", "Send the file as multipart/form-data with a File field.")
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > MAX_UPLOAD_BYTES + 1024 * 1024:
        raise ApiFail(413, "FileTooLarge", "Files may be at most 25 MB.")
    try:
        form = await request.form(max_files=2, max_fields=10)
    except Exception as exc:  # python-multipart raises several types for broken bodies
        raise ApiFail(400, "InvalidMultipart", f"The multipart body could not be read: {exc}") from None
    try:
        upload = _form_value(form, "File")
        doc_type_raw = _form_value(form, "DocumentType")
        description = _form_value(form, "Description")
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise ApiFail(400, "MissingFile", "The File field is required.")
        errors: dict[str, list[str]] = {}
        doc_type = None
        if isinstance(doc_type_raw, str) and doc_type_raw.strip():
            doc_type = next(
                (d for d in UPLOAD_DOCUMENT_TYPES if d.lower() == doc_type_raw.strip().lower()), None
            )
            if doc_type is None:
                errors["DocumentType"] = [f"The value '{doc_type_raw}' is not valid for DocumentType."]
        if description is not None and not isinstance(description, str):
            errors["Description"] = ["Description must be text."]
        elif isinstance(description, str) and len(description) > 500:
            errors["Description"] = ["The field Description must be a string with a maximum length of 500."]
        if errors:
            raise FieldErrors(errors)
        if case.lifecycle == "Merged":
            raise ApiFail(409, "CaseMerged", "Files cannot be uploaded to a Merged case.")
        name = PurePosixPath(upload.filename.replace("\\", "/")).name
        ext = PurePosixPath(name).suffix.lower()
        if ext not in UPLOAD_EXTENSIONS:
            raise ApiFail(
                415,
                "UnsupportedFileType",
                f"Files of type '{ext or '(none)'}' are not allowed. Allowed: "
                + " ".join(sorted(UPLOAD_EXTENSIONS)),
            )
        content = await upload.read(MAX_UPLOAD_BYTES + 1)
        if len(content) > MAX_UPLOAD_BYTES:
            raise ApiFail(413, "FileTooLarge", "Files may be at most 25 MB.")
    finally:
        await form.close()
    sb.state.materialize(case)
    ts = iso(now())
    rec = FileRec(
        id=str(uuid.uuid4()),
        date_created=ts,
        date_updated=ts,
        file_name=name,
        description=description if isinstance(description, str) and description else None,
        document_type=doc_type,
        entity_type="Invoice",
        size=len(content),
        content_b64=base64.b64encode(content).decode(),
    )
    case.files.append(rec)
    add_timeline(
        case,
        "Document",
        "Document uploaded",
        f"{name} was uploaded.",
        actor_type="Partner user",
        actor_name=api_actor_name(sb),
    )
    sb.state.touch(case)
    return JSONResponse(sb.state.file_json(case, rec, sb.file_url(request, case, rec)))


# ---------------------------------------------------------------- notes


async def create_note(sb: Sandbox, request: Request, case: CaseRec) -> Response:
    f = Fields(await json_body(request))
    description = f.string("description", required=True, max_len=10_000)
    event_date = f.timestamp("eventDate")
    if event_date is not None and event_date > now() + timedelta(seconds=5):
        f.fail("eventDate", "The eventDate must not be in the future.")
    f.check()
    assert description is not None
    _not_merged(case)
    sb.state.materialize(case)
    ts = iso(now())
    note = NoteRec(
        id=str(uuid.uuid4()),
        description=description,
        created_at=ts,
        event_date=iso(event_date) if event_date else None,
        user_int_id=sb.state.partner.api_user_id,
        user_name=api_actor_name(sb),
    )
    case.notes.append(note)
    add_timeline(
        case,
        "Note",
        "Note",
        description,
        actor_type="Partner user",
        actor_name=api_actor_name(sb),
        when=note.event_date or ts,
    )
    sb.state.touch(case)
    return JSONResponse(
        {
            "id": note.id,
            "caseReference": case.reference,
            "title": "Note",
            "description": description,
            "visibility": "SharedWithCreditor",
            "createdAt": ts,
            "eventDate": note.event_date,
            "createdBy": {"userId": note.user_int_id, "userName": note.user_name},
        }
    )


# ---------------------------------------------------------------- close


async def close_case(sb: Sandbox, request: Request, case: CaseRec) -> Response:
    f = Fields(await json_body(request))
    code = f.enum("closeCode", SETTABLE_CLOSE_CODES, required=True)
    comment = f.string("comment", max_len=2000)
    f.check()
    assert code is not None
    if case.lifecycle == "Closed":
        raise ApiFail(400, "CaseAlreadyClosed", "The case is already closed.")
    if case.lifecycle == "Merged":
        raise ApiFail(400, "InvalidCaseState", "Merged cases are read-only.")
    if code in ("Paid", "PartiallyPaid") and not case.payments:
        raise ApiFail(400, "PaymentRequired", f"Close code {code} requires at least one registered payment.")
    if code == "Paid" and case.raw_remainder > 0.005:
        raise ApiFail(
            400,
            "OutstandingBalance",
            f"Close code Paid requires payments covering the outstanding amount; "
            f"{case.remainder:.2f} {case.currency} is still outstanding. Use PartiallyPaid.",
        )
    if code == "PartiallyPaid" and case.raw_remainder <= 0.005:
        raise ApiFail(
            400, "NoOutstandingBalance", "Close code PartiallyPaid requires an outstanding balance; use Paid."
        )
    sb.state.materialize(case)
    set_lifecycle(
        sb,
        case,
        "Closed",
        actor_type="Partner user",
        actor_name=api_actor_name(sb),
        close_code=code,
        comment=comment,
    )
    total = case.total_payments
    return JSONResponse(
        {
            "caseReference": case.reference,
            "closeCode": code,
            "closeCodeDescription": CLOSE_CODE_DISPLAY[code],
            "comment": comment,
            "closedAt": case.date_finished,
            "closedBy": {"userId": sb.state.partner.api_user_id, "userName": api_actor_name(sb)},
            "finalOutstandingAmount": case.remainder,
            "totalPayments": total,
            "totalRecovered": total,
        }
    )


# ---------------------------------------------------------------- start


async def start_case(sb: Sandbox, request: Request, case: CaseRec) -> Response:
    f = Fields(await json_body(request))
    welcome = f.string("welcomeMessage", required=True, max_len=5000)
    reference = f.string("collectionPartnerReference", max_len=128)
    fees = {name: f.number(name, minimum=0) for name in ("interestFees", "reminderFees", "collectionFees")}
    assigned_email = f.email("assignedUserEmail")
    assigned_id = f.uuid("assignedUserId")
    user = actor(sb, f)
    f.check()
    assert welcome is not None and user is not None
    if case.lifecycle != "PendingVerification":
        raise ApiFail(
            400,
            "InvalidCaseState",
            "Only Pending Verification cases can be started; "
            f"this case is {LIFECYCLE_DISPLAY[case.lifecycle]}.",
        )
    if case.claim_type not in STANDARD_CLAIM_TYPES or case.dispute_status == DISPUTED:
        raise ApiFail(
            400,
            "CustomTermsRequired",
            "This case needs custom terms (claim type or dispute); agree them in the Partner Portal.",
        )
    assignee = None
    if assigned_email is not None:
        assignee = sb.state.user_by_email(assigned_email)
    elif assigned_id is not None:
        assignee = sb.state.user_by_id(assigned_id)
    if (assigned_email or assigned_id) and assignee is None:
        raise ApiFail(400, "UnknownAssignedUser", "The assigned user is not an active member of your team.")
    if reference:
        other = sb.state.by_partner_ref.get(reference)
        if other is not None and other.id != case.id:
            raise ApiFail(
                400, "DuplicatePartnerReference", "Another case already uses this collectionPartnerReference."
            )
    sb.state.materialize(case)
    case.interest_fees = money(fees["interestFees"] or 0.0)
    case.reminder_fees = money(fees["reminderFees"] or 0.0)
    case.collection_fees = money(fees["collectionFees"] or 0.0)
    if assignee is not None:
        case.assigned_user_id = assignee.id
    if reference:
        sb.state.set_partner_reference(case, reference)
    started = now()
    case.date_collection_started = iso(started)
    case.engagement_phase = "Pre-legal"
    case.exclusive_period = ExclusivePeriodRec(start=iso(started), end=iso(_add_months(started, 6)))
    case.validation_items = []
    set_lifecycle(sb, case, "Active", actor_type="Partner user", actor_name=user.name)
    add_timeline(
        case,
        "Activation",
        "Case started",
        f"{user.name} started collection; welcome message sent to the creditor.",
        actor_type="Partner user",
        actor_name=user.name,
    )
    add_timeline(
        case,
        "ExclusivePeriod",
        "Exclusive collection period started",
        f"Exclusive collection period runs until {case.exclusive_period.end[:10]}.",
        actor_type="System",
        actor_name=None,
    )
    post_partner_chat(sb, case, user, welcome)
    return JSONResponse(
        {
            "caseId": case.id,
            "caseReference": case.reference,
            "status": "Active",
            "activatedAt": iso(started),
            "collectionPartnerReference": case.partner_reference,
        }
    )


def _add_months(dt: Any, months: int) -> Any:
    month = dt.month - 1 + months
    year = dt.year + month // 12
    month = month % 12 + 1
    day = min(
        dt.day,
        [
            31,
            29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28,
            31,
            30,
            31,
            30,
            31,
            31,
            30,
            31,
            30,
            31,
        ][month - 1],
    )
    return dt.replace(year=year, month=month, day=day)


# ---------------------------------------------------------------- fees


async def update_fees(sb: Sandbox, request: Request, case: CaseRec) -> Response:
    f = Fields(await json_body(request))
    gross = f.number("grossAmount", minimum=0)
    interest = f.number("interestFees", minimum=0)
    reminder = f.number("reminderFees", minimum=0)
    collection = f.number("collectionFees", minimum=0)
    confirm = f.boolean("confirmPriceChange")
    keep = f.boolean("keepIntentionalRate")
    f.check()
    if case.lifecycle in ("Closed", "Merged"):
        raise ApiFail(
            400, "InvalidCaseState", f"Fees cannot be changed on {LIFECYCLE_DISPLAY[case.lifecycle]} cases."
        )
    if confirm and case.intentional_rate:
        raise ApiFail(
            400,
            "IntentionalRate",
            "This case has an intentionally set success fee; send keepIntentionalRate instead of "
            "confirmPriceChange.",
        )
    current_fee = case.success_fee
    proposed = success_fee_for(gross) if gross is not None else current_fee
    recalculated: float | None = None
    if gross is not None and proposed is not None:
        moves = current_fee is None or abs(proposed - current_fee) > PRICE_GATE_POINTS + 1e-9
        if moves:
            allowed = keep if case.intentional_rate else confirm
            if not allowed:
                flag = "keepIntentionalRate" if case.intentional_rate else "confirmPriceChange"
                return JSONResponse(
                    {
                        "caseId": case.id,
                        "confirmationRequired": True,
                        "isIntentionalRate": case.intentional_rate,
                        "currentSuccessFee": current_fee,
                        "proposedSuccessFee": proposed,
                        "warning": f"The success fee would change from {current_fee}% to {proposed}%.",
                        "message": f"Nothing was changed. Resend the same request with {flag}: true "
                        "to apply it.",
                    },
                    status_code=409,
                )
        recalculated = current_fee if case.intentional_rate else proposed
    sb.state.materialize(case)
    old = (case.gross_amount, case.interest_fees, case.reminder_fees, case.collection_fees)
    if gross is not None:
        case.gross_amount = money(gross)
        case.success_fee = recalculated
    case.interest_fees = money(interest or 0.0)
    case.reminder_fees = money(reminder or 0.0)
    case.collection_fees = money(collection or 0.0)
    if gross is not None and money(gross) != old[0]:
        add_timeline(
            case,
            "PrincipalChange",
            "Principal changed",
            f"Principal changed from {old[0]:.2f} to {case.gross_amount:.2f} {case.currency}.",
            actor_type="Partner user",
            actor_name=api_actor_name(sb),
        )
    if old[1:] != (case.interest_fees, case.reminder_fees, case.collection_fees):
        add_timeline(
            case,
            "FeeChange",
            "Fees updated",
            f"Fees set to interest {case.interest_fees:.2f}, reminder {case.reminder_fees:.2f}, "
            f"collection {case.collection_fees:.2f} {case.currency}.",
            actor_type="Partner user",
            actor_name=api_actor_name(sb),
        )
    sb.state.touch(case)
    return JSONResponse(
        {
            "caseId": case.id,
            "grossAmount": case.gross_amount,
            "interestFees": case.interest_fees,
            "reminderFees": case.reminder_fees,
            "collectionFees": case.collection_fees,
            "totalAddedFees": case.total_fees,
            "recalculatedSuccessFee": recalculated,
            "remainder": case.remainder,
        }
    )
