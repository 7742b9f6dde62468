"""The shared Redis budget: windows, background cap, interactive headroom, shared pause."""

from __future__ import annotations

from decimal import Decimal

import pytest
import redis.asyncio as aioredis

from bot.config import Settings
from bot.debitura.ratelimit import BudgetExhausted, Priority
from bot.metrics import Metrics
from bot.store.budget import RedisRateLimiter, background_limit
from bot.store.keys import Keys


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def make_settings(**kw: object) -> Settings:
    base: dict[str, object] = dict(
        slack_bot_token="xoxb-test", slack_signing_secret="s", debitura_api_key="k",
        caseroom_rate_per_minute=10, caseroom_rate_per_hour=30, caseroom_rate_per_day=50,
        caseroom_relay_budget=Decimal("0.6"),
    )
    base.update(kw)
    return Settings(_env_file=None, **base)  # type: ignore[arg-type]


def limiter(redis: aioredis.Redis, keys: Keys, clock: Clock, **kw: object) -> RedisRateLimiter:
    return RedisRateLimiter(redis, keys, make_settings(**kw), Metrics(), clock=clock, sleep=clock.sleep,
                            interactive_max_wait=0, background_max_wait=0)


def test_background_limit_floors_and_never_zero() -> None:
    assert background_limit(2000, Decimal("0.6")) == 1200
    assert background_limit(1, Decimal("0.1")) == 1


async def test_budget_background_capped_at_share_of_minute(redis: aioredis.Redis, keys: Keys) -> None:
    clock = Clock()
    lim = limiter(redis, keys, clock)
    for _ in range(6):
        await lim.acquire(Priority.BACKGROUND, "list_chats")
    with pytest.raises(BudgetExhausted) as exc:
        await lim.acquire(Priority.BACKGROUND, "list_chats")
    assert exc.value.window == "minute"
    # interactive still has the remaining 4 of 10
    for _ in range(4):
        await lim.acquire(Priority.INTERACTIVE, "get_case")
    with pytest.raises(BudgetExhausted):
        await lim.acquire(Priority.INTERACTIVE, "get_case")


async def test_budget_minute_window_slides_by_segments(redis: aioredis.Redis, keys: Keys) -> None:
    clock = Clock(1_800_000_005.0)
    lim = limiter(redis, keys, clock, caseroom_rate_per_hour=1000, caseroom_rate_per_day=1000)
    for _ in range(10):
        await lim.acquire(Priority.INTERACTIVE, "x")
    clock.now += 50  # still within 6 segments
    assert await lim.try_acquire(Priority.INTERACTIVE) > 0
    clock.now += 10  # the first segment slid out
    assert await lim.try_acquire(Priority.INTERACTIVE) == 0


async def test_budget_hour_resets_at_top_of_hour(redis: aioredis.Redis, keys: Keys) -> None:
    clock = Clock(1_800_000_000.0 - 1_800_000_000.0 % 3600 + 3000)
    lim = limiter(redis, keys, clock, caseroom_rate_per_minute=1000, caseroom_rate_per_day=1000)
    for _ in range(30):
        clock.now += 1
        await lim.acquire(Priority.INTERACTIVE, "x")
    wait = await lim.try_acquire(Priority.INTERACTIVE)
    assert 0 < wait <= 3600
    clock.now += wait
    assert await lim.try_acquire(Priority.INTERACTIVE) == 0
    usage = await lim.usage()
    assert usage.window("hour").used == 1


async def test_budget_day_is_sliding_24_hours(redis: aioredis.Redis, keys: Keys) -> None:
    clock = Clock(1_800_000_000.0 - 1_800_000_000.0 % 3600)
    lim = limiter(redis, keys, clock, caseroom_rate_per_minute=1000, caseroom_rate_per_hour=1000)
    for _ in range(30):
        await lim.acquire(Priority.BACKGROUND, "x")  # background day cap = 30
    with pytest.raises(BudgetExhausted) as exc:
        await lim.acquire(Priority.BACKGROUND, "x")
    assert exc.value.window == "day"
    clock.now += 23 * 3600
    assert await lim.try_acquire(Priority.BACKGROUND) > 0
    clock.now += 3600
    assert await lim.try_acquire(Priority.BACKGROUND) == 0


async def test_budget_shared_between_limiters(redis: aioredis.Redis, keys: Keys) -> None:
    clock = Clock()
    a = limiter(redis, keys, clock)
    b = limiter(redis, keys, clock)
    for _ in range(3):
        await a.acquire(Priority.BACKGROUND, "x")
        await b.acquire(Priority.BACKGROUND, "x")
    with pytest.raises(BudgetExhausted):
        await a.acquire(Priority.BACKGROUND, "x")
    usage = await b.usage()
    assert usage.window("minute").background_used == 6
    assert usage.window("minute").used == 6


