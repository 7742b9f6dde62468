"""Direct messages to the assignee: the relay, the sandbox and the fake Slack in process (issue 13, B).

Exactly once is checked on the fake Slack: every DM carries its item id in its metadata.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
import redis.asyncio as aioredis

from bot.store.keys import Keys
from bot.store.notify import Person, dm_lane
from bot.store.reads import hget, hgetall
from tests.fakes.slack.server import FakeSlack
from tests.fixtures.sandbox import SandboxHandle
from tests.relay.harness import relay_settings, stop_relay, wait_until
from tests.relay.notify_helpers import (
    Clock,
    action_ids,
    as_webhook,
    dm_ids,
    dms,
    slack_user_for,
    start_clocked_relay,
)

pytestmark = [pytest.mark.sandbox, pytest.mark.fakeslack]


def settings_for(fake: FakeSlack, sandbox: SandboxHandle, prefix: str, **kw: object) -> object:
    values: dict[str, object] = {"caseroom_quiet_hours": ""}
    values.update(kw)
    return relay_settings(fake, sandbox.url, sandbox.api_key, prefix, **values)


async def settle(relay: object, redis: aioredis.Redis, keys: Keys, case_id: str) -> None:
    """Wait until the case's asked-for fetch is done and its outboxes are empty."""
    async def idle() -> bool:
        state = await hgetall(redis, keys.case_state(case_id))
        ready = await redis.zcard(keys.relay_ready())
        return state.get("want", "0") == "0" and ready == 0

    await wait_until(idle, 30, "the relay to settle")


async def test_assignment_webhook_dms_the_assignee_once(
    sandbox: SandboxHandle, fake_slack: FakeSlack, redis: aioredis.Redis, redis_prefix: str,
) -> None:
    email = sandbox.user_email()
    alice = slack_user_for(fake_slack, email)
    clock = Clock()
    relay = await start_clocked_relay(settings_for(fake_slack, sandbox, redis_prefix), clock, attention=False)
    keys = Keys(redis_prefix)
    try:
        case = sandbox.control.assign_new_case(assignee_email=email)
        await as_webhook(relay, case["id"])

        async def dm_sent() -> list[str] | None:
            ids = dm_ids(fake_slack, alice.id, "dm:assigned:")
            return ids or None

        ids = await wait_until(dm_sent, 30, "the assignment DM")
        message = dms(fake_slack, alice.id)[0]
        assert "assigned to you" in message.text
        assert "case_open_activate" in action_ids(message), "Activate while PendingVerification"
        assert fake_slack.journal.calls("conversations.open", ok=True)
        # the same webhook again (Debitura retries), and a poll: nothing new
        await as_webhook(relay, case["id"])
        await settle(relay, redis, keys, case["id"])
        assert dm_ids(fake_slack, alice.id, "dm:assigned:") == ids
        record = await hget(redis, keys.relayed(case["id"]), ids[0])
        assert record and not record.startswith("pending")

        # reassigned to someone else: they get one; alice gets nothing more
        other_email = next(u["email"] for u in sandbox.users() if u["email"] != email)
        bob = slack_user_for(fake_slack, other_email, name="bob")
        sandbox.control.set_assignee(case["id"], other_email)
        await as_webhook(relay, case["id"])
        await wait_until(lambda: asyncio.sleep(0, dm_ids(fake_slack, bob.id, "dm:assigned:")), 30,
                         "the DM to the new assignee")
        assert dm_ids(fake_slack, alice.id, "dm:assigned:") == ids
    finally:
        await stop_relay(relay)


async def test_no_dm_to_guests_strangers_or_deactivated_and_refusals_recorded_once(
    sandbox: SandboxHandle, fake_slack: FakeSlack, redis: aioredis.Redis, redis_prefix: str,
) -> None:
    emails = [u["email"] for u in sandbox.users()][:4]
    guest = slack_user_for(fake_slack, emails[0], name="guest", guest="multi")
    stranger = slack_user_for(fake_slack, emails[1], name="stranger", team_id="T0OTHERORG")
    gone = slack_user_for(fake_slack, emails[2], name="gone", deleted=True)
    # the fourth is active when first looked up, then deactivated: Slack refuses the DM itself
    late = slack_user_for(fake_slack, emails[3], name="late")
    clock = Clock()
    relay = await start_clocked_relay(settings_for(fake_slack, sandbox, redis_prefix), clock, attention=False)
    keys = Keys(redis_prefix)
    try:
        await relay.deliverer.notify.save_person(Person(email=emails[3], user_id=late.id, fetched=clock()))
        late.deleted = True
        cases = [sandbox.control.assign_new_case(assignee_email=e) for e in emails]
        for case in cases:
            await as_webhook(relay, case["id"])

        async def all_recorded() -> list[str] | None:
            records = []
            for case in cases:
                fields = await hgetall(redis, keys.relayed(case["id"]))
                records += [v for k, v in fields.items() if k.startswith("dm:assigned:")]
            done = [r for r in records if r.startswith("skipped|")]
            return done if len(done) == len(cases) else None

        records = await wait_until(all_recorded, 30, "every DM recorded as skipped")
        whys = sorted(r.split("|")[1] for r in records)
        # users.lookupByEmail finds neither a deactivated account nor another organisation's
        assert whys == ["guest", "no_slack_account", "no_slack_account", "refused:user_disabled"]
        for user in (guest, stranger, gone, late):
            assert dms(fake_slack, user.id) == []
        assert await redis.get(keys.notify_refused(emails[3])) == "user_disabled"
        opens = len(fake_slack.journal.calls("conversations.open"))
        assert opens == 1, "only the one Slack refused was tried, once"
        # another event for the refused person: not tried again while the refusal is recorded
        sandbox.control.set_lifecycle(cases[3]["id"], "Closed", close_code="Paid", comment="x")
        await as_webhook(relay, cases[3]["id"])
        await settle(relay, redis, keys, cases[3]["id"])
        assert len(fake_slack.journal.calls("conversations.open")) == opens
    finally:
        await stop_relay(relay)


