"""Managed cases, test cases and test webhooks (REFERENCE section 1, "test cases"; openapi.yaml tags
ManagedCases, TestCases, TestWebhooks).

* `POST /managed-cases` makes a case with us as managing partner. A test case (`isTest`) is routed
  back to us; a production case goes to the partner named by `collectionPartnerId` (it must cover
  the debtor's country) or, without one, to the first partner covering the debtor's country
  (`COVERAGE`: us first). Either way a case assigned to us is one of our cases (`GET /cases`;
  test cases only with `includeTestCases=true`) and fires `case.assigned`.
* `/managed-cases/...` reads answer for the cases we submitted only (404 otherwise); the payment
  writes work on test cases only (400 for a production case).
* `/test/...` works on cases we collect or submitted, and only on test cases (400 otherwise):
  advance to Active / Closed:Paid / Closed:NoPayment with the timeline items and webhooks of the
  real transitions, hard-delete by id or by tag (all or nothing), replay the last logged event,
  fire any event type with the case's current state (422 when there is nothing to carry).
"""

from __future__ import annotations

import random
import string
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.sandbox import rules
from bot.sandbox.api import (
    CaseRule,
    _int_param,
    _list_param,
    _uuid_list,
    case_page,
    guarded,
    parse_sort,
)
from bot.sandbox.enums import (
    CLOSE_CODE_DISPLAY,
    LIFECYCLE_DISPLAY,
    PAYMENT_LIFECYCLES,
    WEBHOOK_EVENTS,
    parse_lifecycle,
)
from bot.sandbox.http import (
    ApiFail,
    FieldErrors,
    Fields,
    json_body,
    not_found,
    path_uuid,
    query_multi,
    sandbox_of,
)
from bot.sandbox.model import CaseRec, Creditor, PaymentRec, TimelineRec, iso, money, now
from bot.sandbox.seed import COUNTRIES, OTHER_PARTNER_ID, OTHER_PARTNER_NAME, success_fee_for
from bot.sandbox.state import order_cases

if TYPE_CHECKING:
    from bot.sandbox.app import Sandbox

US_COVERAGE = ("DK", "SE", "NO", "DE", "NL")
"""Debtor countries our partner (the sandbox's API key) collects in."""
OTHER_COVERAGE = ("GB", "US", "FR", "DE")
"""Debtor countries the other partner collects in (DE is covered by both: we come first)."""
ADVANCE_TARGETS = ("Active", "Closed:Paid", "Closed:NoPayment")
TEST_ACTOR = "Debitura test tools"

_COUNTRY_BY_NAME = {name.lower(): alpha2 for alpha2, name, _cur, _cities in COUNTRIES}
_NAME_BY_COUNTRY = {alpha2: name for alpha2, name, _cur, _cities in COUNTRIES}


def coverage(sb: Sandbox) -> dict[str, tuple[str, ...]]:
    """Partner id -> the debtor countries it covers, in the order assignment tries them."""
    return {sb.state.partner.id: US_COVERAGE, OTHER_PARTNER_ID: OTHER_COVERAGE}


def partner_name(sb: Sandbox, partner_id: str) -> str:
    return sb.state.partner.company_name if partner_id == sb.state.partner.id else OTHER_PARTNER_NAME


# ---------------------------------------------------------------- create


