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

On a Redis Cluster, `cluster_from_url` also keeps WATCH transactions on the caller's event loop: see
`_InLoopTransaction`.
"""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio import cluster as redis_cluster
from redis.asyncio.cluster import ClusterPipeline, RedisCluster
from redis.asyncio.connection import AbstractConnection, Connection


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


_FIRST_KEY_COMMANDS = frozenset({
    "HSET", "HDEL", "HINCRBY", "HINCRBYFLOAT", "HSETNX", "SET", "GET", "DEL", "UNLINK", "EXPIRE", "PEXPIRE",
    "PERSIST", "RPUSH", "LPUSH", "LTRIM", "LREM", "ZADD", "ZREM", "ZINCRBY", "ZREMRANGEBYSCORE", "SADD",
    "SREM", "INCR", "INCRBY", "XADD", "XTRIM",
})
"""Commands whose first argument is their one key (all a transaction here queues)."""

_TransactionStrategy: Any = getattr(redis_cluster, "TransactionStrategy", None)


if _TransactionStrategy is not None:
    class _InLoopTransaction(_TransactionStrategy):  # type: ignore[misc]  # redis-py's class, untyped here
        """redis-py's cluster transaction (redis-py >= 6), without its thread per command.

        redis-py's `TransactionStrategy.execute_command` is synchronous (a pipeline queues), yet finding a
        command's slot is a coroutine, so it runs each command through `asyncio.run` in a new thread and
        joins it: every WATCH, every read while watching and every queued command of a transaction
        blocked the event loop for a thread and an event loop's start and close (about a third of a
        relay process's CPU on a cluster, bench/RESULTS.md, issue 16). And when the client had to
        reinitialize (a MOVED, a failover), that thread took the client's lock, bound to the caller's
        loop: RuntimeError "bound to a different event loop", and the fetch failed.

        Here a WATCH and the reads while watching run as coroutines on the caller's loop (the caller
        awaits them, as with the plain client), and a queued command whose slot is its first key's is
        queued at once; anything else goes redis-py's way."""

        def execute_command(self, *args: Any, **kwargs: Any) -> Any:
            name = str(args[0]).upper()
            if (self._watching or name in self.IMMEDIATE_EXECUTE_COMMANDS) and not self._explicit_transaction:
                return self._in_loop(*args, **kwargs)
            if name in _FIRST_KEY_COMMANDS and len(args) > 1:  # routed at EXEC, by the slots it knows
                self._pipeline_slots.add(self._pipe.cluster_client.keyslot(args[1]))
                return redis_cluster.AbstractStrategy.execute_command(self, *args, **kwargs)
            return super().execute_command(*args, **kwargs)

        async def _in_loop(self, *args: Any, **kwargs: Any) -> Any:
            command = await self._execute_command(*args, **kwargs)  # hands back the command's coroutine
            return await command


class _Cluster(RedisCluster):
    def pipeline(self, transaction: Any | None = None, shard_hint: Any | None = None) -> ClusterPipeline:
        pipe = super().pipeline(transaction, shard_hint)
        if transaction and _TransactionStrategy is not None:
            pipe._execution_strategy = _InLoopTransaction(pipe)
        return pipe


CLUSTER_MAX_CONNECTIONS = 2**31
"""Connections per cluster node: no cap, as a single Redis' pool (redis-py's cluster default, 100 per
node, raised MaxConnectionsError once about a dozen workspaces' relays shared a node in one process:
each workspace's relay has its own workers, and the error made the client reinitialize)."""


def cluster_from_url(url: str, **options: Any) -> RedisCluster:
    """`redis.asyncio.RedisCluster.from_url(url, **options)` with cancel-safe connections on every node.

    The cluster client takes no connection class: each node builds its connections from the class it
    was made with, and every node (the start-up ones, those found by the slots discovery, those met on
    a MOVED/ASK or after a failover) is made from the one `connection_kwargs` dict the client shares
    with its nodes manager. So the class goes into that dict and onto the start-up nodes already made
    from it, before any connection exists."""
    options.setdefault("max_connections", CLUSTER_MAX_CONNECTIONS)
    client = _Cluster.from_url(url, **options)
    kwargs = client.nodes_manager.connection_kwargs
    safe = cancel_safe(kwargs.get("connection_class") or Connection)
    kwargs["connection_class"] = safe
    client.connection_kwargs["connection_class"] = safe  # the same dict today; kept in step if not
    nodes = [*client.startup_nodes, *client.nodes_manager.startup_nodes.values(),
             *client.nodes_manager.nodes_cache.values()]
    for node in nodes:
        node.connection_class = safe  # type: ignore[assignment]  # a Connection subclass (TCP or TLS)
    return client
