"""What bench/relay_bench.py and bench/tenancy_bench.py both measure: the relayed cases of a sandbox
partner, and the gaps between a relay's checks of each case (from its case state in Redis)."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

import httpx
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from bot.store.keys import Keys

RELAY_LIFECYCLES = ("Active", "Paused", "NeedsAdditionalDetails", "PendingVerification")


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def relayed_case_ids(url: str, key: str) -> list[str]:
    """The ids of the partner's cases in the lifecycles the relay watches (GET /cases, every page)."""
    ids: list[str] = []
    with httpx.Client(base_url=url, headers={"XApiKey": key}, timeout=60) as http:
        page = 1
        while True:
            params: list[tuple[str, str | int | float | bool | None]] = [("Page", page), ("PageSize", 100)]
            params += [("Statuses", lc) for lc in RELAY_LIFECYCLES]
            data = http.get("/cases", params=params).json()
            ids += [c["id"] for c in data["cases"]]
            if page >= data["page"]["totalPages"]:
                return ids
            page += 1


@dataclass
class Tracked:
    """What the gap tracker saw: gaps per case, (when, lateness) of each check, (when, interval
    scheduled) after each check, and when full sweeps started."""
    gaps: dict[str, list[float]] = field(default_factory=dict)
    late: list[tuple[float, float]] = field(default_factory=list)
    intervals: list[tuple[float, float]] = field(default_factory=list)
    full_sweeps: list[float] = field(default_factory=list)
    checks: dict[str, list[float]] = field(default_factory=dict)
    """Every check seen per case (unix seconds), the first one included."""


async def track_gaps(redis: aioredis.Redis | RedisCluster, keys: Keys, case_ids: list[str],
                     stop: asyncio.Event, out: Tracked, every: float = 5.0) -> None:
    """Every `every` seconds, each case's last check ("chk") and due time ("next"): a new check adds the
    gap since the one before, how late after its due time it started, and the interval it was given
    next. The gaps are exact (the relay's own check times) as long as a case is not checked twice
    within `every` seconds."""
    last: dict[str, float] = {}
    due: dict[str, float] = {}
    while not stop.is_set():
        async with redis.pipeline(transaction=False) as pipe:
            for cid in case_ids:
                pipe.hmget(keys.case_state(cid), ["chk", "next"])
            pipe.hget(keys.relay_sweep(), "full")
            *values, full = await pipe.execute()
        if full is not None and (not out.full_sweeps or float(full) > out.full_sweeps[-1]):
            out.full_sweeps.append(float(full))
        for cid, (chk, nxt) in zip(case_ids, values, strict=True):
            if chk is None:
                if nxt is not None:
                    due[cid] = float(nxt)  # the first check's due time
                continue
            t = float(chk)
            prev = last.get(cid)
            if prev is None or t > prev:
                out.checks.setdefault(cid, []).append(t)
                if prev is not None:
                    out.gaps.setdefault(cid, []).append(t - prev)
                if cid in due:  # the first check too: due at the spread first check
                    out.late.append((t, t - due[cid]))
                if nxt is not None:
                    out.intervals.append((t, float(nxt) - t))
            last[cid] = t
            if nxt is not None:
                due[cid] = float(nxt)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
