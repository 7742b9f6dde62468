"""What `caseroom check` (and operators) want to know about the relay, read from Redis only."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from bot.relay.budget import RedisRateLimiter, background_limit
from bot.relay.scheduler import ACTIVE_WINDOW, SWEEP_PAGES_FIELD, Policy, pages_average
from bot.relay.store import RelayStore

if TYPE_CHECKING:
    from bot.runtime import Runtime


@dataclass(frozen=True, slots=True)
class RelayStatus:
    cases_watched: int
    active_cases: int
    followed: int
    relay_daily_budget: int
    staleness_bound_seconds: float
    """What the budget can hold for every case (2 x N / (B - sweeps))."""
    staleness_held_seconds: float
    """What the relay holds: max(CASEROOM_MAX_STALENESS, bound)."""
    staleness_out_of_reach: bool
    queue_depth: int
    dead_letters: int
    live_processes: int
    overdue_seconds: float | None
    """How far behind schedule the most overdue case is (None: nothing watched)."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def relay_status(runtime: Runtime) -> RelayStatus:
    keys = runtime.keys
    redis = runtime.redis
    s = runtime.settings
    now = time.time()
    cases = int(await redis.zcard(keys.schedule()))
    active = int(await redis.zcount(keys.relay_activity(), now - ACTIVE_WINDOW, "+inf"))
    followed = int(await redis.scard(keys.followed()))
    limiter = runtime.limiter
    budget = (limiter.background_per_day if isinstance(limiter, RedisRateLimiter)
              else background_limit(s.caseroom_rate_per_day, s.caseroom_relay_budget))
    policy = Policy(cases=cases, active=active, daily_budget=budget,
                    max_staleness=float(s.caseroom_max_staleness),
                    min_interval=float(s.caseroom_relay_min_interval),
                    sweep_interval=float(s.caseroom_relay_sweep_interval),
                    incremental_pages=pages_average(await redis.hget(keys.relay_sweep(), SWEEP_PAGES_FIELD)))
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
        overdue_seconds=overdue,
    )
