"""The real client against the sandbox: every operation's happy path and the documented errors."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from aiohttp import web

from bot.debitura.client import DebituraClient, RetryPolicy
from bot.debitura.errors import (
    BadRequest,
    ClientValidationError,
    Conflict,
    ErrorShape,
    NotFound,
    OutcomeUnknown,
    RateLimited,
    Unauthorized,
    Unprocessable,
    api_error_from_response,
)
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
from bot.debitura.webhooks import parse_event, verify_signature
from bot.metrics import Metrics
from tests.fixtures.sandbox import SandboxHandle

pytestmark = pytest.mark.sandbox


# ------------------------------------------------------------------ reads


async def test_me(dc: DebituraClient) -> None:
    me = await dc.me()
    assert me.id and me.company_name


async def test_users_all_pages(dc: DebituraClient) -> None:
    first = await dc.list_users(page=1, page_size=1)
    assert first.page is not None and first.page.total_results is not None
    users = await dc.all_users(page_size=1)
    assert len(users) == first.page.total_results
    assert len({u.id for u in users}) == len(users) and all(u.email for u in users)


async def test_list_and_iterate_cases_with_filters(dc: DebituraClient) -> None:
    page = await dc.list_cases(
        page=1, page_size=5, statuses=[Lifecycle.Active, Lifecycle.Paused], sort="DateUpdated:desc"
    )
    assert page.page is not None and page.page.current_page == 1
    assert 0 < len(page.cases) <= 5
    for case in page.cases:
        assert case.lifecycle is not None and case.lifecycle.name in (Lifecycle.Active, Lifecycle.Paused)
        assert isinstance(case.remainder, Decimal)
    updated = [c.date_updated for c in page.cases]
    known = [u for u in updated if u is not None]
    assert known == updated and known == sorted(known, reverse=True)
    every = [c async for c in dc.iter_cases(page_size=7, statuses=["Active", "Paused"])]
    assert len(every) == page.page.total_results
    assert len({c.id for c in every}) == len(every)


async def test_every_listed_lifecycle_and_close_code_is_understood(dc: DebituraClient) -> None:
    cases = [c async for c in dc.iter_cases(page_size=100, include_test_cases=True)]
    assert cases
    for case in cases:
        assert case.lifecycle is not None and case.lifecycle.known, case.lifecycle
        if case.close_code is not None:
            assert case.close_code.known, case.close_code


async def test_ids_filter_and_lookups_by_reference(dc: DebituraClient, sandbox: SandboxHandle) -> None:
    made = sandbox.control.assign_new_case("Active")
    page = await dc.list_cases(ids=[made["id"]])
    assert [c.id for c in page.cases] == [made["id"]]
    case = await dc.get_case(made["id"])
    by_ref = await dc.get_case_by_reference(case.reference or "")
    assert by_ref.id == case.id
    assert case.creditor is not None and case.creditor.id and case.creditor_reference
    by_creditor = await dc.get_case_by_creditor_reference(case.creditor_reference, case.creditor.id)
    assert by_creditor.id == case.id


async def test_timeline_chats_payments_files_period_validation(
    dc: DebituraClient, sandbox: SandboxHandle
) -> None:
    with_payments = sandbox.case("Active", with_payments=True, exclusive_period=True)
    case_id = with_payments["id"]
    timeline = await dc.get_timeline(case_id)
    assert timeline.items and all(len(i.fingerprint()) == 64 for i in timeline.items)
    await dc.list_chats(case_id)
    payments = await dc.list_payments(case_id)
    assert {p.id for p in payments} == set(with_payments["paymentIds"])
    await dc.list_files(case_id)
    period = await dc.get_exclusive_period(case_id)
    assert period.current_end_date is not None
    validation = await dc.get_validation(case_id)
    assert validation.needs_info is False


async def test_validation_on_a_case_needing_info(dc: DebituraClient, sandbox: SandboxHandle) -> None:
    made = sandbox.control.assign_new_case("NeedsAdditionalDetails")
    case = await dc.get_case(made["id"])
    assert case.lifecycle is not None and case.lifecycle.name is Lifecycle.NeedsAdditionalDetails
    assert case.needs_info
    validation = await dc.get_validation(made["id"])
    assert validation.needs_info is True


# ------------------------------------------------------------------ activation and partner references


async def test_start_case_then_find_it_by_odd_partner_reference(
    dc: DebituraClient, sandbox: SandboxHandle
) -> None:
    made = sandbox.control.assign_new_case("PendingVerification", claim_type="Unpaid Invoice")
    reference = f"ACME {uuid.uuid4().hex[:6]}/17 & 18?x=1#%"
    started = await dc.start_case(
        made["id"],
        StartCaseRequest(
            welcome_message="Hello, we are taking over the collection of this invoice.",
            user_email=sandbox.user_email(),
            collection_partner_reference=reference,
            interest_fees=Decimal("0"),
            reminder_fees=Decimal("10"),
            collection_fees=Decimal("25.50"),
        ),
    )
    assert started.status == Lifecycle.Active and started.collection_partner_reference == reference
    found = await dc.get_case_by_partner_reference(reference)
    assert found.id == made["id"] and found.lifecycle == Lifecycle.Active
    batch = await dc.get_cases_by_partner_references([reference, "no-such-reference"])
    assert list(batch) == [reference] and batch[reference].id == made["id"]
    # Starting twice is a 400 (wrong state), never a silent success.
    with pytest.raises(BadRequest) as info:
        await dc.start_case(
            made["id"], StartCaseRequest(welcome_message="Again", user_email=sandbox.user_email())
        )
    assert info.value.business_error_types


async def test_batch_of_more_than_100_references(dc: DebituraClient) -> None:
    refs = [f"missing-{i}" for i in range(150)]
    assert await dc.get_cases_by_partner_references(refs) == {}


# ------------------------------------------------------------------ chats, notes, files


async def test_send_chat_is_idempotent_per_key(dc: DebituraClient, sandbox: SandboxHandle) -> None:
    made = sandbox.control.assign_new_case("Active")
    request = SendChatRequest(message="We reached the debtor today.", user_email=sandbox.user_email())
    key = f"contract-{uuid.uuid4()}"
    first = await dc.send_chat(made["id"], request, idempotency_key=key)
    again = await dc.send_chat(made["id"], request, idempotency_key=key)
    assert again.id == first.id
    assert first.role is ChatRole.COLLECTION_PARTNER and first.message == request.message
    chats = await dc.list_chats(made["id"])
    assert [c.id for c in chats].count(first.id) == 1


async def test_send_chat_for_unknown_user_is_400(dc: DebituraClient, sandbox: SandboxHandle) -> None:
    made = sandbox.control.assign_new_case("Active")
    with pytest.raises(BadRequest) as info:
        await dc.send_chat(made["id"], SendChatRequest(message="hi", user_email="nobody@example.invalid"))
    assert info.value.has_business_error("MissingUserIdentifier")


async def test_note_appears_in_timeline(dc: DebituraClient, sandbox: SandboxHandle) -> None:
    made = sandbox.control.assign_new_case("Active")
    when = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    note = await dc.create_note(
        made["id"], CreateNoteRequest(description="Debtor promised payment.", event_date=when)
    )
    assert note.description == "Debtor promised payment."
    timeline = await dc.get_timeline(made["id"])
    assert any(i.description and "Debtor promised payment." in i.description for i in timeline.items)


async def test_upload_and_list_files(dc: DebituraClient, sandbox: SandboxHandle) -> None:
    made = sandbox.control.assign_new_case("Active")
    uploaded = await dc.upload_file(
        made["id"],
        filename="Demand letter.PDF",
        content=b"%PDF-1.7 test",
        document_type=UploadDocumentType.DemandLetter,
        description="First letter",
    )
    assert uploaded.file_name == "Demand letter.PDF" and uploaded.document_type == "DemandLetter"
    files = await dc.list_files(made["id"])
    assert uploaded.id in {f.id for f in files}


async def test_oversized_and_bad_extension_uploads_never_leave_the_client(
    dc: DebituraClient, sandbox: SandboxHandle
) -> None:
    made = sandbox.control.assign_new_case("Active")
    before = await dc.list_files(made["id"])
    with pytest.raises(ClientValidationError):
        await dc.upload_file(made["id"], filename="huge.zip", content=b"\0" * (25 * 1024 * 1024 + 1))
    with pytest.raises(ClientValidationError):
        await dc.upload_file(made["id"], filename="tool.exe", content=b"MZ")
    assert await dc.list_files(made["id"]) == before


# ------------------------------------------------------------------ payments


def _payment(amount: str = "10.00", **extra: Any) -> CreatePaymentRequest:
    return CreatePaymentRequest(
        date=date.today(), payment_amount=Decimal(amount), payment_recipient="CollectionPartner", **extra
    )


async def test_payment_create_replay_conflict_edit_delete(dc: DebituraClient, sandbox: SandboxHandle) -> None:
    made = sandbox.control.assign_new_case("Active")
    key = f"pay-{uuid.uuid4()}"
    created = await dc.create_payment(made["id"], _payment("12.34"), idempotency_key=key)
    assert created.payment_id and created.payment_amount == Decimal("12.34")
    replay = await dc.create_payment(made["id"], _payment("12.34"), idempotency_key=key)
    assert replay.payment_id == created.payment_id
    with pytest.raises(Unprocessable) as info:
        await dc.create_payment(made["id"], _payment("99.00"), idempotency_key=key)
    assert info.value.has_business_error("IdempotencyConflict")
    payments = await dc.list_payments(made["id"])
    assert [p.id for p in payments].count(created.payment_id) == 1

    assert created.payment_id is not None
    edited = await dc.update_payment(
        made["id"],
        created.payment_id,
        UpdatePaymentRequest(
            date=date.today(), payment_amount=Decimal("15.00"), payment_recipient="CollectionPartner"
        ),
    )
    assert edited.gross_amount == Decimal("15")
    await dc.delete_payment(made["id"], created.payment_id)
    assert created.payment_id not in {p.id for p in await dc.list_payments(made["id"])}
    with pytest.raises(NotFound):
        await dc.delete_payment(made["id"], created.payment_id)


async def test_payment_on_wrong_state_is_400(dc: DebituraClient, sandbox: SandboxHandle) -> None:
    made = sandbox.control.assign_new_case("PendingVerification")
    with pytest.raises(BadRequest):
        await dc.create_payment(made["id"], _payment())


async def test_deleting_payment_of_paid_closed_case_needs_reopen(
    dc: DebituraClient, sandbox: SandboxHandle
) -> None:
    made = sandbox.control.assign_new_case("Active")
    case = await dc.get_case(made["id"])
    assert case.remainder is not None and case.remainder > 0
    paid = await dc.create_payment(made["id"], _payment(str(case.remainder), close_case=True))
    assert paid.case_closed is True and paid.close_code is not None and paid.close_code.name is CloseCode.Paid
    assert paid.payment_id is not None
    with pytest.raises(Conflict) as info:
        await dc.delete_payment(made["id"], paid.payment_id)
    assert info.value.status == 409
    await dc.delete_payment(made["id"], paid.payment_id, reopen_case_if_needed=True)
    reopened = await dc.get_case(made["id"])
    assert reopened.lifecycle == Lifecycle.Active


# ------------------------------------------------------------------ close, fees


async def test_close_case_with_a_settable_code(dc: DebituraClient, sandbox: SandboxHandle) -> None:
    made = sandbox.control.assign_new_case("Active")
    closed = await dc.close_case(
        made["id"], CloseCaseRequest(close_code=CloseCode.DebtorUntraceable, comment="No address found.")
    )
    assert closed.close_code is not None and closed.close_code.name is CloseCode.DebtorUntraceable
    case = await dc.get_case(made["id"])
    assert case.lifecycle == Lifecycle.Closed
    assert case.close_code is not None and case.close_code.name is CloseCode.DebtorUntraceable
    with pytest.raises(BadRequest):
        await dc.close_case(made["id"], CloseCaseRequest(close_code="Other"))


async def test_update_fees_and_price_change_gate(dc: DebituraClient, sandbox: SandboxHandle) -> None:
    made = sandbox.control.assign_new_case("Active")
    case = await dc.get_case(made["id"])
    same = await dc.update_fees(
        made["id"],
        UpdateFeesRequest(interest_fees=Decimal("1.50"), reminder_fees=0, collection_fees=Decimal("20")),
    )
    assert isinstance(same, UpdateFeesResponse) and same.interest_fees == Decimal("1.5")
    gross = Decimal("500") if case.pre_legal_success_fee != Decimal("25") else Decimal("50000")
    request = UpdateFeesRequest(
        interest_fees=Decimal("1.50"), reminder_fees=0, collection_fees=Decimal("20"), gross_amount=gross
    )
    gate = await dc.update_fees(made["id"], request)
    assert isinstance(gate, PriceChangeRequired)
    assert gate.proposed_success_fee is not None and gate.proposed_success_fee != gate.current_success_fee
    unchanged = await dc.get_case(made["id"])
    assert unchanged.gross_amount == case.gross_amount  # nothing applied behind the gate
    applied = await dc.update_fees(made["id"], gate.confirmation())
    assert isinstance(applied, UpdateFeesResponse) and applied.gross_amount == gross


async def test_fees_on_closed_case_is_400(dc: DebituraClient, sandbox: SandboxHandle) -> None:
    made = sandbox.control.assign_new_case("Active")
    sandbox.control.set_lifecycle(made["id"], "Closed", "Other")
    with pytest.raises(BadRequest):
        await dc.update_fees(
            made["id"], UpdateFeesRequest(interest_fees=0, reminder_fees=0, collection_fees=0)
        )


# ------------------------------------------------------------------ errors


async def test_bad_key_is_401_problem_details(sandbox: SandboxHandle) -> None:
    async with DebituraClient(sandbox.url, "wrong-key-0000") as bad:
        with pytest.raises(Unauthorized) as info:
            await bad.me()
    assert info.value.error_shape is ErrorShape.PROBLEM_DETAILS
    assert "wrong-key-0000" not in str(info.value) and "wrong-key-0000" not in repr(info.value)


async def test_unknown_case_is_404(dc: DebituraClient) -> None:
    with pytest.raises(NotFound) as info:
        await dc.get_case(str(uuid.uuid4()))
    assert str(info.value) == "Case not found, or not assigned to you."
    with pytest.raises(NotFound):
        await dc.get_case_by_partner_reference(f"nope-{uuid.uuid4()}")
    with pytest.raises(NotFound):
        await dc.get_case_by_reference("ZZZZZZZZ")


async def test_malformed_case_id_is_400_field_errors(dc: DebituraClient, sandbox: SandboxHandle) -> None:
    # The client refuses it before sending now (tests/debitura/test_references.py); the sandbox's
    # answer to one that gets through is still read as a documented BadRequest.
    with pytest.raises(ClientValidationError):
        await dc.get_case("not-a-guid")
    async with httpx.AsyncClient(base_url=sandbox.url) as raw:
        answer = await raw.get("/cases/not-a-guid", headers={"XApiKey": sandbox.api_key})
    error = api_error_from_response(answer.status_code, answer.content, operation="get_case")
    assert isinstance(error, BadRequest)
    assert error.error_shape in (
        ErrorShape.FIELD_ERRORS,
        ErrorShape.PROBLEM_DETAILS,
        ErrorShape.API_ERROR,
    )


async def test_tiny_rate_limit_gives_429_with_retry_after(sandbox: SandboxHandle) -> None:
    sandbox.control.set_rate_limits(per_minute=2)  # the fixture resets the limits for the next test
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    async with DebituraClient(
        sandbox.url, sandbox.api_key, sleep=record, retry_policy=RetryPolicy(max_retries=1, max_wait=120)
    ) as limited:
        await limited.me()
        await limited.me()
        with pytest.raises(RateLimited) as info:
            await limited.me()
    assert info.value.error_shape is ErrorShape.RATE_LIMIT and not info.value.local
    assert info.value.retry_after > 0
    assert len(waits) == 1 and waits[0] > 0  # the one retry waited the body's retryAfter


# ------------------------------------------------------------------ webhooks


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, asyncio.Queue[tuple[dict[str, str], bytes]]]]:
    """A loopback HTTP endpoint that records webhook deliveries."""
    inbox: asyncio.Queue[tuple[dict[str, str], bytes]] = asyncio.Queue()

    async def hook(request: web.Request) -> web.Response:
        await inbox.put((dict(request.headers), await request.read()))
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}/hook", inbox
    await runner.cleanup()


async def test_webhook_crud_signed_delivery_log_and_replay(
    dc: DebituraClient,
    sandbox: SandboxHandle,
    receiver: tuple[str, asyncio.Queue[tuple[dict[str, str], bytes]]],
) -> None:
    url, inbox = receiver
    hook = await dc.create_webhook(CreateWebhookRequest(url=url, events=["chat.created"]))
    try:
        assert hook.secret is not None
        secret = hook.secret.get_secret_value()
        base64.b64decode(secret, validate=True)
        assert hook.id in {h.id for h in await dc.list_webhooks()}
        fetched = await dc.get_webhook(hook.id)
        assert fetched.url == url and fetched.secret is None

        made = sandbox.control.assign_new_case("Active")
        chat = SendChatRequest(message="Webhook check", user_email=sandbox.user_email())
        await dc.send_chat(made["id"], chat)
        headers, body = await asyncio.wait_for(inbox.get(), timeout=10)
        verify_signature(secret, headers["X-Debitura-Signature"], body)
        event = parse_event(body)
        assert event.event == "chat.created" and event.case_id == made["id"]
        assert headers["X-Debitura-Event"] == "chat.created"

        # the log holds the event only once its delivery was tried, a moment later: poll, as with Debitura
        record = None
        for _ in range(300):
            records = await dc.list_webhook_events(made["id"])
            record = next(
                (r for r in records if r.event_type == "chat.created" and r.subscription_id == hook.id), None
            )
            if record is not None:
                break
            await asyncio.sleep(0.05)
        assert record is not None, "the delivered event never reached the event log"
        replay = await dc.replay_webhook_event(record.id)
        assert replay.event_id == record.id
        headers2, body2 = await asyncio.wait_for(inbox.get(), timeout=10)
        assert headers2.get("X-Debitura-Replay") == "true" and parse_event(body2).id == event.id
        verify_signature(secret, headers2["X-Debitura-Signature"], body2)

        rotated = await dc.update_webhook(
            hook.id, UpdateWebhookRequest(regenerate_secret=True, is_active=True)
        )
        assert rotated.secret is not None and rotated.secret.get_secret_value() != secret
    finally:
        await dc.delete_webhook(hook.id)
    with pytest.raises(NotFound):
        await dc.get_webhook(hook.id)


# ------------------------------------------------------------------ the retry policy against injected faults


async def test_injected_5xx_and_dropped_connection_on_reads_are_retried(
    dc: DebituraClient, sandbox: SandboxHandle
) -> None:
    case_id = sandbox.case_ids[0]
    sandbox.control.add_fault("/cases/*/timeline", "GET", error_rate=1, times=1)
    assert (await dc.get_timeline(case_id)).items
    sandbox.control.add_fault("/cases/*/chats", "GET", drop_rate=1, times=1)
    await dc.list_chats(case_id)
    assert [f["hits"] for f in sandbox.control.faults()] == [1, 1]


async def test_injected_5xx_on_a_note_is_outcome_unknown_and_resolvable(
    dc: DebituraClient, sandbox: SandboxHandle
) -> None:
    made = sandbox.control.assign_new_case("Active")
    sandbox.control.add_fault("/cases/*/notes", "POST", error_rate=1, times=1)
    text = f"note {uuid.uuid4()}"
    with pytest.raises(OutcomeUnknown) as info:
        await dc.create_note(made["id"], CreateNoteRequest(description=text))
    assert info.value.operation == "create_note" and info.value.case_id == made["id"]
    # Resolve by re-reading: the note is not there, so it is safe to send it again (once).
    timeline = await dc.get_timeline(made["id"])
    assert not any(text in (i.description or "") for i in timeline.items)
    await dc.create_note(made["id"], CreateNoteRequest(description=text))
    timeline = await dc.get_timeline(made["id"])
    assert sum(text in (i.description or "") for i in timeline.items) == 1


async def test_injected_429_waits_its_retry_after_and_penalizes(sandbox: SandboxHandle) -> None:
    sandbox.control.add_fault("/me", "GET", rate_limit_rate=1, retry_after=0.25, times=1)
    limiter = UnlimitedLimiter()
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    async with DebituraClient(sandbox.url, sandbox.api_key, limiter=limiter, sleep=record) as client:
        await client.me()
    assert waits == [0.25] and limiter.penalties == [0.25]
    assert [op for _, op in limiter.acquired] == ["me", "me"]


async def test_payment_key_in_flight_409_waits_then_replays(sandbox: SandboxHandle) -> None:
    made = sandbox.control.assign_new_case("Active")
    sandbox.control.add_fault("/cases/*/payments", "POST", hold_ms=800, times=1)
    metrics = Metrics()
    async with DebituraClient(
        sandbox.url,
        sandbox.api_key,
        metrics=metrics,
        retry_policy=RetryPolicy(max_retries=20, in_flight_wait=0.1),
    ) as client:
        key = f"pay-{uuid.uuid4()}"
        first = asyncio.create_task(client.create_payment(made["id"], _payment("7.50"), idempotency_key=key))
        await asyncio.sleep(0.3)  # the first request is now held inside the sandbox
        second = await client.create_payment(made["id"], _payment("7.50"), idempotency_key=key)
        created = await first
        assert created.payment_id is not None and second.payment_id == created.payment_id
        payments = await client.list_payments(made["id"])
    assert [p.id for p in payments].count(created.payment_id) == 1
    in_flight = metrics.registry.get_sample_value(
        "caseroom_debitura_requests_total", {"operation": "create_payment", "status": "409"}
    )
    assert in_flight is not None and in_flight >= 1  # the second call really met the in-flight 409
