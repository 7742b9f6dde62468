"""Fetch workers: claim a due case, read what it needs from Debitura, diff, queue deliveries. Once.

The diff's outcome (new seen fields, new state, the deliveries, the next due time) is committed in
one Redis transaction guarded by the fetch lease (WATCH on the lease and the case state): a worker
that lost its lease commits nothing, and a webhook that asked for more while we were fetching is
kept (its bits stay set and the case is due again at once).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from redis.exceptions import RedisError, WatchError

from bot.debitura.errors import DebituraError, NotFound, RateLimited
from bot.relay import diff as diffmod
from bot.relay.diff import Fetched
from bot.relay.notices import utc_day
from bot.relay.scheduler import Policy
from bot.relay.store import RelayStore
from bot.store.attention import index_commands
from bot.store.cases import PIECED, URGENT_OFFSET, CaseState, Want, state_fields
from bot.store.keys import NOTIFY_DAILY_TTL
from bot.store.pieces import gather
from bot.store.reads import get, hgetall
from bot.store.snapshots import (
    CaseSnap,
    snapshot_case,
    snapshot_chat,
    snapshot_payment,
    snapshot_timeline_item,
)

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)

MAX_ERROR_BACKOFF = 300.0

WEBHOOK_SPACING = 2.0
"""Seconds between two webhook fetches of one case: events for a case within them share the second
fetch (a creditor's burst of chats, a flood of events) instead of costing a request each; the first
event of a quiet case is fetched at once."""


@dataclass
class FetchStats:
    fetches: int = 0
    requests: int = 0
    deliveries: int = 0
    errors: int = 0
    paced: int = 0
    """Times a due poll waited for the poll pacer."""


def relayed_lifecycle(snap: CaseSnap | None, lifecycles: set[str]) -> bool:
    return snap is not None and (snap.lifecycle in lifecycles or snap.lifecycle_display in lifecycles)


class Fetcher:
    def __init__(self, runtime: Runtime, store: RelayStore, policy: Callable[[], Policy], *,
                 lease_ms: int, clock: Callable[[], float] = time.time) -> None:
        self.runtime = runtime
        self.store = store
        self.policy = policy
        self.lease_ms = lease_ms
        self.clock = clock
        self.stats = FetchStats()
        self.lifecycles = set(runtime.settings.caseroom_relay_lifecycles)
        self.diff_settings = diffmod.Settings(backfill=runtime.settings.caseroom_backfill,
                                              archive_on_close=runtime.settings.caseroom_archive_on_close)
        self.on_enqueued: Callable[[], None] = lambda: None

    async def run_once(self, token: str, *, polls_first: bool = False) -> bool:
        """Claim one due case and process it; False when nothing is due (or the pacer says wait).

        Requested fetches (webhooks, changes a sweep found) go first and unpaced: what they cost is
        measured and paid for out of the poll budget (Policy.extra_per_day). A worker with
        `polls_first` takes a due poll the pacer lets through before them: one such worker per process
        (Relay.start) keeps the polls on their plan while a flood of webhooks keeps every other worker
        busy, at no cost to the webhook path beyond the plan's few polls a second (paced)."""
        now = self.clock()
        if polls_first:
            case_id = await self._claim_poll(token, now) or await self._claim_requested(token, now)
        else:
            case_id = await self._claim_requested(token, now) or await self._claim_poll(token, now)
        if case_id is None:
            return False
        renew = asyncio.create_task(self._keep_lease("fetch:" + case_id, token))
        put_off = False
        try:
            put_off = await self.fetch_case(case_id, token)
        finally:
            renew.cancel()
            if not put_off:  # a fetch put off keeps its lease until then: it runs out by itself
                await self.store.release_lease("fetch:" + case_id, token)
        return True

    async def _claim_requested(self, token: str, now: float) -> str | None:
        return await self.store.claim(self.store.keys.schedule(), "fetch:", token, self.lease_ms, now,
                                      upto=now - URGENT_OFFSET / 2)

    async def _claim_poll(self, token: str, now: float) -> str | None:
        keys = self.store.keys
        due = await self.store.next_due(keys.schedule(), now)
        if due is None or due > now:
            return None
        # Scheduled polls go at the rate the plan pays for, shared by every process: a schedule
        # running ahead of the budget (first checks planned before costs were measured) is held
        # back here, evenly, instead of by the daily cap all at once.
        policy = self.policy()
        if await self.store.take_poll_slot(now, policy.pacer_rate, policy.poll_burst, policy.day) > 0:
            self.stats.paced += 1
            return None
        case_id = await self.store.claim(keys.schedule(), "fetch:", token, self.lease_ms, now,
                                         above=now - URGENT_OFFSET / 2)
        if case_id is None:
            # Another worker took it: the slot goes back, or idle workers racing for the one
            # due case would spend the pace and hold the schedule back.
            await self.store.return_poll_slot(policy.poll_burst)
        return case_id

    async def _keep_lease(self, name: str, token: str) -> None:
        while True:
            await asyncio.sleep(self.lease_ms / 3000)
            try:
                renewed = await self.store.renew_lease(name, token, self.lease_ms)
            except (RedisError, OSError):
                continue
            if not renewed:
                log.warning("lost fetch lease", extra={"lease": name})
                return

    async def _reschedule(self, case_id: str, token: str, after: float, *, requested: bool) -> bool:
        """Try the fetch again `after` seconds from now. A requested fetch (a webhook, a change a sweep
        found) stays requested: scored among them, not among the polls, where it would take a paced
        poll's turn (a flood refused by the budget then held every poll back for minutes); its lease is
        kept until then, so no worker takes it sooner (True: the lease is kept)."""
        lease_key = self.store.keys.lease("fetch:" + case_id)
        at = self.clock() + after
        if not requested:
            if await self.store.redis.get(lease_key) == token:
                await self.store.redis.zadd(self.store.keys.schedule(), {case_id: at})
            return False
        return await self.store.put_off(case_id, token, at - URGENT_OFFSET, max(1, int(after * 1000)))

    async def fetch_case(self, case_id: str, token: str) -> bool:
        """Fetch and commit what the case's state asks for; True when the fetch was put off with its
        lease kept (the caller must not release it)."""
        keys = self.store.keys
        redis = self.store.redis
        now = self.clock()
        raw = await hgetall(redis, keys.case_state(case_id))
        state = CaseState.from_hash(raw)
        want = Want(int(raw.get("want") or 0))
        scheduled = float(raw.get("next") or 0)
        due_poll = scheduled <= now + 1
        late = 0.0
        if due_poll and scheduled:
            late = max(0.0, now - scheduled)
            self.runtime.metrics.poll_lateness.observe(late)
        bits = want | (Want.POLL if due_poll or not want else Want.NONE)
        if state.case is None:
            bits |= Want.CASE
        if "chats" not in state.baselined:
            bits |= Want.CHATS
        if "timeline" not in state.baselined:
            bits |= Want.TIMELINE
        asked = bits
        path = "webhook" if raw.get("src") == "webhook" and want else ("sweep" if want else "poll")
        if path == "webhook" and not due_poll:
            wait = float(raw.get("wf") or 0) + WEBHOOK_SPACING - now
            if wait > 0:  # fetched for a webhook moments ago: later events share the next fetch
                return await self._reschedule(case_id, token, wait, requested=True)
        client = self.runtime.debitura_background
        fetched = Fetched()
        # Requests outside the polling plan (everything but the chats + timeline of a due poll) are
        # counted in Redis: the plan pays for them out of the poll budget (Policy.extra_per_day).
        spent = {"made": 0, "planned": 0, "last_planned": 0}

        def spend(planned: bool) -> None:
            self.stats.requests += 1
            spent["made"] += 1
            spent["planned"] += int(planned)
            spent["last_planned"] = int(planned)

        try:
            if bits & Want.CASE:
                snap_raw = await get(redis, keys.relay_snapshot(case_id))
                if snap_raw and raw.get("src") != "webhook":
                    fetched.case = CaseSnap.model_validate_json(snap_raw)
                else:
                    spend(planned=False)
                    fetched.case = snapshot_case(await client.get_case(case_id))
            followed = bool(await redis.sismember(keys.followed(), case_id))
            skipped = bool(await redis.sismember(keys.unfollowed(), case_id))
            relayed_now = followed or (not skipped and relayed_lifecycle(fetched.case or state.case,
                                                                         self.lifecycles))
            if not relayed_now:
                bits &= Want.CASE  # not (or no longer) relayed: only its case-level changes matter
            if bits & Want.CHATS:
                spend(planned=due_poll)
                fetched.chats = [snapshot_chat(c) for c in await client.list_chats(case_id)]
            if bits & Want.TIMELINE:
                spend(planned=due_poll)
                timeline = await client.get_timeline(case_id)
                fetched.timeline = [snapshot_timeline_item(i) for i in timeline.items]
                if fetched.case is None and state.case is not None:
                    phase = timeline.current_engagement_phase or ""
                    if phase != state.case.phase:
                        fetched.case = state.case.model_copy(update={"phase": phase})
            if relayed_now and "payments" not in state.baselined and not bits & Want.PAYMENTS:
                known = fetched.case or state.case
                if known is None or not known.has_payments:
                    fetched.payments = []  # the amounts prove there are none: an empty baseline, free
                elif self.policy().eager_payment_baselines:
                    bits |= Want.PAYMENTS  # baseline them now, so a later deletion can be seen
                # else: read when they first change (a sweep sees the amounts move, or a webhook)
            if bits & Want.PAYMENTS:
                spend(planned=False)
                fetched.payments = [snapshot_payment(p) for p in await client.list_payments(case_id)]
        except NotFound:
            log.info("case no longer assigned to us; unwatched", extra={"case_id": case_id})
            await self._commit_gone(case_id, token)
            return False
        except RateLimited as exc:
            # Refused (our budget, or Debitura's 429): no request was made, so none is counted.
            if spent["made"]:
                spent["made"] -= 1
                spent["planned"] -= int(spent["last_planned"])
                self.stats.requests -= 1
            return await self._reschedule(case_id, token, max(1.0, exc.retry_after or 1.0),
                                          requested=bool(want))
        except DebituraError as exc:
            self.stats.errors += 1
            errors = int(raw.get("err") or 0) + 1
            await redis.hset(keys.case_state(case_id), "err", errors)
            delay = min(MAX_ERROR_BACKOFF, 2.0 ** errors) * (0.5 + random.random() / 2)
            log.warning("fetch failed; retrying later",
                        extra={"case_id": case_id, "error": type(exc).__name__, "retry_in": round(delay, 1)})
            return await self._reschedule(case_id, token, delay, requested=bool(want))
        finally:
            await self.store.record_extra(spent["made"] - spent["planned"], now, self.policy().day)
        self.stats.fetches += 1
        seen = await hgetall(redis, keys.relay_seen(case_id))
        result = diffmod.diff_case(case_id=case_id, state=state, seen=seen, fetched=fetched, now=now,
                                   path=path, settings=self.diff_settings)
        old_email = state.case.assignee_email if state.case is not None else None
        await self._commit(case_id, token, asked, result, now, late, old_email, path=path,
                           first_sight=not state.baselined, asked_seq=raw.get("rq"))
        return False

    async def _commit(self, case_id: str, token: str, handled: Want, result: diffmod.DiffResult,
                      now: float, late: float = 0.0, old_email: str | None = None, *, path: str = "poll",
                      first_sight: bool = False, asked_seq: str | None = None) -> None:
        keys = self.store.keys
        lease_key = keys.lease("fetch:" + case_id)
        state_key = keys.case_state(case_id)
        policy = self.policy()
        polled = (handled & Want.POLL) == Want.POLL
        async with self.store.redis.pipeline(transaction=True) as pipe:
            for _ in range(20):
                try:
                    await pipe.watch(lease_key, state_key)
                    if await pipe.get(lease_key) != token:
                        log.warning("fetch lease lost before commit; another worker redoes it",
                                    extra={"case_id": case_id})
                        return
                    current = await pipe.hmget(state_key, ["want", "next", "rq"])
                    # Asked for again while this fetch read (a webhook for a chat it may have missed):
                    # everything asked for stays asked for, so the case is fetched again.
                    asked_again = current[2] != asked_seq
                    wanted = int(current[0] or 0)
                    remaining = wanted if asked_again else wanted & ~int(handled)
                    # A state written whole before its long values went in pieces keeps Redis' larger
                    # encoding (Redis never converts back): rewritten once, in pieces, by this commit.
                    larger = await pipe.object("encoding", state_key) == "hashtable"
                    before = await hgetall(pipe, state_key) if larger else {}
                    followed = await pipe.sismember(keys.followed(), case_id)
                    skipped = await pipe.sismember(keys.unfollowed(), case_id)
                    watched = bool(followed) or (not skipped and relayed_lifecycle(result.state.case,
                                                                                   self.lifecycles))
                    if polled:
                        interval = policy.interval_for(result.state.last_activity, now)
                        next_poll = now - policy.catch_up(late, interval) + policy.jitter(interval)
                    else:
                        next_poll = float(current[1] or 0) or now + policy.quiet_poll_interval
                    due = now - URGENT_OFFSET if remaining else next_poll
                    pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
                    mapping, stale = result.state.to_fields()
                    mapping.update(want=str(remaining), next=f"{next_poll:.3f}")
                    if polled:
                        mapping["chk"] = f"{now:.3f}"  # last full check (chats + timeline)
                    if path == "webhook":
                        mapping["wf"] = f"{now:.3f}"  # last webhook fetch (WEBHOOK_SPACING)
                    if larger:
                        kept = {k: v for k, v in gather(before, PIECED).items()
                                if k not in mapping and k not in ("err", "gone")
                                and (asked_again or k != "src")}
                        whole_state = state_fields(kept)[0]
                        whole_state.update(mapping)
                        pipe.delete(state_key)
                        pipe.hset(state_key, mapping=whole_state)  # type: ignore[arg-type]  # redis-py's mapping type is invariant
                    else:
                        pipe.hset(state_key, mapping=mapping)  # type: ignore[arg-type]  # redis-py's mapping type is invariant
                        done = ("err", "gone") if asked_again else ("err", "src", "gone")
                        pipe.hdel(state_key, *done, *stale)  # it answered: no longer gone
                    if result.seen_set:
                        pipe.hset(keys.relay_seen(case_id), mapping=result.seen_set)  # type: ignore[arg-type]  # redis-py's mapping type is invariant
                    if result.seen_del:
                        pipe.hdel(keys.relay_seen(case_id), *result.seen_del)
                    lanes: dict[str, list[str]] = {}
                    for d in result.deliveries:  # the case's lane, and each DM's person lane
                        lanes.setdefault(d.lane or case_id, []).append(d.model_dump_json())
                    for lane, queued in lanes.items():
                        pipe.rpush(keys.relay_outbox(lane), *queued)
                        pipe.zadd(keys.relay_ready(), {lane: now}, nx=True)
                    counts = dict(result.counts)
                    if first_sight and path in ("webhook", "sweep"):
                        counts["new"] = 1.0
                    if counts:  # the admins' team digest (bot.relay.attention), counted once per fetch
                        day_key = keys.notify_daily(utc_day(now))
                        for name, amount in counts.items():
                            pipe.hincrbyfloat(day_key, name, amount)
                        pipe.expire(day_key, NOTIFY_DAILY_TTL)
                    if result.active:
                        pipe.zadd(keys.relay_activity(), {case_id: now})
                    if result.state.case is not None:  # people's queues: the assignee's index
                        index_commands(pipe, keys, case_id, old_email, result.state.case.assignee_email)
                    if watched:
                        pipe.zadd(keys.schedule(), {case_id: due})
                    else:
                        pipe.zrem(keys.schedule(), case_id)
                        pipe.zrem(keys.relay_activity(), case_id)
                    pipe.delete(lease_key)
                    await pipe.execute()
                    break
                except WatchError:
                    continue
        self.stats.deliveries += len(result.deliveries)
        if result.deliveries:
            self.on_enqueued()

    async def _commit_gone(self, case_id: str, token: str) -> None:
        """Debitura does not give us the case (any more): unwatch it. A case never read (a webhook or
        a sweep naming an id this workspace's key was never given) leaves no state behind; a case we
        had keeps its state, marked gone."""
        keys = self.store.keys
        lease_key = keys.lease("fetch:" + case_id)
        if await self.store.redis.get(lease_key) != token:
            return
        known = await self.store.redis.hexists(keys.case_state(case_id), "case")
        async with self.store.redis.pipeline(transaction=True) as pipe:
            pipe.zrem(keys.schedule(), case_id)
            pipe.zrem(keys.relay_activity(), case_id)
            if known:
                pipe.hset(keys.case_state(case_id), mapping={"want": "0", "gone": "1"})
            else:
                pipe.delete(keys.case_state(case_id))
            pipe.delete(lease_key)
            await pipe.execute()
