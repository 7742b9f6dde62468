"""Leases and claims in Redis: one holder at a time, takeover after expiry, fenced completion."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from bot.relay.model import Delivery
from bot.relay.store import EXTRA_SINCE, RelayStore
from bot.store.cases import URGENT_OFFSET, Want
from bot.store.keys import Keys
from bot.store.pacing import PaceStore
from bot.store.reads import hgetall
from tests.fakes.slack.server import FakeSlack


async def test_lease_exclusive_renew_release(redis: aioredis.Redis, keys: Keys) -> None:
    store = RelayStore(redis, keys)
    assert await store.acquire_lease("x", "a", 5000)
    assert not await store.acquire_lease("x", "b", 5000)
    assert not await store.renew_lease("x", "b", 5000)
    assert not await store.release_lease("x", "b")
    assert await store.renew_lease("x", "a", 5000)
    assert await store.release_lease("x", "a")
    assert await store.acquire_lease("x", "b", 5000)


async def test_claim_one_holder_and_takeover_after_expiry(redis: aioredis.Redis, keys: Keys) -> None:
    store = RelayStore(redis, keys)
    await store.watch(["c1"], [100.0])
    assert await store.claim(keys.schedule(), "fetch:", "a", 200, now=100.0) == "c1"
    # hidden while held: nobody else gets it, even when asked for it as due
    assert await store.claim(keys.schedule(), "fetch:", "b", 200, now=100.05) is None
    await store.request_fetch("c1", int(Want.CHATS), 100.05)
    assert await store.claim(keys.schedule(), "fetch:", "b", 200, now=100.06) is None
    await asyncio.sleep(0.25)  # the holder "died": its lease expires
    assert await store.claim(keys.schedule(), "fetch:", "b", 200, now=101.0) == "c1"


async def test_claim_concurrent_single_winner(redis: aioredis.Redis, keys: Keys) -> None:
    store = RelayStore(redis, keys)
    await store.watch([f"c{i}" for i in range(10)], [1.0] * 10)
    got = await asyncio.gather(*(store.claim(keys.schedule(), "fetch:", f"t{i}", 5000, now=2.0)
                                 for i in range(30)))
    won = [g for g in got if g is not None]
    assert sorted(won) == sorted(f"c{i}" for i in range(10))


async def test_request_fetch_ors_bits_and_only_pulls_in(redis: aioredis.Redis, keys: Keys) -> None:
    store = RelayStore(redis, keys)
    await store.watch(["c1", "c2"], [500.0, 50.0])
    await store.request_fetch("c1", int(Want.CHATS), 100.0, source="webhook")
    await store.request_fetch("c1", int(Want.PAYMENTS), 300.0)
    state = await hgetall(redis, keys.case_state("c1"))
    assert int(state["want"]) == int(Want.CHATS | Want.PAYMENTS)
    assert state["src"] == "webhook"
    assert await redis.zscore(keys.schedule(), "c1") == 100.0 - URGENT_OFFSET
    # a requested fetch is claimed before an overdue poll
    assert await store.claim(keys.schedule(), "fetch:", "t", 5000, now=600.0) == "c1"


def item(i: int) -> Delivery:
    return Delivery(id=f"chat:{i}", case_id="c1", kind="chat", op="post", text=f"t{i}")


async def test_complete_is_fenced_by_lease(redis: aioredis.Redis, keys: Keys) -> None:
    store = RelayStore(redis, keys)
    await redis.rpush(keys.relay_outbox("c1"), item(1).model_dump_json(), item(2).model_dump_json())
    await redis.zadd(keys.relay_ready(), {"c1": 1.0})
    assert await store.claim(keys.relay_ready(), "lane:", "a", 5000, now=2.0) == "c1"
    assert not await store.complete("c1", "intruder", item(1), ("chat:1", "C|1.0|"), None, 3.0)
    assert (await store.head("c1")) == item(1)
    assert await store.complete("c1", "a", item(1), ("chat:1", "C|1.0|"), None, 3.0)
    assert (await store.head("c1")) == item(2)
    assert await redis.hget(keys.relayed("c1"), "chat:1") == "C|1.0|"
    # finishing with items left keeps the lane ready; an empty lane leaves the ready set
    assert await store.finish_lane("c1", "a", 10.0)
    assert await redis.zscore(keys.relay_ready(), "c1") == 10.0
    assert await store.claim(keys.relay_ready(), "lane:", "b", 5000, now=11.0) == "c1"
    feed = Delivery(id="feed:chat:2", case_id="c1", kind="feed", op="feed", text="x")
    assert await store.complete("c1", "b", item(2), ("chat:2", "C|2.0|"), feed, 12.0)
    assert await store.finish_lane("c1", "b", None)
    assert await redis.zscore(keys.relay_ready(), "c1") is None
    assert await redis.zscore(keys.relay_ready(), "feed") == 12.0
    assert (await store.head("feed")) == feed


async def test_pace_one_per_interval_and_pause(redis: aioredis.Redis, keys: Keys) -> None:
    store = PaceStore(redis, keys)
    pace, pause = keys.slack_pace("C1"), keys.slack_pause("ch:C1")
    assert await store.pace(pace, [pause], 1_000_000, 1000) == 0
    wait = await store.pace(pace, [pause], 1_000_200, 1000)
    assert 0 < wait <= 800
    await store.extend_pause(pause, 1_010_000, 60_000)
    assert await store.pace(pace, [pause], 1_002_000, 1000) == 8000


async def test_relay_status_reports_bound_and_queue(redis: aioredis.Redis, keys: Keys,
                                                    fake_slack: FakeSlack) -> None:
    from bot.relay.status import relay_status
    from tests.relay.harness import build_test_runtime, close_runtime, relay_settings

    fake = fake_slack
    settings = relay_settings(fake, "http://127.0.0.1:9", "key", keys.prefix, caseroom_rate_per_minute=2000,
                              caseroom_rate_per_hour=20000, caseroom_rate_per_day=100000,
                              caseroom_relay_sweep_interval=120, caseroom_max_staleness=3600)
    runtime = await build_test_runtime(settings)
    try:
        store = RelayStore(redis, keys)
        import time

        await store.watch([f"c{i}" for i in range(10_000)], [time.time() - 100] * 10_000)
        await redis.rpush(keys.relay_outbox("c1"), item(1).model_dump_json())
        await redis.zadd(keys.relay_ready(), {"c1": 0})
        status = await relay_status(runtime)
        assert status.cases_watched == 10_000 and status.queue_depth == 1
        assert status.relay_daily_budget == 60_000
        assert status.staleness_out_of_reach and 8 * 3600 < status.staleness_bound_seconds < 8.8 * 3600
        assert status.staleness_held_seconds == status.staleness_bound_seconds
        assert status.overdue_seconds is not None and status.overdue_seconds > 0
    finally:
        await close_runtime(runtime)


async def test_extra_requests_count_over_the_last_day_only(redis: aioredis.Redis, keys: Keys) -> None:
    """Requests outside the polling plan are summed over the current slot and the 23 before it."""
    store = RelayStore(redis, keys)
    day = 2400.0  # 24 slots of 100 s
    t0 = 1_000_000.0
    await redis.hset(keys.relay_extra(), EXTRA_SINCE, str(t0 - day))  # counting for a day already
    await store.record_extra(5, t0, day)
    await store.record_extra(0, t0, day)  # nothing to count: no write
    await store.record_extra(-3, t0, day)
    await store.record_extra(2, t0 + 150, day)
    assert await store.extra_requests(t0 + 200, day) == 7
    # 23 slots later the first one is still inside the day; one more and it has left
    assert await store.extra_requests(t0 + 2300, day) == 7
    assert await store.extra_requests(t0 + 2400, day) == 2
    # the expired slot was dropped from Redis, and a garbage field neither counts nor lingers
    await redis.hset(keys.relay_extra(), "garbage", "9")
    assert await store.extra_requests(t0 + 2400, day) == 2
    assert set(await redis.hkeys(keys.relay_extra())) == {str(int((t0 + 150) // 100)), EXTRA_SINCE}
    assert 0 < await redis.ttl(keys.relay_extra()) <= 2 * day


async def test_extra_requests_in_the_first_day_are_a_rate(redis: aioredis.Redis, keys: Keys) -> None:
    """Less than a day recorded: the count so far is a rate over the time covered, but over at least a
    quarter of a day (a busy first hour is not a day), so the first day's plan does not take events
    for free and then fall behind as the count grows."""
    store = RelayStore(redis, keys)
    day = 2400.0
    t0 = 1_000_000.0
    await store.record_extra(10, t0, day)
    assert await redis.hget(keys.relay_extra(), EXTRA_SINCE) == f"{t0:.3f}"
    await store.record_extra(20, t0 + 100, day)  # since stays where counting began
    assert await redis.hget(keys.relay_extra(), EXTRA_SINCE) == f"{t0:.3f}"
    assert await store.extra_requests(t0 + 300, day) == 30 * 4  # under a quarter day: x 4
    assert await store.extra_requests(t0 + 1200, day) == 30 * 2  # half a day: x 2
    assert await store.extra_requests(t0 + 2300, day) == 32  # 23/24 of a day: 30 x 24/23, rounded up
    assert await store.extra_requests(t0 + 2400, day) == 20  # a whole day: the count (slot 1 left)
    # an unreadable since counts as a whole day and is dropped
    await redis.hset(keys.relay_extra(), EXTRA_SINCE, "soon")
    assert await store.extra_requests(t0 + 2400, day) == 20
    assert await redis.hget(keys.relay_extra(), EXTRA_SINCE) is None


async def test_relay_status_pays_for_requests_outside_the_plan(redis: aioredis.Redis, keys: Keys,
                                                               fake_slack: FakeSlack) -> None:
    """What fetches spent outside the plan over the last day lengthens the bound the relay reports."""
    import time

    from bot.relay.status import relay_status
    from tests.relay.harness import build_test_runtime, close_runtime, relay_settings

    settings = relay_settings(fake_slack, "http://127.0.0.1:9", "key", keys.prefix,
                              caseroom_rate_per_minute=2000, caseroom_rate_per_hour=20000,
                              caseroom_rate_per_day=100000, caseroom_relay_sweep_interval=120,
                              caseroom_max_staleness=3600)
    runtime = await build_test_runtime(settings)
    try:
        store = RelayStore(redis, keys)
        await store.watch([f"c{i}" for i in range(10_000)], [time.time() + 100] * 10_000)
        before = await relay_status(runtime)
        await redis.hset(keys.relay_extra(), EXTRA_SINCE, str(time.time() - 86400))
        await store.record_extra(6_000, time.time(), 86400)
        after = await relay_status(runtime)
        assert before.extra_requests_day == 0 and after.extra_requests_day == 6_000
        # a tenth of the budget less for polls: the bound grows by about a ninth
        assert 1.08 < after.staleness_bound_seconds / before.staleness_bound_seconds < 1.14
    finally:
        await close_runtime(runtime)


async def test_poll_slots_are_a_shared_token_bucket(redis: aioredis.Redis, keys: Keys) -> None:
    """Scheduled polls start at the plan's rate: a burst's worth at once, then one per 1/rate s."""
    a, b = RelayStore(redis, keys), RelayStore(redis, keys)  # two processes
    t0 = 1_000_000.0
    assert await a.take_poll_slot(t0, rate=2.0, burst=3, ttl=60) == 0.0
    assert await b.take_poll_slot(t0, rate=2.0, burst=3, ttl=60) == 0.0
    assert await a.take_poll_slot(t0, rate=2.0, burst=3, ttl=60) == 0.0
    wait = await b.take_poll_slot(t0, rate=2.0, burst=3, ttl=60)
    assert wait == pytest.approx(0.5)
    assert await a.take_poll_slot(t0 + 0.5, rate=2.0, burst=3, ttl=60) == 0.0
    assert await b.take_poll_slot(t0 + 0.6, rate=2.0, burst=3, ttl=60) > 0
    # a long pause refills to the burst, not beyond
    taken = 0
    while await a.take_poll_slot(t0 + 100, rate=2.0, burst=3, ttl=60) == 0.0:
        taken += 1
    assert taken == 3
    # a clock a little behind another process's never refills backwards
    assert await b.take_poll_slot(t0 + 99, rate=2.0, burst=3, ttl=60) > 0
    assert 0 < await redis.ttl(keys.relay_poll_pace()) <= 60


async def test_an_unused_poll_slot_goes_back(redis: aioredis.Redis, keys: Keys) -> None:
    store = RelayStore(redis, keys)
    t0 = 1_000_000.0
    assert await store.take_poll_slot(t0, rate=0.001, burst=2, ttl=60) == 0.0
    assert await store.take_poll_slot(t0, rate=0.001, burst=2, ttl=60) == 0.0
    assert await store.take_poll_slot(t0, rate=0.001, burst=2, ttl=60) > 0
    await store.return_poll_slot(2)
    assert await store.take_poll_slot(t0, rate=0.001, burst=2, ttl=60) == 0.0
    for _ in range(5):
        await store.return_poll_slot(2)
    assert float(await redis.hget(keys.relay_poll_pace(), "t") or 0) == 2.0  # never above the burst


async def test_stored_cases_in_one_round_trip(redis: aioredis.Redis, keys: Keys) -> None:
    """The sweep reads the stored snapshot of a whole listed page at once; unknown cases are None."""
    store = RelayStore(redis, keys)
    await redis.hset(keys.case_state("a"), mapping={"case": '{"id":"a"}', "next": "1"})
    await redis.hset(keys.case_state("c"), mapping={"next": "1"})  # state without a snapshot
    assert await store.stored_cases(["a", "b", "c"]) == ['{"id":"a"}', None, None]
    assert await store.stored_cases([]) == []


async def test_pace_store_slots_and_pauses_by_method_and_channel(redis: aioredis.Redis, keys: Keys) -> None:
    store = PaceStore(redis, keys)
    assert await store.take_slot("chat.postMessage", "C1", 1_000_000, 1000) == 0
    assert 0 < await store.take_slot("chat.postMessage", "C1", 1_000_200, 1000) <= 800
    assert await store.take_slot("chat.postMessage", "C2", 1_000_200, 1000) == 0  # another channel
    await store.pause("chat.update", "C2", 1_010_000, 60_000)
    assert await store.take_slot("chat.postMessage", "C2", 1_002_000, 1000) == 8000  # the channel paused
    assert await store.take_slot("chat.update", None, 1_002_000, 0) == 8000  # the method paused
    assert await store.take_slot("conversations.history", None, 1_002_000, 0) == 0


async def test_a_requested_fetch_stays_requested_when_its_lease_is_held_or_it_is_put_off(
        redis: aioredis.Redis, keys: Keys) -> None:
    """A webhook's fetch that finds the case busy, or that the budget puts off, stays among the
    requested fetches (never a paced poll), behind the ones asked for before it."""
    store = RelayStore(redis, keys)
    zset, half = keys.schedule(), URGENT_OFFSET / 2
    await store.watch(["busy", "other"], [500.0, 500.0])
    await store.request_fetch("busy", int(Want.CHATS), 100.0)
    assert await store.acquire_lease("fetch:busy", "a", 2000)  # a fetch under way
    assert await store.claim(zset, "fetch:", "b", 5000, now=100.1, upto=100.1 - half) is None
    score = await redis.zscore(keys.schedule(), "busy")
    assert score is not None and score <= 100.1 - URGENT_OFFSET / 2  # still requested, not a poll
    assert score >= 100.1 + 1.5 - URGENT_OFFSET  # not before the lease runs out
    # a poll claim (paced) never takes it
    assert await store.claim(zset, "fetch:", "b", 5000, now=600.0, above=600.0 - half) == "other"
    # put off by its holder: requested, lease kept; not by anyone else
    assert not await store.put_off("busy", "b", 130.0 - URGENT_OFFSET, 30_000)
    assert await store.put_off("busy", "a", 130.0 - URGENT_OFFSET, 30_000)
    assert await redis.zscore(keys.schedule(), "busy") == 130.0 - URGENT_OFFSET
    assert 29_000 < await redis.pttl(keys.lease("fetch:busy")) <= 30_000
    await store.request_fetch("new", int(Want.CHATS), 120.0)  # asked for later, claimed first
    assert await store.claim(zset, "fetch:", "c", 5000, now=121.0, upto=121.0 - half) == "new"