def _debtor(f: Fields) -> dict[str, Any] | None:
    """The debtor object with its documented rules; field errors go into `f` as debtor.<name>."""
    raw = f.raw("debtor")
    if raw is None:
        f.fail("debtor", "The Debtor field is required.")
        return None
    if not isinstance(raw, dict):
        f.fail("debtor", "The JSON value could not be converted to DebtorDto. Path: $.debtor")
        return None
    d = Fields(raw)
    type_ = d.enum("type", ("Company", "Person"), required=True)
    name = d.string("name", required=True, max_len=200)
    contact = d.string("contactPerson", max_len=200)
    if type_ == "Company" and not (contact or "").strip() and "contactPerson" not in d.errors:
        d.fail("contactPerson", "contactPerson is required for a Company debtor.")
    alpha2 = d.string("countryAlpha2")
    country = d.string("country", max_len=100)
    if alpha2 is not None and (len(alpha2.strip()) != 2 or not alpha2.strip().isalpha()):
        d.fail("countryAlpha2", "countryAlpha2 must be a two-letter ISO 3166-1 code.")
    if not (alpha2 or "").strip() and not (country or "").strip() and "countryAlpha2" not in d.errors:
        d.fail("country", "Either country or countryAlpha2 is required.")
    state_alpha2 = d.string("stateAlpha2", max_len=2)
    is_us = (alpha2 or "").strip().upper() == "US" or (country or "").strip().lower() == "united states"
    if is_us and not (state_alpha2 or "").strip() and "stateAlpha2" not in d.errors:
        d.fail("stateAlpha2", "stateAlpha2 is required for a debtor in the United States.")
    other = {
        key: d.string(key, max_len=256)
        for key in ("companyRegistrationNumber", "address", "zipCode", "city", "state", "email", "phone")
    }
    for key, messages in d.errors.items():
        for message in messages:
            f.fail(f"debtor.{key}", message)
    if d.errors:
        return None
    assert type_ is not None and name is not None
    code = (alpha2 or "").strip().upper() or _COUNTRY_BY_NAME.get((country or "").strip().lower(), "")
    return {
        "type": type_,
        "name": name.strip(),
        "contactPerson": contact,
        "companyRegistrationNumber": other["companyRegistrationNumber"],
        "address": other["address"],
        "zipCode": other["zipCode"],
        "city": other["city"],
        "state": other["state"],
        "stateAlpha2": state_alpha2.strip().upper() if state_alpha2 else None,
        "countryAlpha2": code or None,
        "country": (country or "").strip() or _NAME_BY_COUNTRY.get(code) or None,
        "email": other["email"],
        "phone": other["phone"],
    }


def _assign(sb: Sandbox, jurisdiction: str | None, requested: str | None, is_test: bool) -> str:
    """The collection partner of a new managed case (ApiFail 422 when nobody can take it)."""
    us = sb.state.partner.id
    if is_test:
        if requested is not None and requested != us:
            raise ApiFail(
                422,
                "TestCaseRouting",
                "Test cases are routed back to you: leave collectionPartnerId out or give your own id.",
            )
        return us
    partners = coverage(sb)
    where = jurisdiction or "the debtor's country"
    if requested is not None:
        covered = partners.get(requested)
        if covered is None:
            raise ApiFail(422, "CollectionPartnerNotFound", "No active collection partner has this id.")
        if jurisdiction not in covered:
            raise ApiFail(
                422,
                "NoCoverage",
                f"{partner_name(sb, requested)} does not collect in {where}.",
            )
        return requested
    for partner_id, covered in partners.items():
        if jurisdiction in covered:
            return partner_id
    raise ApiFail(422, "NoPartnerAvailable", f"No collection partner is available for {where}.")


def _new_reference(sb: Sandbox, rng: random.Random) -> str:
    alphabet = string.ascii_uppercase + string.digits
    while True:
        ref = "".join(rng.choice(alphabet) for _ in range(8))
        if ref not in sb.state.by_reference:
            return ref


