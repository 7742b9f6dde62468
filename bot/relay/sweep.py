"""The sweep: list cases newest-changed first to find new and changed cases cheaply.

One process at a time sweeps (a lease named "sweep"). An incremental sweep reads `GET /cases`
sorted by `DateUpdated:desc` page by page until it reaches cases older than the watermark of the
previous sweep (usually one page). A full sweep, once per quiet interval (CASEROOM_MAX_STALENESS,
or the bound the budget holds when that is out of reach), reads every page: it catches
engagement-phase changes (which may not move dateUpdated and fire no webhook) and cases that are
no longer ours as soon as the polls would, for far fewer requests.

For each listed case the sweep compares it with what the relay knows:

* never seen and in CASEROOM_RELAY_LIFECYCLES (or followed): first sight. Its state is written
  (first-seen time, the case as listed) and it is scheduled for its baseline fetch, spread over the
  quiet interval;
* known and changed (dateUpdated, lifecycle, phase, amount, assignee): the listed case is kept as a
  snapshot (so the fetch need not GET it again) and a fetch is requested now.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.debitura.client import MAX_PAGES, ListingEnd, PageGuard
from bot.debitura.errors import DebituraError, RateLimited
from bot.relay.fetch import relayed_lifecycle
from bot.relay.scheduler import (
    FULL_PAGES_FIELD,
    LIST_PAGE_SIZE,
    SWEEP_PAGES_FIELD,
    Policy,
    next_pages_average,
)
from bot.relay.store import RelayStore
from bot.store.attention import index_commands
from bot.store.cases import FIRST_SIGHT_LUA, Want
from bot.store.keys import RELAY_SNAPSHOT_TTL
from bot.store.pieces import spread
from bot.store.reads import hgetall
from bot.store.snapshots import CaseSnap, snapshot_case

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)

WATERMARK_OVERLAP = 120.0
"""Re-read this far below the watermark: dateUpdated of concurrent changes may land out of order."""
MAX_PAGES_INCREMENTAL = 50
SCHEDULE_CHUNK = 100
"""Newly seen cases scheduled per Redis pipeline (about 6 ms of work on the loop). The first full
sweep of 16,000 cases sees 10,000 at once: in one pipeline, encoding 20,000 commands and decoding
their answers held the event loop (and Slack's acks, in `caseroom run`) for about 2 s; in chunks,
each round trip lets the loop run."""
SCAN_CHUNK = 250
"""Schedule members read per ZSCAN when looking for watched cases missing from a full listing (a reply
of 1,000 members and scores took 23 ms to decode)."""


class SweepInterrupted(Exception):
    def __init__(self, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(f"sweep interrupted; retry in {retry_after:.0f} s")


@dataclass
class SweepStats:
    incremental: int = 0
    full: int = 0
    pages: int = 0
    first_sight: int = 0
    changed: int = 0


def changed_fields(old: CaseSnap, new: CaseSnap) -> Want:
    bits = Want.NONE
    if (old.lifecycle, old.phase, old.debtor, old.assignee_email, old.close_code) != (
        new.lifecycle, new.phase, new.debtor, new.assignee_email, new.close_code
    ):
        bits |= Want.CASE
    # What the pinned summary also shows. A snapshot stored before these fields existed has neither
    # amount text: not a change (else the first sweep after an upgrade would fetch every case).
    if (old.principal or old.fees) and (old.period_end, old.needs_info) != (new.period_end, new.needs_info):
        bits |= Want.CASE
    if old.outstanding != new.outstanding:
        bits |= Want.CASE | Want.PAYMENTS
    if new.date_updated and new.date_updated != old.date_updated:
        bits |= Want.CASE | Want.POLL
    return bits


def passive_upgrade(old: CaseSnap, new: CaseSnap) -> bool:
    """`old` was stored before CaseSnap kept the amounts, the exclusive period end and needsInfo (none
    set), and the listing shows one of the latter: with no change that `changed_fields` counts, the
    listed snapshot may simply replace it (issue 13: an exclusive period ending in 14 days on a case
    nobody touched for months must still reach its assignee's queue)."""
    stored_before = not (old.principal or old.fees or old.period_end or old.needs_info)
    return stored_before and bool(new.period_end or new.needs_info)


class Sweeper:
    def __init__(self, runtime: Runtime, store: RelayStore, policy: Callable[[], Policy], *,
                 clock: Callable[[], float] = time.time,
                 policy_for: Callable[[int], Policy] | None = None) -> None:
        self.runtime = runtime
        self.store = store
        self.policy = policy
        self.policy_for = policy_for
        """The policy for a given number of watched cases (to spread the first checks of new ones)."""
        self._first_sight: list[str] = []
        """Newly seen cases of this sweep, scheduled together at its end."""
        self.clock = clock
        self.lifecycles = set(runtime.settings.caseroom_relay_lifecycles)
        self.stats = SweepStats()
        self.on_requested: Callable[[], None] = lambda: None
        self.max_pages = MAX_PAGES
        self.include_test_cases = runtime.settings.caseroom_include_test_cases
        """CASEROOM_INCLUDE_TEST_CASES: the listing asks for test cases too (`includeTestCases`)."""
        """The most pages one sweep reads, whatever totalPages says (bot.debitura.client.MAX_PAGES)."""

    async def due(self) -> str | None:
        """"full", "incremental" or None, from the times recorded in Redis (shared by all processes)."""
        raw = await hgetall(self.store.redis, self.store.keys.relay_sweep())
        now = self.clock()
        # Once per quiet interval (CASEROOM_MAX_STALENESS, or the bound the budget holds when longer).
        if now - float(raw.get("full") or 0) >= self.policy().full_sweep_interval:
            return "full"
        if now - float(raw.get("inc") or 0) >= self.runtime.settings.caseroom_relay_sweep_interval:
            return "incremental"
        return None

    async def run(self, kind: str) -> None:
        """One sweep; raises SweepInterrupted when the budget (or Debitura) says wait."""
        keys = self.store.keys
        raw = await hgetall(self.store.redis, keys.relay_sweep())
        full = kind == "full"
        started = self.clock()
        # A dateUpdated in the future (a skewed clock, bad data) must not become the watermark: every
        # later sweep would stop after its first page and miss changes listed below that case.
        watermark = min(float(raw.get("wm") or 0), started)
        newest = watermark
        listed: set[str] = set()
        page = 1
        self._first_sight = []
        client = self.runtime.debitura_background
        # totalPages is not trusted: a repeated page or MAX_PAGES ends the listing (and is reported).
        guard = PageGuard(self.max_pages)
        while True:
            try:
                result = await client.list_cases(page=page, page_size=LIST_PAGE_SIZE, sort="DateUpdated:desc",
                                                 include_test_cases=self.include_test_cases)
            except RateLimited as exc:
                await self._schedule_first_sight()
                raise SweepInterrupted(max(1.0, exc.retry_after or 1.0)) from None
            except DebituraError as exc:
                log.warning("sweep failed; retrying later", extra={"error": type(exc).__name__})
                await self._schedule_first_sight()
                raise SweepInterrupted(30.0) from None
            self.stats.pages += 1
            cases = result.cases
            if guard.repeated(c.id for c in cases):
                break
            snaps = [snapshot_case(c) for c in cases]
            await self._consider(snaps)
            listed.update(c.id for c in cases)
            oldest = min((snap.date_updated for snap in snaps), default=0.0)
            newest = max([newest, *(snap.date_updated for snap in snaps)])
            if not result.has_more(page, LIST_PAGE_SIZE, len(cases)):
                break
            if not full and (oldest < watermark - WATERMARK_OVERLAP or page >= MAX_PAGES_INCREMENTAL):
                break
            if guard.last_page(page):
                break
            page += 1
        listing = "relay_full_sweep" if full else "relay_sweep"
        await client.end_listing(ListingEnd(listing, page, guard.reason))
        await self._schedule_first_sight()
        mapping = {"wm": f"{min(newest, started):.3f}", "inc": f"{started:.3f}"}
        if full:
            mapping["full"] = f"{started:.3f}"
            mapping[FULL_PAGES_FIELD] = str(page)  # what a full listing costs (Policy.full_pages)
            self.stats.full += 1
            if guard.reason is None:  # only a complete listing tells which cases are gone
                await self._missing(listed)
        else:
            self.stats.incremental += 1
            # What incremental sweeps really cost feeds the budget plan (Policy.incremental_pages).
            mapping[SWEEP_PAGES_FIELD] = f"{next_pages_average(raw.get(SWEEP_PAGES_FIELD), page):.3f}"
        await self.store.redis.hset(keys.relay_sweep(), mapping=mapping)  # type: ignore[arg-type]
        await self._watch_followed()

    async def _consider(self, snaps: list[CaseSnap]) -> None:
        """Compare one listed page with what the relay knows. A full sweep of 16,000 cases runs this 160
        times on the event loop the fetch workers (and, in `caseroom run`, Slack's requests) share: one
        round trip per page (the followed sets and the schedule's scores in bulk), and a stored
        snapshot is only parsed when it differs from the listed one."""
        if not snaps:
            return
        keys = self.store.keys
        redis = self.store.redis
        ids = [snap.id for snap in snaps]
        stored = await self.store.stored_cases(ids)
        async with redis.pipeline(transaction=False) as pipe:
            pipe.zmscore(keys.schedule(), ids)
            pipe.smismember(keys.followed(), ids)
            pipe.smismember(keys.unfollowed(), ids)
            scores, followed_flags, skipped_flags = await pipe.execute()
        now = self.clock()
        policy = self.policy()
        requested = False
        first_sight: list[tuple[str, str]] = []
        known: list[CaseSnap] = []
        refresh: list[tuple[str, str]] = []
        for snap, old_raw, scheduled, followed, skipped in zip(snaps, stored, scores, followed_flags,
                                                               skipped_flags, strict=True):
            relayed = bool(followed) or (not skipped and relayed_lifecycle(snap, self.lifecycles))
            listed_raw = snap.model_dump_json(exclude_defaults=True)
            if old_raw is None:
                if relayed:
                    first_sight.append((snap.id, listed_raw))
                    known.append(snap)
                continue
            if not snap.closed:  # closed ones: indexed by the fetch that sees the close, then age out
                known.append(snap)
            old = None if old_raw == listed_raw else CaseSnap.model_validate_json(old_raw)
            bits = changed_fields(old, snap) if old is not None else Want.NONE
            if old is None or not bits:
                if relayed and scheduled is None:
                    await redis.zadd(keys.schedule(), {snap.id: policy.first_due(now)}, nx=True)
                if old is not None and passive_upgrade(old, snap):
                    refresh.append((snap.id, listed_raw))
                continue
            if not relayed and scheduled is None and not relayed_lifecycle(old, self.lifecycles):
                continue  # a case we do not relay, changing: none of our business
            self.stats.changed += 1
            await redis.set(keys.relay_snapshot(snap.id), listed_raw, ex=RELAY_SNAPSHOT_TTL)
            await self.store.request_fetch(snap.id, int(bits), now)
            requested = True
        if first_sight:
            self.stats.first_sight += len(first_sight)
            async with redis.pipeline(transaction=True) as pipe:
                for case_id, listed_raw in first_sight:
                    pieces, _ = spread("case", listed_raw)
                    pipe.eval(FIRST_SIGHT_LUA, 1, keys.case_state(case_id), f"{now:.3f}",
                              *(x for item in pieces.items() for x in item))
                await pipe.execute()
            # Scheduled at the end of the sweep, once it is known how many cases there are, so the
            # first checks spread over the interval the budget can hold for all of them. (A crash
            # before that: the next sweep finds the state and schedules the case.)
            self._first_sight.extend(case_id for case_id, _ in first_sight)
        if refresh:
            # Snapshots stored before the exclusive period end and needsInfo were kept: the listed case
            # replaces them as it is (nothing a message depends on changed, see passive_upgrade), so
            # people's queues see them without a fetch, a Debitura request or a pinned-summary edit.
            async with redis.pipeline(transaction=True) as pipe:  # a reader never sees half the pieces
                for case_id, listed_raw in refresh:
                    pieces, stale = spread("case", listed_raw)
                    pipe.hset(keys.case_state(case_id), mapping=pieces)  # type: ignore[arg-type]  # redis-py's mapping type is invariant
                    pipe.hdel(keys.case_state(case_id), *stale)
                await pipe.execute()
        if known:
            # People's queues (bot.store.attention): every known case in its listed assignee's index (a
            # superset, readers check the stored case), so the index mends itself within a full sweep.
            async with redis.pipeline(transaction=False) as pipe:
                for snap in known:
                    index_commands(pipe, keys, snap.id, None, snap.assignee_email)
                await pipe.execute()
        if requested:
            self.on_requested()

    async def _schedule_first_sight(self) -> None:
        if not self._first_sight:
            return
        keys = self.store.keys
        redis = self.store.redis
        watched = int(await redis.zcard(keys.schedule()))
        policy = (self.policy_for(watched + len(self._first_sight)) if self.policy_for is not None
                  else self.policy())
        now = self.clock()
        for start in range(0, len(self._first_sight), SCHEDULE_CHUNK):
            async with redis.pipeline(transaction=False) as pipe:
                for case_id in self._first_sight[start:start + SCHEDULE_CHUNK]:
                    first = policy.first_due(now)
                    pipe.hsetnx(keys.case_state(case_id), "next", f"{first:.3f}")
                    pipe.zadd(keys.schedule(), {case_id: first}, nx=True)
                await pipe.execute()
        self._first_sight = []

    async def _missing(self, listed: set[str]) -> None:
        """Watched cases absent from a complete listing: ask for a GET (404 unwatches them)."""
        keys = self.store.keys
        redis = self.store.redis
        now = self.clock()
        # ZSCAN in chunks, not one ZRANGE of every watched case: a reply of 10,000 members is decoded in
        # one go on the event loop. (SCAN may return a member twice; a member present throughout is
        # returned at least once.)
        missing: list[str] = []
        async for member, _score in redis.zscan_iter(keys.schedule(), count=SCAN_CHUNK):
            if str(member) not in listed:
                missing.append(str(member))
        missing = list(dict.fromkeys(missing))
        for start in range(0, len(missing), SCAN_CHUNK):
            chunk = missing[start:start + SCAN_CHUNK]
            followed = await redis.smismember(keys.followed(), chunk)
            for case_id, is_followed in zip(chunk, followed, strict=True):
                if not is_followed:
                    await self.store.request_fetch(case_id, int(Want.CASE), now)

    async def _watch_followed(self) -> None:
        keys = self.store.keys
        followed = await self.store.redis.smembers(keys.followed())
        if not followed:
            return
        now = self.clock()
        for case_id in followed:
            if await self.store.redis.zscore(keys.schedule(), case_id) is None:
                await self.store.request_fetch(str(case_id), int(Want.CASE | Want.POLL), now)
