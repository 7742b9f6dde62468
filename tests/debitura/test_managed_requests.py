"""Managed cases, test cases, test webhooks and ingestion jobs: the requests the client sends, how it
reads the answers, which writes it repeats (and with which Idempotency-Key), and the error tree."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from bot.debitura.client import DebituraClient
from bot.debitura.errors import (
    BadRequest,
    ClientValidationError,
    NotFound,
    OutcomeUnknown,
    ServerError,
    Unprocessable,
)
from bot.debitura.models import (
    AdvanceTarget,
    CreateIngestionJobRequest,
    CreateManagedCasePaymentRequest,
    CreateManagedCaseRequest,
    FireWebhookRequest,
    IngestionJobRow,
    IngestionJobStatus,
    IngestionRowType,
    Lifecycle,
    ManagedCaseDebtor,
    UpdatePaymentRequest,
)
from tests.debitura import bodies
from tests.debitura.conftest import FakeApi, Sleeps, body_json, query
from tests.debitura.test_client_requests import assert_request

CID = bodies.CASE_ID
PARTNER_ID = "2b7e8a44-1c3d-4e5f-8a9b-0c1d2e3f4a5b"


def managed_request(**overrides: Any) -> CreateManagedCaseRequest:
    fields: dict[str, Any] = {
        "creditor_company_name": "Fjord Supplies ApS",
        "creditor_country_alpha2": "DK",
        "currency_code": "DKK",
        "date": date(2026, 1, 15),
        "debtor": ManagedCaseDebtor(type="Person", name="Eva Lund", country_alpha2="SE"),
        "amount_to_recover": Decimal("1000.50"),
        "is_test": True,
        "tag": "smoke-7",
        "collection_partner_id": PARTNER_ID,
    }
    fields.update(overrides)
    return CreateManagedCaseRequest(**fields)


def api_error(kind: str, message: str = "no") -> dict[str, Any]:
    return {"error": kind, "message": message, "businessErrors": [{"type": kind, "message": message}]}


# ---------------------------------------------------------------- managed cases


async def test_create_managed_case_sends_the_body_and_an_idempotency_key(
    client: DebituraClient, api: FakeApi
) -> None:
    api.json(bodies.case(isTestCase=True, unknownField=1))
    case = await client.create_managed_case(managed_request(), idempotency_key="smoke-run-1")
    assert_request(api.last, "POST", "/managed-cases")
    assert api.last.headers["Idempotency-Key"] == "smoke-run-1"
    assert body_json(api.last) == {
        "creditorCompanyName": "Fjord Supplies ApS",
        "creditorCountryAlpha2": "DK",
        "currencyCode": "DKK",
        "date": "2026-01-15",
        "debtor": {"type": "Person", "name": "Eva Lund", "countryAlpha2": "SE"},
        "amountToRecover": 1000.5,
        "isTest": True,
        "tag": "smoke-7",
        "collectionPartnerId": PARTNER_ID,
    }
    assert case.id == CID and case.is_test_case is True and case.model_extra == {"unknownField": 1}


async def test_create_managed_case_retries_a_5xx_with_the_same_key(
    client: DebituraClient, api: FakeApi, sleeps: Sleeps
) -> None:
    api.json(api_error("InternalServerError"), status=503)
    api.reply(httpx.ConnectError("reset"))
    api.json(bodies.case())
    await client.create_managed_case(managed_request())
    keys = [r.headers["Idempotency-Key"] for r in api.requests]
    assert len(keys) == 3 and len(set(keys)) == 1 and keys[0]
    assert len(sleeps.waits) == 2


async def test_create_managed_case_rejections(client: DebituraClient, api: FakeApi) -> None:
    api.json(api_error("NoPartnerAvailable", "No collection partner is available for JP."), status=422)
    with pytest.raises(Unprocessable) as info:
        await client.create_managed_case(managed_request(is_test=False, collection_partner_id=None))
    assert info.value.has_business_error("NoPartnerAvailable") and "JP" in info.value.detail_text()
    api.json({"debtor.contactPerson": ["contactPerson is required for a Company debtor."]}, status=400)
    with pytest.raises(BadRequest) as bad:
        await client.create_managed_case(managed_request())
    assert "debtor.contactPerson" in bad.value.field_errors


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"creditor_country_alpha2": None}, "creditor_country"),
        ({"amount_to_recover": Decimal("0")}, "amount_to_recover"),
        ({"tag": "t" * 101}, "tag"),
        ({"collection_partner_id": "ourselves"}, "GUID"),
        ({"comments": "c" * 4001}, "comments"),
        ({"creditor_reference": "r" * 51}, "creditor_reference"),
    ],
)
def test_managed_case_request_checks_the_documented_rules(overrides: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        managed_request(**overrides)


@pytest.mark.parametrize(
    ("debtor", "problem"),
    [
        ({"type": "Company", "name": "Desk AB", "country_alpha2": "SE"}, "contact_person"),
        ({"type": "Person", "name": "Eva Lund"}, "country"),
        ({"type": "Person", "name": "Ann Lee", "country_alpha2": "US"}, "state_alpha2"),
        ({"type": "Private", "name": "Eva Lund", "country_alpha2": "SE"}, "type"),
        ({"type": "Person", "name": "  ", "country_alpha2": "SE"}, "name"),
    ],
)
def test_debtor_rules(debtor: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        ManagedCaseDebtor(**debtor)


def test_a_us_debtor_with_a_state_and_a_datetime_date_are_fine() -> None:
    request = managed_request(
        date=datetime(2026, 1, 15, 13, 0, tzinfo=UTC),
        debtor=ManagedCaseDebtor(type="Person", name="Ann Lee", country_alpha2="US", state_alpha2="CA"),
    )
    assert request.to_dict()["date"] == "2026-01-15" and request.to_dict()["debtor"]["stateAlpha2"] == "CA"


async def test_list_and_iterate_managed_cases(client: DebituraClient, api: FakeApi) -> None:
    api.json({"page": bodies.page(1, 2, 1, 1, 2), "cases": [bodies.case()]})
    api.json({"page": bodies.page(2, 2, 1, 1, 2), "cases": [bodies.case(id=bodies.PAYMENT_ID)]})
    seen = [c.id async for c in client.iter_managed_cases(page_size=1, statuses=[Lifecycle.Active, "Closed"])]
    assert seen == [CID, bodies.PAYMENT_ID]
    assert_request(
        api.requests[1], "GET", "/managed-cases",
        [("Page", "2"), ("PageSize", "1"), ("Statuses", "Active"), ("Statuses", "Closed")],
    )
    api.json({"page": bodies.page(1, 1, 10, 0, 0), "cases": None})
    page = await client.list_managed_cases(page_size=10, sort="DateCreated:desc", ids=[CID])
    assert page.cases == [] and query(api.last)[-2:] == [("Sort", "DateCreated:desc"), ("Ids", CID)]
    with pytest.raises(ClientValidationError):
        await client.list_managed_cases(ids=["not-a-guid"])
    with pytest.raises(ClientValidationError):
        await client.list_managed_cases(page_size=101)


async def test_managed_case_reads(client: DebituraClient, api: FakeApi) -> None:
    api.json(bodies.case())
    assert (await client.get_managed_case(CID)).id == CID
    assert_request(api.last, "GET", f"/managed-cases/{CID}")
    api.json(bodies.case())
    await client.get_managed_case_by_reference(" Q8OAXF3W ")
    assert_request(api.last, "GET", "/managed-cases/case-reference/Q8OAXF3W")
    api.json(bodies.TIMELINE)
    timeline = await client.get_managed_case_timeline(CID)
    assert timeline.items and api.last.url.path == f"/managed-cases/{CID}/timeline"
    api.json([bodies.CHAT])
    assert len(await client.list_managed_case_chats(CID)) == 1
    assert api.last.url.path == f"/managed-cases/{CID}/chats"
    api.json([bodies.PAYMENT])
    assert (await client.list_managed_case_payments(CID))[0].id == bodies.PAYMENT_ID
    api.json([bodies.CASE_FILE])
    assert len(await client.list_managed_case_files(CID)) == 1
    assert api.last.url.path == f"/managed-cases/{CID}/files"
    api.json(api_error("NotFound", "Case not found or not submitted by you as managing partner."), status=404)
    with pytest.raises(NotFound) as info:
        await client.get_managed_case(CID)
    assert info.value.case_id == CID and "Managed case" in str(info.value)
    with pytest.raises(ClientValidationError):
        await client.get_managed_case_by_reference("../cases")
    with pytest.raises(ClientValidationError):
        await client.get_managed_case("..")


async def test_managed_case_payment_writes(client: DebituraClient, api: FakeApi) -> None:
    api.json(bodies.MANAGED_PAYMENT_RESPONSE)
    made = await client.create_managed_case_payment(
        CID, CreateManagedCasePaymentRequest(date=date(2026, 1, 15), payment_amount=Decimal("250.50"))
    )
    assert_request(api.last, "POST", f"/managed-cases/{CID}/payments")
    assert body_json(api.last) == {"date": "2026-01-15", "paymentAmount": 250.5, "closeCase": False}
    assert "Idempotency-Key" not in api.last.headers  # the operation takes none
    assert made.remaining_amount == Decimal("749.5") and made.case_closed is False
    api.json(bodies.PAYMENT)
    edit = UpdatePaymentRequest(
        date=date(2026, 1, 16), payment_amount=Decimal("300"), payment_recipient="Creditor",
        commission_payment_status="Unpaid",
    )
    await client.update_managed_case_payment(CID, bodies.PAYMENT_ID, edit)
    assert_request(api.last, "PUT", f"/managed-cases/{CID}/payments/{bodies.PAYMENT_ID}")
    api.reply(httpx.Response(204))
    await client.delete_managed_case_payment(CID, bodies.PAYMENT_ID, reopen_case_if_needed=True)
    assert_request(
        api.last, "DELETE", f"/managed-cases/{CID}/payments/{bodies.PAYMENT_ID}",
        [("reopenCaseIfNeeded", "true")],
    )
    api.json(api_error("NotATestCase", "Recording a payment only works on test cases."), status=400)
    with pytest.raises(BadRequest) as info:
        await client.create_managed_case_payment(
            CID, CreateManagedCasePaymentRequest(date=date(2026, 1, 15), payment_amount=Decimal("1"))
        )
    assert info.value.has_business_error("NotATestCase")


async def test_a_managed_payment_whose_outcome_is_unknown_is_not_repeated(
    client: DebituraClient, api: FakeApi
) -> None:
    api.json(api_error("InternalServerError"), status=502)
    with pytest.raises(OutcomeUnknown) as info:
        await client.create_managed_case_payment(
            CID, CreateManagedCasePaymentRequest(date=date(2026, 1, 15), payment_amount=Decimal("1"))
        )
    assert info.value.operation == "create_managed_case_payment" and len(api.requests) == 1


# ---------------------------------------------------------------- test cases and test webhooks


async def test_advance_test_case(client: DebituraClient, api: FakeApi, sleeps: Sleeps) -> None:
    api.json(bodies.ADVANCED)
    result = await client.advance_test_case(CID, AdvanceTarget.CLOSED_PAID, amount=Decimal("1000.00"))
    assert_request(api.last, "POST", f"/test/cases/{CID}/advance")
    assert body_json(api.last) == {"to": "Closed:Paid", "amount": 1000}
    assert result.advanced is True and result.state == "Closed:Paid"
    # repeatable: a 503 is retried (an advance that did happen answers advanced=false the second time)
    api.json(api_error("InternalServerError"), status=503)
    api.json({"advanced": False, "state": "Active"})
    again = await client.advance_test_case(CID, "Active")
    assert again.advanced is False and body_json(api.last) == {"to": "Active"} and len(sleeps.waits) == 1
    with pytest.raises(ClientValidationError):
        await client.advance_test_case(CID, "Closed:Paid")  # no amount
    with pytest.raises(ClientValidationError):
        await client.advance_test_case(CID, "Paused")
    api.json(api_error("NotATestCase", "Advancing a case only works on test cases."), status=400)
    with pytest.raises(BadRequest) as info:
        await client.advance_test_case(CID, AdvanceTarget.ACTIVE)
    assert info.value.has_business_error("NotATestCase")


async def test_delete_test_cases(client: DebituraClient, api: FakeApi, sleeps: Sleeps) -> None:
    api.json(api_error("InternalServerError"), status=500)
    api.reply(httpx.Response(204))
    await client.delete_test_case(CID)  # safe to repeat: deleting twice is a 204
    assert_request(api.last, "DELETE", f"/test/cases/{CID}")
    assert len(api.requests) == 2
    api.reply(httpx.Response(204))
    await client.delete_test_cases_by_tag("suite-run 42&x")
    assert_request(api.last, "DELETE", "/test/cases", [("tag", "suite-run 42&x")])
    api.json(api_error("ProductionCaseInTag", "The tag matches production case(s) Q8OAXF3W."), status=400)
    with pytest.raises(BadRequest) as info:
        await client.delete_test_cases_by_tag("mixed")
    assert info.value.has_business_error("ProductionCaseInTag")
    for bad in ("", "   ", "t" * 101, "a\nb"):
        with pytest.raises(ClientValidationError):
            await client.delete_test_cases_by_tag(bad)


async def test_replay_last_event_and_fire(client: DebituraClient, api: FakeApi) -> None:
    api.json(bodies.REPLAYED_LAST)
    replayed = await client.replay_test_case_last_event(CID)
    assert_request(api.last, "POST", f"/test/cases/{CID}/replay-last-event")
    assert replayed.event_id == bodies.EVENT_ID and replayed.event_type == "case.updated"
    api.json(bodies.FIRED)
    fired = await client.fire_test_webhook(FireWebhookRequest(event="payment.created", case_id=CID))
    assert_request(api.last, "POST", "/test/webhooks/fire")
    assert body_json(api.last) == {"event": "payment.created", "caseId": CID}
    assert fired.enqueued_count == 1 and fired.case_id == CID
    api.json(api_error("NoPayments", "The case has no payment for payment.created to carry."), status=422)
    with pytest.raises(Unprocessable) as info:
        await client.fire_test_webhook(FireWebhookRequest(event="payment.created", case_id=CID))
    assert info.value.has_business_error("NoPayments")
    api.json(api_error("InternalServerError"), status=500)
    with pytest.raises(OutcomeUnknown):  # a fire is not repeated blindly: it would deliver twice
        await client.fire_test_webhook(FireWebhookRequest(event="case.updated", case_id=CID))
    api.json({}, status=404)
    with pytest.raises(NotFound):
        await client.replay_test_case_last_event(CID)
    with pytest.raises(ValidationError):
        FireWebhookRequest(event="case.updated", case_id="Q8OAXF3W")


# ---------------------------------------------------------------- ingestion jobs


async def test_ingestion_job_create_and_poll(client: DebituraClient, api: FakeApi, sleeps: Sleeps) -> None:
    request = CreateIngestionJobRequest(
        rows=[
            IngestionJobRow(case_id=CID, description="Called the debtor", external_ref="crm-1",
                            event_date=datetime(2026, 1, 15, 9, 30, tzinfo=UTC)),
            IngestionJobRow(case_id=CID, description="Letter sent"),
        ]
    )
    api.json(api_error("InternalServerError"), status=503)
    api.json(bodies.JOB_CREATED, status=202)
    created = await client.create_ingestion_job(request, idempotency_key="notes-2026-01-15")
    assert [r.headers["Idempotency-Key"] for r in api.requests] == ["notes-2026-01-15"] * 2
    assert_request(api.last, "POST", "/ingestion-jobs")
    assert body_json(api.last) == {
        "rows": [
            {"type": 0, "caseId": CID, "description": "Called the debtor",
             "eventDate": "2026-01-15T09:30:00Z", "externalRef": "crm-1"},
            {"type": 0, "caseId": CID, "description": "Letter sent"},
        ]
    }
    assert created.job_id == bodies.JOB_ID and created.rows_queued == 2
    api.json({"status": 1, "rowsTotal": 2, "rowsSucceeded": 1, "rowsFailed": 0})
    running = await client.get_ingestion_job(bodies.JOB_ID)
    assert_request(api.last, "GET", f"/ingestion-jobs/{bodies.JOB_ID}")
    assert running.status is IngestionJobStatus.RUNNING and not running.finished
    api.json(bodies.JOB_STATUS)
    done = await client.get_ingestion_job(bodies.JOB_ID)
    assert done.status is IngestionJobStatus.COMPLETED and done.finished and done.rows_failed == 1
    api.json({"status": 9, "rowsTotal": 1, "rowsSucceeded": 1, "rowsFailed": 0})
    odd = await client.get_ingestion_job(bodies.JOB_ID)
    assert odd.status == 9 and odd.finished  # an unknown status is kept; the counts still tell
    api.json(api_error("NotFound", "Job not found or not yours."), status=404)
    with pytest.raises(NotFound):
        await client.get_ingestion_job(bodies.JOB_ID)
    with pytest.raises(ClientValidationError):
        await client.get_ingestion_job("../me")


def test_ingestion_rows_are_checked_before_sending() -> None:
    with pytest.raises(ValidationError):
        CreateIngestionJobRequest(rows=[])
    with pytest.raises(ValidationError, match="description"):
        IngestionJobRow(case_id=CID, description="  ")
    with pytest.raises(ValidationError, match="GUID"):
        IngestionJobRow(case_id="42", description="x")
    with pytest.raises(ValidationError, match="time zone"):
        IngestionJobRow(case_id=CID, description="x", event_date=datetime(2026, 1, 1))
    with pytest.raises(ValidationError):
        CreateIngestionJobRequest(rows=[IngestionJobRow(case_id=CID, description="x")] * 1001)
    assert IngestionJobRow(case_id=CID, description="x").type is IngestionRowType.NOTE


async def test_a_server_error_on_a_read_is_retried_then_raised(
    client: DebituraClient, api: FakeApi, sleeps: Sleeps
) -> None:
    for _ in range(4):
        api.json(api_error("InternalServerError"), status=500)
    with pytest.raises(ServerError):
        await client.list_managed_case_chats(CID)
    assert len(api.requests) == 4 and len(sleeps.waits) == 3
