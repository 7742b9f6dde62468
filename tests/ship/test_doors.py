"""The two public doors of the real ASGI app (bot.web.build_web_app with the real Bolt app), in process.

What each door refuses, how much it reads before refusing, what it logs and what it adds to /metrics:
an unsigned request costs a header read and a 401; an oversized one a capped read and a 413; a signed
body that does not parse a 400 and one line; nothing but caseroom_requests_rejected_total counts them.
The streaming cap is also checked over a real socket (uvicorn on loopback), where a chunked upload
must get its 413 long before it is sent in full.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
import uvicorn
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from starlette.applications import Starlette

from bot.app import REQUEST_KINDS, build_app
from bot.config import load_settings
from bot.debitura.webhooks import sign
from bot.doors import MAX_SLACK_BODY, MAX_WEBHOOK_BODY, BodyBudget, LogLimiter, Reason
from bot.metrics import REJECT_REASONS
from bot.relay.webhooks import handle_webhook
from bot.runtime import Runtime, build_runtime
from bot.web import WebState, build_web_app
from tests.fakes.slack.server import FakeSlack
from tests.fixtures.redis import redis_url

WEBHOOK_SECRET = base64.b64encode(b"doors-webhook-secret-32-bytes!!!").decode()
CHUNK = 64 * 1024


def slack_headers(secret: str, body: bytes, *, ts: int | None = None, content_type: str = "application/json",
                  signature: str | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if ts is None else ts)
    mac = hmac.new(secret.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature or f"v0={mac}",
            "Content-Type": content_type}


def webhook_headers(body: bytes, *, t: int | None = None) -> dict[str, str]:
    return {"X-Debitura-Signature": sign(WEBHOOK_SECRET, body, int(time.time()) if t is None else t),
            "Content-Type": "application/json"}


def series(runtime: Runtime) -> set[str]:
    """Every sample of /metrics by name and labels (values left out)."""
    text = runtime.metrics.render().decode()
    return {line.rsplit(" ", 1)[0] for line in text.splitlines() if line and not line.startswith("#")}


def rejected(runtime: Runtime, door: str, reason: str) -> float:
    return runtime.metrics.rejected.labels(door=door, reason=reason)._value.get()  # type: ignore[no-any-return]


@dataclass
class Doors:
    runtime: Runtime
    state: WebState
    app: Starlette
    slack_secret: str

    def client(self) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
        return httpx.AsyncClient(transport=transport, base_url="http://doors")


async def make_doors(fake_slack: FakeSlack, prefix: str, redis: str = "") -> Doors:
    """The web app of `caseroom run --mode http` (no relay task) over the fake Slack; Debitura unreachable."""
    settings = load_settings(
        slack_bot_token=fake_slack.bot_token, slack_signing_secret=fake_slack.signing_secret,
        slack_api_url=fake_slack.api_url, debitura_api_key="k", debitura_api_url="http://127.0.0.1:9",
        redis_url=redis or redis_url(), debitura_webhook_secret=WEBHOOK_SECRET, caseroom_redis_prefix=prefix,
    )
    runtime = await build_runtime(settings)
    state = WebState(runtime=runtime, mode="http", slack_ok=True, webhook_handler=handle_webhook)
    bolt = build_app(runtime, socket_mode=False)
    app = build_web_app(state, slack_handler=AsyncSlackRequestHandler(bolt))
    return Doors(runtime=runtime, state=state, app=app, slack_secret=fake_slack.signing_secret)


@pytest.fixture
async def doors(fake_slack: FakeSlack, redis: aioredis.Redis, redis_prefix: str) -> AsyncIterator[Doors]:
    d = await make_doors(fake_slack, redis_prefix)  # `redis` deletes the prefix's keys after
    yield d
    await d.runtime.aclose()


@pytest.fixture
async def dead_redis_doors(fake_slack: FakeSlack, redis_prefix: str) -> AsyncIterator[Doors]:
    d = await make_doors(fake_slack, redis_prefix, "redis://127.0.0.1:1/0")
    yield d
    await d.runtime.aclose()


class CountingBody:
    """A request body streamed in 64 KiB chunks, counting what the server pulled."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.pulled = 0
        self.drained = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.pulled < self.total:
            self.pulled += CHUNK
            yield b"x" * CHUNK
        self.drained = True


def bad_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """ERROR or worse, or anything with a traceback."""
    return [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info or r.stack_info]


# --- 1. /debitura/webhooks: the body is a capped stream ------------------------------------------------

