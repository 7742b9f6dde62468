"""The real client against the sandbox: managed cases, test cases, test webhooks, ingestion jobs."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import date
from decimal import Decimal
from typing import TypeVar

import pytest
from aiohttp import web

from bot.debitura.client import DebituraClient
from bot.debitura.errors import BadRequest, NotFound, Unprocessable
from bot.debitura.models import (
    AdvanceTarget,
    CloseCode,
    CreateIngestionJobRequest,
    CreateManagedCasePaymentRequest,
    CreateManagedCaseRequest,
    CreateWebhookRequest,
    FireWebhookRequest,
    IngestionJobRow,
    IngestionJobStatus,
    Lifecycle,
    ManagedCaseDebtor,
    UpdatePaymentRequest,
)
from bot.debitura.webhooks import parse_event, verify_signature
from tests.fixtures.sandbox import SandboxHandle

pytestmark = pytest.mark.sandbox
T = TypeVar("T")


async def eventually(what: str, probe: Callable[[], Awaitable[T | None]], timeout: float = 20.0) -> T:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def managed_request(partner_id: str | None, tag: str, *, is_test: bool = True, country: str = "SE"
              ) -> CreateManagedCaseRequest:
    return CreateManagedCaseRequest(
        creditor_company_name="Fjord Supplies ApS",
        creditor_country_alpha2="DK",
        currency_code="SEK",
        date=date(2026, 1, 15),
        debtor=ManagedCaseDebtor(type="Company", name="Nordic Desk AB", contact_person="Eva Lund",
                                 country_alpha2=country),
        amount_to_recover=Decimal("1000"),
        is_test=is_test,
        tag=tag,
        collection_partner_id=partner_id,
    )


async def test_a_test_case_from_creation_to_deletion(dc: DebituraClient, sandbox: SandboxHandle) -> None:
    me = await dc.me()
    tag = f"contract-{uuid.uuid4().hex[:8]}"
    key = f"create-{tag}"
    case = await dc.create_managed_case(managed_request(me.id, tag), idempotency_key=key)
    again = await dc.create_managed_case(managed_request(me.id, tag), idempotency_key=key)
    assert again.id == case.id and case.is_test_case is True
    assert case.lifecycle is not None and case.lifecycle.name is Lifecycle.PendingVerification
    with pytest.raises(Unprocessable) as conflict:
        await dc.create_managed_case(managed_request(me.id, tag + "-other"), idempotency_key=key)
    assert conflict.value.has_business_error("IdempotencyConflict")

    # ours to collect: by id, and in the listing only with test cases included
    assert (await dc.get_case(case.id)).reference == case.reference
    assert [c.id async for c in dc.iter_cases(ids=[case.id])] == []
    assert [c.id async for c in dc.iter_cases(ids=[case.id], include_test_cases=True)] == [case.id]
    # and ours as managing partner
    assert [c.id async for c in dc.iter_managed_cases(page_size=1)] == [case.id]
    assert (await dc.get_managed_case(case.id)).id == case.id
    assert (await dc.get_managed_case_by_reference(case.reference or "")).id == case.id

    started = await dc.advance_test_case(case.id, AdvanceTarget.ACTIVE)
    assert started.advanced is True and started.state == "Active"
    paid = await dc.create_managed_case_payment(
        case.id, CreateManagedCasePaymentRequest(date=date(2026, 1, 20), payment_amount=Decimal("100"))
    )
    assert paid.remaining_amount == Decimal("900") and paid.payment_id is not None
    [payment] = await dc.list_managed_case_payments(case.id)
    assert payment.id == paid.payment_id and payment.recipient == "Creditor"
    edited = await dc.update_managed_case_payment(
        case.id, paid.payment_id,
        UpdatePaymentRequest(date=date(2026, 1, 21), payment_amount=Decimal("150"),
                             payment_recipient="CollectionPartner"),
    )
    assert edited.gross_amount == Decimal("150")
    await dc.delete_managed_case_payment(case.id, paid.payment_id)
    assert await dc.list_managed_case_payments(case.id) == []
    assert await dc.list_managed_case_chats(case.id) == []
    assert await dc.list_managed_case_files(case.id) == []

    closed = await dc.advance_test_case(case.id, "Closed:Paid", amount=1000)
    assert closed.advanced is True and closed.state == "Closed:Paid"
    repeat = await dc.advance_test_case(case.id, AdvanceTarget.CLOSED_PAID, amount=1000)
    assert repeat.advanced is False
    final = await dc.get_case(case.id)
    assert final.lifecycle == Lifecycle.Closed and final.close_code == CloseCode.Paid
    timeline = await dc.get_managed_case_timeline(case.id)
    assert {"Payment registered", "Payment deleted", "Case activated"} <= {i.title for i in timeline.items}

    await dc.delete_test_cases_by_tag(tag)
    with pytest.raises(NotFound):
        await dc.get_managed_case(case.id)
    await dc.delete_test_case(case.id)  # already gone: no error
    await dc.delete_test_cases_by_tag(tag)  # nothing left: no error


async def test_guards_reach_the_caller_as_the_error_tree(dc: DebituraClient, sandbox: SandboxHandle) -> None:
    production = sandbox.case("Active")
    with pytest.raises(BadRequest) as info:
        await dc.advance_test_case(production["id"], AdvanceTarget.ACTIVE)
    assert info.value.has_business_error("NotATestCase")
    with pytest.raises(BadRequest):
        await dc.delete_test_case(production["id"])
    with pytest.raises(BadRequest):
        await dc.fire_test_webhook(FireWebhookRequest(event="case.updated", case_id=production["id"]))
    with pytest.raises(NotFound):
        await dc.advance_test_case(str(uuid.uuid4()), AdvanceTarget.ACTIVE)
    with pytest.raises(NotFound):
        await dc.get_managed_case(production["id"])
    with pytest.raises(Unprocessable) as nobody:
        await dc.create_managed_case(managed_request(None, "abroad", is_test=False, country="JP"))
    assert nobody.value.has_business_error("NoPartnerAvailable")
    tag = f"mixed-{uuid.uuid4().hex[:8]}"
    kept = await dc.create_managed_case(managed_request(None, tag))
    await dc.create_managed_case(managed_request(None, tag, is_test=False))
    with pytest.raises(BadRequest) as mixed:
        await dc.delete_test_cases_by_tag(tag)
    assert mixed.value.has_business_error("ProductionCaseInTag")
    assert (await dc.get_managed_case(kept.id)).id == kept.id  # all or nothing
    with pytest.raises(Unprocessable) as empty:
        await dc.fire_test_webhook(FireWebhookRequest(event="chat.created", case_id=kept.id))
    assert empty.value.has_business_error("NoChats")


async def test_fire_and_replay_reach_our_webhook_signed(dc: DebituraClient, sandbox: SandboxHandle) -> None:
    inbox: asyncio.Queue[tuple[dict[str, str], bytes]] = asyncio.Queue()

    async def receive(request: web.Request) -> web.Response:
        await inbox.put((dict(request.headers), await request.read()))
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        hook = await dc.create_webhook(
            CreateWebhookRequest(url=f"http://127.0.0.1:{port}/hook", events=["payment.created"],
                                 is_test_mode=True)
        )
        assert hook.secret is not None
        secret = hook.secret.get_secret_value()
        case = await dc.create_managed_case(managed_request(None, "fire"))
        await dc.advance_test_case(case.id, AdvanceTarget.CLOSED_PAID, amount=Decimal("250"))
        headers, body = await asyncio.wait_for(inbox.get(), timeout=15)
        verify_signature(secret, headers["X-Debitura-Signature"], body)
        assert headers["X-Debitura-Test"] == "true" and parse_event(body).event == "payment.created"

        fired = await dc.fire_test_webhook(
            FireWebhookRequest(event="payment.created", case_id=case.id, subscription_id=hook.id)
        )
        assert fired.enqueued_count == 1 and fired.event_type == "payment.created"
        headers2, body2 = await asyncio.wait_for(inbox.get(), timeout=15)
        verify_signature(secret, headers2["X-Debitura-Signature"], body2)
        assert parse_event(body2).data["paymentId"] == parse_event(body).data["paymentId"]

        async def both_logged() -> list[object] | None:
            rows = await dc.list_webhook_events(case.id)
            return list(rows) if len(rows) == 2 else None

        await eventually("both deliveries in the event log", both_logged)
        replayed = await dc.replay_test_case_last_event(case.id)
        assert replayed.subscription_id == hook.id and replayed.event_type == "payment.created"
        headers3, body3 = await asyncio.wait_for(inbox.get(), timeout=15)
        assert headers3.get("X-Debitura-Replay") == "true" and body3 == body2
        verify_signature(secret, headers3["X-Debitura-Signature"], body3)
        await dc.delete_test_case(case.id)
    finally:
        await runner.cleanup()


async def test_ingestion_job_of_notes(dc: DebituraClient, sandbox: SandboxHandle) -> None:
    ours = sandbox.case("Active")
    job = await dc.create_ingestion_job(
        CreateIngestionJobRequest(rows=[
            IngestionJobRow(case_id=ours["id"], description="Called the debtor", external_ref="crm-1"),
            IngestionJobRow(case_id=str(uuid.uuid4()), description="Not our case"),
        ]),
        idempotency_key=f"notes-{uuid.uuid4()}",
    )
    assert job.rows_queued == 2 and job.job_id is not None
    job_id = job.job_id

    async def finished() -> object | None:
        status = await dc.get_ingestion_job(job_id)
        return status if status.finished else None

    # Every row counted means finished, whatever the status says yet (the client is lenient);
    # the sandbox sets the final status in the same step, so the two agree from then on.
    status = await eventually("the ingestion job", finished)
    assert status == await dc.get_ingestion_job(job_id)
    final = await dc.get_ingestion_job(job_id)
    assert final.status is IngestionJobStatus.COMPLETED
    assert (final.rows_total, final.rows_succeeded, final.rows_failed) == (2, 1, 1)
    assert "Called the debtor" in [i.description for i in (await dc.get_timeline(ours["id"])).items]
    with pytest.raises(NotFound):
        await dc.get_ingestion_job(str(uuid.uuid4()))
