"""The relay keeps what people's queues read (issue 13): the assignee index and the attention marks,
in the same commit as the case state, when a pending case is activated and assigned in Debitura."""

from __future__ import annotations

import json

import pytest
import redis.asyncio as aioredis

from bot.debitura.models import StartCaseRequest
from bot.store.cases import CaseState
from bot.store.keys import Keys
from bot.store.pieces import all_pieces
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


async def test_a_snapshot_stored_before_the_upgrade_gets_its_exclusive_end_from_the_next_full_sweep(
    sandbox: SandboxHandle, fake_slack: FakeSlack, redis: aioredis.Redis, redis_prefix: str
) -> None:
    keys = Keys(redis_prefix)
    case_id = sandbox.case("Active", exclusive_period=True)["id"]
    relay = await start_relay(relay_settings(fake_slack, sandbox.url, sandbox.api_key, redis_prefix))
    try:

        async def stored() -> CaseState | None:
            known = CaseState.from_hash(await hgetall(redis, keys.case_state(case_id)))
            return known if known.case is not None and "chats" in known.baselined else None

        current = await wait_until(stored, 30, "the case stored and fetched")
        assert current.case is not None and current.case.period_end > 0
        # What a Caseroom before these fields kept: no amounts, no period end, no needsInfo.
        old = current.case.model_dump(exclude={"period_end", "needs_info", "principal", "fees", "created",
                                               "finished", "is_test"})
        await redis.hdel(keys.case_state(case_id), *all_pieces("case"))  # stored whole, as it was then
        await redis.hset(keys.case_state(case_id), "case", json.dumps(old))
        assert CaseState.from_hash(await hgetall(redis, keys.case_state(case_id))).case.period_end == 0.0  # type: ignore[union-attr]
        await redis.hset(keys.relay_sweep(), "full", "0")  # the next sweep is a full one

        async def refreshed() -> bool:
            known = CaseState.from_hash(await hgetall(redis, keys.case_state(case_id)))
            return known.case is not None and known.case.period_end == current.case.period_end  # type: ignore[union-attr]

        await wait_until(refreshed, 30, "the listed snapshot replacing the old one")
    finally:
        await stop_relay(relay)
