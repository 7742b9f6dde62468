"""Webhook reconciliation (bot/relay/reconcile.py) in process against the sandbox, the fake Slack and
Redis: events that never reached Caseroom (it was down, the subscription was disabled) are relayed
once after it comes back, through the relay's own fetches."""

from __future__ import annotations

import socket
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from bot.check import WEBHOOK_EVENTS
from bot.relay.reconcile import ReconcileInterrupted, Reconciler
from bot.relay.service import Relay
from bot.relay.store import RelayStore
from bot.runtime import Runtime
from bot.slack.channels import channel_for_case
from bot.store.follows import FollowStore
from bot.store.keys import Keys
from bot.store.reads import hgetall
from bot.store.webhooks import WebhookStore
from tests.fakes.slack.server import FakeSlack
from tests.fixtures.sandbox import SandboxHandle
from tests.relay.harness import (
    build_test_runtime,
    close_runtime,
    relay_settings,
    relayed_items,
    start_relay,
    stop_relay,
    wait_until,
)

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]


def dead_url() -> str:
    """A loopback URL nothing listens on (a delivery there fails at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/debitura/webhooks"


def subscribe(sandbox: SandboxHandle, url: str) -> dict[str, Any]:
    with sandbox.client() as http:
        resp = http.post("/webhooks", json={"url": url, "events": list(WEBHOOK_EVENTS)})
        assert resp.status_code in (200, 201), resp.text
        body: dict[str, Any] = resp.json()
        return body


def subscription(sandbox: SandboxHandle, sub_id: str) -> dict[str, Any]:
    with sandbox.client() as http:
        body: dict[str, Any] = http.get(f"/webhooks/{sub_id}").json()
        return body


def log_rows(sandbox: SandboxHandle, case_id: str) -> list[dict[str, Any]]:
    with sandbox.client() as http:
        rows: list[dict[str, Any]] = http.get("/webhooks/events", params={"caseId": case_id}).json()
        return rows


async def baselined(redis: aioredis.Redis, keys: Keys, case_id: str) -> bool:
    state = await hgetall(redis, keys.case_state(case_id))
    return {"chats", "timeline"} <= set((state.get("base") or "").split(","))


async def start(settings: Any) -> Relay:
    # No sweep and no poll due within the test: only the reconciliation can bring a missed event in.
    return await start_relay(settings, sweep=False, reconcile_interval=3600.0)


def quiet_settings(fake: FakeSlack, sandbox: SandboxHandle, prefix: str) -> Any:
    return relay_settings(fake, sandbox.url, sandbox.api_key, prefix, caseroom_max_staleness=3600,
                          caseroom_relay_sweep_interval=3600)


async def posted_once(fake: FakeSlack, runtime: Runtime, case_id: str, item: str) -> bool:
    ch = await channel_for_case(runtime, case_id)
    if ch is None:
        return False
    ids = [i for i, _ in relayed_items(fake, ch.id)]
    assert ids.count(item) <= 1, ids
    return item in ids


async def follow_and_baseline(settings: Any, redis: aioredis.Redis, keys: Keys, case_ids: list[str]) -> None:
    """A first relay run: the cases are watched and baselined, the subscription gets its cursor."""
    relay = await start(settings)
    try:
        follows = FollowStore(redis, keys)
        for case_id in case_ids:
            await follows.follow(case_id)
        for case_id in case_ids:
            await wait_until(lambda c=case_id: baselined(redis, keys, c), 30, f"baseline of {case_id}")
        await wait_until(lambda: WebhookStore(redis, keys).cursors(), 30, "the subscription's cursor")
    finally:
        await stop_relay(relay)


async def test_events_missed_while_down_and_disabled_are_relayed_once(
    sandbox: SandboxHandle, fake_slack: FakeSlack, redis: aioredis.Redis, redis_prefix: str,
) -> None:
    keys = Keys(redis_prefix)
    settings = quiet_settings(fake_slack, sandbox, redis_prefix)
    sub = subscribe(sandbox, dead_url())  # Caseroom is not reachable: every delivery fails
    first, second = [c["id"] for c in sandbox.cases(lifecycle="Active")[:2]]
    await follow_and_baseline(settings, redis, keys, [first, second])

    # Caseroom is down: the first chat's deliveries fail until Debitura disables the subscription ...
    before = sandbox.control.add_chat(first, "sent while Caseroom was down", role=1)
    await wait_until(lambda: _is_disabled(sandbox, sub["id"]), 60, "the subscription disabled")
    # ... and what happens next leaves no row in the delivery log at all.
    after_a = sandbox.control.add_chat(first, "sent while the subscription was disabled", role=1)
    after_b = sandbox.control.add_chat(second, "also while disabled", role=1)
    assert [r["eventType"] for r in log_rows(sandbox, first)] == ["chat.created"]
    assert log_rows(sandbox, second) == []

    relay = await start(settings)
    runtime = relay.runtime
    try:
        for case_id, chat in ((first, before), (first, after_a), (second, after_b)):
            item = f"chat:{chat['id']}"
            await wait_until(lambda c=case_id, i=item: posted_once(fake_slack, runtime, c, i), 30,
                             f"{item} relayed")
        last = await WebhookStore(redis, keys).last_run()
        assert int(last["queued"]) == 1, last  # the one row of the log, taken in as the door would
        assert int(last["gap_fetches"]) == 2, last  # both changed cases, for the window without rows
        assert int(last["inactive"]) == 1, last
        states = await WebhookStore(redis, keys).subscriptions()
        assert states[sub["id"]].active is False and "failed" in states[sub["id"]].reason
        row_event = log_rows(sandbox, first)[0]
        assert await WebhookStore(redis, keys).event_taken(_envelope_id(row_event))
        # A second run finds nothing new: the cursor moved, each event is taken in once.
        again = await relay.reconciler.run()
        assert again.queued == 0 and again.gap_fetches == 0
        for case_id, chat in ((first, before), (first, after_a), (second, after_b)):
            assert await posted_once(fake_slack, runtime, case_id, f"chat:{chat['id']}")
    finally:
        await stop_relay(relay)


async def test_delivered_elsewhere_events_are_taken_in_from_the_log(
    sandbox: SandboxHandle, fake_slack: FakeSlack, redis: aioredis.Redis, redis_prefix: str,
) -> None:
    """The subscription stays active (its URL answers 200, but it is not this Caseroom): only the
    delivery log can tell the relay; no gap fetch is made."""
    keys = Keys(redis_prefix)
    settings = quiet_settings(fake_slack, sandbox, redis_prefix)
    sub = subscribe(sandbox, f"{fake_slack.api_url}auth.test")
    case_id = sandbox.cases(lifecycle="Active")[0]["id"]
    await follow_and_baseline(settings, redis, keys, [case_id])

    chat = sandbox.control.add_chat(case_id, "delivered to someone else", role=1)

    async def delivered() -> list[dict[str, Any]]:
        # (async: the fake Slack that takes the delivery answers on this test's event loop)
        async with httpx.AsyncClient(base_url=sandbox.url, headers=sandbox.headers, trust_env=False) as http:
            resp = await http.get("/webhooks/events", params={"caseId": case_id})
        rows: list[dict[str, Any]] = resp.json()
        return rows if rows and all(r["deliveredAt"] for r in rows) else []

    try:
        [row] = await wait_until(delivered, 30, "the delivery elsewhere")
    except AssertionError:
        raise AssertionError(sandbox.control.deliveries()) from None
    assert row["eventType"] == "chat.created" and subscription(sandbox, sub["id"])["isActive"] is True

    relay = await start(settings)
    try:
        await wait_until(lambda: posted_once(fake_slack, relay.runtime, case_id, f"chat:{chat['id']}"), 30,
                         "the chat relayed")
        last = await WebhookStore(redis, keys).last_run()
        assert (int(last["queued"]), int(last["gap_fetches"]), int(last["changed"])) == (1, 0, 1), last
        assert int(last["requests"]) == 3, last  # GET /webhooks, one page of cases, the case's log
    finally:
        await stop_relay(relay)


def _envelope_id(row: dict[str, Any]) -> str:
    import json

    return str(json.loads(row["payload"])["id"])


async def _is_disabled(sandbox: SandboxHandle, sub_id: str) -> bool:
    async with httpx.AsyncClient(base_url=sandbox.url, headers=sandbox.headers, trust_env=False) as http:
        return (await http.get(f"/webhooks/{sub_id}")).json()["isActive"] is False


async def test_a_refused_reconciliation_is_recorded_and_waits_for_the_next_run(
    sandbox: SandboxHandle, fake_slack: FakeSlack, redis: aioredis.Redis, redis_prefix: str,
) -> None:
    settings = relay_settings(fake_slack, sandbox.url, "not-the-key", redis_prefix)
    runtime = await build_test_runtime(settings)
    try:
        reconciler = Reconciler(runtime, RelayStore(runtime.redis, runtime.keys))
        with pytest.raises(ReconcileInterrupted) as info:
            await reconciler.run()
        assert info.value.retry_after is None  # not every minute: at the usual interval
        last = await WebhookStore(redis, Keys(redis_prefix)).last_run()
        assert "HTTP 401" in last["error"] and last["requests"] == "1", last
    finally:
        await close_runtime(runtime)
