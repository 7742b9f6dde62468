"""`caseroom run` with the relay on: the real process, its /debitura/webhooks route, the fake Slack."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
import redis.asyncio as aioredis

from bot.debitura.webhooks import sign
from bot.store.keys import Keys
from bot.store.reads import hgetall
from tests.fakes.slack.server import FakeSlack
from tests.fixtures.e2e import Caseroom
from tests.fixtures.sandbox import SandboxHandle
from tests.relay.harness import relayed_items, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.sandbox]

SECRET = base64.b64encode(b"caseroom-e2e-webhook-secret-0123").decode()


async def post_webhook(instance: Caseroom, body: bytes,
                       signature: str | None) -> tuple[int, dict[str, object]]:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-Debitura-Signature"] = signature
    async with aiohttp.ClientSession() as session, session.post(
        f"{instance.base_url}/debitura/webhooks", data=body, headers=headers
    ) as resp:
        return resp.status, await resp.json()


async def test_relay_in_caseroom_run_webhook_to_channel(
    caseroom_factory: Callable[..., Awaitable[Caseroom]], sandbox: SandboxHandle, fake_slack: FakeSlack,
    redis: aioredis.Redis, redis_prefix: str,
) -> None:
    instance = await caseroom_factory("http", relay=True, env={
        "DEBITURA_WEBHOOK_SECRET": SECRET, "CASEROOM_RELAY_SWEEP_INTERVAL": "3600",
        "CASEROOM_RELAY_FIRST_SPREAD": "1", "CASEROOM_MAX_STALENESS": "3600", "CASEROOM_RELAY_LEASE": "3",
        "CASEROOM_RATE_PER_DAY": "20000000", "CASEROOM_RATE_PER_HOUR": "1000000",
    })
    keys = Keys(redis_prefix)
    case_id = sandbox.case("Active")["id"]

    async def baselined() -> bool:
        state = await hgetall(redis, keys.case_state(case_id))
        return {"chats", "timeline"} <= set((state.get("base") or "").split(","))

    await wait_until(baselined, 40, "baseline by the relay inside caseroom run")
    chat = sandbox.control.add_chat(case_id, "through caseroom run", role=1)
    body = json.dumps({"id": "evt-e2e-1", "event": "chat.created", "timestamp": "2026-01-01T00:00:00Z",
                       "data": {"caseId": case_id, "chatId": chat["id"]}}).encode()

    bad = await post_webhook(instance, body, sign(base64.b64encode(b"not the secret").decode(), body,
                                                  int(time.time())))
    assert bad[0] == 401
    assert await redis.exists(keys.webhook_seen("evt-e2e-1")) == 0

    ok = await post_webhook(instance, body, sign(SECRET, body, int(time.time())))
    assert ok == (200, {"status": "queued"})
    again = await post_webhook(instance, body, sign(SECRET, body, int(time.time())))
    assert again == (200, {"status": "duplicate"})

    async def posted() -> list[str] | None:
        channel_id = (await hgetall(redis, keys.case_channel(case_id))).get("id")
        if not channel_id:
            return None
        ids = [i for i, _ in relayed_items(fake_slack, channel_id)]
        return ids if f"chat:{chat['id']}" in ids else None

    try:
        ids = await wait_until(posted, 30, "the chat in the case channel")
    except AssertionError:
        raise AssertionError(instance.output[-5000:]) from None
    assert ids.count(f"chat:{chat['id']}") == 1


async def test_assignment_webhook_to_caseroom_run_dms_the_assignee_once(
    caseroom_factory: Callable[..., Awaitable[Caseroom]], sandbox: SandboxHandle, fake_slack: FakeSlack,
    redis: aioredis.Redis, redis_prefix: str,
) -> None:
    """Issue 13: `case.assigned` through the real /debitura/webhooks door; one DM in the Messages tab."""
    from tests.relay.notify_helpers import action_ids, dm_ids, dms

    email = sandbox.user_email()
    alice = fake_slack.workspace.add_user("assignee", email=email)
    instance = await caseroom_factory("http", relay=True, env={
        "DEBITURA_WEBHOOK_SECRET": SECRET, "CASEROOM_RELAY_SWEEP_INTERVAL": "3600",
        "CASEROOM_RELAY_FIRST_SPREAD": "1", "CASEROOM_MAX_STALENESS": "3600", "CASEROOM_RELAY_LEASE": "3",
        "CASEROOM_RATE_PER_DAY": "20000000", "CASEROOM_RATE_PER_HOUR": "1000000", "CASEROOM_QUIET_HOURS": "",
    })
    case = sandbox.control.assign_new_case(assignee_email=email)
    for n in range(2):  # Debitura retries: the same event twice, a new event id once more
        body = json.dumps({"id": f"evt-assign-{n // 2}", "event": "case.assigned",
                           "timestamp": "2026-01-01T00:00:00Z", "data": {"caseId": case["id"]}}).encode()
        status, _ = await post_webhook(instance, body, sign(SECRET, body, int(time.time())))
        assert status == 200

    async def dm_sent() -> list[str] | None:
        return dm_ids(fake_slack, alice.id, f"dm:assigned:{case['id']}:") or None

    try:
        ids = await wait_until(dm_sent, 30, "the assignment DM")
    except AssertionError:
        raise AssertionError(instance.output[-5000:]) from None
    body = json.dumps({"id": "evt-assign-again", "event": "case.assigned",
                       "timestamp": "2026-01-01T00:00:01Z", "data": {"caseId": case["id"]}}).encode()
    assert (await post_webhook(instance, body, sign(SECRET, body, int(time.time()))))[0] == 200
    keys = Keys(redis_prefix)

    async def fetched_again() -> bool:
        return (await hgetall(redis, keys.case_state(case["id"]))).get("want", "0") == "0"

    await wait_until(fetched_again, 30, "the second webhook's fetch")
    assert dm_ids(fake_slack, alice.id, f"dm:assigned:{case['id']}:") == ids
    assert "case_open_activate" in action_ids(dms(fake_slack, alice.id)[0])