def _create(sb: Sandbox, data: dict[str, Any]) -> tuple[int, Any]:
    f = Fields(data)
    creditor_name = f.string("creditorCompanyName", required=True, max_len=200)
    creditor_alpha2 = f.string("creditorCountryAlpha2")
    creditor_country = f.string("creditorCountry", max_len=100)
    if creditor_alpha2 is not None and (
        len(creditor_alpha2.strip()) != 2 or not creditor_alpha2.strip().isalpha()
    ):
        f.fail("creditorCountryAlpha2", "creditorCountryAlpha2 must be a two-letter ISO 3166-1 code.")
    if not (creditor_alpha2 or "").strip() and not (creditor_country or "").strip():
        f.fail("creditorCountryAlpha2", "Either CreditorCountryAlpha2 or CreditorCountry is required.")
    currency = f.string("currencyCode", required=True)
    if currency is not None and currency.strip() and not (
        len(currency.strip()) == 3 and currency.strip().isalpha()
    ):
        f.fail("currencyCode", "currencyCode must be a three-letter ISO 4217 code.")
    day = f.day("date", required=True)
    due = f.day("dueDate")
    comments = f.string("comments", max_len=4000)
    claim = f.string("claimDescription", max_len=4000)
    creditor_reference = f.string("creditorReference", max_len=50)
    amount = f.number("amountToRecover", required=True, minimum=0.01)
    is_test = f.boolean("isTest")
    tag = f.string("tag", max_len=100)
    requested = f.uuid("collectionPartnerId")
    debtor = _debtor(f)
    f.check()
    assert creditor_name and currency and day is not None and amount is not None and debtor is not None
    state = sb.state
    partner_id = _assign(sb, debtor["countryAlpha2"], requested, is_test)
    rng = random.Random(uuid.uuid4().int)
    ts = now()
    creditor_code = (creditor_alpha2 or "").strip().upper()
    slug = "".join(ch for ch in creditor_name.lower() if ch.isalnum())[:24] or "creditor"
    creditor = Creditor(
        id=str(uuid.uuid4()),
        company_name=creditor_name.strip(),
        registration="",
        office_email=f"accounts@{slug}.example",
        office_phone="",
        address="",
        city="",
        zip_code="",
        country=(creditor_country or "").strip() or _NAME_BY_COUNTRY.get(creditor_code, creditor_code),
        contact_first="Accounts",
        contact_last="Team",
        contact_int_id=30_000 + len(state.creditors),
    )
    state.creditors[creditor.id] = creditor  # a fresh creditor record every time, as documented
    invoice_day = ts.replace(
        year=day.year, month=day.month, day=day.day, hour=0, minute=0, second=0, microsecond=0
    )
    due_day = (
        invoice_day.replace(year=due.year, month=due.month, day=due.day)
        if due is not None
        else invoice_day + timedelta(days=14)
    )
    case = CaseRec(
        id=str(uuid.uuid4()),
        partner_id=partner_id,
        reference=_new_reference(sb, rng),
        date_created=iso(ts),
        date_updated=iso(ts),
        creditor_id=creditor.id,
        division_id=None,
        creditor_reference=creditor_reference,
        creditor_comments=comments,
        claim_description=claim,
        claim_type="Unpaid Invoice",
        dispute_status=None,
        gross_amount=money(amount),
        interest_fees=0.0,
        reminder_fees=0.0,
        collection_fees=0.0,
        currency=currency.strip().upper(),
        is_test=is_test,
        lifecycle="PendingVerification",
        close_code=None,
        close_comment=None,
        due_date=iso(due_day),
        date=iso(invoice_day),
        date_finished=None,
        date_collection_started=None,
        engagement_phase=None,
        debtor_id=str(uuid.uuid4()),
        debtor=debtor,
        bank_account=None,
        success_fee=success_fee_for(amount),
        intentional_rate=False,
        blended_age_uplift=None,
        needs_info=False,
        validation_items=[],
        creditor_responded_at=None,
        assigned_user_id=None,
        managing_partner_id=state.partner.id,
        tag=tag,
    )
    case.timeline = [
        TimelineRec(iso(ts), "Assignment", "Case submitted",
                    f"Submitted by {state.partner.company_name} as managing partner"
                    + (" (test case)." if is_test else "."),
                    "Partner user", rules.api_actor_name(sb)),
        TimelineRec(iso(ts), "Assignment", "Case assigned",
                    f"Assigned to {partner_name(sb, partner_id)}.", "System", None),
    ]
    state.add_case(case)
    if partner_id == state.partner.id:
        state.emit("case.assigned", case, lifecycle=LIFECYCLE_DISPLAY[case.lifecycle])
    return 200, state.case_json(case)


@guarded
async def create_managed_case(request: Request) -> Response:
    sb = sandbox_of(request)
    key = rules._idempotency_key(request)
    data = await json_body(request)
    return await rules.run_idempotent(
        sb, request, key, rules._fingerprint("managed-cases", data), lambda: _create(sb, data)
    )


# ---------------------------------------------------------------- reads


def _managed_from_path(request: Request) -> CaseRec:
    sb = sandbox_of(request)
    case = sb.state.find_managed(path_uuid(request))
    if case is None:
        raise not_found("Case not found or not submitted by you as managing partner.")
    return sb.state.materialize(case)


