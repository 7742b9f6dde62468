"""What `caseroom check` (and operators) want to know about the relay, read from Redis only."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from bot.relay.scheduler import (
    FULL_PAGES_FIELD,
    SWEEP_PAGES_FIELD,
    Policy,
    budget_day,
    full_pages,
    pages_average,
    policy_from_settings,
)
from bot.relay.store import RelayStore
from bot.store.budget import RedisRateLimiter
from bot.store.follows import FollowStore
from bot.store.keys import Keys

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from bot.runtime import Runtime


@dataclass(frozen=True, slots=True)
class RelayStatus:
    cases_watched: int
    active_cases: int
    followed: int
    relay_daily_budget: int
    staleness_bound_seconds: float
    """What the budget can hold for every case (2 x N / (B - sweeps - requests outside the plan))."""
    staleness_held_seconds: float
    """What the relay holds: max(CASEROOM_MAX_STALENESS, bound)."""
    staleness_out_of_reach: bool
    queue_depth: int
    dead_letters: int
    live_processes: int
    overdue_seconds: float | None
    """How far behind schedule the most overdue case is (None: nothing watched)."""
    extra_requests_day: int = 0
    """Requests made outside the polling plan over the last day (paid for out of the poll budget)."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def relay_daily_budget(runtime: Runtime) -> int | None:
    """The limiter's daily cap for the relay (None: computed from the settings)."""
    limiter = runtime.limiter
    return limiter.background_per_day if isinstance(limiter, RedisRateLimiter) else None


async def measured_costs(redis: aioredis.Redis, keys: Keys, now: float,
                         day: float) -> tuple[float, float, float]:
    """What the running relay measured, as the plan uses it: pages per incremental sweep, pages of the
    last full listing, requests outside the plan a day (`Policy.incremental_pages`, `full_pages`,
    `extra_per_day`)."""
    sweep = await redis.hmget(keys.relay_sweep(), [SWEEP_PAGES_FIELD, FULL_PAGES_FIELD])
    extra = await RelayStore(redis, keys).extra_requests(now, day)
    return pages_average(sweep[0]), full_pages(sweep[1]), float(extra)


async def current_policy(runtime: Runtime, now: float, *, first_spread: float | None = None,
                         trim: bool = False) -> Policy:
    """The polling plan as every relay process computes it, from what is recorded in Redis: watched
    and active cases, the pages incremental sweeps read, the requests made outside the plan."""
    keys = runtime.keys
    redis = runtime.redis
    day = budget_day(runtime.settings)
    if trim:
        await redis.zremrangebyscore(keys.relay_activity(), "-inf", now - day)
    cases = int(await redis.zcard(keys.schedule()))
    active = int(await redis.zcount(keys.relay_activity(), now - day, "+inf"))
    pages, listing, extra = await measured_costs(redis, keys, now, day)
    return policy_from_settings(runtime.settings, cases=cases, active=active,
                                daily_budget=relay_daily_budget(runtime), incremental_pages=pages,
                                full_pages=listing, extra_per_day=extra, first_spread=first_spread)


async def relay_status(runtime: Runtime) -> RelayStatus:
    keys = runtime.keys
    redis = runtime.redis
    now = time.time()
    policy = await current_policy(runtime, now)
    cases, active, budget = policy.cases, policy.active, policy.daily_budget
    followed = await FollowStore(redis, keys).followed_count()
    store = RelayStore(redis, keys)
    live = int(await redis.zcount(keys.relay_processes(), now - 60, "+inf"))
    # The most overdue case: its due time is the oldest score on the schedule.
    due = await store.next_due(keys.schedule(), now)
    overdue = max(0.0, now - due) if due is not None else None
    return RelayStatus(
        cases_watched=cases, active_cases=active, followed=followed, relay_daily_budget=budget,
        staleness_bound_seconds=round(policy.bound, 1),
        staleness_held_seconds=round(policy.quiet_interval, 1),
        staleness_out_of_reach=policy.out_of_reach, queue_depth=await store.queue_depth(),
        dead_letters=int(await redis.llen(keys.relay_dead())), live_processes=live,
        overdue_seconds=overdue, extra_requests_day=round(policy.extra_per_day),
    )