async def test_doors_webhook_chunked_upload_over_the_cap_is_refused_without_reading_it(doors: Doors) -> None:
    body = CountingBody(8 * 1024 * 1024)  # no Content-Length: sent chunked
    async with doors.client() as c:
        resp = await c.post("/debitura/webhooks", content=body, headers=webhook_headers(b"whatever"))
    assert resp.status_code == 413 and resp.json() == {"error": "too_large"}
    assert body.pulled <= MAX_WEBHOOK_BODY + CHUNK  # never more than the cap (and the chunk crossing it)
    assert not body.drained
    assert rejected(doors.runtime, "webhook", "too_large") == 1


async def test_doors_webhook_without_signature_header_is_refused_before_reading(doors: Doors) -> None:
    body = CountingBody(4 * 1024 * 1024)
    async with doors.client() as c:
        resp = await c.post("/debitura/webhooks", content=body)
    assert resp.status_code == 401
    assert body.pulled == 0
    assert rejected(doors.runtime, "webhook", "signature") == 1


async def test_doors_webhook_stale_and_forged_are_counted_by_reason(doors: Doors) -> None:
    event = json.dumps({"id": "evt-doors-1", "event": "chat.created", "data": {"caseId": "c-1"}}).encode()
    async with doors.client() as c:
        stale = await c.post("/debitura/webhooks", content=event,
                             headers=webhook_headers(event, t=int(time.time()) - 3600))
        forged = await c.post("/debitura/webhooks", content=event,
                              headers={"X-Debitura-Signature": f"t={int(time.time())},v1={'0' * 64}"})
    assert stale.status_code == 401 and forged.status_code == 401
    assert rejected(doors.runtime, "webhook", "stale") == 1
    assert rejected(doors.runtime, "webhook", "signature") == 1


class StallingBody:
    """Sends `before` bytes, then waits for `go` before ending the body."""

    def __init__(self, before: int, go: asyncio.Event) -> None:
        self.before, self.go = before, go

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.before // CHUNK):
            yield b"x" * CHUNK
        await self.go.wait()


async def test_doors_large_bodies_share_one_budget_and_small_ones_never_wait(doors: Doors) -> None:
    budget = doors.state.body_budget = BodyBudget(total=256 * 1024, free=16 * 1024)
    go = asyncio.Event()
    event = json.dumps({"id": "evt-doors-small", "event": "chat.created", "data": {"caseId": "c-1"}}).encode()
    async with doors.client() as c:
        holder = asyncio.create_task(c.post("/debitura/webhooks", content=StallingBody(256 * 1024, go),
                                            headers=webhook_headers(b"other")))
        for _ in range(200):
            if budget.used >= 200 * 1024:
                break
            await asyncio.sleep(0.01)
        assert budget.used >= 200 * 1024
        big = CountingBody(MAX_SLACK_BODY)
        busy = await c.post("/slack/events", content=big,
                            headers=slack_headers(doors.slack_secret, b"", signature="v0=" + "0" * 64))
        small = await c.post("/debitura/webhooks", content=event, headers=webhook_headers(event))
        go.set()
        held = await holder
    assert busy.status_code == 503 and busy.headers["retry-after"] and not big.drained
    assert small.status_code == 200 and small.json() == {"status": "queued"}
    assert held.status_code == 401  # read in full once the budget allowed, then refused: not signed
    assert budget.used == 0
    assert rejected(doors.runtime, "slack", "busy") == 1


async def serve_on_loopback(app: Starlette) -> tuple[uvicorn.Server, asyncio.Task[None], int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_config=None, lifespan="off", access_log=False, http="h11")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    return server, task, int(sock.getsockname()[1])


