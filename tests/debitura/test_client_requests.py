"""Every client operation: the request it sends and how it reads the documented response."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import httpx
import pytest

from bot.debitura.client import DebituraClient
from bot.debitura.errors import ClientValidationError, Conflict, UnexpectedResponse
from bot.debitura.models import (
    ChatRole,
    CloseCaseRequest,
    CloseCode,
    CreateNoteRequest,
    CreatePaymentRequest,
    CreateWebhookRequest,
    Lifecycle,
    PriceChangeRequired,
    SendChatRequest,
    StartCaseRequest,
    UpdateFeesRequest,
    UpdateFeesResponse,
    UpdatePaymentRequest,
    UpdateWebhookRequest,
    UploadDocumentType,
)
from bot.debitura.ratelimit import UnlimitedLimiter
from tests.debitura import bodies
from tests.debitura.conftest import API_KEY, FakeApi, body_json, multipart, query

CID = bodies.CASE_ID


def assert_request(
    request: httpx.Request, method: str, path: str, params: list[tuple[str, str]] | None = None
) -> None:
    assert request.method == method
    assert request.url.raw_path.split(b"?")[0].decode() == path
    assert query(request) == (params or [])
    assert request.headers["XApiKey"] == API_KEY
    assert request.url.host == "collectionpartner-api.test"


async def test_me(client: DebituraClient, api: FakeApi) -> None:
    api.json(bodies.ME)
    me = await client.me()
    assert_request(api.last, "GET", "/me")
    assert me.company_name == "Acme Collections A/S"
    assert me.invoice_currency == 3
    assert me.pre_legal_revenue_share == Decimal("0.4")
    assert me.verified_profile is True


async def test_list_users_sends_paging(client: DebituraClient, api: FakeApi) -> None:
    api.json(bodies.USERS_PAGE_1)
    page = await client.list_users(page=1, page_size=2)
    assert_request(api.last, "GET", "/users", [("Page", "1"), ("PageSize", "2")])
    assert [u.email for u in page.users] == ["mia@acme.example", "lars@acme.example"]
    assert page.page is not None and page.page.total_pages == 2


async def test_iter_users_and_all_users_read_every_page(client: DebituraClient, api: FakeApi) -> None:
    api.json(bodies.USERS_PAGE_1)
    api.json(bodies.USERS_PAGE_2)
    users = await client.all_users(page_size=2)
    assert [u.name for u in users] == ["Mia Jensen", "Lars Holm", "Ida Berg"]
    assert [query(r) for r in api.requests] == [
        [("Page", "1"), ("PageSize", "2")],
        [("Page", "2"), ("PageSize", "2")],
    ]


async def test_list_cases_sends_every_filter_as_repeated_keys(client: DebituraClient, api: FakeApi) -> None:
    api.json({"page": bodies.page(1, 1, 100, 1, 1), "cases": [bodies.case()]})
    result = await client.list_cases(
        page=1,
        page_size=100,
        statuses=[Lifecycle.Active, "More Info Required", "paused"],
        sort="DateUpdated:desc",
        ids=[CID, bodies.CASE_ID_2],
        debtor_ids=["d1"],
        division_ids=["v1", "v2"],
        include_test_cases=True,
    )
    assert_request(
        api.last,
        "GET",
        "/cases",
        [
            ("Page", "1"),
            ("PageSize", "100"),
            ("Statuses", "Active"),
            ("Statuses", "NeedsAdditionalDetails"),
            ("Statuses", "Paused"),
            ("Sort", "DateUpdated:desc"),
            ("Ids", CID),
            ("Ids", bodies.CASE_ID_2),
            ("DebtorIds", "d1"),
            ("DivisionIds", "v1"),
            ("DivisionIds", "v2"),
            ("includeTestCases", "true"),
        ],
    )
    (case,) = result.cases
    assert case.reference == "Q8OAXF3W"
    assert case.lifecycle is not None and case.lifecycle.name is Lifecycle.NeedsAdditionalDetails
    assert case.lifecycle.display == "More Info Required"
    assert case.gross_amount == Decimal("1250.5")
    assert case.remainder == Decimal("1335.75")
    assert case.creditor is not None and case.creditor.id == bodies.CREDITOR_ID
    assert case.debtor is not None and case.debtor.country_alpha2 == "DE"
    assert case.assigned_user is not None and case.assigned_user.email == "mia@acme.example"
    assert case.needs_info is True


async def test_list_cases_defaults_leave_out_optional_filters(client: DebituraClient, api: FakeApi) -> None:
    api.json({"page": bodies.page(1, 0, 100, 0, 0), "cases": []})
    result = await client.list_cases()
    assert query(api.last) == [("Page", "1"), ("PageSize", "100")]
    assert result.cases == []


async def test_list_cases_tolerates_page_data_key(client: DebituraClient, api: FakeApi) -> None:
    api.json({"pageData": bodies.page(3, 4, 10, 10, 40), "cases": None})
    result = await client.list_cases(page=3, page_size=10)
    assert result.page is not None and result.page.current_page == 3
    assert result.cases == []


async def test_iter_cases_walks_all_pages_with_the_same_filters(client: DebituraClient, api: FakeApi) -> None:
    api.json({"page": bodies.page(1, 2, 1, 1, 2), "cases": [bodies.case()]})
    api.json({"page": bodies.page(2, 2, 1, 1, 2), "cases": [bodies.case(id=bodies.CASE_ID_2)]})
    ids = [c.id async for c in client.iter_cases(page_size=1, statuses=["Active"], sort="DateUpdated:desc")]
    assert ids == [CID, bodies.CASE_ID_2]
    assert [query(r) for r in api.requests] == [
        [("Page", "1"), ("PageSize", "1"), ("Statuses", "Active"), ("Sort", "DateUpdated:desc")],
        [("Page", "2"), ("PageSize", "1"), ("Statuses", "Active"), ("Sort", "DateUpdated:desc")],
    ]


async def test_iter_cases_stops_on_short_page_without_page_data(client: DebituraClient, api: FakeApi) -> None:
    api.json({"page": None, "cases": [bodies.case()]})
    assert len([c async for c in client.iter_cases(page_size=5)]) == 1
    assert len(api.requests) == 1


@pytest.mark.parametrize(("page", "size"), [(0, 10), (1, 0), (1, 101)])
async def test_paging_arguments_are_checked_before_sending(
    client: DebituraClient, api: FakeApi, page: int, size: int
) -> None:
    with pytest.raises(ClientValidationError):
        await client.list_cases(page=page, page_size=size)
    assert api.requests == []


async def test_get_case(client: DebituraClient, api: FakeApi) -> None:
    api.json(bodies.case(closeCode="Disputed \u2013 Legal Action Declined by Client", lifecycle="Closed"))
    case = await client.get_case(CID)
    assert_request(api.last, "GET", f"/cases/{CID}")
    assert case.lifecycle == Lifecycle.Closed
    assert (
        case.close_code is not None and case.close_code.name is CloseCode.DisputedLegalActionDeclinedByClient
    )


async def test_get_case_by_reference(client: DebituraClient, api: FakeApi) -> None:
    api.json(bodies.case())
    case = await client.get_case_by_reference("Q8OAXF3W")
    assert_request(api.last, "GET", "/cases/case-reference/Q8OAXF3W")
    assert case.id == CID


async def test_get_case_by_partner_reference_encodes_the_whole_reference(
    client: DebituraClient, api: FakeApi
) -> None:
    api.json(bodies.case())
    await client.get_case_by_partner_reference("112179442 & 112179443?y#z%.x")
    assert_request(api.last, "GET", "/cases/by-partner-reference/112179442%20%26%20112179443%3Fy%23z%25.x")


async def test_batch_partner_references_are_chunked_by_100_and_merged(
    client: DebituraClient, api: FakeApi
) -> None:
    refs = [f"REF-{i}" for i in range(205)]
    api.json({"REF-0": bodies.case()})
    api.json({})
    api.json({"REF-204": bodies.case(id=bodies.CASE_ID_2)})
    found = await client.get_cases_by_partner_references([*refs, "REF-0", ""])
    assert len(api.requests) == 3
    chunks = [dict(query(r))["references"].split(",") for r in api.requests]
    assert [len(c) for c in chunks] == [100, 100, 5]
    assert chunks[0][0] == "REF-0" and chunks[2][-1] == "REF-204"
    for r in api.requests:
        assert_request(r, "GET", "/cases/by-partner-reference", query(r))
    assert set(found) == {"REF-0", "REF-204"}
    assert found["REF-204"].id == bodies.CASE_ID_2


async def test_batch_reference_with_comma_is_looked_up_alone(client: DebituraClient, api: FakeApi) -> None:
    api.json({"A": bodies.case()})
    api.json(bodies.case(id=bodies.CASE_ID_2))
    found = await client.get_cases_by_partner_references(["A", "B,C"])
    assert query(api.requests[0]) == [("references", "A")]
    assert_request(api.requests[1], "GET", "/cases/by-partner-reference/B%2CC")
    assert found["B,C"].id == bodies.CASE_ID_2


async def test_batch_with_no_references_sends_nothing(client: DebituraClient, api: FakeApi) -> None:
    assert await client.get_cases_by_partner_references([]) == {}
    assert api.requests == []


async def test_get_case_by_creditor_reference(client: DebituraClient, api: FakeApi) -> None:
    api.json(bodies.case())
    await client.get_case_by_creditor_reference("INV 2026/0042", bodies.CREDITOR_ID)
    assert_request(
        api.last,
        "GET",
        "/cases/by-creditor-reference",
        [("reference", "INV 2026/0042"), ("creditorId", bodies.CREDITOR_ID)],
    )


async def test_get_timeline(client: DebituraClient, api: FakeApi) -> None:
    api.json(bodies.TIMELINE)
    timeline = await client.get_timeline(CID)
    assert_request(api.last, "GET", f"/cases/{CID}/timeline")
    assert timeline.current_engagement_phase == "Pre-legal"
    assert [i.title for i in timeline.items] == ["Case activated", "Note added"]
    assert timeline.items[0].actor is not None and timeline.items[0].actor.type == "Partner user"
    assert timeline.items[1].actor is None


async def test_get_timeline_accepts_the_older_bare_array(client: DebituraClient, api: FakeApi) -> None:
    api.json(bodies.TIMELINE["items"])
    timeline = await client.get_timeline(CID)
    assert len(timeline.items) == 2 and timeline.current_engagement_phase is None


async def test_list_chats(client: DebituraClient, api: FakeApi) -> None:
    api.json([bodies.CHAT, bodies.CHAT_FROM_CREDITOR])
    chats = await client.list_chats(CID)
    assert_request(api.last, "GET", f"/cases/{CID}/chats")
    assert [c.role for c in chats] == [ChatRole.COLLECTION_PARTNER, ChatRole.CREDITOR]
    assert chats[0].user is not None and chats[0].user.id == 4711 and chats[0].user.full_name == "Mia Jensen"
    assert chats[1].user is None and chats[1].is_seen is True


async def test_send_chat_carries_idempotency_key_and_body(client: DebituraClient, api: FakeApi) -> None:
    api.json(bodies.CHAT)
    chat = await client.send_chat(
        CID,
        SendChatRequest(message="We expect payment this week.", user_email="mia@acme.example"),
        idempotency_key="slack-C1-1712.0001",
    )
    assert_request(api.last, "POST", f"/cases/{CID}/chats")
    assert api.last.headers["Idempotency-Key"] == "slack-C1-1712.0001"
    assert api.last.headers["Content-Type"] == "application/json"
    assert body_json(api.last) == {"message": "We expect payment this week.", "userEmail": "mia@acme.example"}
    assert chat.id == bodies.CHAT["id"]


async def test_send_chat_without_key_gets_a_fresh_one(client: DebituraClient, api: FakeApi) -> None:
    api.json(bodies.CHAT)
    api.json(bodies.CHAT)
    request = SendChatRequest(message="hi", user_email="mia@acme.example")
    await client.send_chat(CID, request)
    await client.send_chat(CID, request)
    keys = [r.headers["Idempotency-Key"] for r in api.requests]
    assert all(len(k) == 36 for k in keys) and keys[0] != keys[1]


async def test_idempotency_key_longer_than_255_is_refused(client: DebituraClient, api: FakeApi) -> None:
    with pytest.raises(ClientValidationError):
        await client.send_chat(
            CID, SendChatRequest(message="hi", user_email="a@b.c"), idempotency_key="k" * 256
        )
    assert api.requests == []


async def test_list_payments(client: DebituraClient, api: FakeApi) -> None:
    api.json([bodies.PAYMENT])
    (payment,) = await client.list_payments(CID)
    assert_request(api.last, "GET", f"/cases/{CID}/payments")
    assert payment.gross_amount == Decimal("500.1")
    assert payment.invoice is not None and payment.invoice.reference == "Q8OAXF3W"


async def test_create_payment(client: DebituraClient, api: FakeApi) -> None:
    api.json(bodies.CREATE_PAYMENT_RESPONSE)
    result = await client.create_payment(
        CID,
        CreatePaymentRequest(
            date=date(2025, 11, 19),
            payment_amount=Decimal("500.10"),
            payment_recipient="Creditor",
            commission_payment_status="Unpaid",
            payout_creditor=Decimal("400.08"),
            payout_collection_partner=Decimal("100.02"),
            close_case=False,
            create_unpaid_commission_follow_up=False,
        ),
        idempotency_key="pay-1",
    )
    assert_request(api.last, "POST", f"/cases/{CID}/payments")
    assert api.last.headers["Idempotency-Key"] == "pay-1"
    assert body_json(api.last) == {
        "date": "2025-11-19",
        "paymentAmount": 500.1,
        "paymentRecipient": "Creditor",
        "commissionPaymentStatus": "Unpaid",
        "payoutCreditor": 400.08,
        "payoutCollectionPartner": 100.02,
        "closeCase": False,
        "createUnpaidCommissionFollowUp": False,
    }
    assert b'"paymentAmount":500.1' in api.last.content  # a JSON number, not a string
    assert result.remaining_amount == Decimal("835.65") and result.warnings == []


async def test_update_payment(client: DebituraClient, api: FakeApi) -> None:
    api.json(bodies.PAYMENT)
    payment = await client.update_payment(
        CID,
        bodies.PAYMENT_ID,
        UpdatePaymentRequest(
            date=datetime(2026, 4, 4, tzinfo=UTC),
            payment_amount=Decimal("500.1"),
            payment_recipient="CollectionPartner",
            reopen_case_if_needed=True,
        ),
    )
    assert_request(api.last, "PUT", f"/cases/{CID}/payments/{bodies.PAYMENT_ID}")
    assert "Idempotency-Key" not in api.last.headers
    assert body_json(api.last) == {
        "date": "2026-04-04",
        "paymentAmount": 500.1,
        "paymentRecipient": "CollectionPartner",
        "reopenCaseIfNeeded": True,
    }
    assert payment.id == bodies.PAYMENT_ID


@pytest.mark.parametrize(("reopen", "value"), [(False, "false"), (True, "true")])
async def test_delete_payment(client: DebituraClient, api: FakeApi, reopen: bool, value: str) -> None:
    api.reply(httpx.Response(204))
    await client.delete_payment(CID, bodies.PAYMENT_ID, reopen_case_if_needed=reopen)
    assert_request(
        api.last, "DELETE", f"/cases/{CID}/payments/{bodies.PAYMENT_ID}", [("reopenCaseIfNeeded", value)]
    )


async def test_list_files(client: DebituraClient, api: FakeApi) -> None:
    api.json([bodies.CASE_FILE, {**bodies.CASE_FILE, "id": "f2", "documentType": "ProofOfDelivery"}])
    files = await client.list_files(CID)
    assert_request(api.last, "GET", f"/cases/{CID}/files")
    assert [f.document_type for f in files] == ["DemandLetter", "ProofOfDelivery"]


async def test_upload_file_sends_multipart_fields(client: DebituraClient, api: FakeApi) -> None:
    api.json(bodies.CASE_FILE)
    content = b"%PDF-1.7\n" + bytes(range(256)) * 4
    uploaded = await client.upload_file(
        CID,
        filename="Letter.PDF",
        content=content,
        document_type=UploadDocumentType.DemandLetter,
        description="First demand letter",
    )
    assert_request(api.last, "POST", f"/cases/{CID}/files")
    assert api.last.headers["content-type"].startswith("multipart/form-data; boundary=")
    parts = multipart(api.last)
    assert set(parts) == {"File", "DocumentType", "Description"}
    assert parts["File"].get_filename() == "Letter.PDF"
    assert parts["File"].get_payload(decode=True) == content
    assert parts["DocumentType"].get_content() == "DemandLetter"
    assert parts["Description"].get_content() == "First demand letter"
    assert uploaded.file_name == "letter.pdf"


async def test_upload_file_without_optional_fields(client: DebituraClient, api: FakeApi) -> None:
    api.json(bodies.CASE_FILE)
    await client.upload_file(CID, filename="notes.txt", content=b"hello")
    assert set(multipart(api.last)) == {"File"}


@pytest.mark.parametrize("filename", ["virus.exe", "archive.tar.gz", "noext", "script.PDF.js", ""])
async def test_upload_rejects_extensions_before_sending(
    client: DebituraClient, api: FakeApi, filename: str
) -> None:
    with pytest.raises(ClientValidationError):
        await client.upload_file(CID, filename=filename, content=b"x")
    assert api.requests == []


@pytest.mark.parametrize(
    "filename",
    [
        "a.pdf",
        "b.DOC",
        "c.docx",
        "d.xls",
        "e.XLSX",
        "f.jpg",
        "g.jpeg",
        "h.png",
        "i.txt",
        "j.zip",
        "k.csv",
        "l.Eml",
    ],
)
async def test_upload_accepts_every_allowed_extension(
    client: DebituraClient, api: FakeApi, filename: str
) -> None:
    api.json(bodies.CASE_FILE)
    await client.upload_file(CID, filename=filename, content=b"x")
    assert len(api.requests) == 1


async def test_upload_size_limit_is_25_mb(client: DebituraClient, api: FakeApi) -> None:
    limit = 25 * 1024 * 1024
    with pytest.raises(ClientValidationError, match="25 MB"):
        await client.upload_file(CID, filename="big.zip", content=b"\0" * (limit + 1))
    assert api.requests == []
    api.json(bodies.CASE_FILE)
    await client.upload_file(CID, filename="big.zip", content=b"\0" * limit)
    assert len(api.requests) == 1


async def test_upload_description_limit(client: DebituraClient, api: FakeApi) -> None:
    with pytest.raises(ClientValidationError):
        await client.upload_file(CID, filename="a.pdf", content=b"x", description="d" * 501)
    assert api.requests == []


async def test_create_note(client: DebituraClient, api: FakeApi) -> None:
    api.json(bodies.NOTE)
    note = await client.create_note(
        CID,
        CreateNoteRequest(
            description="Debtor promised to pay on Friday.",
            event_date=datetime(2025, 11, 14, 9, 30, tzinfo=UTC),
        ),
    )
    assert_request(api.last, "POST", f"/cases/{CID}/notes")
    assert "Idempotency-Key" not in api.last.headers
    assert body_json(api.last) == {
        "description": "Debtor promised to pay on Friday.",
        "eventDate": "2025-11-14T09:30:00Z",
    }
    assert note.created_by is not None and note.created_by.user_id == 4711


async def test_close_case(client: DebituraClient, api: FakeApi) -> None:
    api.json(bodies.CLOSE_RESPONSE)
    result = await client.close_case(
        CID, CloseCaseRequest(close_code=CloseCode.PartiallyPaid, comment="Debtor paid half.")
    )
    assert_request(api.last, "POST", f"/cases/{CID}/close")
    assert body_json(api.last) == {"closeCode": "PartiallyPaid", "comment": "Debtor paid half."}
    assert result.close_code is not None and result.close_code.name is CloseCode.PartiallyPaid
    assert result.close_code_description == "Partially paid"
    assert result.total_recovered == Decimal("500.1")


async def test_start_case(client: DebituraClient, api: FakeApi) -> None:
    api.json(bodies.START_RESPONSE)
    result = await client.start_case(
        CID,
        StartCaseRequest(
            welcome_message="Hello, we are taking over this case.",
            user_email="mia@acme.example",
            collection_partner_reference="ACME-2026/17 & 18",
            assigned_user_email="lars@acme.example",
            interest_fees=Decimal("0"),
            reminder_fees=Decimal("12.5"),
            collection_fees=Decimal("25"),
        ),
    )
    assert_request(api.last, "POST", f"/cases/{CID}/start")
    assert body_json(api.last) == {
        "welcomeMessage": "Hello, we are taking over this case.",
        "userEmail": "mia@acme.example",
        "collectionPartnerReference": "ACME-2026/17 & 18",
        "assignedUserEmail": "lars@acme.example",
        "interestFees": 0,
        "reminderFees": 12.5,
        "collectionFees": 25,
    }
    assert result.status == Lifecycle.Active


async def test_update_fees_sends_all_three_fees(client: DebituraClient, api: FakeApi) -> None:
    api.json(bodies.FEES_RESPONSE)
    result = await client.update_fees(
        CID,
        UpdateFeesRequest(
            interest_fees=Decimal("45.50"),
            reminder_fees=Decimal("20"),
            collection_fees=Decimal("30"),
            gross_amount=Decimal("1300"),
        ),
    )
    assert_request(api.last, "PUT", f"/cases/{CID}/fees")
    assert body_json(api.last) == {
        "interestFees": 45.5,
        "reminderFees": 20,
        "collectionFees": 30,
        "grossAmount": 1300,
    }
    assert isinstance(result, UpdateFeesResponse)
    assert result.recalculated_success_fee == Decimal("19.75")


async def test_update_fees_zero_fees_are_still_sent(client: DebituraClient, api: FakeApi) -> None:
    api.json(bodies.FEES_RESPONSE)
    await client.update_fees(CID, UpdateFeesRequest(interest_fees=0, reminder_fees=0, collection_fees=0))
    assert body_json(api.last) == {"interestFees": 0, "reminderFees": 0, "collectionFees": 0}


@pytest.mark.parametrize(
    ("intentional", "flag"), [(False, "confirmPriceChange"), (True, "keepIntentionalRate")]
)
async def test_update_fees_price_change_gate_is_a_typed_result(
    client: DebituraClient, api: FakeApi, intentional: bool, flag: str
) -> None:
    api.json({**bodies.PRICE_CHANGE, "isIntentionalRate": intentional}, status=409)
    request = UpdateFeesRequest(interest_fees=10, reminder_fees=0, collection_fees=5, gross_amount=900)
    gate = await client.update_fees(CID, request)
    assert isinstance(gate, PriceChangeRequired)
    assert gate.current_success_fee == Decimal("20.5") and gate.proposed_success_fee == Decimal("18.25")
    assert gate.is_intentional_rate is intentional
    assert "18.25" in gate.text
    api.json(bodies.FEES_RESPONSE)
    confirmed = await client.update_fees(CID, gate.confirmation())
    assert isinstance(confirmed, UpdateFeesResponse)
    assert body_json(api.last) == {
        "interestFees": 10,
        "reminderFees": 0,
        "collectionFees": 5,
        "grossAmount": 900,
        flag: True,
    }


async def test_update_fees_other_409_is_a_conflict(client: DebituraClient, api: FakeApi) -> None:
    api.json({"error": "Conflict", "message": "Case is being updated", "businessErrors": []}, status=409)
    with pytest.raises(Conflict, match="Case is being updated"):
        await client.update_fees(CID, UpdateFeesRequest(interest_fees=1, reminder_fees=1, collection_fees=1))


async def test_get_exclusive_period(client: DebituraClient, api: FakeApi) -> None:
    api.json(bodies.EXCLUSIVE_PERIOD)
    period = await client.get_exclusive_period(CID)
    assert_request(api.last, "GET", f"/cases/{CID}/exclusive-period")
    assert period.days_remaining == 178 and period.status == "Active"
    assert period.extensions[0].type == "PromiseToPay"


async def test_get_validation(client: DebituraClient, api: FakeApi) -> None:
    api.json(bodies.VALIDATION)
    status = await client.get_validation(CID)
    assert_request(api.last, "GET", f"/cases/{CID}/validation")
    assert status.needs_info is True and status.items[0].resolution_area == "InvoiceDocuments"


async def test_list_webhooks(client: DebituraClient, api: FakeApi) -> None:
    api.json([bodies.WEBHOOK])
    (hook,) = await client.list_webhooks()
    assert_request(api.last, "GET", "/webhooks")
    assert hook.events == ["case.updated", "chat.created"] and hook.secret is None


async def test_create_webhook_returns_secret_hidden_in_repr(client: DebituraClient, api: FakeApi) -> None:
    secret = "c2VjcmV0LXNpZ25pbmcta2V5LTAxMjM0NTY3ODk="
    api.json({**bodies.WEBHOOK, "secret": secret}, status=201)
    hook = await client.create_webhook(
        CreateWebhookRequest(url="https://caseroom.example/debitura/webhooks", events=["case.updated"])
    )
    assert_request(api.last, "POST", "/webhooks")
    assert body_json(api.last) == {
        "url": "https://caseroom.example/debitura/webhooks",
        "events": ["case.updated"],
        "isTestMode": False,
    }
    assert hook.secret is not None and hook.secret.get_secret_value() == secret
    assert secret not in repr(hook) and secret not in str(hook)


async def test_get_webhook(client: DebituraClient, api: FakeApi) -> None:
    api.json(bodies.WEBHOOK)
    hook = await client.get_webhook(bodies.WEBHOOK_ID)
    assert_request(api.last, "GET", f"/webhooks/{bodies.WEBHOOK_ID}")
    assert hook.is_active is True


async def test_update_webhook(client: DebituraClient, api: FakeApi) -> None:
    api.json({**bodies.WEBHOOK, "secret": "bmV3LXNlY3JldA=="})
    hook = await client.update_webhook(
        bodies.WEBHOOK_ID, UpdateWebhookRequest(is_active=True, regenerate_secret=True)
    )
    assert_request(api.last, "PUT", f"/webhooks/{bodies.WEBHOOK_ID}")
    assert body_json(api.last) == {"isActive": True, "regenerateSecret": True}
    assert hook.secret is not None


async def test_delete_webhook(client: DebituraClient, api: FakeApi) -> None:
    api.reply(httpx.Response(204))
    await client.delete_webhook(bodies.WEBHOOK_ID)
    assert_request(api.last, "DELETE", f"/webhooks/{bodies.WEBHOOK_ID}")


async def test_list_webhook_events(client: DebituraClient, api: FakeApi) -> None:
    api.json([bodies.WEBHOOK_EVENT])
    (event,) = await client.list_webhook_events(CID, since=datetime(2026, 4, 1, tzinfo=UTC))
    assert_request(
        api.last, "GET", "/webhooks/events", [("caseId", CID), ("since", "2026-04-01T00:00:00+00:00")]
    )
    assert event.event_type == "chat.created" and event.last_response_code == 200
    assert event.payload_json()["data"]["caseId"] == CID


async def test_list_webhook_events_without_since(client: DebituraClient, api: FakeApi) -> None:
    api.json([])
    assert await client.list_webhook_events(CID) == []
    assert query(api.last) == [("caseId", CID)]


async def test_replay_webhook_event(client: DebituraClient, api: FakeApi) -> None:
    api.json(bodies.REPLAY)
    result = await client.replay_webhook_event(bodies.EVENT_ID)
    assert_request(api.last, "POST", f"/webhooks/events/{bodies.EVENT_ID}/replay")
    assert result.event_id == bodies.EVENT_ID and result.event_type == "chat.created"


async def test_case_id_not_a_guid_is_refused_before_sending(client: DebituraClient, api: FakeApi) -> None:
    # (Was: sent as one escaped segment. Now nothing that is not a GUID reaches the path; every
    # path-building method is covered in tests/debitura/test_references.py.)
    with pytest.raises(ClientValidationError):
        await client.get_timeline("../../webhooks")
    assert api.requests == []


async def test_empty_ids_are_refused_before_sending(client: DebituraClient, api: FakeApi) -> None:
    with pytest.raises(ClientValidationError):
        await client.get_case(" ")
    with pytest.raises(ClientValidationError):
        await client.get_case_by_creditor_reference("", bodies.CREDITOR_ID)
    assert api.requests == []


async def test_base_url_with_path_prefix(api: FakeApi) -> None:
    c = DebituraClient("http://127.0.0.1:9/debitura", API_KEY, transport=httpx.MockTransport(api.handler))
    api.json(bodies.ME)
    await c.me()
    assert api.last.url.path == "/debitura/me"
    await c.aclose()


async def test_with_priority_shares_pool_and_only_owner_closes(
    client: DebituraClient, api: FakeApi, limiter: UnlimitedLimiter
) -> None:
    background = client.with_priority(client.priority.BACKGROUND)
    api.json(bodies.ME)
    await background.me()
    assert client.limiter is limiter
    assert limiter.acquired[-1] == (client.priority.BACKGROUND, "me")
    await background.aclose()
    api.json(bodies.ME)
    await client.me()  # the shared pool is still open


async def test_iter_cases_counts_pages_itself(client: DebituraClient, api: FakeApi) -> None:
    # A server that always echoes currentPage=1 must not make the iterator loop forever.
    # (Each page holds another case: the same case on every page is a repeated page, which ends a listing.)
    for n in range(3):
        api.json({"page": bodies.page(1, 3, 1, 1, 3), "cases": [bodies.case(id=f"{CID[:-1]}{n}")]})
    assert len([c async for c in client.iter_cases(page_size=1)]) == 3
    assert [dict(query(r))["Page"] for r in api.requests] == ["1", "2", "3"]


async def test_malformed_responses_are_unexpected_response(client: DebituraClient, api: FakeApi) -> None:
    """A body that does not fit the model, a list or the batch map: one error type, naming the operation."""
    cases = [
        ("get_case", lambda: client.get_case(CID), {"id": ["not", "a", "string"]}),
        ("list_chats", lambda: client.list_chats(CID), [{"role": "not-a-role", "message": {}}]),
        ("list_payments", lambda: client.list_payments(CID), {"not": "a list"}),
        (
            "get_cases_by_partner_references",
            lambda: client.get_cases_by_partner_references(["A"]),
            ["not", "a", "map"],
        ),
    ]
    for operation, call, body in cases:
        api.json(body)
        with pytest.raises(UnexpectedResponse) as info:
            await call()
        assert info.value.operation == operation and info.value.status == 200
        assert f"unexpected {operation} response (" in str(info.value)
        assert "problem" in str(info.value)
