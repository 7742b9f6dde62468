"""The one way Caseroom opens a Redis client: `redis_from_url`, whose connections never lose a task's
cancellation.

With a socket timeout, redis-py sends every command under `asyncio.wait_for(send, socket_timeout)`. On
Python 3.11 `wait_for` returns the inner result when the caller is cancelled while (or just after) the
send completes, dropping the CancelledError (CPython gh-86296, fixed in 3.12 by rewriting `wait_for` on
`asyncio.timeout`). The task then runs on as if never cancelled, with `cancelling()` raised: a SIGINT
that lands while the smoke's rate limiter is talking to Redis let the whole run go on, and any shutdown
that cancels a task busy with Redis could be lost the same way. The connection class here notices it
(the task's `cancelling()` went up during the send, yet the send returned) and raises the
CancelledError the caller was owed.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import (
    AbstractStrategy,
    ClusterNode,
    ClusterPipeline,
    PipelineCommand,
    RedisCluster,
    TransactionStrategy,
)
from redis.asyncio.connection import AbstractConnection, Connection
from redis.exceptions import AskError, ClusterDownError, MovedError, TryAgainError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

REPLICA_WAIT_MS = 500
"""How long `write_replicated` waits for a replica to acknowledge a write."""
REPLICAS_TTL = 5.0
"""Seconds `CaseroomCluster.replicas_of` trusts how many replicas a master had."""


class _CancelSafe(AbstractConnection):
    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        task = asyncio.current_task()
        before = task.cancelling() if task is not None else 0
        await super().send_packed_command(command, check_health)
        if task is not None and task.cancelling() > before:
            # Cancelled during the send, but wait_for swallowed it. The command is on the wire and its
            # reply unread: drop the connection (as redis-py does on any interrupted command), then
            # raise what the caller was owed.
            await self.disconnect(nowait=True)
            raise asyncio.CancelledError


_SAFE: dict[str, type[AbstractConnection]] = {}


def cancel_safe(connection_class: type[AbstractConnection]) -> type[AbstractConnection]:
    """`connection_class` (TCP, TLS or Unix socket, as the URL chose) that keeps a cancellation."""
    if issubclass(connection_class, _CancelSafe):
        return connection_class
    name = f"{connection_class.__module__}.{connection_class.__qualname__}"
    if name not in _SAFE:
        _SAFE[name] = type(f"CancelSafe{connection_class.__name__}", (_CancelSafe, connection_class), {})
    return _SAFE[name]


def redis_from_url(url: str, **options: Any) -> aioredis.Redis:
    """`redis.asyncio.Redis.from_url(url, **options)` with cancel-safe connections."""
    client = aioredis.Redis.from_url(url, **options)
    pool = client.connection_pool
    pool.connection_class = cancel_safe(pool.connection_class)
    return client


class _SameLoopTransaction(TransactionStrategy):
    """redis-py's (8.1) cluster transaction strategy runs every command given to a transaction pipeline
    (the WATCHed reads and the commands queued after MULTI) in a new thread under `asyncio.run`, and
    blocks the caller's event loop until it ends. The thread re-reads the cluster's topology first when
    the client is due to (after a connection error: a node failed over), on its own event loop: the
    client's lock, held by a task of the real loop, raises "bound to a different event loop" (seen when a
    master was killed under the relay), and connections it opened belong to a loop that is gone.

    Here nothing leaves the caller's loop: a WATCHed read is awaited where it is called, and a queued
    command is only queued; its slot is found in `execute`, after the topology is read if it must be."""

    def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        if (self._watching or args[0] in self.IMMEDIATE_EXECUTE_COMMANDS) and not self._explicit_transaction:
            return self._now(*args, **kwargs)
        return AbstractStrategy.execute_command(self, *args, **kwargs)

    async def _now(self, *args: Any, **kwargs: Any) -> Any:
        return await (await self._execute_command(*args, **kwargs))

    async def execute(self, raise_on_error: bool = True, allow_redirections: bool = True) -> list[Any]:
        client = self._pipe.cluster_client
        if self._command_queue and client._initialize:
            await client.initialize()
        for command in self._command_queue:
            if command.args[0] not in self.NO_SLOTS_COMMANDS:
                self._pipeline_slots.add(await client._determine_slot(*command.args))
        return await super().execute(raise_on_error, allow_redirections)


class CaseroomCluster(RedisCluster):
    """`RedisCluster` whose transaction pipelines stay on the caller's event loop (`_SameLoopTransaction`),
    and which knows how many replicas each master has connected (`replicas_of`, for `write_replicated`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.replica_counts: dict[str, tuple[float, int]] = {}
        """node name -> (when read, replicas connected to it); -1: it is no master."""

    def pipeline(self, transaction: Any | None = None, shard_hint: Any | None = None) -> ClusterPipeline:
        pipe = super().pipeline(transaction, shard_hint)
        if transaction:
            pipe._execution_strategy = _SameLoopTransaction(pipe)
        return pipe

    async def replicas_of(self, node: ClusterNode) -> int:
        """How many replicas `node` has connected (ROLE, read again after REPLICAS_TTL seconds); -1
        when it is not a master (any more: the client's slot table is behind a failover)."""
        now = time.monotonic()
        known = self.replica_counts.get(node.name)
        if known is not None and now - known[0] < REPLICAS_TTL:
            return known[1]
        role = await node.execute_command("ROLE")
        count = len(role[2]) if role and str(role[0]) == "master" else -1
        self.replica_counts[node.name] = (now, count)
        return count


def cluster_from_url(url: str, **options: Any) -> RedisCluster:
    """`redis.asyncio.RedisCluster.from_url(url, **options)` with cancel-safe connections on every node.

    The cluster client takes no connection class: each node builds its connections from the class it
    was made with, and every node (the start-up ones, those found by the slots discovery, those met on
    a MOVED/ASK or after a failover) is made from the one `connection_kwargs` dict the client shares
    with its nodes manager. So the class goes into that dict and onto the start-up nodes already made
    from it, before any connection exists."""
    client = CaseroomCluster.from_url(url, **options)
    kwargs = client.nodes_manager.connection_kwargs
    safe = cancel_safe(kwargs.get("connection_class") or Connection)
    kwargs["connection_class"] = safe
    client.connection_kwargs["connection_class"] = safe  # the same dict today; kept in step if not
    nodes = [*client.startup_nodes, *client.nodes_manager.startup_nodes.values(),
             *client.nodes_manager.nodes_cache.values()]
    for node in nodes:
        node.connection_class = safe  # type: ignore[assignment]  # a Connection subclass (TCP or TLS)
    return client


async def write_replicated(redis: aioredis.Redis, key: str, *command: Any,
                           timeout_ms: int = REPLICA_WAIT_MS) -> int | None:
    """Run `command` (a write of `key`), then `WAIT 1 timeout_ms` on the same connection: how many
    replicas hold the write (and, the replication stream being ordered, every write before it), 0 when
    none acknowledged it in time, None when there is no replica to wait for (a plain Redis, or a Redis
    Cluster master with no replica connected).

    Redis replicates asynchronously: a write its master acknowledged can be missing on the replica the
    cluster promotes when that master dies. A write that must survive a failover (the relay's pending
    mark before a Slack post, the webhook door's last write before its 200) goes through here; on 0 the
    caller holds back what depends on it. A replica that died drops its link at once (None from then
    on); one that hangs keeps it until the cluster flags it failed and it is disconnected."""
    if not isinstance(redis, CaseroomCluster):
        await redis.execute_command(*command)  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
        return None
    cluster: CaseroomCluster = redis
    for _ in range(2):
        if cluster._initialize:
            await cluster.initialize()
        master = cluster.nodes_manager.get_node_from_slot(cluster.keyslot(key))
        try:
            replicas = await cluster.replicas_of(master)
            if replicas == 0:
                await cluster.execute_command(*command)
                return None
            if replicas < 0:  # the slot table is behind a failover
                cluster._initialize = True
                continue
            steps = [PipelineCommand(0, *command), PipelineCommand(1, "WAIT", 1, timeout_ms)]
            await master.execute_pipeline(steps)
        except (RedisConnectionError, RedisTimeoutError, OSError):
            cluster._initialize = True  # as redis-py does: the next command re-reads the slots
            raise
        written, waited = steps[0].result, steps[1].result
        if isinstance(written, (MovedError, AskError, ClusterDownError, TryAgainError)):
            cluster._initialize = True  # the slot moved (a failover this client has not seen yet)
            cluster.replica_counts.pop(master.name, None)
            continue
        if isinstance(written, Exception):
            raise written
        if isinstance(waited, Exception):
            raise waited
        if not int(waited):
            cluster.replica_counts.pop(master.name, None)  # read its replicas again next time
        return int(waited)
    await cluster.execute_command(*command)  # moved twice: written the ordinary way, not confirmed
    return 0
