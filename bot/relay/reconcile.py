"""Webhook reconciliation: no Debitura event is lost while Caseroom was down, a delivery failed, or the
subscription was disabled.

Debitura keeps a delivery log (`GET /webhooks/events?caseId=&since=`, one case at a time, our
subscriptions only). On start and every CASEROOM_WEBHOOK_RECONCILE_INTERVAL seconds, one relay
process at a time (lease "reconcile") runs:

1. `GET /webhooks`: the subscriptions and whether each is active. Their state is kept
   (`WebhookStore.save_subscriptions`) for `caseroom check`; a subscription seen inactive is marked
   (`inactive_since`) until a run covers its window while it is active again.
2. The window: from the oldest subscription cursor (the start of the last complete run, less
   OVERLAP for a log that fills asynchronously and clocks that differ) to now. A subscription without a
   cursor starts at now: nothing before it was ours to reconcile.
3. The cases changed in the window: `GET /cases` sorted by `DateUpdated:desc`, page by page until the
   window's start (what the sweep reads, usually one page). Only cases the relay watches count, and
   only those it has not fetched since their last change (the stored snapshot is behind the listing).
4. For each of them, its delivery log since the window's start: every event of ours not yet taken in
   (`webhook_seen`: the webhook door marks the same ids) is taken in now exactly as the door would
   (`bot.relay.webhooks.take_in`: a fetch of the case is asked for, the relay's scheduler, budget and
   dedupe do the rest; nothing is fetched or posted here).
5. While a subscription was inactive its events left no row at all: then every such case also gets
   the fetch a sweep would ask for (what the listing shows changed), whatever its log says.
6. The cursors move to the run's start; the run's figures are kept (`webhook_reconcile`).

Every request goes through the background client, so the shared rate budget (the relay's share)
applies; the requests are counted outside the polling plan (`RelayStore.record_extra`) so the plan
pays for them. A run cut short by the budget or an error leaves the cursors where they were: the next
run covers the same window again (taking an event in twice is a "duplicate").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.debitura.client import PageGuard
from bot.debitura.errors import ApiError, DebituraError, RateLimited
from bot.debitura.models import Webhook
from bot.relay.scheduler import LIST_PAGE_SIZE, budget_day
from bot.relay.store import RelayStore
from bot.relay.sweep import changed_fields
from bot.relay.webhooks import EVENT_BITS, take_in
from bot.store.cases import Want
from bot.store.keys import RELAY_SNAPSHOT_TTL
from bot.store.snapshots import CaseSnap, snapshot_case
from bot.store.webhooks import SubscriptionState, WebhookStore

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)

OVERLAP = 120.0
"""Each window starts this long before the last run began: Debitura writes a log row only after its
delivery worker ran (seconds, up to ~30 s), and its clock is not ours."""
MAX_PAGES = 50
"""At most this many pages of changed cases per run (5,000 cases); the rest is the sweep's."""
RETRY_AFTER_ERROR = 60.0


class ReconcileInterrupted(Exception):
    def __init__(self, retry_after: float | None, reason: str) -> None:
        """`retry_after` None: at the usual interval."""
        when = "at the usual interval" if retry_after is None else f"in {retry_after:.0f} s"
        super().__init__(f"reconciliation interrupted ({reason}); retry {when}")
        self.retry_after = retry_after
        self.reason = reason


@dataclass
class ReconcileResult:
    started: float = 0.0
    since: float = 0.0
    """Start of the window (0: no subscription had a cursor; nothing to reconcile)."""
    subscriptions: int = 0
    inactive: int = 0
    pages: int = 0
    changed: int = 0
    """Watched cases changed in the window and not fetched since."""
    logs_read: int = 0
    events: int = 0
    """Rows of our subscriptions in those logs."""
    queued: int = 0
    """Events taken in by this run (missed by the webhook door)."""
    duplicates: int = 0
    gap_fetches: int = 0
    """Fetches asked for because a subscription was inactive in the window."""
    requests: int = 0
    seconds: float = 0.0
    error: str = ""
    """Why the run stopped short ("" when it completed)."""

    def figures(self) -> dict[str, str | int | float]:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def _ts(value: datetime | None) -> float:
    return value.timestamp() if value is not None else 0.0