async def chunked_upload(port: int, path: str, headers: dict[str, str], total: int) -> tuple[str, int, int]:
    """A chunked POST of `total` bytes that goes on sending after the answer, as an attacker would.

    Returns the status line, the bytes sent when the answer came, and the bytes sent in all before
    the server hung up (or `total`, if it never did).
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = f"POST {path} HTTP/1.1\r\nHost: doors\r\nTransfer-Encoding: chunked\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    writer.write(head.encode())
    answer = asyncio.create_task(reader.readline())
    sent = 0
    at_answer = -1
    chunk = f"{CHUNK:x}\r\n".encode() + b"x" * CHUNK + b"\r\n"
    try:
        while sent < total:
            if at_answer < 0 and answer.done():
                at_answer = sent
            writer.write(chunk)
            await asyncio.wait_for(writer.drain(), 10)
            sent += CHUNK
    except (ConnectionError, OSError, TimeoutError):
        pass  # the server hung up: the rest is never sent
    status = (await asyncio.wait_for(answer, 10)).decode().strip()
    writer.close()
    return status, at_answer if at_answer >= 0 else sent, sent


async def test_doors_chunked_uploads_over_a_real_socket_get_413_and_a_hang_up(doors: Doors) -> None:
    server, task, port = await serve_on_loopback(doors.app)
    total = 64 * 1024 * 1024
    try:
        webhook, webhook_answered, webhook_sent = await chunked_upload(
            port, "/debitura/webhooks", webhook_headers(b"x"), total)
        slack, slack_answered, slack_sent = await chunked_upload(
            port, "/slack/events", slack_headers(doors.slack_secret, b"x"), total)
    finally:
        server.should_exit = True
        await task
    # the answer comes long before the end (what was sent past the cap sits in socket buffers), and the
    # server hangs up instead of reading the rest of the upload
    assert webhook_answered < total // 4 and slack_answered < total // 4, (webhook_answered, slack_answered)
    assert webhook_sent < total // 2 and slack_sent < total // 2, (webhook_sent, slack_sent)
    assert webhook.startswith("HTTP/1.1 413"), webhook
    assert slack.startswith("HTTP/1.1 413"), slack


# --- 2. /slack/events: verified in front of Bolt ----------------------------------------------------

async def test_doors_slack_unsigned_costs_a_header_read_and_a_401(doors: Doors) -> None:
    body = CountingBody(4 * 1024 * 1024)
    async with doors.client() as c:
        resp = await c.post("/slack/events", content=body, headers={"Content-Type": "application/json"})
    assert resp.status_code == 401
    assert body.pulled == 0
    assert rejected(doors.runtime, "slack", "signature") == 1


async def test_doors_slack_oversized_chunked_body_is_refused_at_the_cap(doors: Doors) -> None:
    body = CountingBody(8 * 1024 * 1024)
    headers = slack_headers(doors.slack_secret, b"", signature="v0=" + "0" * 64)
    async with doors.client() as c:
        resp = await c.post("/slack/events", content=body, headers=headers)
    assert resp.status_code == 413
    assert body.pulled <= MAX_SLACK_BODY + CHUNK and not body.drained
    assert rejected(doors.runtime, "slack", "too_large") == 1


UNPARSEABLE = [b'{"type": "event_callback", ', b"\xff\xfe{\x00", b'{"a": "\xc3\x28"}', b"payload=%7Bnot+json",
               b"[1, 2, 3]", b'{"type": "event_callback", "event": "x"}', b'payload="just+a+string"']


UNPARSEABLE_IDS = ["bad-json", "bad-utf8", "bad-utf8-in-json", "bad-form-payload", "not-an-object",
                   "event-not-an-object", "payload-a-string"]


@pytest.mark.parametrize("raw", UNPARSEABLE, ids=UNPARSEABLE_IDS)
async def test_doors_slack_unparseable_bodies_unsigned_401_signed_400_one_line_no_traceback(
    doors: Doors, caplog: pytest.LogCaptureFixture, raw: bytes
) -> None:
    caplog.set_level(logging.INFO)
    content_type = "application/x-www-form-urlencoded" if raw.startswith(b"payload") else "application/json"
    async with doors.client() as c:
        unsigned = await c.post("/slack/events", content=raw, headers={"Content-Type": content_type})
        signed = await c.post("/slack/events", content=raw,
                              headers=slack_headers(doors.slack_secret, raw, content_type=content_type))
    assert unsigned.status_code == 401
    assert signed.status_code == 400 and signed.json() == {"error": "bad_body"}
    assert not bad_records(caplog), [r.getMessage() for r in bad_records(caplog)]
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 2, lines  # one line each, and neither repeats the body
    for fragment in ("\\xff", "not+json", "just+a", "event_callback"):
        assert not any(fragment in line for line in lines)
    assert rejected(doors.runtime, "slack", "bad_body") == 1


async def test_doors_slack_replayed_request_is_stale(doors: Doors) -> None:
    body = json.dumps({"type": "url_verification", "challenge": "c"}).encode()
    async with doors.client() as c:
        resp = await c.post("/slack/events", content=body,
                            headers=slack_headers(doors.slack_secret, body, ts=int(time.time()) - 600))
    assert resp.status_code == 401
    assert rejected(doors.runtime, "slack", "stale") == 1
    assert rejected(doors.runtime, "slack", "signature") == 0


async def test_doors_slack_signed_request_still_reaches_bolt(doors: Doors) -> None:
    body = json.dumps({"token": "t", "type": "url_verification", "challenge": "doors-challenge"}).encode()
    async with doors.client() as c:
        resp = await c.post("/slack/events", content=body, headers=slack_headers(doors.slack_secret, body))
    assert resp.status_code == 200 and resp.json() == {"challenge": "doors-challenge"}
    sample = 'caseroom_ack_seconds_count{kind="url_verification"} 1.0'
    assert sample in doors.runtime.metrics.render().decode()


async def test_doors_rejection_log_lines_are_rate_limited_with_a_count(
    doors: Doors, caplog: pytest.LogCaptureFixture
) -> None:
    now = [1000.0]
    doors.state.log_limiter = LogLimiter(logging.getLogger("bot.web"), interval=60, clock=lambda: now[0])
    async with doors.client() as c:
        for _ in range(50):
            assert (await c.post("/slack/events", content=b"{}")).status_code == 401
        now[0] += 61
        assert (await c.post("/slack/events", content=b"{}")).status_code == 401
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.web"]
    assert len(lines) == 2, lines
    assert "bad or missing Slack signature" in lines[0]
    assert "49 more like it" in lines[1]
    assert rejected(doors.runtime, "slack", "signature") == 51


# --- 3. metric labels: closed sets, nothing for unverified requests ------------------------------------

async def test_doors_unsigned_requests_add_no_metric_series(doors: Doors) -> None:
    before = series(doors.runtime)
    async with doors.client() as c:
        for i in range(200):
            body = json.dumps({"type": f"kind-{i}", "command": "/case", "text": f"Jane Roe {i}"})
            assert (await c.post("/slack/events", content=body,
                                 headers={"Content-Type": "application/json"})).status_code == 401
    assert series(doors.runtime) == before
    assert rejected(doors.runtime, "slack", "signature") == 200


async def test_doors_signed_requests_of_unknown_types_are_labelled_other(doors: Doors) -> None:
    async with doors.client() as c:
        for i in range(20):
            body = json.dumps({"type": f"kind-{i}", "team_id": "T0CASEROOM", "token": "t"}).encode()
            headers = slack_headers(doors.slack_secret, body)
            assert (await c.post("/slack/events", content=body, headers=headers)).status_code < 500
    kinds = {s.split('kind="', 1)[1].split('"', 1)[0] for s in series(doors.runtime) if 'kind="' in s
             and s.startswith("caseroom_ack_seconds")}
    assert kinds == {"other"}


def test_doors_rejection_series_exist_from_the_start() -> None:
    from bot.metrics import Metrics

    text = Metrics().render().decode()
    assert tuple(Reason) == REJECT_REASONS
    for door in ("slack", "webhook"):
        for reason in REJECT_REASONS:
            assert f'caseroom_requests_rejected_total{{door="{door}",reason="{reason}"}} 0.0' in text


def test_doors_request_kinds_are_a_closed_set() -> None:
    from bot.app import request_kind

    assert request_kind({"type": "Jane Roe"}) == "other"
    assert request_kind({"type": {"nested": 1}}) == "other"
    assert request_kind({"type": "view_submission"}) == "view_submission"
    assert "other" not in REQUEST_KINDS and "unknown" not in REQUEST_KINDS


# --- 9. Redis down during a webhook ------------------------------------------------------------------

async def test_doors_webhook_with_redis_down_answers_503_with_one_line(
    dead_redis_doors: Doors, caplog: pytest.LogCaptureFixture
) -> None:
    event = json.dumps({"id": "evt-doors-redis", "event": "chat.created", "timestamp": "2026-01-01T00:00:00Z",
                        "data": {"caseId": "c-1"}}).encode()
    async with dead_redis_doors.client() as c:
        resp = await c.post("/debitura/webhooks", content=event, headers=webhook_headers(event))
    assert resp.status_code == 503 and resp.headers["retry-after"]
    assert resp.json()["error"] == "unavailable"
    assert not bad_records(caplog), [r.getMessage() for r in bad_records(caplog)]
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 1 and "Redis unavailable" in lines[0], lines
    sample = 'caseroom_webhooks_total{event="chat.created",outcome="unavailable"} 1.0'
    assert sample in dead_redis_doors.runtime.metrics.render().decode()


# --- 10. health answers without details ------------------------------------------------------------

class BrokenRelay:
    def health(self) -> dict[str, Any]:
        return {"running": True, "tasks_alive": 3, "tasks_total": 4, "cases_watched": 1,
                "last_error": "fetch: ConnectionError: Error 111 connecting to redis.internal:6379"}


async def test_doors_health_answers_name_the_part_but_not_the_error(
    dead_redis_doors: Doors, caplog: pytest.LogCaptureFixture
) -> None:
    dead_redis_doors.state.relay = BrokenRelay()  # type: ignore[assignment]
    async with dead_redis_doors.client() as c:
        health = await c.get("/healthz")
        ready = await c.get("/readyz")
    assert health.status_code == 503 and ready.status_code == 503
    assert health.json() == {"status": "fail", "checks": {"process": {"ok": True}, "redis": {"ok": False},
                                                          "relay": {"ok": False}}}
    assert ready.json()["checks"]["redis"] == {"ok": False}
    for text in (health.text, ready.text):
        assert "redis.internal" not in text and "127.0.0.1" not in text and "Error" not in text
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "redis.internal:6379" in logged and "health check redis not ok" in logged
    assert logged.count("health check redis not ok") == 1  # /healthz then /readyz: one line a minute
