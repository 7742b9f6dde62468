"""WebhookStore and SmokeStore against a real Redis: cursors only move forward, markers say how an event
came in, subscription states and smoke run records survive a round trip."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import redis.asyncio as aioredis

from bot.debitura.webhooks import sign
from bot.relay.webhooks import handle_webhook
from bot.store.keys import Keys
from bot.store.reads import hgetall
from bot.store.smoke import SmokeRun, SmokeStore
from bot.store.webhooks import SubscriptionState, WebhookStore
from tests.fakes.slack.server import FakeSlack
from tests.relay.harness import build_test_runtime, close_runtime, relay_settings


async def test_cursors_move_forward_only_and_gone_subscriptions_are_dropped(redis: aioredis.Redis,
                                                                           keys: Keys) -> None:
    store = WebhookStore(redis, keys)
    await store.advance(["a", "b"], 100.0)
    await store.advance(["a"], 50.0)
    await store.advance(["b"], 150.0)
    assert await store.cursors() == {"a": 100.0, "b": 150.0}
    await store.save_subscriptions([SubscriptionState(id="a", url="https://x/debitura/webhooks", active=False,
                                                      reason="Disabled after 8 failed delivery attempts",
                                                      inactive_since=90.0)])
    await store.forget_cursors(["b"])
    assert await store.cursors() == {"b": 150.0}
    assert await store.subscriptions() == {}


async def test_event_markers_say_which_way_it_came(redis: aioredis.Redis, keys: Keys) -> None:
    store = WebhookStore(redis, keys)
    assert await store.take_event("e1") is True
    assert await store.take_event("e1", "reconcile") is False
    assert await store.event_marker("e1") == "door"
    await store.queued("e1")
    assert await store.event_marker("e1") == "door:queued"
    assert await redis.ttl(keys.webhook_seen("e1")) > 0
    await store.queued("never-taken", "reconcile")  # only an existing marker is updated
    assert await store.event_marker("never-taken") is None
    await store.release_event("e1")
    assert await store.event_taken("e1") is False


async def test_subscription_states_and_smoke_runs_round_trip(redis: aioredis.Redis, keys: Keys) -> None:
    store = WebhookStore(redis, keys)
    state = SubscriptionState(id="s", url="u", active=False, reason="r", test_mode=True, inactive_since=1.5,
                              read_at=2.5)
    await store.save_subscriptions([state])
    assert (await store.subscriptions())["s"] == state
    await redis.hset(keys.webhook_subscriptions(), "bad", "{not json")
    assert set(await store.subscriptions()) == {"s"}

    runs = SmokeStore(redis, keys)
    first = SmokeRun(run_id="r1", tag="t", marker="caseroom-smoke-r1", started=1.0)
    other = SmokeRun(run_id="r2", tag="other", marker="caseroom-smoke-r2", started=2.0)
    await runs.save(first)
    await runs.save(other)
    await runs.save(SmokeRun(run_id="r1", tag="t", marker="caseroom-smoke-r1", case_id="c", started=1.0))
    assert [r.case_id for r in await runs.runs("t")] == ["c"]
    await runs.done("r1")
    assert await runs.runs("t") == [] and [r.run_id for r in await runs.runs()] == ["r2"]


async def test_the_door_answers_503_while_no_replica_holds_an_accepted_event(
    fake_slack: FakeSlack, redis_prefix: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On a Redis Cluster the door's last write waits for a replica (write_replicated): when none
    acknowledges, a failover could lose the event after a 200, so the answer is 503; Debitura's retry
    then finds it taken (it is on the master) and gets its 200."""
    import bot.store.webhooks as webhooks_store
    from bot.store.connect import write_replicated

    async def unreplicated(*args: Any, **kwargs: Any) -> int | None:
        await write_replicated(*args, **kwargs)
        return 0

    monkeypatch.setattr(webhooks_store, "write_replicated", unreplicated)
    secret = "c2VjcmV0LWZvci10aGUtZG9vcg=="
    runtime = await build_test_runtime(relay_settings(fake_slack, "http://127.0.0.1:9", "key", redis_prefix,
                                                      debitura_webhook_secret=secret))
    try:
        body = json.dumps({"id": "evt-unreplicated", "event": "chat.created",
                           "data": {"caseId": "case-1"}}).encode()
        headers = {"X-Debitura-Signature": sign(secret, body, int(time.time()))}
        assert (await handle_webhook(runtime, None, body, headers))[0] == 503
        state = await hgetall(runtime.redis, runtime.keys.case_state("case-1"))
        assert int(state.get("want") or 0)  # the fetch is asked for all the same
        assert await handle_webhook(runtime, None, body, headers) == (200, {"status": "duplicate"})
    finally:
        await close_runtime(runtime)
