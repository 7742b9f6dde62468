"""The shared Debitura request budget, kept in Redis so every process and replica counts together.

Debitura limits one API key to 2,000 requests a minute (sliding, 10-second segments), 20,000 an
hour (fixed, resets at the top of the hour) and 100,000 a day (REFERENCE.md section 2: either a
fixed UTC day or a 24 h window anchored to the first request; the docs disagree). We mirror that:

* minute: the sum of the current and the five previous 10-second segments;
* hour: the current clock hour;
* day: the sum of the current and the 23 previous clock hours, a sliding 24 h window that holds
  whichever of the two documented day rules Debitura applies (an anchored window can overlap at
  most one partly used extra hour).

Each segment is a small hash with two counters: `a` (all requests) and `b` (background). A
background request (the relay) is admitted only while the background count stays below
CASEROOM_RELAY_BUDGET of every limit *and* the total below the limit; an interactive request (a
person using /case) only needs the total below the limit. So the relay can never starve people, and
people can use what the relay leaves.

The check and the increment happen in one Lua script, so two processes can never both take the last
slot. When Debitura still answers 429, `penalize()` stores a shared pause that every process honours.

Time is the caller's clock (injectable for tests); hosts are expected to run NTP. A skew of a second
shifts a 10-second segment boundary and nothing more. CASEROOM_TIME_SCALE (benchmarks only) makes
every window k times shorter: with k = 60 a day passes in 24 minutes.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import redis.asyncio as aioredis

from bot.config import Settings
from bot.debitura.ratelimit import BudgetExhausted, Priority
from bot.metrics import Metrics
from bot.store.keys import Keys

MINUTE_SEGMENT = 10
MINUTE_SEGMENTS = 6
HOUR = 3600
DAY_SEGMENTS = 24
MINUTE_SEGMENT_TTL = MINUTE_SEGMENT * MINUTE_SEGMENTS + 10
HOUR_SEGMENT_TTL = HOUR * (DAY_SEGMENTS + 1)

WINDOWS = ("minute", "hour", "day")
POOLS = ("all", "background")

# KEYS[1..6] minute segments (newest first), KEYS[7..30] hour segments (newest first), KEYS[31] pause.
# ARGV: now_ms, is_background(0/1), then limits: minute all/bg, hour all/bg, day all/bg,
#       ms to the next minute segment, ms to the next hour, minute/hour segment ttl (ms),
#       dry_run(0/1) = ARGV[13].
# Returns {wait_ms, window, min_all, min_bg, hour_all, hour_bg, day_all, day_bg} (wait_ms 0 = admitted).
_ACQUIRE_LUA = """
local now = tonumber(ARGV[1])
local bg = tonumber(ARGV[2]) == 1
local dry = tonumber(ARGV[13]) == 1
local function sum(first, last, field)
  local total = 0
  for i = first, last do
    total = total + tonumber(redis.call('HGET', KEYS[i], field) or '0')
  end
  return total
end
local min_a = sum(1, 6, 'a')
local min_b = sum(1, 6, 'b')
local hour_a = tonumber(redis.call('HGET', KEYS[7], 'a') or '0')
local hour_b = tonumber(redis.call('HGET', KEYS[7], 'b') or '0')
local day_a = sum(7, 30, 'a')
local day_b = sum(7, 30, 'b')
local function answer(wait, window)
  return {wait, window, min_a, min_b, hour_a, hour_b, day_a, day_b}
end
if dry then return answer(0, 'usage') end
local pause = tonumber(redis.call('GET', KEYS[31]) or '0')
if pause > now then return answer(pause - now, 'pause') end
local seg_left = tonumber(ARGV[9])
local hour_left = tonumber(ARGV[10])
if min_a >= tonumber(ARGV[3]) or (bg and min_b >= tonumber(ARGV[4])) then
  return answer(seg_left, 'minute')
end
if hour_a >= tonumber(ARGV[5]) or (bg and hour_b >= tonumber(ARGV[6])) then
  return answer(hour_left, 'hour')
end
if day_a >= tonumber(ARGV[7]) or (bg and day_b >= tonumber(ARGV[8])) then
  return answer(hour_left, 'day')
end
redis.call('HINCRBY', KEYS[1], 'a', 1)
redis.call('HINCRBY', KEYS[7], 'a', 1)
min_a = min_a + 1
hour_a = hour_a + 1
day_a = day_a + 1
if bg then
  redis.call('HINCRBY', KEYS[1], 'b', 1)
  redis.call('HINCRBY', KEYS[7], 'b', 1)
  min_b = min_b + 1
  hour_b = hour_b + 1
  day_b = day_b + 1
end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[11]))
redis.call('PEXPIRE', KEYS[7], tonumber(ARGV[12]))
return answer(0, 'ok')
"""

# KEYS[1] pause; ARGV[1] until_ms, ARGV[2] ttl_ms. Only ever extends the pause.
_PENALIZE_LUA = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local until_ms = tonumber(ARGV[1])
if until_ms > current then
  redis.call('SET', KEYS[1], until_ms, 'PX', tonumber(ARGV[2]))
  return 1
end
return 0
"""


@dataclass(frozen=True, slots=True)
class WindowUsage:
    window: str
    used: int
    limit: int
    background_used: int
    background_limit: int

    @property
    def background_share(self) -> float:
        return self.background_used / self.background_limit if self.background_limit else 0.0


@dataclass(frozen=True, slots=True)
class BudgetUsage:
    windows: tuple[WindowUsage, ...]
    paused_for: float
    """Seconds left of a shared 429 pause (0 when none)."""

    def window(self, name: str) -> WindowUsage:
        for w in self.windows:
            if w.window == name:
                return w
        raise KeyError(name)


