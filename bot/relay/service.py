"""`Relay`: the relay's workers in one process, started and stopped as a unit.

    relay = Relay(runtime)
    await relay.start()
    ...
    await relay.stop(graceful=True)   # finishes the deliveries in flight, releases leases
    relay.health()                    # dict for /healthz and `caseroom check`

Any number of processes may run a Relay against the same Redis: they share the work through leases
(see bot/relay/store.py), and one of them at a time sweeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from redis.exceptions import ClusterDownError, RedisError, SlotNotCoveredError, TryAgainError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.relay.attention import AttentionPass
from bot.relay.delivery import Deliverer
from bot.relay.fetch import Fetcher
from bot.relay.reconcile import ReconcileInterrupted, Reconciler
from bot.relay.scheduler import Policy, policy_from_settings
from bot.relay.status import current_policy, relay_daily_budget
from bot.relay.store import RelayStore, new_token
from bot.relay.sweep import Sweeper, SweepInterrupted
from bot.relay.wakeup import WakeUps
from bot.runtime import without_rate_limit_retries
from bot.slack.pacing import SlackIO
from bot.store.pacing import PaceStore

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)

IDLE_SLEEP = 0.5
REDIS_UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, ClusterDownError, TryAgainError,
                     SlotNotCoveredError, OSError)
"""What Redis raises while it cannot serve, for a while: unreachable, or a cluster slot without a master
(CLUSTERDOWN, TRYAGAIN during a failover, after redis-py's own retries). Retried, one warning line."""
POLICY_REFRESH = 15.0
HEARTBEAT_TTL = 60


@dataclass
class RelayOptions:
    fetch_workers: int = 4
    delivery_workers: int = 8
    lease_seconds: float = 30.0
    idle_sleep: float = IDLE_SLEEP
    sweep: bool = True
    reconcile: bool = True
    """Reconcile Debitura's webhook delivery log (bot/relay/reconcile.py) at start and periodically."""
    reconcile_interval: float = 600.0
    stop_timeout: float = 30.0
    first_spread: float | None = None
    """Seconds over which first polls of new cases are spread (None: the quiet interval)."""
    attention: bool = True
    """Run the reminder and digest pass (bot.relay.attention; one process at a time, lease `attention`)."""
    attention_interval: float = 60.0
    wake_across_processes: bool = True
    """Subscribe to the workspace's wake-up channel (bot/relay/wakeup.py) unless given a shared
    subscription: a webhook taken by another process starts this relay's fetch at once."""

    @classmethod
    def from_settings(cls, runtime: Runtime) -> RelayOptions:
        s = runtime.settings
        return cls(fetch_workers=s.caseroom_relay_fetch_workers,
                   delivery_workers=s.caseroom_relay_delivery_workers,
                   lease_seconds=float(s.caseroom_relay_lease),
                   reconcile_interval=float(s.caseroom_webhook_reconcile_interval),
                   first_spread=(float(s.caseroom_relay_first_spread)
                                 if s.caseroom_relay_first_spread is not None else None),
                   attention_interval=float(s.caseroom_attention_interval))


class Relay:
    def __init__(self, runtime: Runtime, options: RelayOptions | None = None, *,
                 clock: Callable[[], float] = time.time, wakeups: WakeUps | None = None) -> None:
        """`wakeups`: the process's shared wake-up subscription (the fleet's); None: this relay makes
        its own when `options.wake_across_processes`."""
        self.runtime = runtime
        self.options = options or RelayOptions.from_settings(runtime)
        self._own_wakeups = wakeups is None and self.options.wake_across_processes
        self.wakeups = WakeUps(runtime.redis) if self._own_wakeups else wakeups
        self.clock = clock
        self.store = RelayStore(runtime.redis, runtime.keys)
        lease_ms = int(self.options.lease_seconds * 1000)
        self._policy = policy_from_settings(runtime.settings, cases=0,
                                            daily_budget=relay_daily_budget(runtime),
                                            first_spread=self.options.first_spread)
        self.fetcher = Fetcher(runtime, self.store, self.policy, lease_ms=lease_ms, clock=clock)
        pace = PaceStore(runtime.redis, runtime.keys)
        self.slack = SlackIO(without_rate_limit_retries(runtime.slack), pace, runtime.metrics, clock=clock)
        self.deliverer = Deliverer(runtime, self.store, self.slack, lease_ms=lease_ms, clock=clock)
        self.sweeper = Sweeper(runtime, self.store, self.policy, clock=clock,
                               policy_for=lambda n: dataclasses.replace(self._policy, cases=n))
        self._attention_waited = False
        self.attention = AttentionPass(runtime, self.deliverer.notify, self.deliverer.dms.people, clock=clock)
        self.reconciler = Reconciler(runtime, self.store, clock=clock)
        self.reconciler.on_requested = self.nudge
        self._reconciled_once = False
        self.fetcher.on_enqueued = self._wake_delivery
        self.sweeper.on_requested = self.nudge
        self._fetch_wake = asyncio.Event()
        self._delivery_wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._delivery_tasks: list[asyncio.Task[None]] = []
        self.started_at = 0.0
        self.last_sweep = 0.0
        self.last_error = ""
        self.redis_ok = True

    # --- policy ------------------------------------------------------------------------------------
    def policy(self) -> Policy:
        return self._policy

    async def refresh_policy(self) -> Policy:
        self._policy = await current_policy(self.runtime, self.clock(),
                                            first_spread=self.options.first_spread, trim=True)
        metrics = self.runtime.metrics
        metrics.staleness_bound.set(self._policy.quiet_interval)
        metrics.cases_watched.set(self._policy.cases)
        metrics.queue_depth.set(await self.store.queue_depth())
        metrics.relay_extra_requests.set(self._policy.extra_per_day)
        return self._policy

    @property
    def staleness_bound(self) -> float:
        """Seconds: the longest a watched case can go unchecked with this budget (what we can hold)."""
        return self._policy.quiet_interval

    # --- lifecycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        if self._tasks:
            raise RuntimeError("the relay is already running")
        self.started_at = self.clock()
        self._stopping.clear()
        self.deliverer.stopping = False
        with contextlib.suppress(RedisError, OSError):
            await self.refresh_policy()
        for i in range(self.options.fetch_workers):
            self._tasks.append(asyncio.create_task(self._loop(f"fetch-{i}", self._fetch_step)))
        for i in range(self.options.delivery_workers):
            task = asyncio.create_task(self._loop(f"deliver-{i}", self._delivery_step))
            self._delivery_tasks.append(task)
        if self.options.sweep:
            self._tasks.append(asyncio.create_task(self._loop("sweep", self._sweep_step)))
        if self.options.attention:
            self._attention_waited = False
            self._tasks.append(asyncio.create_task(self._loop("attention", self._attention_step)))
        if self.options.reconcile:
            self._reconciled_once = False
            self._tasks.append(asyncio.create_task(self._loop("reconcile", self._reconcile_step)))
        self._tasks.append(asyncio.create_task(self._loop("housekeeping", self._housekeeping_step)))
        if self.wakeups is not None:
            self.wakeups.add(self.runtime.keys.relay_wake(), self.nudge)
            if self._own_wakeups:
                self.wakeups.start()
        log.info("relay started", extra={"process_id": self.runtime.process_id,
                                         "fetch_workers": self.options.fetch_workers,
                                         "delivery_workers": self.options.delivery_workers})

    async def stop(self, graceful: bool = True) -> None:
        """Stop. Graceful: no new work is claimed, deliveries in flight finish and are recorded."""
        self._stopping.set()
        self.deliverer.stopping = True
        if self.wakeups is not None:
            self.wakeups.remove(self.runtime.keys.relay_wake(), self.nudge)
            if self._own_wakeups:
                await self.wakeups.stop()
        self._fetch_wake.set()
        self._delivery_wake.set()
        if graceful and self._delivery_tasks:
            _done, pending = await asyncio.wait(self._delivery_tasks, timeout=self.options.stop_timeout)
            for task in pending:
                task.cancel()
        for task in [*self._tasks, *self._delivery_tasks]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._delivery_tasks, return_exceptions=True)
        self._tasks.clear()
        self._delivery_tasks.clear()
        with contextlib.suppress(RedisError, OSError):
            await self.runtime.redis.zrem(self.runtime.keys.relay_processes(), self.runtime.process_id)
        log.info("relay stopped", extra={"process_id": self.runtime.process_id})

    def nudge(self) -> None:
        """Something is due now (a webhook arrived, here or in another process): wake the fetch workers."""
        self._fetch_wake.set()

    def _wake_delivery(self) -> None:
        self._delivery_wake.set()

    @property
    def running(self) -> bool:
        return bool(self._tasks) and not self._stopping.is_set()

    def health(self) -> dict[str, Any]:
        alive = sum(1 for t in [*self._tasks, *self._delivery_tasks] if not t.done())
        p = self._policy
        return {
            "running": self.running,
            "process_id": self.runtime.process_id,
            "tasks_alive": alive,
            "tasks_total": len(self._tasks) + len(self._delivery_tasks),
            "redis_ok": self.redis_ok,
            "last_sweep": self.last_sweep,
            "cases_watched": p.cases,
            "active_cases": p.active,
            "staleness_bound_seconds": round(p.bound, 1),
            "staleness_held_seconds": round(p.quiet_interval, 1),
            "max_staleness_seconds": p.max_staleness,
            "staleness_out_of_reach": p.out_of_reach,
            "relay_daily_budget": p.daily_budget,
            "fetches": self.fetcher.stats.fetches,
            "polls_paced": self.fetcher.stats.paced,
            "posted": self.deliverer.stats.posted,
            "last_error": self.last_error,
        }

    # --- loops -------------------------------------------------------------------------------------
    async def _loop(self, name: str, step: Callable[[str], Awaitable[float]]) -> None:
        """Run `step` until stopping; a step returns how long to idle. Errors back off, never kill."""
        token = new_token()
        failures = 0
        while not self._stopping.is_set():
            try:
                idle = await step(token)
                failures = 0
                self.redis_ok = True
            except asyncio.CancelledError:
                raise
            except REDIS_UNAVAILABLE as exc:
                failures += 1
                self.redis_ok = False
                self.last_error = f"{name}: {type(exc).__name__}"
                idle = min(10.0, 0.2 * 2 ** min(failures, 6))
                if failures in (1, 10) or failures % 50 == 0:
                    log.warning("relay %s: Redis unavailable (%s); retrying", name, type(exc).__name__)
            except Exception as exc:
                failures += 1
                self.last_error = f"{name}: {type(exc).__name__}: {exc}"
                idle = min(30.0, 0.5 * 2 ** min(failures, 6))
                log.exception("relay %s step failed; retrying in %.1f s", name, idle)
            if idle > 0 and not self._stopping.is_set():
                await self._idle(name, idle)

    async def _idle(self, name: str, seconds: float) -> None:
        event = self._delivery_wake if name.startswith("deliver") else (
            self._fetch_wake if name.startswith("fetch") else None)
        if event is None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(event.wait(), timeout=seconds)
        event.clear()

    async def _fetch_step(self, token: str) -> float:
        did = await self.fetcher.run_once(token)
        return 0.0 if did else self.options.idle_sleep * (0.75 + random.random() / 2)

    async def _delivery_step(self, token: str) -> float:
        did = await self.deliverer.run_once(token)
        if did:
            return 0.0
        idle = self.options.idle_sleep * (0.75 + random.random() / 2)
        # A lane paced after its last post (one message a second per channel) is due within a second:
        # wake for it then rather than at the next idle tick.
        now = self.clock()
        soonest = await self.store.next_lane_at(now)
        if soonest is not None:
            idle = min(idle, max(0.01, soonest - now))
        return idle

    async def _sweep_step(self, token: str) -> float:
        lease_ms = int(self.options.lease_seconds * 1000)
        store = self.store
        if not await store.acquire_lease("sweep", token, lease_ms) and not await store.renew_lease(
            "sweep", token, lease_ms
        ):
            return max(1.0, self.options.lease_seconds / 3)
        kind = await self.sweeper.due()
        if kind is None:
            return 1.0
        renew = asyncio.create_task(self._keep_sweep_lease(token, lease_ms))
        try:
            await self.sweeper.run(kind)
            self.last_sweep = self.clock()
        except SweepInterrupted as exc:
            return exc.retry_after
        finally:
            renew.cancel()
        await self.refresh_policy()
        return 0.5

    async def _reconcile_step(self, token: str) -> float:
        """Reconcile the webhook delivery log: once when this process starts, then every
        reconcile_interval (whichever process holds the lease; the last run's time is shared)."""
        interval = self.options.reconcile_interval
        if self._reconciled_once:
            last = await self.reconciler.hooks.last_run()
            since_last = self.clock() - float(last.get("at") or 0)
            if since_last < interval:
                return max(1.0, interval - since_last)
        lease_ms = int(max(self.options.lease_seconds, 60.0) * 1000)
        if not await self.store.acquire_lease("reconcile", token, lease_ms):
            return max(1.0, self.options.lease_seconds / 3)
        renew = asyncio.create_task(self._keep_lease("reconcile", token, lease_ms))
        try:
            await self.reconciler.run()
        except ReconcileInterrupted as exc:
            if exc.retry_after is not None:
                return exc.retry_after
            self._reconciled_once = True
            return interval
        finally:
            renew.cancel()
            with contextlib.suppress(RedisError, OSError):
                await self.store.release_lease("reconcile", token)
        self._reconciled_once = True
        return interval

    async def _keep_lease(self, name: str, token: str, lease_ms: int) -> None:
        while True:
            await asyncio.sleep(lease_ms / 3000)
            try:
                if not await self.store.renew_lease(name, token, lease_ms):
                    return
            except (RedisError, OSError):
                continue

    async def _keep_sweep_lease(self, token: str, lease_ms: int) -> None:
        while True:
            await asyncio.sleep(lease_ms / 3000)
            try:
                if not await self.store.renew_lease("sweep", token, lease_ms):
                    return
            except (RedisError, OSError):
                continue

    async def _attention_step(self, token: str) -> float:
        """One reminder and digest pass, by the process holding the `attention` lease (relay/attention).
        The first waits one interval: a process that just started (or a short test run) has nothing due
        that a pass a minute later would not find."""
        if not self._attention_waited:
            self._attention_waited = True
            return self.options.attention_interval * (0.75 + random.random() / 2)
        lease_ms = int(self.options.lease_seconds * 1000)
        store = self.store
        if not await store.acquire_lease("attention", token, lease_ms) and not await store.renew_lease(
            "attention", token, lease_ms
        ):
            return max(1.0, self.options.lease_seconds / 3)
        renew = asyncio.create_task(self._keep_lease("attention", token, lease_ms))
        try:
            stats = await self.attention.run()
        finally:
            renew.cancel()
        if stats.fired or stats.digests:
            self._wake_delivery()
            log.info("attention pass", extra={"cases": stats.cases, "reminders": stats.fired,
                                              "digests": stats.digests, "cpu_ms": round(stats.cpu * 1000, 1)})
        return self.options.attention_interval

    async def _housekeeping_step(self, token: str) -> float:
        keys = self.runtime.keys
        now = self.clock()
        await self.runtime.redis.set(keys.heartbeat(self.runtime.process_id), f"{now:.3f}", ex=HEARTBEAT_TTL)
        await self.runtime.redis.zadd(keys.relay_processes(), {self.runtime.process_id: now})
        await self.runtime.redis.zremrangebyscore(keys.relay_processes(), "-inf", now - HEARTBEAT_TTL)
        await self.refresh_policy()
        return POLICY_REFRESH
