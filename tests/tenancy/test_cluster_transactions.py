"""Transactions on the cluster client stay on the caller's event loop (bot/store/connect.py).

redis-py 8.1 runs each command of a cluster transaction pipeline in a new thread under `asyncio.run`,
blocking the loop meanwhile; when the client had to re-read the topology (a master failed over), that
ran on the thread's loop and raised "bound to a different event loop" under the relay, or could wait
forever on a lock the blocked loop held."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
import redis.asyncio as aioredis
import redis.asyncio.cluster as aiocluster

from bot.store.keys import Keys


class NoThreads(threading.Thread):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("a Redis command left the event loop for a thread")


async def test_a_watched_transaction_runs_on_the_loop_even_while_the_topology_is_reread(
    cluster_redis: aioredis.Redis, cluster_keys: Keys, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(aiocluster.threading, "Thread", NoThreads)
    client: Any = cluster_redis
    key, other = cluster_keys.case_state("c1"), cluster_keys.relay_seen("c1")
    await cluster_redis.hset(key, "n", "1")
    client._initialize = True  # as after a connection error: the next command re-reads the slots
    async with client._lock:  # another task is re-reading them right now
        async def transaction() -> list[Any]:
            async with cluster_redis.pipeline(transaction=True) as pipe:
                await pipe.watch(key)
                current = int(await pipe.hget(key, "n") or 0)
                pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
                pipe.hset(key, "n", str(current + 1))
                pipe.hset(other, "x", "y")
                result: list[Any] = await pipe.execute()
                return result

        task = asyncio.create_task(transaction())
        await asyncio.sleep(0.05)  # the transaction waits for the lock, on this loop
        assert not task.done()
    assert await asyncio.wait_for(task, 10) == [0, 1]
    assert await cluster_redis.hget(key, "n") == "2"
    assert await cluster_redis.hget(other, "x") == "y"


async def test_a_queued_transaction_without_watch_finds_its_slot_at_execute(
    cluster_redis: aioredis.Redis, cluster_keys: Keys, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(aiocluster.threading, "Thread", NoThreads)
    key = cluster_keys.relay_dead()
    async with cluster_redis.pipeline(transaction=True) as pipe:
        pipe.lpush(key, "a")
        pipe.ltrim(key, 0, 9)
        assert await pipe.execute() == [1, True]
    assert await cluster_redis.lrange(key, 0, -1) == ["a"]