def background_limit(limit: int, share: Decimal) -> int:
    """The relay's cap for one window: floor(limit x share), never below 1."""
    return max(1, math.floor(Decimal(limit) * share))


class RedisRateLimiter:
    """`RateLimiter` over Redis, shared by every process (see the module docstring)."""

    def __init__(
        self,
        redis: aioredis.Redis,
        keys: Keys,
        settings: Settings,
        metrics: Metrics | None = None,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        interactive_max_wait: float = 3.0,
        background_max_wait: float = 5.0,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._metrics = metrics
        self._clock = clock
        self._sleep = sleep
        self._max_wait = {
            Priority.INTERACTIVE: interactive_max_wait,
            Priority.BACKGROUND: background_max_wait,
        }
        share = settings.caseroom_relay_budget
        per = {
            "minute": settings.caseroom_rate_per_minute,
            "hour": settings.caseroom_rate_per_hour,
            "day": settings.caseroom_rate_per_day,
        }
        self.limits = {window: (limit, background_limit(limit, share)) for window, limit in per.items()}
        scale = settings.caseroom_time_scale
        self._segment = MINUTE_SEGMENT / scale
        self._hour = HOUR / scale
        self._acquire_script = redis.register_script(_ACQUIRE_LUA)
        self._penalize_script = redis.register_script(_PENALIZE_LUA)
        if metrics is not None:
            for window, (limit, bg) in self.limits.items():
                metrics.budget_limit.labels(window=window, pool="all").set(limit)
                metrics.budget_limit.labels(window=window, pool="background").set(bg)

    @property
    def background_per_day(self) -> int:
        """Requests a day the relay may make: what the staleness bound is computed from."""
        return self.limits["day"][1]

    def _script_args(self, now: float, priority: Priority, dry_run: bool) -> tuple[list[str], list[Any]]:
        segment = int(now // self._segment)
        hour = int(now // self._hour)
        keys = [self._keys.rate_window("m", str(segment - i)) for i in range(MINUTE_SEGMENTS)]
        keys += [self._keys.rate_window("h", str(hour - i)) for i in range(DAY_SEGMENTS)]
        keys.append(self._keys.rate_pause())
        now_ms = int(now * 1000)
        seg_left = math.ceil((segment + 1) * self._segment * 1000) - now_ms
        hour_left = math.ceil((hour + 1) * self._hour * 1000) - now_ms
        args: list[Any] = [now_ms, 1 if priority is Priority.BACKGROUND else 0]
        for window in WINDOWS:
            args.extend(self.limits[window])
        scale = self._hour / HOUR
        minute_ttl_ms = max(1, math.ceil(MINUTE_SEGMENT_TTL * 1000 * scale))
        hour_ttl_ms = max(1, math.ceil(HOUR_SEGMENT_TTL * 1000 * scale))
        args += [max(1, seg_left), max(1, hour_left), minute_ttl_ms, hour_ttl_ms]
        args.append(1 if dry_run else 0)
        return keys, args

    async def _run(self, priority: Priority, dry_run: bool = False) -> tuple[float, str, list[int]]:
        keys, args = self._script_args(self._clock(), priority, dry_run)
        raw = await self._acquire_script(keys=keys, args=args)
        wait_ms, window, *counts = raw
        counts_int = [int(c) for c in counts]
        self._publish(counts_int)
        return int(wait_ms) / 1000.0, str(window), counts_int

    def _publish(self, counts: list[int]) -> None:
        if self._metrics is None:
            return
        for i, window in enumerate(WINDOWS):
            self._metrics.budget_used.labels(window=window, pool="all").set(counts[2 * i])
            self._metrics.budget_used.labels(window=window, pool="background").set(counts[2 * i + 1])

    async def try_acquire(self, priority: Priority, operation: str = "") -> float:
        """Take a slot if one is free now: 0.0 when taken, else seconds until one may free (no wait)."""
        wait, _window, _counts = await self._run(priority)
        return wait

    async def acquire(self, priority: Priority, operation: str) -> None:
        """Take one slot; wait up to the priority's max wait for one to free, else raise BudgetExhausted."""
        deadline = self._clock() + self._max_wait[priority]
        while True:
            wait, window, _counts = await self._run(priority)
            if wait <= 0:
                return
            if self._metrics is not None:
                pool = "background" if priority is Priority.BACKGROUND else "all"
                self._metrics.budget_waits.labels(window=window, pool=pool).inc()
            now = self._clock()
            if now + wait > deadline:
                raise BudgetExhausted(wait, window)
            await self._sleep(wait)

    async def penalize(self, retry_after: float) -> None:
        """Debitura said 429: no process sends for `retry_after` seconds (extends, never shortens)."""
        retry_after = max(0.0, float(retry_after))
        if retry_after <= 0:
            return
        until_ms = int((self._clock() + retry_after) * 1000)
        ttl_ms = max(1, int(retry_after * 1000) + 1000)
        await self._penalize_script(keys=[self._keys.rate_pause()], args=[until_ms, ttl_ms])

    async def usage(self) -> BudgetUsage:
        """Current counts of every window (also published to the budget gauges)."""
        now = self._clock()
        _wait, _window, counts = await self._run(Priority.BACKGROUND, dry_run=True)
        pause_raw = await self._redis.get(self._keys.rate_pause())
        paused_for = max(0.0, (int(pause_raw) - int(now * 1000)) / 1000.0) if pause_raw else 0.0
        windows = tuple(
            WindowUsage(
                window=window,
                used=counts[2 * i],
                limit=self.limits[window][0],
                background_used=counts[2 * i + 1],
                background_limit=self.limits[window][1],
            )
            for i, window in enumerate(WINDOWS)
        )
        return BudgetUsage(windows=windows, paused_for=paused_for)
