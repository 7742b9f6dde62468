"""The relay keeps what people's queues read (issue 13): the assignee index and the attention marks,
in the same commit as the case state, when a pending case is activated and assigned in Debitura."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from bot.debitura.models import StartCaseRequest
from bot.store.cases import CaseState
from bot.store.keys import Keys
from bot.store.reads import hgetall
from tests.fakes.slack.server import FakeSlack
from tests.fixtures.sandbox import SandboxHandle
from tests.relay.harness import relay_settings, start_relay, stop_relay, wait_until

pytestmark = pytest.mark.sandbox


async def test_activation_moves_the_case_to_its_assignees_queue(
    sandbox: SandboxHandle, fake_slack: FakeSlack, redis: aioredis.Redis, redis_prefix: str
) -> None:
    keys = Keys(redis_prefix)
    case_id = sandbox.case("PendingVerification")["id"]
    member = sandbox.user_email()
    relay = await start_relay(relay_settings(fake_slack, sandbox.url, sandbox.api_key, redis_prefix))
    try:

        async def state() -> CaseState:
            return CaseState.from_hash(await hgetall(redis, keys.case_state(case_id)))

        async def pending_and_unassigned() -> bool:
            known = await state()
            return (known.case is not None and known.marks.lc == "PendingVerification"
                    and await redis.sismember(keys.attention_owner(""), case_id) == 1)

        await wait_until(pending_and_unassigned, 30, "the pending case in the unassigned queue")
        first = await state()
        assert first.marks.lc_since == first.first_seen  # already pending when first seen

        await relay.runtime.debitura.start_case(case_id, StartCaseRequest(
            welcome_message="Welcome", user_email=member, assigned_user_email=member))

        async def assigned() -> CaseState | None:
            known = await state()
            moved = (await redis.sismember(keys.attention_owner(member.lower()), case_id) == 1
                     and await redis.sismember(keys.attention_owner(""), case_id) == 0)
            if known.case is not None and known.case.assignee_email.lower() == member.lower() and moved:
                return known
            return None

        after = await wait_until(assigned, 30, "the case moved to its assignee's index")
        assert after.marks.lc == "Active" and after.marks.lc_since > first.first_seen
        assert member.lower() in await redis.smembers(keys.attention_owners())
    finally:
        await stop_relay(relay)
