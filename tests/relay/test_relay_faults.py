"""Webhook intake (path, duplicates, replays, bad signatures) and fault storms on both sides."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp import web

from bot.debitura.webhooks import sign
from bot.relay.service import Relay
from bot.relay.webhooks import handle_webhook
from bot.slack.channels import channel_for_case
from bot.store.keys import Keys
from bot.store.reads import hgetall
from tests.fakes.slack.server import FakeSlack
from tests.fixtures.sandbox import SandboxHandle
from tests.relay.harness import relay_settings, relayed_items, start_relay, stop_relay, wait_until

pytestmark = pytest.mark.sandbox


class WebhookServer:
    """A loopback HTTP endpoint that hands deliveries to handle_webhook (as bot/web.py does)."""

    def __init__(self) -> None:
        self.relay: Relay | None = None
        self.answers: list[tuple[int, dict[str, Any]]] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/debitura/webhooks", self._handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/debitura/webhooks"

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.relay is None:
            return web.json_response({"error": "not ready"}, status=503)
        status, payload = await handle_webhook(self.relay.runtime, self.relay, body, dict(request.headers))
        self.answers.append((status, payload))
        return web.json_response(payload, status=status)

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


@pytest.fixture
async def webhook_server() -> AsyncIterator[WebhookServer]:
    server = WebhookServer()
    await server.start()
    yield server
    await server.stop()


def subscribe(sandbox: SandboxHandle, url: str) -> str:
    with sandbox.client() as http:
        events = ["chat.created", "case.updated", "case.closed", "payment.created", "payment.deleted",
                  "case.assigned"]
        resp = http.post("/webhooks", json={"url": url, "events": events, "isTestMode": False})
        resp.raise_for_status()
        return str(resp.json()["secret"])


async def baselined(redis: aioredis.Redis, prefix: str, case_id: str) -> bool:
    state = await hgetall(redis, Keys(prefix).case_state(case_id))
    return {"chats", "timeline"} <= set((state.get("base") or "").split(","))


async def test_relay_webhook_path_duplicates_replays_and_bad_signature(
    sandbox: SandboxHandle, fake_slack: FakeSlack, redis: aioredis.Redis, redis_prefix: str,
    webhook_server: WebhookServer,
) -> None:
    secret = subscribe(sandbox, webhook_server.url)
    # no incremental sweeps during the test: a chat can only arrive through the webhook (or a poll)
    settings = relay_settings(fake_slack, sandbox.url, sandbox.api_key, redis_prefix,
                              debitura_webhook_secret=secret, caseroom_relay_sweep_interval=3600)
    case_id = sandbox.case("Active")["id"]
    relay = await start_relay(settings)
    webhook_server.relay = relay
    try:
        await wait_until(lambda: baselined(redis, redis_prefix, case_id), 30, "baseline")
        chat = sandbox.control.add_chat(case_id, "via webhook", role=1)

        async def posted() -> bool:
            ch = await channel_for_case(relay.runtime, case_id)
            items = relayed_items(fake_slack, ch.id) if ch is not None else []
            return any(i == f"chat:{chat['id']}" for i, _ in items)

        await wait_until(posted, 20, "chat relayed on the webhook path")
        assert any(p.get("status") == "queued" for s, p in webhook_server.answers if s == 200)
        ch = await channel_for_case(relay.runtime, case_id)
        assert ch is not None

        # replay every delivered event: each answers duplicate, nothing is posted twice (no blocking
        # waits on the sandbox here: its deliveries come to a server on this very event loop)
        async with sandbox.async_client() as http:
            async def logged() -> bool:  # the log fills a moment after the delivery (as Debitura's)
                return bool((await http.get("/webhooks/events", params={"caseId": case_id})).json())

            await wait_until(logged, 20, "the delivered events in the event log")
        with sandbox.client() as http:
            events = http.get("/webhooks/events", params={"caseId": case_id}).json()
            assert events
            for event in events:
                http.post(f"/webhooks/events/{event['id']}/replay").raise_for_status()
        await wait_until(lambda: _async(sum(1 for s, p in webhook_server.answers
                                            if p.get("status") == "duplicate") >= len(events)), 10, "replays")

        # the same body sent twice by hand: the second is a duplicate
        body = json.dumps({"id": "evt-manual-1", "event": "chat.created", "timestamp": "2026-01-01T00:00:00Z",
                           "data": {"caseId": case_id}}).encode()
        header = sign(secret, body, int(time.time()))
        first = await handle_webhook(relay.runtime, relay, body, {"X-Debitura-Signature": header})
        second = await handle_webhook(relay.runtime, relay, body, {"X-Debitura-Signature": header})
        assert first == (200, {"status": "queued"}) and second == (200, {"status": "duplicate"})

        # a bad signature: 401, no dedupe mark, no fetch requested
        forged = json.dumps({"id": "evt-forged", "event": "chat.created",
                             "data": {"caseId": case_id}}).encode()
        state_before = await hgetall(redis, relay.runtime.keys.case_state(case_id))
        wrong = sign("d3Jvbmcgc2VjcmV0", forged, int(time.time()))
        bad = await handle_webhook(relay.runtime, relay, forged, {"X-Debitura-Signature": wrong})
        assert bad[0] == 401
        assert await redis.exists(relay.runtime.keys.webhook_seen("evt-forged")) == 0
        state_after = await hgetall(redis, relay.runtime.keys.case_state(case_id))
        assert state_after.get("want") == state_before.get("want")
        missing = await handle_webhook(relay.runtime, relay, forged, {})
        assert missing[0] == 401

        # let the fetches the manual event queued run, then check: one post per item
        await wait_until(lambda: _async(relay.fetcher.stats.fetches >= 3), 20, "fetches")
        ids = [i for i, _ in relayed_items(fake_slack, ch.id)]
        assert ids.count(f"chat:{chat['id']}") == 1
        assert len(ids) == len(set(ids))
    finally:
        await stop_relay(relay)


@pytest.mark.slow
async def test_relay_slack_429_and_500_retried_in_order(
    sandbox: SandboxHandle, fake_slack: FakeSlack, redis: aioredis.Redis, redis_prefix: str,
) -> None:
    settings = relay_settings(fake_slack, sandbox.url, sandbox.api_key, redis_prefix)
    case_id = sandbox.case("Active")["id"]
    relay = await start_relay(settings)
    try:
        await wait_until(lambda: baselined(redis, redis_prefix, case_id), 30, "baseline")
        fake_slack.faults.add("chat.postMessage", retry_after=1, times=4)
        fake_slack.faults.add("chat.postMessage", status=500, times=3)
        chats = [sandbox.control.add_chat(case_id, f"message {n}", role=1)["id"] for n in range(6)]

        async def all_posted() -> list[str] | None:
            ch = await channel_for_case(relay.runtime, case_id)
            if ch is None:
                return None
            ids = [i for i, _ in relayed_items(fake_slack, ch.id) if i.startswith("chat:")]
            return ids if len(set(ids)) >= len(chats) else None

        ids = await wait_until(all_posted, 90, "all chats despite 429/500")
        assert ids == [f"chat:{c}" for c in chats], "each chat once, in order"
        assert fake_slack.journal.calls("chat.postMessage", ok=False), "the faults were hit"
    finally:
        await stop_relay(relay)


@pytest.mark.slow
async def test_relay_sandbox_storm_backs_off_and_loses_nothing(
    sandbox: SandboxHandle, fake_slack: FakeSlack, redis: aioredis.Redis, redis_prefix: str,
) -> None:
    settings = relay_settings(fake_slack, sandbox.url, sandbox.api_key, redis_prefix)
    case_id = sandbox.case("Active")["id"]
    relay = await start_relay(settings)
    try:
        await wait_until(lambda: baselined(redis, redis_prefix, case_id), 30, "baseline")
        sandbox.control.add_fault("/cases*", error_rate=0.5, rate_limit_rate=0.3, retry_after=0.5, times=60)
        chats = [sandbox.control.add_chat(case_id, f"storm {n}", role=1)["id"] for n in range(5)]

        async def all_posted() -> list[str] | None:
            ch = await channel_for_case(relay.runtime, case_id)
            if ch is None:
                return None
            ids = [i for i, _ in relayed_items(fake_slack, ch.id) if i.startswith("chat:")]
            return ids if len(set(ids)) >= len(chats) else None

        ids = await wait_until(all_posted, 120, "all chats despite the storm")
        assert sorted(ids) == sorted(f"chat:{c}" for c in chats) and len(ids) == len(chats)
        assert sandbox.control.faults()[0]["hits"] >= 10, "the storm reached the relay's requests"
    finally:
        await stop_relay(relay)


async def _async(value: object) -> object:
    return value