@guarded
async def list_managed_cases(request: Request) -> Response:
    sb = sandbox_of(request)
    state = sb.state
    q = query_multi(request)
    page = _int_param(q, "page", 1, minimum=1, maximum=2**31 - 1, label="Page")
    size = _int_param(q, "pagesize", 10, minimum=1, maximum=100, label="PageSize")
    statuses: set[str] | None = None
    raw_statuses = _list_param(q, "statuses")
    if raw_statuses:
        statuses = set()
        for item in raw_statuses:
            name = parse_lifecycle(item)
            if name is None:
                raise FieldErrors({"Statuses": [f"The value '{item}' is not a valid lifecycle."]})
            statuses.add(name)
    ids = _uuid_list(q, "ids", "Ids")
    debtor_ids = _uuid_list(q, "debtorids", "DebtorIds")
    division_ids = _uuid_list(q, "divisionids", "DivisionIds")
    rows = [
        c
        for c in order_cases(state.managed(), parse_sort(q.get("sort", [""])[-1]))
        if (statuses is None or c.lifecycle in statuses)
        and (ids is None or c.id in ids)
        and (debtor_ids is None or c.debtor_id in debtor_ids)
        and (division_ids is None or c.division_id in division_ids)
    ]
    return case_page(state, rows, page, size)


@guarded
async def get_managed_case(request: Request) -> Response:
    case = _managed_from_path(request)
    return Response(sandbox_of(request).state.case_bytes(case), media_type="application/json")


@guarded
async def get_managed_case_by_reference(request: Request) -> Response:
    sb = sandbox_of(request)
    ref = request.path_params["caseReference"].strip()
    if not ref:
        raise FieldErrors({"caseReference": ["The caseReference field is required."]})
    case = sb.state.by_reference.get(ref.upper())
    if case is None or case.managing_partner_id != sb.state.partner.id:
        raise not_found("Reference not found or not submitted by you as managing partner.")
    return JSONResponse(sb.state.case_json(case))


@guarded
async def managed_timeline(request: Request) -> Response:
    sb = sandbox_of(request)
    case = _managed_from_path(request)
    items = sorted(case.timeline, key=lambda t: t.date)
    return JSONResponse(
        {"items": [sb.state.timeline_json(t) for t in items], "currentEngagementPhase": case.engagement_phase}
    )


@guarded
async def managed_chats(request: Request) -> Response:
    sb = sandbox_of(request)
    return JSONResponse([sb.state.chat_json(ch) for ch in _managed_from_path(request).chats])


@guarded
async def managed_payments(request: Request) -> Response:
    sb = sandbox_of(request)
    case = _managed_from_path(request)
    rows = sorted(case.payments, key=lambda p: (p.date, p.date_created), reverse=True)
    return JSONResponse([sb.state.payment_json(case, p) for p in rows])


@guarded
async def managed_files(request: Request) -> Response:
    sb = sandbox_of(request)
    case = _managed_from_path(request)
    return JSONResponse([sb.state.file_json(case, f, sb.file_url(request, case, f)) for f in case.files])


# ---------------------------------------------------------------- payments on managed test cases


def _test_only(case: CaseRec, what: str) -> None:
    if not case.is_test:
        raise ApiFail(
            400,
            "NotATestCase",
            f"{what} only works on test cases (created with isTest: true); this is a production case.",
        )


