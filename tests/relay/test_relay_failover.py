"""A Redis Cluster master failover mid-run (issue 16, "Bad input and faults").

Two workspaces' relays share one cluster client, as in multi-workspace mode, on a real cluster with a
replica per master: A's keys on one master, B's on another. A's master is killed (SIGKILL) while a
chat of A is posted but not yet recorded (its `pending` mark and lane lease in Redis), more chats wait
in A's outbox and webhooks are on their way; its replica is promoted by the cluster. Both relays
resume by themselves (no worker dead or stuck), every chat is posted exactly once and in order in its
case channel, every webhook the door accepted is still known after the promotion (a refused one was
retried by Debitura until accepted), and the budget counters still add up.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from redis.crc import key_slot
from redis.exceptions import RedisError

from bot.metrics import Metrics
from bot.relay.model import Delivery
from bot.relay.service import Relay
from bot.relay.webhooks import handle_webhook
from bot.runtime import Runtime, assemble_runtime, build_cluster_redis
from bot.slack.channels import channel_for_case
from bot.store.budget import RedisRateLimiter
from bot.store.keys import Keys
from bot.store.reads import hgetall
from bot.store.webhooks import WebhookStore
from tests.fakes.slack.server import FakeSlack
from tests.fixtures.redis import new_prefix
from tests.fixtures.sandbox import SandboxHandle
from tests.relay import harness
from tests.relay.harness import relay_settings, relayed_items, wait_until
from tests.relay.test_relay_faults import WebhookServer, subscribe

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]


class EventServer(WebhookServer):
    """The webhook door (handle_webhook) of each case's relay, remembering each answer with its event."""

    def __init__(self) -> None:
        super().__init__()
        self.relay_of: dict[str, Relay] = {}
        self.by_event: list[tuple[str, str, int]] = []
        """(event id, case id, status answered) of every delivery."""

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        event = json.loads(body)
        case_id = str(event.get("data", {}).get("caseId"))
        relay = self.relay_of.get(case_id)
        if relay is None:
            return web.json_response({"status": "ignored"})
        status, payload = await handle_webhook(relay.runtime, relay, body, dict(request.headers))
        self.by_event.append((str(event.get("id")), case_id, status))
        return web.json_response(payload, status=status)


@pytest.fixture
async def event_server() -> AsyncIterator[EventServer]:
    server = EventServer()
    await server.start()
    yield server
    await server.stop()


def team_on_another_master(cluster: Any, prefix: str, avoid_port: int) -> str:
    for n in range(100):
        team = f"T0FAIL{n:03d}"
        slot = key_slot(Keys(prefix).for_workspace(team).schedule().encode())
        if cluster.master_port_of(slot) != avoid_port:
            return team
    raise AssertionError("every workspace on one master")