async def test_budget_concurrent_acquires_never_exceed_limit(redis: aioredis.Redis, keys: Keys) -> None:
    import asyncio

    clock = Clock()
    lims = [limiter(redis, keys, clock, caseroom_rate_per_minute=100, caseroom_rate_per_hour=1000,
                    caseroom_rate_per_day=1000) for _ in range(4)]

    async def take(lim: RedisRateLimiter) -> bool:
        try:
            await lim.acquire(Priority.BACKGROUND, "x")
            return True
        except BudgetExhausted:
            return False

    # redis-py's pool holds 100 connections: stay under it
    results = await asyncio.gather(*(take(lims[i % 4]) for i in range(80)))
    assert sum(results) == 60
    assert (await lims[0].usage()).window("minute").background_used == 60


async def test_budget_penalize_pauses_everyone_and_only_extends(redis: aioredis.Redis, keys: Keys) -> None:
    clock = Clock()
    a = limiter(redis, keys, clock)
    b = limiter(redis, keys, clock)
    await a.penalize(30)
    await a.penalize(5)  # shorter: ignored
    with pytest.raises(BudgetExhausted) as exc:
        await b.acquire(Priority.INTERACTIVE, "x")
    assert exc.value.window == "pause"
    assert 29 <= exc.value.retry_after <= 30
    assert (await b.usage()).paused_for == pytest.approx(30, abs=0.01)
    clock.now += 30.5
    await b.acquire(Priority.INTERACTIVE, "x")


async def test_budget_acquire_waits_briefly_when_slot_frees_soon(redis: aioredis.Redis, keys: Keys) -> None:
    clock = Clock(1_800_000_009.0)
    settings = make_settings(caseroom_rate_per_hour=1000, caseroom_rate_per_day=1000)
    lim = RedisRateLimiter(redis, keys, settings, clock=clock, sleep=clock.sleep, interactive_max_wait=3)
    await lim.penalize(2)
    start = clock.now
    await lim.acquire(Priority.INTERACTIVE, "x")
    assert clock.now - start == pytest.approx(2, abs=0.01)


async def test_budget_metrics_published(redis: aioredis.Redis, keys: Keys) -> None:
    clock = Clock()
    metrics = Metrics()
    lim = RedisRateLimiter(redis, keys, make_settings(), metrics, clock=clock)
    await lim.acquire(Priority.BACKGROUND, "x")
    text = metrics.render().decode()
    assert 'caseroom_budget_used{pool="background",window="minute"} 1.0' in text
    assert 'caseroom_budget_limit{pool="all",window="day"} 50.0' in text
    # a background request held back by the relay's minute share is counted, by window
    lim_now = RedisRateLimiter(redis, keys, make_settings(), metrics, clock=clock, sleep=clock.sleep,
                               background_max_wait=0)
    for _ in range(5):
        await lim_now.acquire(Priority.BACKGROUND, "x")
    with pytest.raises(BudgetExhausted):
        await lim_now.acquire(Priority.BACKGROUND, "x")
    assert 'caseroom_budget_waits_total{pool="background",window="minute"} 1.0' in metrics.render().decode()


async def test_time_scale_shortens_every_window(redis: aioredis.Redis, keys: Keys) -> None:
    """CASEROOM_TIME_SCALE (benchmarks): with k = 60 an hour passes in a minute and a day in 24."""
    clock = Clock()
    clock.now = 1_800_000_000.0 - (1_800_000_000.0 % 3600)  # the top of a (real and scaled) hour
    lim = limiter(redis, keys, clock, caseroom_rate_per_minute=1000, caseroom_rate_per_hour=1000,
                  caseroom_rate_per_day=20, caseroom_time_scale=60)
    for _ in range(12):  # the relay's 60 % of the day
        await lim.acquire(Priority.BACKGROUND, "list_chats")
        clock.now += 5  # 5 s = 5 scaled minutes
    with pytest.raises(BudgetExhausted) as exc:
        await lim.acquire(Priority.BACKGROUND, "list_chats")
    assert exc.value.window == "day"
    assert exc.value.retry_after <= 60  # the next scaled hour is at most a minute away
    clock.now += 24 * 60  # a scaled day later everything is free again
    await lim.acquire(Priority.BACKGROUND, "list_chats")
    usage = await lim.usage()
    assert usage.window("day").background_used == 1
    # the segments expire on the scaled clock too (no key outlives 25 scaled hours)
    for key in await redis.keys(f"{keys.prefix}:*"):
        assert await redis.pttl(key) <= 25 * 60 * 1000
