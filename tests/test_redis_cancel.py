"""A task cancelled while it talks to Redis is cancelled (bot/store/connect.py): redis-py's send under
`asyncio.wait_for` drops the CancelledError on Python 3.11 when the send finishes as the task is
cancelled, which let a SIGINT to `caseroom smoke` go unheard."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import Connection, SSLConnection, UnixDomainSocketConnection

from bot.config import load_settings
from bot.runtime import build_cluster_redis, build_redis
from bot.store.connect import _CancelSafe, redis_from_url
from tests.fixtures.redis import new_prefix, redis_url


async def _sweep_cancels(client: aioredis.Redis, key: str) -> None:
    """Cancel a GET at every loop iteration from before its send until its reply is in: each time the
    task must end cancelled, and the client must go on answering right."""
    try:
        await client.set(key, "value")
        ran_on: list[int] = []
        swept = 0
        for steps in range(50):  # every loop iteration from before the send until the reply is in
            async def command(steps: int = steps) -> None:
                await client.get(key)
                ran_on.append(steps)  # once cancelled, reached only when the cancellation was lost

            task = asyncio.create_task(command())
            for _ in range(steps):
                await asyncio.sleep(0)
            if task.done():  # the command was over before this step: every moment was tried
                break
            swept += 1
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert ran_on == [], steps
            # The connection the cancelled command used is not handed out with its reply unread.
            assert await client.get(key) == "value"
            assert await client.set(f"{key}:{steps}", steps) is True
            assert await client.get(f"{key}:{steps}") == str(steps)
        assert swept >= 3  # before the send and during it (where wait_for lost it), at least
    finally:
        for name in (key, *(f"{key}:{n}" for n in range(50))):  # one by one: a cluster's keys spread
            await client.delete(name)
        await client.aclose()


async def test_a_cancel_landing_at_any_point_of_a_redis_command_is_kept(redis_prefix: str) -> None:
    client = redis_from_url(redis_url(), decode_responses=True, socket_timeout=10)
    await _sweep_cancels(client, f"{redis_prefix}:cancel")


async def test_a_cancel_is_kept_on_a_redis_cluster_too(redis_cluster: Any) -> None:
    # What `caseroom run` opens for REDIS_CLUSTER_URL / redis+cluster:// (bot/runtime.build_redis).
    client = build_cluster_redis(redis_cluster.url)
    await client.initialize()  # type: ignore[attr-defined]  # a RedisCluster, typed as the plain client
    # The nodes found by the slots discovery (not only the start-up one) make cancel-safe connections.
    nodes = cast(RedisCluster, client).get_nodes()
    assert len(nodes) >= 3 and all(issubclass(n.connection_class, _CancelSafe) for n in nodes)
    await _sweep_cancels(client, f"{new_prefix()}:cancel")


def test_every_url_scheme_keeps_its_connection_class() -> None:
    cases = {"redis://127.0.0.1:6379/0": Connection, "rediss://127.0.0.1:6380/0": SSLConnection,
             "unix:///tmp/redis.sock": UnixDomainSocketConnection}
    for url, kind in cases.items():
        chosen = redis_from_url(url).connection_pool.connection_class
        assert issubclass(chosen, kind) and issubclass(chosen, _CancelSafe), (url, chosen)


def test_the_runtime_redis_is_cancel_safe() -> None:
    settings = load_settings(
        _env_file=None, slack_bot_token="xoxb-test-token", slack_signing_secret="s" * 32,
        debitura_api_key="k" * 20, debitura_api_url="http://127.0.0.1:9", redis_url="redis://127.0.0.1:6379/0",
    )
    assert issubclass(build_redis(settings).connection_pool.connection_class, _CancelSafe)


def test_the_runtime_cluster_redis_is_cancel_safe() -> None:
    for url in ("redis://127.0.0.1:7000", "redis+cluster://127.0.0.1:7000", "rediss+cluster://127.0.0.1:7000"):
        settings = load_settings(
            _env_file=None, slack_bot_token="xoxb-test-token", slack_signing_secret="s" * 32,
            debitura_api_key="k" * 20, debitura_api_url="http://127.0.0.1:9",
            **({"redis_url": url} if "+cluster" in url else {"redis_cluster_url": url}),
        )
        client = cast(RedisCluster, build_redis(settings))
        assert isinstance(client, RedisCluster), url
        kind = SSLConnection if url.startswith("rediss") else Connection
        assert client.startup_nodes, url
        for node in client.startup_nodes:  # what the slots discovery starts from (the rest: above)
            chosen = node.connection_class
            assert issubclass(chosen, kind) and issubclass(chosen, _CancelSafe), url
