"""Multi-workspace mode with the relay on, on a real 3-master Redis Cluster: each workspace's relay
(bot/relay/fleet.py) baselines its cases and relays a chat announced by a webhook on that workspace's
path, verified with that workspace's secret, into that workspace's channel."""

from __future__ import annotations

import json
import time

import aiohttp
import pytest
import redis.asyncio as aioredis

from bot.debitura.webhooks import sign
from bot.store.keys import Keys
from bot.store.reads import hgetall
from tests.e2e.test_multi_workspace import SECRET_A, SECRET_B, install, multi_env, set_up
from tests.fixtures.e2e import Factory
from tests.fixtures.sandbox import SandboxHandle
from tests.relay.harness import relayed_items, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.sandbox]

RELAY_ENV = {"CASEROOM_RELAY_SWEEP_INTERVAL": "3600", "CASEROOM_RELAY_FIRST_SPREAD": "1",
             "CASEROOM_MAX_STALENESS": "3600", "CASEROOM_RELAY_LEASE": "3",
             "CASEROOM_RATE_PER_DAY": "20000000", "CASEROOM_RATE_PER_HOUR": "1000000"}


async def test_each_workspace_relays_its_own_webhooks_on_the_cluster(
    caseroom_factory: Factory, sandbox: SandboxHandle, cluster_url: str, cluster_redis: aioredis.Redis,
) -> None:
    instance = await caseroom_factory("http", relay=True,
                                      env={**multi_env(), **RELAY_ENV, "REDIS_URL": cluster_url})
    fake = instance.fake
    ws_a, alice = fake.workspace, instance.user
    ws_b = fake.add_team("T0SECOND")
    bob = ws_b.add_user("bob", email="bob@second.example")
    await install(instance, ws_a.TEAM_ID, alice.id)
    await install(instance, ws_b.TEAM_ID, bob.id)
    assert (await set_up(instance.driver, ws_a, alice.id, sandbox.api_key, SECRET_A)).ok
    assert (await set_up(instance.driver.for_team(ws_b), ws_b, bob.id, sandbox.api_key, SECRET_B)).ok
    keys_a = Keys(instance.redis_prefix).for_workspace(ws_a.TEAM_ID)
    case_id = sandbox.case("Active")["id"]

    async def baselined() -> bool:
        state = await hgetall(cluster_redis, keys_a.case_state(case_id))
        return {"chats", "timeline"} <= set((state.get("base") or "").split(","))

    try:
        await wait_until(baselined, 60, "baseline by workspace A's relay")
    except AssertionError:
        raise AssertionError(instance.output[-5000:]) from None
    chat = sandbox.control.add_chat(case_id, "relayed to workspace A", role=1)
    body = json.dumps({"id": "evt-mw-1", "event": "chat.created", "timestamp": "2026-01-01T00:00:00Z",
                       "data": {"caseId": case_id, "chatId": chat["id"]}}).encode()
    url = f"{instance.base_url}/debitura/webhooks/{ws_a.TEAM_ID}"
    async with aiohttp.ClientSession() as session:
        for secret, status in ((SECRET_B, 401), (SECRET_A, 200)):
            headers = {"Content-Type": "application/json",
                       "X-Debitura-Signature": sign(secret, body, int(time.time()))}
            async with session.post(url, data=body, headers=headers) as resp:
                assert resp.status == status

    async def posted() -> list[str] | None:
        channel_id = (await hgetall(cluster_redis, keys_a.case_channel(case_id))).get("id")
        if not channel_id:
            return None
        assert channel_id in ws_a.channels and channel_id not in ws_b.channels
        ids = [i for i, _ in relayed_items(fake, channel_id)]
        return ids if f"chat:{chat['id']}" in ids else None

    try:
        ids = await wait_until(posted, 40, "the chat in A's case channel")
    except AssertionError:
        raise AssertionError(instance.output[-5000:]) from None
    assert ids.count(f"chat:{chat['id']}") == 1