def _span_around(now: float) -> str:
    """Quiet hours (UTC) from an hour before `now` to an hour after it."""
    def hhmm(t: float) -> str:
        return datetime.fromtimestamp(t, UTC).strftime("%H:%M")

    return f"{hhmm(now - 3600)}-{hhmm(now + 3600)}"


async def test_quiet_hours_hold_a_dm_until_they_end(
    sandbox: SandboxHandle, fake_slack: FakeSlack, redis: aioredis.Redis, redis_prefix: str,
) -> None:
    email = sandbox.user_email()
    alice = slack_user_for(fake_slack, email, tz="UTC", tz_offset=0)
    clock = Clock()
    settings = settings_for(fake_slack, sandbox, redis_prefix, caseroom_quiet_hours=_span_around(clock()))
    relay = await start_clocked_relay(settings, clock, attention=False)
    keys = Keys(redis_prefix)
    try:
        case = sandbox.control.assign_new_case(assignee_email=email)
        await as_webhook(relay, case["id"])
        lane = dm_lane(email)

        async def held() -> float | None:
            score = await redis.zscore(keys.relay_ready(), lane)
            return score if score is not None and score > clock() + 1800 else None

        until = await wait_until(held, 30, "the DM lane held for the quiet hours")
        assert dms(fake_slack, alice.id) == []
        assert await redis.llen(keys.relay_outbox(lane)) == 1, "kept, not dropped"
        assert until <= clock() + 3600 + 60
        clock.advance(3700)  # the morning
        relay.deliverer.stopping = False
        await wait_until(lambda: asyncio.sleep(0, dm_ids(fake_slack, alice.id, "dm:assigned:")), 30,
                         "the DM after the quiet hours")
        assert len(dm_ids(fake_slack, alice.id)) == 1
    finally:
        await stop_relay(relay)


async def test_creditor_chat_dm_and_mute(
    sandbox: SandboxHandle, fake_slack: FakeSlack, redis: aioredis.Redis, redis_prefix: str,
) -> None:
    case = sandbox.case("Active")
    case_id = case["id"]
    email = sandbox.user_email()
    sandbox.control.set_assignee(case_id, email)
    alice = slack_user_for(fake_slack, email)
    clock = Clock()
    relay = await start_clocked_relay(settings_for(fake_slack, sandbox, redis_prefix), clock, attention=False)
    keys = Keys(redis_prefix)
    try:
        await as_webhook(relay, case_id)
        await settle(relay, redis, keys, case_id)
        first = sandbox.control.add_chat(case_id, "Any news on the debtor?", role=1)
        await as_webhook(relay, case_id)
        first_dm = f"dm:chat:{case_id}:{first['id']}"
        await wait_until(lambda: asyncio.sleep(0, dm_ids(fake_slack, alice.id, first_dm)), 30,
                         "the creditor chat DM")
        message = next(m for m in dms(fake_slack, alice.id) if "Any news" in str(m.blocks))
        assert "case_reply" in action_ids(message)
        # muted: the next chat goes to the channel only
        await relay.runtime.stores.attention.mute(alice.id, case_id)
        second = sandbox.control.add_chat(case_id, "Hello again?", role=1)
        await as_webhook(relay, case_id)

        async def recorded() -> str | None:
            fields = await hgetall(redis, keys.relayed(case_id))
            second_dm = f"dm:chat:{case_id}:{second['id']}"
            return next((v for k, v in fields.items() if k.startswith(second_dm)), None)

        record = await wait_until(recorded, 30, "the muted DM recorded")
        assert record.startswith("skipped|muted|")
        assert dm_ids(fake_slack, alice.id, f"dm:chat:{case_id}:{second['id']}") == []

        def in_channel() -> bool:
            return any(f"chat:{second['id']}" == i for i in (
                ((m.metadata or {}).get("event_payload") or {}).get("item_id")
                for ch in fake_slack.workspace.channels.values() if not ch.is_im for m in ch.messages))

        await wait_until(lambda: asyncio.sleep(0, in_channel()), 30, "the muted chat still in the channel")
    finally:
        await stop_relay(relay)