@guarded
async def create_managed_payment(request: Request) -> Response:
    sb = sandbox_of(request)
    case = _managed_from_path(request)
    f = Fields(await json_body(request))
    day = f.day("date", required=True)
    amount = f.number("paymentAmount", required=True, minimum=0.01)
    close_case = f.boolean("closeCase")
    f.check()
    assert day is not None and amount is not None
    _test_only(case, "Recording a payment as managing partner")
    if case.lifecycle not in PAYMENT_LIFECYCLES:
        raise ApiFail(
            400,
            "InvalidCaseState",
            f"Payments can only be registered on Active, Paused or More Info Required cases; "
            f"this case is {LIFECYCLE_DISPLAY[case.lifecycle]}.",
        )
    if close_case and money(amount) + 0.005 < case.remainder:
        raise ApiFail(
            400,
            "OutstandingBalance",
            f"closeCase needs a payment covering the outstanding {case.remainder:.2f} {case.currency}.",
        )
    payment = _record_payment(sb, case, amount, day_iso=_day_iso(day), recipient="Creditor")
    closed = False
    if close_case:
        rules.set_lifecycle(
            sb, case, "Closed", actor_type="Partner user", actor_name=rules.api_actor_name(sb),
            close_code="Paid",
        )
        closed = True
    return JSONResponse(
        {
            "paymentId": payment.id,
            "caseReference": case.reference,
            "date": payment.date,
            "paymentAmount": payment.amount,
            "caseClosed": closed,
            "remainingAmount": case.remainder,
        }
    )


def _day_iso(day: Any) -> str:
    return iso(now().replace(year=day.year, month=day.month, day=day.day, hour=0, minute=0, second=0,
                             microsecond=0))


def _record_payment(sb: Sandbox, case: CaseRec, amount: float, *, day_iso: str, recipient: str) -> PaymentRec:
    """A payment with its timeline item and `payment.created`. To the creditor: all of it to the
    creditor, commission unpaid (managing-partner test payments); to us: the success-fee split."""
    if recipient == "Creditor":
        payout_creditor, payout_partner, commission = money(amount), 0.0, "Unpaid"
    else:
        partner = money(amount * (case.success_fee or 0.0) / 100)
        payout_creditor, payout_partner, commission = money(amount - partner), partner, "Paid"
    payment = PaymentRec(
        id=str(uuid.uuid4()),
        date_created=iso(now()),
        date_updated=None,
        date=day_iso,
        amount=money(amount),
        recipient=recipient,
        method="BankTransfer",
        commission_status=commission,
        payout_creditor=payout_creditor,
        payout_partner=payout_partner,
    )
    case.payments.append(payment)
    rules.add_timeline(
        case,
        "Payment",
        "Payment registered",
        f"Payment of {amount:.2f} {case.currency} registered ({recipient}).",
        actor_type="Partner user" if recipient == "Creditor" else "System",
        actor_name=rules.api_actor_name(sb) if recipient == "Creditor" else TEST_ACTOR,
    )
    sb.state.touch(case)
    sb.state.emit(
        "payment.created", case, paymentId=payment.id, amount=payment.amount, currency=case.currency
    )
    return payment


def _managed_test_write(rule: CaseRule) -> Any:
    async def endpoint(request: Request) -> Response:
        case = _managed_from_path(request)
        _test_only(case, "Changing a payment as managing partner")
        return await rule(sandbox_of(request), request, case)

    endpoint.__name__ = rule.__name__
    return guarded(endpoint)


update_managed_payment = _managed_test_write(rules.update_payment)
delete_managed_payment = _managed_test_write(rules.delete_payment)


# ---------------------------------------------------------------- test cases


def _owned_from_path(request: Request) -> CaseRec:
    sb = sandbox_of(request)
    case = sb.state.find_owned(path_uuid(request))
    if case is None:
        raise not_found("Case not found or not owned by you.")
    return sb.state.materialize(case)


def advance_state(case: CaseRec) -> str:
    """The advance endpoint's name for where a case is."""
    if case.lifecycle == "Closed":
        return {"Paid": "Closed:Paid", "PreLegalExhaustedNoPayment": "Closed:NoPayment"}.get(
            case.close_code or "", "Closed"
        )
    return case.lifecycle


def _activate(sb: Sandbox, case: CaseRec) -> None:
    rules.set_lifecycle(sb, case, "Active", actor_type="System", actor_name=TEST_ACTOR)
    case.engagement_phase = case.engagement_phase or "Pre-legal"
    rules.add_timeline(
        case, "Activation", "Case activated", "The test case was activated by the test tools.",
        actor_type="System", actor_name=TEST_ACTOR,
    )
    sb.state.touch(case)


