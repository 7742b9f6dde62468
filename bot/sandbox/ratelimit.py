"""Per-key rate limits as the real API applies them (REFERENCE section 2).

- per minute: sliding window of 60 s in six 10-second segments;
- per hour: fixed window, resets at the top of the hour;
- per day: a 24 h window anchored to the key's first request, advancing in 24 h chunks.

A request over any window is rejected and consumes nothing. Requests without a valid key share
one fallback partition. A limit of 0 disables that window.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

SEGMENT = 10.0
WINDOW = 60.0


@dataclass
class _Partition:
    segments: dict[int, int] = field(default_factory=dict)  # segment start (s) -> count
    hour_start: float = 0.0
    hour_count: int = 0
    day_anchor: float | None = None
    day_count: int = 0
    day_start: float = 0.0


@dataclass
class Limits:
    per_minute: int = 2000
    per_hour: int = 20_000
    per_day: int = 100_000


class RateLimiter:
    def __init__(self, limits: Limits | None = None, clock: Callable[[], float] = time.time) -> None:
        self.limits = limits or Limits()
        self.clock = clock
        self._parts: dict[str, _Partition] = {}

    def reset(self, limits: Limits | None = None) -> None:
        if limits is not None:
            self.limits = limits
        self._parts.clear()

    def hit(self, key: str) -> float | None:
        """Count one request for `key`; return None if allowed, else seconds to wait."""
        t = self.clock()
        p = self._parts.setdefault(key, _Partition())
        seg = int(math.floor(t / SEGMENT) * SEGMENT)
        for start in [s for s in p.segments if s <= seg - WINDOW]:
            del p.segments[start]
        hour = math.floor(t / 3600) * 3600
        if hour != p.hour_start:
            p.hour_start, p.hour_count = hour, 0
        if p.day_anchor is None:
            p.day_anchor = t
        day = p.day_anchor + math.floor((t - p.day_anchor) / 86400) * 86400
        if day != p.day_start:
            p.day_start, p.day_count = day, 0

        waits: list[float] = []
        lim = self.limits
        minute_count = sum(p.segments.values())
        if lim.per_minute > 0 and minute_count >= lim.per_minute:
            need = minute_count - lim.per_minute + 1
            freed = 0
            for start in sorted(p.segments):
                freed += p.segments[start]
                if freed >= need:
                    waits.append(start + WINDOW - t)
                    break
        if lim.per_hour > 0 and p.hour_count >= lim.per_hour:
            waits.append(p.hour_start + 3600 - t)
        if lim.per_day > 0 and p.day_count >= lim.per_day:
            waits.append(p.day_start + 86400 - t)
        if waits:
            return round(max(0.1, max(waits)), 1)
        p.segments[seg] = p.segments.get(seg, 0) + 1
        p.hour_count += 1
        p.day_count += 1
        return None