class Reconciler:
    def __init__(self, runtime: Runtime, store: RelayStore, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.runtime = runtime
        self.store = store
        self.hooks = WebhookStore(runtime.redis, runtime.keys)
        self.clock = clock
        self.on_requested: Callable[[], None] = lambda: None
        self.last: ReconcileResult | None = None

    async def run(self) -> ReconcileResult:
        """One reconciliation; raises ReconcileInterrupted when the budget or Debitura says wait."""
        result = ReconcileResult(started=self.clock())
        try:
            await self._run(result)
        except RateLimited as exc:
            raise ReconcileInterrupted(max(1.0, exc.retry_after or 1.0), "rate budget") from None
        except ApiError as exc:
            if exc.status is not None and 400 <= exc.status < 500:
                # Refused (a key without webhook access, say): again at the next run, not every minute.
                log.warning("webhook reconciliation refused by Debitura (%s); next try at the usual interval",
                            exc.status)
                result.error = f"Debitura answered HTTP {exc.status}: {exc}"[:300]
                await self._record(result)
                raise ReconcileInterrupted(None, f"HTTP {exc.status}") from None
            log.warning("webhook reconciliation failed; retrying later", extra={"error": type(exc).__name__})
            raise ReconcileInterrupted(RETRY_AFTER_ERROR, type(exc).__name__) from None
        except DebituraError as exc:
            log.warning("webhook reconciliation failed; retrying later", extra={"error": type(exc).__name__})
            raise ReconcileInterrupted(RETRY_AFTER_ERROR, type(exc).__name__) from None
        finally:
            if result.requests:
                await self.store.record_extra(result.requests, self.clock(),
                                              budget_day(self.runtime.settings))
        await self._record(result)
        self.last = result
        if result.queued or result.gap_fetches:
            log.info("webhook reconciliation caught up", extra=result.figures())
        return result

    async def _record(self, result: ReconcileResult) -> None:
        result.seconds = self.clock() - result.started
        await self.hooks.record_run({"at": f"{result.started:.3f}", **result.figures()})

    async def _run(self, result: ReconcileResult) -> None:
        client = self.runtime.debitura_background
        started = result.started
        result.requests += 1
        hooks = await client.list_webhooks()
        states = await self._remember(hooks, started)
        result.subscriptions = len(states)
        result.inactive = sum(1 for s in states if not s.active)
        if not states:
            return
        cursors = await self.hooks.cursors()
        fresh = [s.id for s in states if s.id not in cursors]
        if fresh:
            await self.hooks.advance(fresh, started)
        covered = [s for s in states if s.id in cursors]
        if not covered:
            return
        since = min(cursors[s.id] for s in covered) - OVERLAP
        result.since = since
        gap = any(s.inactive_since or not s.active for s in covered)
        ours = {s.id for s in states}
        changed = await self._changed_cases(since, any(s.test_mode for s in states), result)
        since_dt = datetime.fromtimestamp(since, UTC)
        for snap, old in changed:
            result.changed += 1
            result.requests += 1
            result.logs_read += 1
            for row in await client.list_webhook_events(snap.id, since=since_dt):
                if row.subscription_id and row.subscription_id not in ours:
                    continue
                payload = row.payload_json()
                body = payload if isinstance(payload, dict) else {}
                # The door dedupes on the envelope's id (one per event, the same for every attempt).
                event_id = str(body.get("id") or row.id)
                name = row.event_type or str(body.get("event") or "")
                result.events += 1
                outcome = await take_in(self.runtime, self.store, event_id, snap.id, name, via="reconcile")
                self.runtime.metrics.webhooks.labels(event=name if name in EVENT_BITS else "other",
                                                     outcome=f"reconciled_{outcome}").inc()
                if outcome == "queued":
                    result.queued += 1
                elif outcome == "duplicate":
                    result.duplicates += 1
            if gap and old is not None:
                bits = changed_fields(old, snap)
                if bits:
                    # What a sweep would ask for: the listed case is kept, so the fetch need not GET it.
                    await self.store.redis.set(self.runtime.keys.relay_snapshot(snap.id),
                                               snap.model_dump_json(exclude_defaults=True),
                                               ex=RELAY_SNAPSHOT_TTL)
                    await self.store.request_fetch(snap.id, int(bits | Want.POLL), self.clock())
                    result.gap_fetches += 1
        if result.queued or result.gap_fetches:
            self.on_requested()
        await self.hooks.advance(ours, started)
        # A subscription active again and now covered: its inactive window is reconciled.
        cleared = [SubscriptionState(**{**asdict(s), "inactive_since": 0.0}) for s in states
                   if s.active and s.inactive_since]
        await self.hooks.save_subscriptions(cleared)

    async def _remember(self, hooks: list[Webhook], now: float) -> list[SubscriptionState]:
        known = await self.hooks.subscriptions()
        states: list[SubscriptionState] = []
        for hook in hooks:
            prev = known.get(hook.id)
            active = hook.is_active is not False
            marked = prev.inactive_since if prev is not None else 0.0
            if not active and not marked:
                marked = now
                log.warning(
                    "webhook subscription %s for %s is disabled (%s): events reach Caseroom only through "
                    "polling and this reconciliation until it is re-enabled; once the URL answers, run "
                    "`caseroom check --fix-webhooks`", hook.id, hook.url, hook.disabled_reason or "inactive")
            states.append(SubscriptionState(
                id=hook.id, url=hook.url or "", active=active, reason=hook.disabled_reason or "",
                test_mode=bool(hook.is_test_mode), inactive_since=marked, read_at=now))
        await self.hooks.save_subscriptions(states)
        await self.hooks.forget_cursors([s.id for s in states])
        return states

    async def _changed_cases(self, since: float, include_test: bool,
                             result: ReconcileResult) -> list[tuple[CaseSnap, CaseSnap | None]]:
        """Watched cases listed as changed since `since` whose stored snapshot is behind the listing,
        with that stored snapshot (None: never fetched)."""
        client = self.runtime.debitura_background
        keys = self.runtime.keys
        redis = self.store.redis
        out: list[tuple[CaseSnap, CaseSnap | None]] = []
        guard = PageGuard(MAX_PAGES)
        page = 1
        while True:
            result.requests += 1
            result.pages += 1
            listed = await client.list_cases(page=page, page_size=LIST_PAGE_SIZE, sort="DateUpdated:desc",
                                             include_test_cases=include_test)
            cases = listed.cases
            if guard.repeated(c.id for c in cases):
                break
            snaps = [snapshot_case(c) for c in cases if _ts(c.date_updated) >= since]
            if snaps:
                ids = [s.id for s in snaps]
                stored = await self.store.stored_cases(ids)
                async with redis.pipeline(transaction=False) as pipe:
                    pipe.zmscore(keys.schedule(), ids)
                    pipe.smismember(keys.followed(), ids)
                    pipe.smismember(keys.unfollowed(), ids)
                    scores, followed, skipped = await pipe.execute()
                for snap, raw, score, is_followed, is_skipped in zip(snaps, stored, scores, followed, skipped,
                                                                     strict=True):
                    watched = (bool(is_followed) or score is not None or raw is not None) and not is_skipped
                    if not watched:
                        continue
                    old = CaseSnap.model_validate_json(raw) if raw is not None else None
                    if old is not None and old.date_updated >= snap.date_updated > 0:
                        continue  # fetched since its last change: whatever happened, the relay read it
                    out.append((snap, old))
            oldest = min((_ts(c.date_updated) for c in cases), default=0.0)
            if len(snaps) < len(cases) or oldest < since:
                break
            if not listed.has_more(page, LIST_PAGE_SIZE, len(cases)) or guard.last_page(page):
                break
            page += 1
        return out
