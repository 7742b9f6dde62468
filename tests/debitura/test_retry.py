"""The one retry policy: 429 waits, 5xx/timeout backoff only for safe requests, else OutcomeUnknown."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest

from bot.debitura.client import DebituraClient, RetryPolicy
from bot.debitura.errors import OutcomeUnknown, RateLimited, ServerError, TransportError
from bot.debitura.models import (
    CloseCaseRequest,
    CreateNoteRequest,
    CreatePaymentRequest,
    SendChatRequest,
    StartCaseRequest,
    UpdateFeesRequest,
    UpdatePaymentRequest,
)
from bot.debitura.ratelimit import BudgetExhausted, Priority, UnlimitedLimiter
from bot.metrics import Metrics
from tests.debitura import bodies
from tests.debitura.conftest import API_KEY, BASE_URL, FakeApi, Sleeps

CID = bodies.CASE_ID
RATE_LIMIT = {"error": "rate_limit_exceeded", "message": "Too many requests.", "retryAfter": 42.0}


def count(metrics: Metrics, operation: str, status: str) -> float:
    value = metrics.registry.get_sample_value(
        "caseroom_debitura_requests_total", {"operation": operation, "status": status}
    )
    return value or 0.0


async def test_429_waits_body_retry_after_and_penalizes(
    client: DebituraClient, api: FakeApi, sleeps: Sleeps, limiter: UnlimitedLimiter, metrics: Metrics
) -> None:
    api.json(RATE_LIMIT, status=429, headers={"Retry-After": "7"})
    api.json(bodies.ME)
    me = await client.me()
    assert me.company_name == "Acme Collections A/S"
    assert sleeps.waits == [42.0]  # the body wins over the header
    assert limiter.penalties == [42.0]
    assert len(api.requests) == 2
    assert [op for _, op in limiter.acquired] == ["me", "me"]  # every attempt takes a slot
    assert count(metrics, "me", "429") == 1 and count(metrics, "me", "200") == 1


async def test_429_falls_back_to_retry_after_header(
    client: DebituraClient, api: FakeApi, sleeps: Sleeps, limiter: UnlimitedLimiter
) -> None:
    api.reply(httpx.Response(429, text="slow down", headers={"Retry-After": "3"}))
    api.json(bodies.ME)
    await client.me()
    assert sleeps.waits == [3.0] and limiter.penalties == [3.0]


async def test_429_without_any_hint_uses_backoff(
    client: DebituraClient, api: FakeApi, sleeps: Sleeps
) -> None:
    api.json({"error": "rate_limit_exceeded", "message": "Too many requests."}, status=429)
    api.json(bodies.ME)
    await client.me()
    assert len(sleeps.waits) == 1 and 0 <= sleeps.waits[0] <= 0.5  # full jitter, first step base 0.5


async def test_429_is_retried_even_for_non_idempotent_writes(
    client: DebituraClient, api: FakeApi, sleeps: Sleeps
) -> None:
    # A 429 means Debitura did not process the request, so repeating a note is safe.
    api.json(RATE_LIMIT, status=429)
    api.json(bodies.NOTE)
    await client.create_note(CID, CreateNoteRequest(description="x"))
    assert len(api.requests) == 2 and sleeps.waits == [42.0]


async def test_429_gives_up_after_max_retries(client: DebituraClient, api: FakeApi, sleeps: Sleeps) -> None:
    api.reply(*[httpx.Response(429, json={**RATE_LIMIT, "retryAfter": 1.5})] * 4)
    with pytest.raises(RateLimited) as info:
        await client.me()
    assert info.value.retry_after == 1.5 and not info.value.local
    assert len(api.requests) == 4 and sleeps.waits == [1.5, 1.5, 1.5]


async def test_429_longer_than_max_wait_is_raised_at_once(
    client: DebituraClient, api: FakeApi, sleeps: Sleeps, limiter: UnlimitedLimiter
) -> None:
    api.json({**RATE_LIMIT, "retryAfter": 3600}, status=429)
    with pytest.raises(RateLimited) as info:
        await client.me()
    assert info.value.retry_after == 3600
    assert sleeps.waits == [] and limiter.penalties == [3600]


async def test_5xx_on_get_is_retried_with_capped_jittered_backoff(api: FakeApi, sleeps: Sleeps) -> None:
    policy = RetryPolicy(max_retries=6, base=0.5, cap=2.0)
    c = DebituraClient(
        BASE_URL, API_KEY, transport=httpx.MockTransport(api.handler), sleep=sleeps, retry_policy=policy
    )
    api.reply(*[httpx.Response(503, text="unavailable")] * 6)
    api.json(bodies.TIMELINE)
    timeline = await c.get_timeline(CID)
    assert len(timeline.items) == 2 and len(api.requests) == 7
    ceilings = [min(2.0, 0.5 * 2**i) for i in range(6)]
    assert all(0 <= w <= cap for w, cap in zip(sleeps.waits, ceilings, strict=True))
    await c.aclose()


async def test_5xx_on_get_raises_server_error_after_retries(
    client: DebituraClient, api: FakeApi, sleeps: Sleeps
) -> None:
    api.reply(*[httpx.Response(500, json={"businessErrors": [{"type": "X", "message": "Boom"}]})] * 4)
    with pytest.raises(ServerError, match="Boom"):
        await client.list_chats(CID)
    assert len(api.requests) == 4 and len(sleeps.waits) == 3


async def test_timeout_on_get_is_retried(client: DebituraClient, api: FakeApi, metrics: Metrics) -> None:
    api.reply(httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("dropped"))
    api.json([bodies.PAYMENT])
    assert len(await client.list_payments(CID)) == 1
    assert count(metrics, "list_payments", "timeout") == 1
    assert count(metrics, "list_payments", "connection_error") == 1


async def test_timeouts_on_get_end_as_transport_error(client: DebituraClient, api: FakeApi) -> None:
    api.reply(*[httpx.ReadTimeout("slow")] * 4)
    with pytest.raises(TransportError):
        await client.me()
    assert len(api.requests) == 4


WRITES: list[tuple[str, Callable[[DebituraClient], Awaitable[object]]]] = [
    ("create_note", lambda c: c.create_note(CID, CreateNoteRequest(description="Called debtor"))),
    ("close_case", lambda c: c.close_case(CID, CloseCaseRequest(close_code="Paid"))),
    ("start_case", lambda c: c.start_case(CID, StartCaseRequest(welcome_message="Hi", user_email="a@b.c"))),
    (
        "update_fees",
        lambda c: c.update_fees(CID, UpdateFeesRequest(interest_fees=1, reminder_fees=2, collection_fees=3)),
    ),
    ("upload_file", lambda c: c.upload_file(CID, filename="a.pdf", content=b"%PDF")),
    (
        "update_payment",
        lambda c: c.update_payment(
            CID,
            bodies.PAYMENT_ID,
            UpdatePaymentRequest(date="2026-04-04", payment_amount=5, payment_recipient="CollectionPartner"),
        ),
    ),
    ("delete_payment", lambda c: c.delete_payment(CID, bodies.PAYMENT_ID)),
]


@pytest.mark.parametrize(("operation", "call"), WRITES, ids=[w[0] for w in WRITES])
async def test_non_idempotent_write_5xx_is_outcome_unknown_not_retried(
    client: DebituraClient,
    api: FakeApi,
    sleeps: Sleeps,
    operation: str,
    call: Callable[[DebituraClient], Awaitable[object]],
) -> None:
    api.json({"businessErrors": [{"type": "Unhandled", "message": "Unexpected"}]}, status=500)
    with pytest.raises(OutcomeUnknown) as info:
        await call(client)
    assert len(api.requests) == 1 and sleeps.waits == []
    assert info.value.operation == operation and info.value.case_id == CID and info.value.status == 500
    assert isinstance(info.value.__cause__, ServerError)
    assert "may or may not have been applied" in str(info.value)


@pytest.mark.parametrize(("operation", "call"), WRITES, ids=[w[0] for w in WRITES])
async def test_non_idempotent_write_timeout_is_outcome_unknown(
    client: DebituraClient,
    api: FakeApi,
    sleeps: Sleeps,
    operation: str,
    call: Callable[[DebituraClient], Awaitable[object]],
) -> None:
    api.reply(httpx.ReadTimeout("no answer"))
    with pytest.raises(OutcomeUnknown) as info:
        await call(client)
    assert len(api.requests) == 1 and sleeps.waits == []
    assert info.value.operation == operation and info.value.reason == "timeout"


async def test_write_whose_connection_never_opened_is_retried(
    client: DebituraClient, api: FakeApi, sleeps: Sleeps
) -> None:
    # ConnectError: nothing reached Debitura, so even a note may be sent again.
    api.reply(httpx.ConnectError("refused"))
    api.json(bodies.NOTE)
    await client.create_note(CID, CreateNoteRequest(description="x"))
    assert len(api.requests) == 2 and len(sleeps.waits) == 1


async def test_idempotent_payment_is_retried_with_the_same_key(
    client: DebituraClient, api: FakeApi, sleeps: Sleeps
) -> None:
    api.reply(httpx.ReadTimeout("no answer"), httpx.Response(502, text="bad gateway"))
    api.json(bodies.CREATE_PAYMENT_RESPONSE)
    result = await client.create_payment(
        CID, CreatePaymentRequest(date="2025-11-19", payment_amount=10, payment_recipient="Platform")
    )
    assert result.payment_id == bodies.PAYMENT_ID
    keys = {r.headers["Idempotency-Key"] for r in api.requests}
    assert len(api.requests) == 3 and len(keys) == 1
    assert len({r.content for r in api.requests}) == 1


async def test_idempotent_chat_is_retried_with_the_callers_key(client: DebituraClient, api: FakeApi) -> None:
    api.reply(httpx.Response(500, json={"businessErrors": []}))
    api.json(bodies.CHAT)
    await client.send_chat(CID, SendChatRequest(message="hi", user_email="a@b.c"), idempotency_key="chat-7")
    assert [r.headers["Idempotency-Key"] for r in api.requests] == ["chat-7", "chat-7"]


async def test_409_in_flight_on_idempotent_post_waits_and_retries(
    client: DebituraClient, api: FakeApi, sleeps: Sleeps
) -> None:
    in_flight = {"businessErrors": [{"type": "IdempotencyInFlight", "message": "Still processing"}]}
    api.json(in_flight, status=409)
    api.json(in_flight, status=409, headers={"Retry-After": "4"})
    api.json(bodies.CREATE_PAYMENT_RESPONSE)
    await client.create_payment(
        CID,
        CreatePaymentRequest(date="2025-11-19", payment_amount=10, payment_recipient="Platform"),
        idempotency_key="pay-9",
    )
    assert sleeps.waits == [1.5, 4.0]
    assert [r.headers["Idempotency-Key"] for r in api.requests] == ["pay-9"] * 3


async def test_409_without_idempotency_key_is_not_retried(client: DebituraClient, api: FakeApi) -> None:
    api.json(
        {"businessErrors": [{"type": "ReopenRequired", "message": "Resend with reopenCaseIfNeeded"}]},
        status=409,
    )
    from bot.debitura.errors import Conflict

    with pytest.raises(Conflict, match="reopenCaseIfNeeded"):
        await client.delete_payment(CID, bodies.PAYMENT_ID)
    assert len(api.requests) == 1


async def test_webhook_delete_is_retried_after_5xx(client: DebituraClient, api: FakeApi) -> None:
    api.reply(httpx.Response(500, text=""), httpx.Response(204))
    await client.delete_webhook(bodies.WEBHOOK_ID)
    assert len(api.requests) == 2


async def test_4xx_is_never_retried(client: DebituraClient, api: FakeApi, sleeps: Sleeps) -> None:
    from bot.debitura.errors import BadRequest

    api.json({"Date": ["required"]}, status=400)
    with pytest.raises(BadRequest):
        await client.get_case(CID)
    assert len(api.requests) == 1 and sleeps.waits == []


class ExhaustedLimiter(UnlimitedLimiter):
    async def acquire(self, priority: Priority, operation: str) -> None:
        await super().acquire(priority, operation)
        raise BudgetExhausted(12.5, "day")


async def test_budget_exhausted_becomes_rate_limited_without_sending(
    api: FakeApi, sleeps: Sleeps, metrics: Metrics
) -> None:
    limiter = ExhaustedLimiter()
    c = DebituraClient(
        BASE_URL,
        API_KEY,
        limiter=limiter,
        metrics=metrics,
        transport=httpx.MockTransport(api.handler),
        sleep=sleeps,
        priority=Priority.BACKGROUND,
    )
    with pytest.raises(RateLimited) as info:
        await c.get_case(CID)
    assert info.value.local is True and info.value.retry_after == 12.5
    assert "budget" in str(info.value) and "13 s" in str(info.value)
    assert api.requests == [] and sleeps.waits == []
    assert limiter.acquired == [(Priority.BACKGROUND, "get_case")]
    assert count(metrics, "get_case", "budget") == 1
    await c.aclose()


async def test_requests_are_logged_at_debug_without_key_or_body(
    client: DebituraClient, api: FakeApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG", logger="bot.debitura.client")
    api.json(bodies.NOTE)
    await client.create_note(CID, CreateNoteRequest(description="Very private note text"))
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.debitura.client"]
    assert any(f"POST cases/{CID}/notes -> 200" in line for line in lines)
    assert not any(API_KEY in line or "Very private" in line for line in lines)


async def test_locally_refused_request_is_not_retried_nor_unknown(
    client: DebituraClient, api: FakeApi
) -> None:
    api.reply(httpx.LocalProtocolError("bad header"))
    with pytest.raises(TransportError):
        await client.create_note(CID, CreateNoteRequest(description="x"))
    assert len(api.requests) == 1


@pytest.mark.parametrize("key", ["line\nbreak", "caf\u00e9", "tab\there"])
async def test_idempotency_key_must_be_header_safe(client: DebituraClient, api: FakeApi, key: str) -> None:
    from bot.debitura.errors import ClientValidationError

    with pytest.raises(ClientValidationError):
        await client.send_chat(CID, SendChatRequest(message="hi", user_email="a@b.c"), idempotency_key=key)
    assert api.requests == []