@guarded
async def advance_test_case(request: Request) -> Response:
    sb = sandbox_of(request)
    case = _owned_from_path(request)
    f = Fields(await json_body(request))
    target = f.string("to", required=True)
    amount = f.number("amount")
    f.check()
    assert target is not None
    match = next((t for t in ADVANCE_TARGETS if t.lower() == target.strip().lower()), None)
    if match is None:
        raise ApiFail(400, "InvalidTargetState", f"'to' must be one of {', '.join(ADVANCE_TARGETS)}.")
    _test_only(case, "Advancing a case")
    if match == "Closed:Paid" and (amount is None or amount <= 0):
        raise ApiFail(400, "AmountRequired", "Closed:Paid needs a positive amount (the payment to record).")
    current = advance_state(case)
    if current == match or (match == "Active" and case.lifecycle == "Closed"):
        return JSONResponse({"advanced": False, "state": current})
    if case.lifecycle == "Closed":
        raise ApiFail(
            400,
            "AlreadyClosed",
            f"The case is already closed as {current}; it cannot be advanced to {match}.",
        )
    if case.lifecycle == "Merged":
        raise ApiFail(400, "InvalidCaseState", "Merged cases cannot be advanced.")
    if case.lifecycle != "Active":
        _activate(sb, case)
    if match == "Closed:Paid":
        assert amount is not None
        _record_payment(sb, case, amount, day_iso=_day_iso(now().date()), recipient="CollectionPartner")
        rules.set_lifecycle(sb, case, "Closed", actor_type="System", actor_name=TEST_ACTOR, close_code="Paid")
    elif match == "Closed:NoPayment":
        rules.set_lifecycle(
            sb, case, "Closed", actor_type="System", actor_name=TEST_ACTOR,
            close_code="PreLegalExhaustedNoPayment",
        )
    return JSONResponse({"advanced": True, "state": advance_state(case)})


def _hard_delete(sb: Sandbox, case: CaseRec) -> None:
    sb.state.remove_case(case)
    sb.state.deleted_test_ids.add(case.id)
    sb.webhooks.forget_case(case.id)


@guarded
async def delete_test_case(request: Request) -> Response:
    sb = sandbox_of(request)
    case_id = path_uuid(request)
    case = sb.state.find_owned(case_id)
    if case is None:
        if case_id in sb.state.deleted_test_ids:
            return Response(status_code=204)
        raise not_found("Case not found or not owned by you.")
    if not case.is_test:
        raise ApiFail(400, "ProductionCase", "This is a production case; only test cases can be deleted.")
    _hard_delete(sb, case)
    return Response(status_code=204)


@guarded
async def delete_test_cases_by_tag(request: Request) -> Response:
    sb = sandbox_of(request)
    tag = (query_multi(request).get("tag") or [""])[-1]
    if not tag.strip():
        raise ApiFail(400, "TagRequired", "The tag query parameter is required and must not be blank.")
    state = sb.state
    us = state.partner.id
    matched = [
        c for c in state.cases.values()
        if c.tag == tag and (c.managing_partner_id == us or state.visible(c))
    ]
    production = [c.reference for c in matched if not c.is_test]
    if production:
        raise ApiFail(
            400,
            "ProductionCaseInTag",
            f"The tag matches production case(s) {', '.join(sorted(production))}; nothing was deleted.",
        )
    for case in matched:
        _hard_delete(sb, case)
    return Response(status_code=204)


@guarded
async def replay_last_event(request: Request) -> Response:
    sb = sandbox_of(request)
    case = _owned_from_path(request)
    _test_only(case, "Replaying the last event")
    hub = sb.webhooks
    rows = hub.logged_rows(case.id)
    if not rows:
        raise not_found("No webhook events are recorded for this case yet.")
    row = rows[0]
    sub = hub.subs.get(row.subscription_id)
    if sub is None:
        raise ApiFail(400, "SubscriptionDeleted", "The subscription of this event no longer exists.")
    if not sub.is_active:
        raise ApiFail(400, "SubscriptionInactive", "The subscription is disabled; re-enable it first.")
    hub.replay(row)
    return JSONResponse(
        {"eventId": row.id, "subscriptionId": row.subscription_id, "eventType": row.event_type}
    )


