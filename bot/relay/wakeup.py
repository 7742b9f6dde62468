"""Wake-ups across processes: a webhook taken by one process starts the fetch in whichever relay
process has a free worker at once, not at that relay's next idle poll.

    await publish_wake(runtime.redis, runtime.keys)     # the door, once it queued a fetch
    wakeups = WakeUps(redis); wakeups.start()           # one per relay process
    wakeups.add(keys.relay_wake(), relay.nudge)         # each relay of the process (a workspace each)

The channel is the workspace's (`Keys.relay_wake`), named like its keys: on a Redis Cluster it is a
sharded channel (SPUBLISH / SSUBSCRIBE, redis-py's `ClusterPubSub`) of the workspace's hash slot, so a
message goes to the node owning that slot only, not to every node of the cluster.

A wake-up is a hint, never the work: the fetch is in Redis before the message is published, and the
workers' idle poll (RelayOptions.idle_sleep) still finds it when a message is lost (published while
no one listened, a dropped connection). A process holds ONE subscription (one connection; on a cluster
one per node holding a subscribed workspace) for all the relays it runs. A subscription that fails is
made again with a back-off; each channel (re)subscribed wakes its relays once, for anything published
while it was not listened to.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

from bot.store.keys import Keys

log = logging.getLogger(__name__)

READ_TIMEOUT = 1.0
"""Seconds one read waits for a message; subscriptions added meanwhile are made after it."""
CLUSTER_READ_TIMEOUT = 0.1
"""On a cluster each node's connection is read in turn, each for this long (a message on one waits
for the reads of the others)."""
RETRY_MAX = 10.0

Wake = Callable[[], None]


async def publish_wake(redis: aioredis.Redis | RedisCluster, keys: Keys) -> None:
    """Tell the relay processes of the workspace of `keys` that a fetch is queued."""
    if isinstance(redis, RedisCluster):
        await redis.spublish(keys.relay_wake(), "1")
    else:
        await redis.publish(keys.relay_wake(), "1")


class WakeUps:
    """The process's subscription to the wake-up channels of the relays it runs."""

    def __init__(self, redis: aioredis.Redis | RedisCluster, *, read_timeout: float | None = None) -> None:
        self.redis = redis
        self.cluster = isinstance(redis, RedisCluster)
        self.read_timeout = read_timeout or (CLUSTER_READ_TIMEOUT if self.cluster else READ_TIMEOUT)
        self._targets: dict[str, list[Wake]] = {}
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._pubsub: Any = None
        self.subscribed: frozenset[str] = frozenset()
        """The channels listened to now (empty while not connected)."""
        self._failures = 0
        self.received = 0
        self.sessions = 0
        """Subscriptions made (1 + the re-subscriptions after a failure)."""

    # --- what to wake -------------------------------------------------------------------------------
    def add(self, channel: str, wake: Wake) -> None:
        self._targets.setdefault(channel, []).append(wake)
        self._changed.set()

    def remove(self, channel: str, wake: Wake) -> None:
        wakes = self._targets.get(channel, [])
        if wake in wakes:
            wakes.remove(wake)
        if not wakes:
            self._targets.pop(channel, None)
        self._changed.set()

    def _wake(self, channel: str) -> None:
        for wake in list(self._targets.get(channel, ())):
            wake()

    # --- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="relay-wakeups")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.subscribed = frozenset()

    def pubsubs(self) -> list[Any]:
        """The redis-py PubSub objects holding the subscription's connections now (one per cluster node
        holding a subscribed channel)."""
        if self._pubsub is None:
            return []
        if self.cluster:
            return list(self._pubsub.node_pubsub_mapping.values())
        return [self._pubsub]

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _run(self) -> None:
        while True:
            try:
                await self._session()  # returns only by raising
            except (RedisError, OSError) as exc:
                self._failures += 1
                if self._failures in (1, 10) or self._failures % 50 == 0:
                    log.warning("relay wake-ups: subscription lost (%s); subscribing again (fetches are "
                                "found by the idle poll meanwhile)", type(exc).__name__)
            except Exception:
                self._failures += 1
                log.exception("relay wake-ups failed; subscribing again")
            await asyncio.sleep(min(RETRY_MAX, 0.2 * 2 ** min(self._failures, 6)))

    async def _session(self) -> None:
        """Subscribe, keep the subscriptions in step with the relays, wake them on messages. Raises when
        the connection fails."""
        pubsub: Any = self.redis.pubsub()
        self._pubsub = pubsub
        self.sessions += 1
        subscribed: set[str] = set()
        try:
            while True:
                wanted = set(self._targets)
                self._changed.clear()
                new, gone = sorted(wanted - subscribed), sorted(subscribed - wanted)
                if self.cluster:
                    for channel in new:  # one slot per SSUBSCRIBE: the workspaces' slots differ
                        await pubsub.ssubscribe(channel)
                    for channel in gone:
                        await pubsub.sunsubscribe(channel)
                else:
                    if new:
                        await pubsub.subscribe(*new)
                    if gone:
                        await pubsub.unsubscribe(*gone)
                subscribed = wanted
                self.subscribed = frozenset(subscribed)
                self._failures = 0
                for channel in new:  # anything published before this subscription
                    self._wake(channel)
                if not subscribed:
                    await self._changed.wait()
                    continue
                await self._read(pubsub)
        finally:
            self.subscribed = frozenset()
            self._pubsub = None
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    async def _read(self, pubsub: Any) -> None:
        """Read messages until the relays' channels change."""
        while not self._changed.is_set():
            if self.cluster:
                message = await pubsub.get_sharded_message(ignore_subscribe_messages=True,
                                                           timeout=self.read_timeout)
            else:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=self.read_timeout)
            if message is None or message.get("type") not in ("message", "smessage"):
                continue
            channel = message.get("channel")
            if isinstance(channel, bytes):
                channel = channel.decode()
            self.received += 1
            self._wake(str(channel))
