"""The cluster client of bot/store/connect.py: transactions stay on the caller's event loop, and
`write_replicated` says whether a replica holds a write.

redis-py 8.1 runs each command of a cluster transaction pipeline in a new thread under `asyncio.run`,
blocking the loop meanwhile; when the client had to re-read the topology (a master failed over), that
ran on the thread's loop and raised "bound to a different event loop" under the relay, or could wait
forever on a lock the blocked loop held."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from typing import Any

import pytest
import redis as syncredis
import redis.asyncio as aioredis
import redis.asyncio.cluster as aiocluster
from redis.crc import key_slot

from bot.store.connect import cluster_from_url, write_replicated
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


async def test_write_replicated_without_replicas_just_writes(
    cluster_redis: aioredis.Redis, cluster_keys: Keys, redis: aioredis.Redis, keys: Keys,
) -> None:
    for client, key in ((cluster_redis, cluster_keys.relayed("c1")), (redis, keys.relayed("c1"))):
        assert await write_replicated(client, key, "HSET", key, "chat:1", "pending|C1|0") is None
        assert await client.hget(key, "chat:1") == "pending|C1|0"


@pytest.mark.slow
async def test_write_replicated_waits_for_the_replica(redis_cluster_with_replicas: Any) -> None:
    cluster = redis_cluster_with_replicas
    client = cluster_from_url(cluster.url, decode_responses=True)
    key = Keys("caseroom-test:wait").for_workspace("T0WAIT").relayed("c1")
    slot = key_slot(key.encode())
    master = cluster.master_port_of(slot)
    replica_port = next(port for port in cluster.ports if port != master and _replica_of(port) == master)
    try:
        await client.initialize()
        assert await write_replicated(client, key, "HSET", key, "chat:1", "pending|C1|0") == 1
        replica = syncredis.Redis(port=replica_port, decode_responses=True, single_connection_client=True)
        replica.execute_command("READONLY")
        assert replica.hget(key, "chat:1") == "pending|C1|0"  # on the replica once acknowledged
        replica.close()
        # The replica stops answering: the write is on the master only, and the caller is told so.
        os.kill(cluster.procs[cluster.index_of(replica_port)].pid, signal.SIGSTOP)
        try:
            waited = await write_replicated(client, key, "HSET", key, "chat:2", "x", timeout_ms=200)
            assert waited == 0
            assert await client.hget(key, "chat:2") == "x"
        finally:
            os.kill(cluster.procs[cluster.index_of(replica_port)].pid, signal.SIGCONT)
        # A graceful failover (CLUSTER FAILOVER): the client's slot table still names the old master,
        # which answers MOVED; the topology is read again and the write waits on the new master.
        assert await asyncio.to_thread(cluster.failover, slot) == replica_port
        assert await write_replicated(client, key, "HSET", key, "chat:3", "y") == 1
        assert await client.hget(key, "chat:3") == "y"
    finally:
        await client.aclose()


def _replica_of(port: int) -> int | None:
    client = syncredis.Redis(port=port, decode_responses=True)
    try:
        info = client.info("replication")
        return int(info["master_port"]) if info.get("role") == "slave" else None
    finally:
        client.close()


async def test_startup_names_the_cluster_variable_and_the_node_that_did_not_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from types import SimpleNamespace

    from bot import server
    from bot.config import Settings
    from bot.runtime import build_cluster_redis
    from tests.fixtures.e2e import free_port

    monkeypatch.setattr(server.asyncio, "sleep", _no_sleep)
    port = free_port()  # nothing listens there: the one node named is down
    url = f"redis://:hunter2@127.0.0.1:{port}"
    settings = Settings(_env_file=None, slack_bot_token="xoxb-1", slack_signing_secret="s",
                        debitura_api_key="k", redis_cluster_url=url)
    client = build_cluster_redis(url)
    try:
        with pytest.raises(server.StartupError) as failed:
            await server.check_redis(SimpleNamespace(settings=settings, redis=client))  # type: ignore[arg-type]  # only these two
    finally:
        await client.aclose()
    message = str(failed.value)
    assert f"cannot reach the Redis Cluster at redis://:***@127.0.0.1:{port} (REDIS_CLUSTER_URL)" in message
    assert f"connecting to 127.0.0.1:{port}" in message  # the node that did not answer
    assert "hunter2" not in message


async def _no_sleep(_seconds: float) -> None:
    return None