def _event_data(case: CaseRec, event: str) -> dict[str, Any]:
    """What `event` carries for the case as it is now (ApiFail 422 when there is nothing)."""
    lifecycle = LIFECYCLE_DISPLAY[case.lifecycle]
    if event == "case.assigned":
        return {"lifecycle": lifecycle}
    if event == "case.updated":
        return {"lifecycle": lifecycle, "oldLifecycle": lifecycle, "newLifecycle": lifecycle}
    if event == "case.closed":
        return {
            "lifecycle": lifecycle,
            "closeCode": CLOSE_CODE_DISPLAY[case.close_code] if case.close_code else None,
            "closeComment": case.close_comment,
        }
    if event == "payment.created":
        if not case.payments:
            raise ApiFail(422, "NoPayments", "The case has no payment for payment.created to carry.")
        payment = max(case.payments, key=lambda p: p.date_created)
        return {"paymentId": payment.id, "amount": payment.amount, "currency": case.currency}
    if event == "payment.deleted":
        if case.last_deleted_payment is None:
            raise ApiFail(422, "NoDeletedPayments", "No payment of this case was deleted yet.")
        return dict(case.last_deleted_payment)
    if not case.chats:
        raise ApiFail(422, "NoChats", "The case has no chat message for chat.created to carry.")
    chat = max(case.chats, key=lambda c: c.date_created)
    return {"chatId": chat.id, "role": chat.role}


@guarded
async def fire_test_webhook(request: Request) -> Response:
    sb = sandbox_of(request)
    f = Fields(await json_body(request))
    event = f.string("event", required=True)
    case_id = f.uuid("caseId")
    if case_id is None and "caseId" not in f.errors:
        f.fail("caseId", "The CaseId field is required.")
    sub_id = f.uuid("subscriptionId")
    f.check()
    assert event is not None and case_id is not None
    if event not in WEBHOOK_EVENTS:
        raise ApiFail(
            400, "InvalidEventType", f"Unknown event type '{event}'. Allowed: {', '.join(WEBHOOK_EVENTS)}."
        )
    case = sb.state.find_owned(case_id)
    if case is None:
        raise not_found("Case not found or not owned by you.")
    sb.state.materialize(case)
    _test_only(case, "Firing a test webhook")
    hub = sb.webhooks
    if sub_id is not None:
        sub = hub.subs.get(sub_id)
        if sub is None or not sub.is_test_mode:
            raise ApiFail(
                400,
                "InvalidSubscription",
                "The subscription is not found, not yours or not a test subscription.",
            )
        targets = [sub] if sub.is_active else []
    else:
        targets = hub.takers(event, True)
    data = _event_data(case, event)
    count = hub.fire(event, case, data, targets)
    return JSONResponse({"eventType": event, "caseId": case.id, "enqueuedCount": count})


def routes() -> list[Route]:
    return [
        Route("/managed-cases", create_managed_case, methods=["POST"]),
        Route("/managed-cases", list_managed_cases, methods=["GET"]),
        Route(
            "/managed-cases/case-reference/{caseReference:path}",
            get_managed_case_by_reference,
            methods=["GET"],
        ),
        Route("/managed-cases/{id}", get_managed_case, methods=["GET"]),
        Route("/managed-cases/{id}/timeline", managed_timeline, methods=["GET"]),
        Route("/managed-cases/{id}/chats", managed_chats, methods=["GET"]),
        Route("/managed-cases/{id}/payments", managed_payments, methods=["GET"]),
        Route("/managed-cases/{id}/payments", create_managed_payment, methods=["POST"]),
        Route("/managed-cases/{id}/payments/{paymentId}", update_managed_payment, methods=["PUT"]),
        Route("/managed-cases/{id}/payments/{paymentId}", delete_managed_payment, methods=["DELETE"]),
        Route("/managed-cases/{id}/files", managed_files, methods=["GET"]),
        Route("/test/cases", delete_test_cases_by_tag, methods=["DELETE"]),
        Route("/test/cases/{id}", delete_test_case, methods=["DELETE"]),
        Route("/test/cases/{id}/advance", advance_test_case, methods=["POST"]),
        Route("/test/cases/{id}/replay-last-event", replay_last_event, methods=["POST"]),
        Route("/test/webhooks/fire", fire_test_webhook, methods=["POST"]),
    ]