async def test_relays_resume_after_a_master_fails_over(
    sandbox: SandboxHandle, fake_slack: FakeSlack, event_server: EventServer,
    redis_cluster_with_replicas: Any,
) -> None:
    cluster = redis_cluster_with_replicas
    secret = subscribe(sandbox, event_server.url)
    prefix = new_prefix()
    # Only the webhooks bring chats in (no sweep and no poll falls due during the test), so a webhook
    # the door accepted and then lost would show as a chat never posted.
    settings = relay_settings(fake_slack, sandbox.url, sandbox.api_key, prefix, redis=cluster.url,
                              debitura_webhook_secret=secret, caseroom_relay_sweep_interval=3600,
                              caseroom_max_staleness=3600)
    redis = build_cluster_redis(cluster.url)  # the deployment's one client, shared by the workspaces
    keys_a = Keys(prefix).for_workspace("T0FAILA")
    slot_a = key_slot(keys_a.schedule().encode())
    old_port = cluster.master_port_of(slot_a)
    keys_b = Keys(prefix).for_workspace(team_on_another_master(cluster, prefix, old_port))
    relays: list[Relay] = []
    for keys in (keys_a, keys_b):
        runtime: Runtime = assemble_runtime(settings, redis, keys, Metrics(), owns_redis=False)
        relays.append(Relay(runtime, harness.test_options(reconcile=False, attention=False)))
    relay_a, relay_b = relays
    case_a, case_b = (c["id"] for c in sandbox.cases("Active")[:2])
    event_server.relay_of = {case_a: relay_a, case_b: relay_b}
    killed = asyncio.Event()
    around: set[str] = set()

    async def kill_after_post(item: Delivery) -> None:
        # A's chat is in Slack, its record still says pending, the lane's lease is held, another chat
        # waits behind it: the master holding all of A's state dies now.
        if item.id in around and not killed.is_set():
            cluster.kill_node(cluster.index_of(old_port))
            killed.set()

    for relay in relays:
        await relay.start()
    try:
        async def baselined() -> bool:
            for relay, case_id in ((relay_a, case_a), (relay_b, case_b)):
                state = await hgetall(redis, relay.runtime.keys.case_state(case_id))
                if not {"chats", "timeline"} <= set((state.get("base") or "").split(",")):
                    return False
            return True

        await wait_until(baselined, 30, "baseline of both workspaces")

        async def posted(relay: Relay, case_id: str, count: int) -> list[str] | None:
            try:
                ch = await channel_for_case(relay.runtime, case_id)
            except (RedisError, OSError):  # the test's own read, during the failover
                return None
            ids = [i for i, _ in relayed_items(fake_slack, ch.id)] if ch is not None else []
            return ids if len(set(ids)) >= count else None

        chats: dict[str, list[str]] = {case_a: [], case_b: []}
        relay_a.deliverer.after_post = kill_after_post
        chats[case_a] += [sandbox.control.add_chat(case_a, f"around {n}", role=1)["id"] for n in range(2)]
        around.update(f"chat:{c}" for c in chats[case_a])
        await wait_until(lambda: _set(killed), 20, "a chat posted, then the master killed")
        # While A's slot has no master its webhooks are refused (503) and retried by Debitura. B's master
        # is alive, but once the others flag A's master as failed the cluster answers CLUSTERDOWN for
        # every slot until the replica has taken over.
        for case in (case_a, case_b):
            chats[case].append(sandbox.control.add_chat(case, "while failing over", role=1)["id"])
        new_port = await asyncio.to_thread(cluster.wait_failover, slot_a, old_port)
        assert new_port != old_port

        for relay, case in ((relay_a, case_a), (relay_b, case_b)):
            ids = await wait_until(lambda: posted(relay, case, len(chats[case])), 30,  # noqa: B023
                                   "every chat after the failover")
            assert ids == [f"chat:{c}" for c in chats[case]], "each chat once, in order"
            health = relay.health()
            assert health["running"] and health["tasks_alive"] == health["tasks_total"], health
            assert relay.deliverer.stats.dead == 0
        # the chat posted as the master died: found in the channel's history, not posted again
        assert relay_a.deliverer.stats.repaired == 1

        # The door: every event it accepted is still known (on the promoted replica, for A's).
        accepted = [(e, case) for e, case, status in event_server.by_event if status == 200]
        refused = {e for e, _case, status in event_server.by_event if status != 200}
        # Whether one lands inside the window depends on timing (under load the sandbox's webhooks may
        # arrive after the promotion): the 503 itself is tested in tests/relay/test_webhook_store.py.
        assert refused <= {e for e, _case in accepted}, "refused ones were retried until accepted"
        for event_id, case in accepted:
            hooks = WebhookStore(redis, event_server.relay_of[case].runtime.keys)
            assert await hooks.event_marker(event_id), f"accepted event {event_id} lost"

        # The budget: each workspace's requests went through its limiter. A count written just before
        # the kill may be gone with the old master; none is invented, none negative.
        for relay in relays:
            limiter = relay.runtime.limiter
            assert isinstance(limiter, RedisRateLimiter)
            day = (await limiter.usage()).window("day")
            made = relay.fetcher.stats.requests + relay.sweeper.stats.pages
            assert 0 < day.background_used <= day.used <= made, (day, made)
    finally:
        for relay in relays:
            await relay.stop()
            await harness.close_runtime(relay.runtime)
        await redis.aclose()


async def _set(event: asyncio.Event) -> bool:
    return event.is_set()
