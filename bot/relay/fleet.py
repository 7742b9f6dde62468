"""Multi-workspace mode: one `Relay` per workspace with a usable Debitura key, in every relay process.

Each workspace's relay runs over its own runtime (its keys, its Debitura key and rate limiter, its
plan: relay lifecycles and budget), with its own workers. So a big workspace's queue never takes the
workers a small one's webhook fetches wait for: fairness by construction, not by a shared queue. The
workers per workspace are fewer than a single-workspace relay's (FETCH_WORKERS, DELIVERY_WORKERS),
since every workspace has its own.

The fleet follows the installations: a workspace installed and set up gets a relay, one uninstalled
loses it, one whose settings changed gets a relay over its new runtime. A relay that Debitura
answers 401 is checked with GET /me; when the key is refused the workspace is marked (its App Home
says so) and its relay paused; other workspaces are untouched. Saving a new key resumes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from typing import Any

from bot.debitura.errors import Unauthorized
from bot.relay.service import Relay, RelayOptions
from bot.relay.wakeup import WakeUps
from bot.store.workspaces import KEY_INVALID
from bot.tenancy import TenantRegistry

log = logging.getLogger(__name__)

FETCH_WORKERS = 2
DELIVERY_WORKERS = 2
SYNC_INTERVAL = 5.0
IDLE_SLEEP = 2.0
"""An idle worker of a workspace's relay looks for work this often (a single-workspace relay: 0.5 s). A
webhook wakes its workspace's fetch workers at once and a fetch its delivery workers, so this only
bounds how late a due poll starts; with many workspaces it keeps idle polling of Redis down."""
KEY_CHECK_INTERVAL = 300.0


class RelayFleet:
    def __init__(self, registry: TenantRegistry, *, options: RelayOptions | None = None,
                 sync_interval: float = SYNC_INTERVAL,
                 key_check_interval: float = KEY_CHECK_INTERVAL) -> None:
        self.registry = registry
        self.key_check_interval = key_check_interval
        self._key_checked: dict[str, float] = {}
        self.options = options
        self.sync_interval = sync_interval
        self.relays: dict[str, Relay] = {}
        self._runtimes: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._sync_lock = asyncio.Lock()
        self.last_error = ""
        self.wakeups = WakeUps(registry.redis)
        """One wake-up subscription for every workspace this process relays."""

    def _options(self, relay_runtime: Any) -> RelayOptions:
        if self.options is not None:
            return self.options
        base = RelayOptions.from_settings(relay_runtime)
        return dataclasses.replace(base, fetch_workers=min(base.fetch_workers, FETCH_WORKERS),
                                   delivery_workers=min(base.delivery_workers, DELIVERY_WORKERS),
                                   idle_sleep=max(base.idle_sleep, IDLE_SLEEP))

    def relay_for(self, workspace: str) -> Relay | None:
        return self.relays.get(workspace)

    async def start(self) -> None:
        self._stopping.clear()
        self.registry.on_change.append(self._changed)
        self.wakeups.start()
        await self.sync()
        self._task = asyncio.create_task(self._loop(), name="relay-fleet")

    async def _changed(self, workspace: str) -> None:
        await self.sync(only=workspace)

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self.sync_interval)
            if self._stopping.is_set():
                return
            try:
                await self.sync()
                await self._check_keys()
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("relay fleet: sync failed")

    async def sync(self, only: str | None = None) -> None:
        """Start, restart or stop relays to match the installed, set-up workspaces."""
        if self._stopping.is_set():
            return
        async with self._sync_lock:
            installed = set(await self.registry.installed())
            names = {only} if only is not None else installed | set(self.relays)
            for workspace in sorted(names):
                tenant = await self.registry.tenant(workspace) if workspace in installed else None
                relay = self.relays.get(workspace)
                wanted = tenant is not None and tenant.config.usable
                if not wanted:
                    if relay is not None:
                        await self._stop(workspace)
                    continue
                assert tenant is not None
                if relay is not None and self._runtimes.get(workspace) == id(tenant.runtime):
                    continue
                if relay is not None:
                    await self._stop(workspace)
                relay = Relay(tenant.runtime, self._options(tenant.runtime), wakeups=self.wakeups)
                self.relays[workspace] = relay
                self._runtimes[workspace] = id(tenant.runtime)
                await relay.start()
                log.info("relay started for workspace %s", workspace)

    async def _stop(self, workspace: str, graceful: bool = True) -> None:
        relay = self.relays.pop(workspace, None)
        self._runtimes.pop(workspace, None)
        if relay is not None:
            await relay.stop(graceful=graceful)
            log.info("relay stopped for workspace %s", workspace)

    async def _check_keys(self) -> None:
        """Ask GET /me for each relay's key every `key_check_interval` (at once when a relay step was
        refused with 401); a refused key pauses that workspace. One request per workspace per interval:
        288 a day at the default, against a key's 100,000."""
        now = asyncio.get_running_loop().time()
        for workspace, relay in list(self.relays.items()):
            due = now - self._key_checked.get(workspace, 0.0) >= self.key_check_interval
            if "Unauthorized" not in relay.last_error and not due:
                continue
            relay.last_error = ""
            self._key_checked[workspace] = now
            try:
                await relay.runtime.debitura.me()
            except Unauthorized:
                await self.pause(workspace, "Debitura answered 401 Unauthorized: the key was revoked or "
                                            "replaced. An admin sets a new one from App Home.")
            except Exception as exc:
                log.info("workspace %s: key check failed (%s); retried later", workspace, type(exc).__name__)

    async def pause(self, workspace: str, problem: str) -> None:
        await self.registry.workspace_store(workspace).mark_key(KEY_INVALID, problem)
        log.warning("workspace %s: Debitura refused its API key; its relay is paused", workspace)
        await self._stop(workspace)
        await self.registry.changed(workspace)

    def health(self) -> dict[str, Any]:
        healths = [relay.health() for relay in self.relays.values()]
        fleet_alive = self._task is not None and not self._task.done()
        return {
            "running": fleet_alive or self._task is None,
            "workspaces": len(self.relays),
            "tasks_alive": sum(h["tasks_alive"] for h in healths) + (1 if fleet_alive else 0),
            "tasks_total": sum(h["tasks_total"] for h in healths) + (1 if self._task is not None else 0),
            "cases_watched": sum(h["cases_watched"] for h in healths),
            "last_error": self.last_error,
        }

    async def stop(self, graceful: bool = True) -> None:
        self._stopping.set()
        if self._changed in self.registry.on_change:
            self.registry.on_change.remove(self._changed)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await asyncio.gather(*(self._stop(w, graceful) for w in list(self.relays)), return_exceptions=True)
        await self.wakeups.stop()
