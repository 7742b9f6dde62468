"""Reminders and digests: the relay's attention pass driven by an injectable clock (issue 13, B)."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime

import pytest
import redis.asyncio as aioredis

from bot.attention.queue import ADMINS, SECTIONS, Section, build_queue
from bot.debitura.models import SendChatRequest
from bot.relay.service import Relay
from bot.store.cases import CaseState, Want
from bot.store.keys import Keys
from bot.store.notify import dm_lane
from bot.store.reads import hgetall
from tests.fakes.slack.server import FakeSlack
from tests.fixtures.sandbox import SandboxHandle
from tests.relay.harness import relay_settings, stop_relay, wait_until
from tests.relay.notify_helpers import Clock, as_webhook, dm_ids, dms, slack_user_for, start_clocked_relay

pytestmark = [pytest.mark.sandbox, pytest.mark.fakeslack]
HOUR = 3600.0
DAY = 24 * HOUR


async def settle(relay: Relay, redis: aioredis.Redis, keys: Keys, case_id: str) -> None:
    async def idle() -> bool:
        state = await hgetall(redis, keys.case_state(case_id))
        return state.get("want", "0") == "0" and await redis.zcard(keys.relay_ready()) == 0

    await wait_until(idle, 30, "the relay to settle")


async def delivered(redis: aioredis.Redis, keys: Keys, *lanes: str) -> None:
    async def empty() -> bool:
        if lanes:
            return all([await redis.llen(keys.relay_outbox(lane)) == 0 for lane in lanes])
        return await redis.zcard(keys.relay_ready()) == 0

    await wait_until(empty, 30, "the outboxes to drain")


def start(fake: FakeSlack, sandbox: SandboxHandle, prefix: str, clock: Clock, **kw: object) -> object:
    values: dict[str, object] = {"caseroom_quiet_hours": "", "caseroom_digest_weekends": True}
    values.update(kw)
    return start_clocked_relay(relay_settings(fake, sandbox.url, sandbox.api_key, prefix, **values), clock,
                               attention=False)


async def test_reply_reminder_fires_once_and_stops_when_answered(
    sandbox: SandboxHandle, fake_slack: FakeSlack, redis: aioredis.Redis, redis_prefix: str,
) -> None:
    case_id = sandbox.case("Active")["id"]
    email = sandbox.user_email()
    sandbox.control.set_assignee(case_id, email)
    alice = slack_user_for(fake_slack, email, tz="UTC", tz_offset=0)
    clock = Clock()
    relay: Relay = await start(fake_slack, sandbox, redis_prefix, clock, caseroom_reply_sla=1)
    keys = Keys(redis_prefix)
    try:
        await as_webhook(relay, case_id)
        await settle(relay, redis, keys, case_id)
        # the seeded history may leave the creditor waiting already: we answer first
        await relay.runtime.debitura.send_chat(case_id, SendChatRequest(message="Hello", user_email=email),
                                               idempotency_key=f"notify-test-hello-{case_id}")
        await as_webhook(relay, case_id, Want.CHATS)
        await settle(relay, redis, keys, case_id)
        sandbox.control.add_chat(case_id, "Is anybody there?", role=1)
        await as_webhook(relay, case_id, Want.CHATS)
        await settle(relay, redis, keys, case_id)

        stats = await relay.attention.run()  # not an hour yet
        assert not [f for f in await hgetall(redis, keys.notify_reminders(case_id)) if f.startswith("reply:")]
        clock.advance(2 * HOUR)
        stats = await relay.attention.run()
        assert stats.fired >= 1
        again = await relay.attention.run()  # the next pass, or another replica's: nothing twice
        assert again.fired == 0
        await delivered(redis, keys)
        reply = f"rm:{case_id}:reply:"
        await wait_until(lambda: asyncio.sleep(0, dm_ids(fake_slack, alice.id, reply)), 30, "reminder")
        assert len(dm_ids(fake_slack, alice.id, f"rm:{case_id}:reply:")) == 1
        reminder = next(m for m in dms(fake_slack, alice.id) if "waits for a reply" in m.text)
        assert "waiting 2 hours for a reply" in str(reminder.blocks)

        # the partner answers: the condition clears, its marker goes, no reminder any more
        await relay.runtime.debitura.send_chat(case_id, SendChatRequest(message="On it", user_email=email),
                                               idempotency_key=f"notify-test-reply-{case_id}")
        await as_webhook(relay, case_id, Want.CHATS)
        await settle(relay, redis, keys, case_id)
        cleared = await relay.attention.run()
        assert cleared.cleared >= 1
        assert not [f for f in await hgetall(redis, keys.notify_reminders(case_id)) if f.startswith("reply:")]
        clock.advance(5 * HOUR)
        await relay.attention.run()
        await delivered(redis, keys)
        assert len(dm_ids(fake_slack, alice.id, f"rm:{case_id}:reply:")) == 1

        # a new creditor chat is a new occurrence: one more reminder after the SLA
        sandbox.control.add_chat(case_id, "Hello?", role=1)
        await as_webhook(relay, case_id, Want.CHATS)
        await settle(relay, redis, keys, case_id)
        clock.advance(2 * HOUR)
        fired = 0

        async def race() -> bool:  # two replicas racing; again until the new chat's marks are in
            nonlocal fired
            both = await asyncio.gather(relay.attention.run(), relay.attention.run())
            fired += sum(s.fired for s in both)
            return fired >= 1

        await wait_until(race, 30, "a pass to fire the second occurrence's reminder")
        assert fired == 1
        await delivered(redis, keys)
        await wait_until(lambda: asyncio.sleep(0, len(dm_ids(fake_slack, alice.id, reply)) == 2), 30,
                         "the second occurrence's reminder")
        await relay.attention.run()
        await delivered(redis, keys)
        assert len(dm_ids(fake_slack, alice.id, reply)) == 2
    finally:
        await stop_relay(relay)


async def test_exclusive_period_reminders_once_at_each_threshold(
    sandbox: SandboxHandle, fake_slack: FakeSlack, redis: aioredis.Redis, redis_prefix: str,
) -> None:
    case_id = sandbox.case("Active")["id"]
    email = sandbox.user_email()
    sandbox.control.set_assignee(case_id, email)
    alice = slack_user_for(fake_slack, email, tz="UTC", tz_offset=0)
    clock = Clock()
    relay: Relay = await start(fake_slack, sandbox, redis_prefix, clock)
    keys = Keys(redis_prefix)
    try:
        await as_webhook(relay, case_id)
        await settle(relay, redis, keys, case_id)
        snap = CaseState.from_hash(await hgetall(redis, keys.case_state(case_id))).case
        assert snap is not None
        end = snap.period_end
        assert end > 0, "an Active sandbox case has an exclusive period"
        await delivered(redis, keys, dm_lane(email))  # the assignment DM, in real time
        await asyncio.sleep(2.5)  # its pacing slot (kept in clock time) expires before the clock moves
        # the clock moves to 20, 10, 9, 5 days and 12 hours before its end (backwards too: the seed's
        # periods may have ended already); nothing was sent in the DM before, so no pacing slot is ahead
        relay.options.stop_timeout = 5

        def exclusive() -> list[str]:
            return sorted(i.split(":")[3] for i in dm_ids(fake_slack, alice.id, f"rm:{case_id}:exclusive:")
                          )

        for left, expected in ((20 * DAY, []), (10 * DAY, ["14"]), (9 * DAY, ["14"]), (5 * DAY, ["14", "7"]),
                               (HOUR * 12, ["1", "14", "7"])):
            clock.offset = end - left - time.time()
            await relay.attention.run()
            await relay.attention.run()
            await delivered(redis, keys, dm_lane(email))
            await wait_until(lambda exp=expected: asyncio.sleep(0, exclusive() == exp), 30,  # type: ignore[misc]
                             f"exclusive reminders {expected}")
    finally:
        await stop_relay(relay)


async def test_digest_once_a_day_per_person_and_team_digest(
    sandbox: SandboxHandle, fake_slack: FakeSlack, redis: aioredis.Redis, redis_prefix: str,
) -> None:
    email = sandbox.user_email()
    alice = slack_user_for(fake_slack, email, tz="UTC", tz_offset=0)
    admin = fake_slack.workspace.add_user("boss", email="boss@agency.example", tz="UTC", tz_offset=0)
    clock = Clock()
    now = datetime.fromtimestamp(clock(), UTC)
    relay: Relay = await start(fake_slack, sandbox, redis_prefix, clock,
                               caseroom_digest_time=now.strftime("%H:%M"), caseroom_admin_users=[admin.id])
    keys = Keys(redis_prefix)
    try:
        case = sandbox.control.assign_new_case(assignee_email=email)
        await as_webhook(relay, case["id"])
        await settle(relay, redis, keys, case["id"])
        first = await relay.attention.run()
        second = await relay.attention.run()
        assert first.digests == 2 and second.digests == 0  # alice's and the admin's team digest
        await delivered(redis, keys)
        await wait_until(lambda: asyncio.sleep(0, dm_ids(fake_slack, alice.id, "digest:")), 30, "digest")
        digest = next(m for m in dms(fake_slack, alice.id) if "digest" in m.text)
        assert "Waiting for activation" in str(digest.blocks)
        assert len(dm_ids(fake_slack, admin.id, "digest:team:")) == 1
        team = next(m for m in dms(fake_slack, admin.id) if "team digest" in m.text)
        assert "Payments collected" in str(team.blocks)

        clock.advance(DAY)  # the next morning: one more each
        await relay.attention.run()
        await relay.attention.run()
        await delivered(redis, keys)
        await wait_until(lambda: asyncio.sleep(0, len(dm_ids(fake_slack, alice.id, "digest:")) == 2), 30,
                         "the next day's digest")
        days = {i.split(":")[1] for i in dm_ids(fake_slack, alice.id, "digest:")}
        assert len(days) == 2
        # muted: her cases no longer count, and an empty queue sends no digest
        for tracked in await relay.runtime.stores.attention.tracked_for(email):
            await relay.runtime.stores.attention.mute(alice.id, tracked.case.id)
        clock.advance(DAY)
        third = await relay.attention.run()
        assert third.digests == 1  # the team digest only
    finally:
        await stop_relay(relay)


async def test_team_digest_in_the_digest_channel_never_in_a_shared_one(
    sandbox: SandboxHandle, fake_slack: FakeSlack, redis: aioredis.Redis, redis_prefix: str,
) -> None:
    internal = fake_slack.workspace.add_channel("team-digest")
    shared = fake_slack.workspace.add_channel("with-partner", shared="external")
    clock = Clock()
    now = datetime.fromtimestamp(clock(), UTC)
    keys = Keys(redis_prefix)
    for channel, posted in ((internal, 1), (shared, 0)):
        prefix_relay: Relay = await start(fake_slack, sandbox, redis_prefix, clock,
                                          caseroom_digest_time=now.strftime("%H:%M"),
                                          caseroom_digest_channel=channel.id)
        try:
            await prefix_relay.attention.run()
            await prefix_relay.attention.run()
            await delivered(redis, keys, "digest")
            messages = [m for m in fake_slack.journal.messages(channel.id, bot_only=True)]
            assert len(messages) == posted
            if posted:
                assert "Team digest" in str(messages[0].blocks)
            else:
                dead = [json.loads(e) for e in await redis.lrange(keys.relay_dead(), 0, -1)]
                assert any(e["reason"] == "channel_shared_externally" and e["item"]["kind"] == "team_digest"
                           for e in dead)
        finally:
            await stop_relay(prefix_relay)
        clock.advance(DAY)  # the next day's digest goes to the next channel


async def test_the_pass_writes_the_admins_team_view_home_reads(
    sandbox: SandboxHandle, fake_slack: FakeSlack, redis: aioredis.Redis, redis_prefix: str,
) -> None:
    case_id = sandbox.case("Active")["id"]
    email = sandbox.user_email()
    sandbox.control.set_assignee(case_id, email)
    sandbox.control.add_chat(case_id, "Anyone?", role=1)
    clock = Clock()
    relay: Relay = await start(fake_slack, sandbox, redis_prefix, clock)
    keys = Keys(redis_prefix)
    try:
        await as_webhook(relay, case_id)
        await settle(relay, redis, keys, case_id)
        store = relay.runtime.stores.attention
        assert await store.team_view() is None
        s = relay.runtime.settings

        async def agrees() -> dict[str, list[int]] | None:
            # the relay's workers may still commit a seeded case between the pass and our read: again
            await relay.attention.run()
            raw = await store.team_view()
            assert raw is not None
            counts: dict[str, list[int]] = json.loads(raw)["counts"]
            tracked = [t for cases in (await store.tracked_all()).values() for t in cases]
            queues = build_queue(tracked, now=clock(), exclusive_days=s.caseroom_exclusive_days,
                                 recent_days=s.caseroom_recent_days)
            expected = {("" if owner == ADMINS else owner): [q.counts()[sec] for sec in SECTIONS]
                        for owner, q in queues.items()}
            return counts if counts == expected else None  # what App Home computed on demand before

        counts = await wait_until(agrees, 30, "the pass's team view to match Home's computation")
        assert counts[email.lower()][SECTIONS.index(Section.creditor_waiting)] >= 1
        assert await redis.ttl(keys.attention_team()) > 60  # outlives a Home's own 60 s cache
    finally:
        await stop_relay(relay)
