"""WebhookStore and SmokeStore against a real Redis: cursors only move forward, markers say how an event
came in, subscription states and smoke run records survive a round trip."""

from __future__ import annotations

import redis.asyncio as aioredis

from bot.store.keys import Keys
from bot.store.smoke import SmokeRun, SmokeStore
from bot.store.webhooks import SubscriptionState, WebhookStore


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
