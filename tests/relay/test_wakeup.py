"""Wake-ups across processes (bot/relay/wakeup.py): two relay services sharing Redis, as a door-only
`caseroom run` beside a `caseroom relay`. The one that takes the webhook has no fetch worker; the other
has one, idle for an hour (`idle_sleep`), sweeps and reconciliation off: only the wake-up published
on the workspace's channel can explain that it fetches the case. Then its subscription's connection is
killed server-side: it subscribes again, and the next webhook wakes it too. On plain Redis (PUBLISH /
SUBSCRIBE) and on the 3-master cluster (SPUBLISH / SSUBSCRIBE in the workspace's slot)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from bot.debitura.webhooks import sign
from bot.metrics import Metrics
from bot.relay.service import Relay
from bot.relay.wakeup import WakeUps
from bot.relay.webhooks import handle_webhook
from bot.runtime import Runtime, assemble_runtime
from bot.store.keys import Keys
from bot.store.reads import hgetall
from tests.fakes.slack.server import FakeSlack
from tests.fixtures.redis import new_prefix
from tests.fixtures.sandbox import SandboxHandle
from tests.relay import harness
from tests.relay.harness import relay_settings, wait_until

pytestmark = pytest.mark.sandbox

SECRET = "d2FrZS11cC1zZWNyZXQ="  # base64


@asynccontextmanager
async def two_relays(sandbox: SandboxHandle, fake: FakeSlack, redis: aioredis.Redis,
                     keys: Keys) -> AsyncIterator[tuple[Relay, Relay]]:
    """(door, worker): the door's relay has no fetch worker; the worker's sleeps an hour when idle."""
    settings = relay_settings(fake, sandbox.url, sandbox.api_key, keys.prefix,
                              debitura_webhook_secret=SECRET)
    runtimes: list[Runtime] = []
    relays: list[Relay] = []
    try:
        for workers in (0, 1):
            runtime = assemble_runtime(settings, redis, keys, Metrics(), owns_redis=False)
            runtimes.append(runtime)
            options = harness.test_options(fetch_workers=workers, delivery_workers=1, idle_sleep=3600.0,
                                           sweep=False, reconcile=False, attention=False)
            relay = Relay(runtime, options)
            relays.append(relay)
            await relay.start()
        yield relays[0], relays[1]
    finally:
        for relay in relays:
            await relay.stop(graceful=False)
        for runtime in runtimes:
            await runtime.aclose()


async def webhook(door: Relay, case_id: str, event_id: str) -> None:
    body = json.dumps({"id": event_id, "event": "chat.created", "timestamp": "2026-12-03T08:00:00Z",
                       "data": {"caseId": case_id}}).encode()
    headers = {"X-Debitura-Signature": sign(SECRET, body, int(time.time()))}
    assert await handle_webhook(door.runtime, door, body, headers) == (200, {"status": "queued"})


async def fetched(redis: aioredis.Redis, keys: Keys, case_id: str) -> bool:
    state = await hgetall(redis, keys.case_state(case_id))
    return "chats" in (state.get("base") or "").split(",") and state.get("want") == "0"


async def kill_subscription(redis: aioredis.Redis, wakeups: WakeUps) -> None:
    """Close the subscription's connection from the server's side (as a restart or a network cut)."""
    connections: list[Any] = [p.connection for p in wakeups.pubsubs() if p.connection is not None]
    assert connections
    for connection in connections:
        host, port = connection._writer.get_extra_info("sockname")[:2]
        node = redis.get_node(connection.host, connection.port) if isinstance(redis, RedisCluster) else None
        kill = ("CLIENT", "KILL", "ADDR", f"{host}:{port}")
        if node is not None:
            await redis.execute_command(*kill, target_nodes=node)  # type: ignore[arg-type]  # redis-py
        else:
            await redis.execute_command(*kill)


async def wake_across(sandbox: SandboxHandle, fake: FakeSlack, redis: aioredis.Redis, keys: Keys) -> None:
    first, second = [c["id"] for c in sandbox.cases("Active")[:2]]
    async with two_relays(sandbox, fake, redis, keys) as (door, worker):
        assert door.wakeups is not None and worker.wakeups is not None
        channel = keys.relay_wake()

        async def listening() -> bool:
            return channel in worker.wakeups.subscribed  # type: ignore[union-attr]  # started: not None

        await wait_until(listening, 10, "the worker's subscription")
        assert worker.fetcher.stats.fetches == 0  # its first idle step found nothing: asleep for an hour
        await webhook(door, first, "evt-wake-1")
        await wait_until(lambda: fetched(redis, keys, first), 20, "the worker's fetch, woken by the message")
        assert worker.wakeups.received >= 1 and door.fetcher.stats.fetches == 0

        sessions = worker.wakeups.sessions
        await kill_subscription(redis, worker.wakeups)

        async def subscribed_again() -> bool:
            return worker.wakeups.sessions > sessions and await listening()  # type: ignore[union-attr]  # started: not None

        await wait_until(subscribed_again, 20, "a new subscription after the connection was killed")
        received = worker.wakeups.received
        await webhook(door, second, "evt-wake-2")
        await wait_until(lambda: fetched(redis, keys, second), 20, "the fetch after re-subscribing")
        assert worker.wakeups.received > received


async def test_a_webhook_taken_by_one_process_wakes_another_relay(
    sandbox: SandboxHandle, fake_slack: FakeSlack, redis: aioredis.Redis, redis_prefix: str
) -> None:
    await wake_across(sandbox, fake_slack, redis, Keys(redis_prefix))


async def test_on_a_cluster_the_wake_up_is_sharded_in_the_workspaces_slot(
    sandbox: SandboxHandle, fake_slack: FakeSlack, cluster_redis: aioredis.Redis
) -> None:
    await wake_across(sandbox, fake_slack, cluster_redis, Keys(new_prefix()).for_workspace("T0WAKEUP"))
