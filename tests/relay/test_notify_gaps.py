"""Direct messages and reminders not covered elsewhere (issue 13, B): the needs-info DM, "channel only",
the activation reminder, a payment the assignee recorded themselves, `user_change` reaching the DM path's
cache, and the digests' exactly-once records expiring. The relay, the sandbox and the fake Slack in
process, the relay's clock injected."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import redis.asyncio as aioredis
from slack_bolt.async_app import AsyncApp, AsyncBoltRequest

from blocks.parse import PaymentForm, Recipient
from bot.listeners import events
from bot.relay.model import Delivery
from bot.relay.service import Relay
from bot.services import payments
from bot.store.cases import Want
from bot.store.keys import Keys
from bot.store.notify import dm_lane
from bot.store.reads import hgetall
from tests.fakes.slack import payloads
from tests.fakes.slack.server import FakeSlack
from tests.fixtures.sandbox import SandboxHandle
from tests.relay.harness import relay_settings, stop_relay, wait_until
from tests.relay.notify_helpers import Clock, as_webhook, dm_ids, slack_user_for, start_clocked_relay

pytestmark = [pytest.mark.sandbox, pytest.mark.fakeslack]
HOUR = 3600.0


async def start(fake: FakeSlack, sandbox: SandboxHandle, prefix: str, clock: Clock, **kw: object) -> Relay:
    values: dict[str, object] = {"caseroom_quiet_hours": "", "caseroom_digest_weekends": True}
    values.update(kw)
    return await start_clocked_relay(relay_settings(fake, sandbox.url, sandbox.api_key, prefix, **values),
                                     clock, attention=False)


async def settle(redis: aioredis.Redis, keys: Keys, case_id: str) -> None:
    async def idle() -> bool:
        state = await hgetall(redis, keys.case_state(case_id))
        return state.get("want", "0") == "0" and await redis.zcard(keys.relay_ready()) == 0

    await wait_until(idle, 30, "the relay to settle")


async def record(redis: aioredis.Redis, keys: Keys, case_id: str, prefix: str) -> str | None:
    fields = await hgetall(redis, keys.relayed(case_id))
    return next((v for k, v in fields.items() if k.startswith(prefix) and not v.startswith("pending")), None)


async def recorded(redis: aioredis.Redis, keys: Keys, case_id: str, prefix: str, what: str) -> str:
    async def found() -> str | None:
        return await record(redis, keys, case_id, prefix)

    return await wait_until(found, 30, what)


async def test_needs_info_dms_the_assignee_once(
    sandbox: SandboxHandle, fake_slack: FakeSlack, redis: aioredis.Redis, redis_prefix: str,
) -> None:
    case_id = sandbox.case("Active")["id"]
    email = sandbox.user_email()
    sandbox.control.set_assignee(case_id, email)
    alice = slack_user_for(fake_slack, email)
    relay = await start(fake_slack, sandbox, redis_prefix, Clock())
    keys = Keys(redis_prefix)
    try:
        await as_webhook(relay, case_id)
        await settle(redis, keys, case_id)
        assert dm_ids(fake_slack, alice.id, "dm:needs_info:") == []
        sandbox.control.set_lifecycle(case_id, "NeedsAdditionalDetails")  # validation.needsInfo turns true
        await as_webhook(relay, case_id)
        prefix = f"dm:needs_info:{case_id}:"
        await wait_until(lambda: asyncio.sleep(0, dm_ids(fake_slack, alice.id, prefix)), 30,
                         "the needs-info DM")
        # the same state fetched again (a retried webhook, a poll): nothing more
        await as_webhook(relay, case_id)
        await settle(redis, keys, case_id)
        assert len(dm_ids(fake_slack, alice.id, prefix)) == 1
    finally:
        await stop_relay(relay)


async def test_channel_only_skips_members_of_the_case_channel_not_others(
    sandbox: SandboxHandle, fake_slack: FakeSlack, redis: aioredis.Redis, redis_prefix: str,
) -> None:
    email = sandbox.user_email()
    outside, inside = (c["id"] for c in sandbox.cases("Active")[:2])
    for case_id in (outside, inside):
        sandbox.control.set_assignee(case_id, email)
    relay = await start(fake_slack, sandbox, redis_prefix, Clock())
    keys = Keys(redis_prefix)
    try:
        for case_id in (outside, inside):
            await as_webhook(relay, case_id)
            await settle(redis, keys, case_id)
        # `outside`'s channel is made (by its first new chat) before she has a Slack account: she is not in
        # it; `inside`'s is made once she has one: the relay invites her
        sandbox.control.add_chat(outside, "Hello?", role=1)
        await as_webhook(relay, outside, Want.CHATS)
        await settle(redis, keys, outside)
        alice = slack_user_for(fake_slack, email)
        await relay.deliverer.notify.forget_person_only(email)  # her "no Slack account" cache expired
        sandbox.control.add_chat(inside, "Hello?", role=1)
        await as_webhook(relay, inside, Want.CHATS)
        await settle(redis, keys, inside)
        members = {c.name: alice.id in c.members
                   for c in fake_slack.workspace.channels.values() if not c.is_im}
        assert sorted(members.values()) == [False, False, True], members  # #general, outside's, inside's
        assert await relay.runtime.stores.channels.field(inside, "assignee") == email.lower()
        assert (await relay.runtime.stores.channels.field(outside, "assignee") or "") == ""
        await relay.runtime.stores.attention.change_prefs(alice.id, channel_only=True)
        chats = {c: sandbox.control.add_chat(c, "Any news?", role=1)["id"] for c in (outside, inside)}
        for case_id in (outside, inside):
            await as_webhook(relay, case_id, Want.CHATS)
        skipped = await recorded(redis, keys, inside, f"dm:chat:{inside}:{chats[inside]}:", "inside recorded")
        assert skipped.startswith("skipped|channel_only|")
        await wait_until(
            lambda: asyncio.sleep(0, dm_ids(fake_slack, alice.id, f"dm:chat:{outside}:{chats[outside]}:")),
            30,
            "the DM for the case whose channel she is not in")
        assert dm_ids(fake_slack, alice.id, f"dm:chat:{inside}:{chats[inside]}:") == []
    finally:
        await stop_relay(relay)


async def test_activation_reminder_fires_once_after_48_hours_and_stops_when_activated(
    sandbox: SandboxHandle, fake_slack: FakeSlack, redis: aioredis.Redis, redis_prefix: str,
) -> None:
    email = sandbox.user_email()
    alice = slack_user_for(fake_slack, email, tz="UTC", tz_offset=0)
    clock = Clock()
    relay = await start(fake_slack, sandbox, redis_prefix, clock)
    keys = Keys(redis_prefix)
    try:
        case_id = sandbox.control.assign_new_case(assignee_email=email)["id"]
        await as_webhook(relay, case_id)
        await settle(redis, keys, case_id)
        prefix = f"rm:{case_id}:activation:"

        async def activation_marks() -> list[str]:
            fired = await hgetall(redis, keys.notify_reminders(case_id))
            return [f for f in fired if f.startswith("activation:")]

        clock.advance(47 * HOUR)
        await relay.attention.run()
        assert await activation_marks() == []
        clock.advance(2 * HOUR)  # 49 hours waiting
        await relay.attention.run()
        assert len(await activation_marks()) == 1
        await relay.attention.run()  # the next pass (or a replica): not twice
        await wait_until(lambda: asyncio.sleep(0, dm_ids(fake_slack, alice.id, prefix)), 30, "the reminder")
        # activated: the marker goes and no reminder follows, however long
        sandbox.control.set_lifecycle(case_id, "Active")
        await as_webhook(relay, case_id)
        await settle(redis, keys, case_id)
        await relay.attention.run()
        assert await activation_marks() == []
        clock.advance(72 * HOUR)
        await relay.attention.run()
        assert await activation_marks() == []
        await settle(redis, keys, case_id)
        assert len(dm_ids(fake_slack, alice.id, prefix)) == 1
    finally:
        await stop_relay(relay)


async def test_a_payment_the_assignee_recorded_gives_them_no_dm_one_by_someone_else_does(
    sandbox: SandboxHandle, fake_slack: FakeSlack, redis: aioredis.Redis, redis_prefix: str,
) -> None:
    case_id = sandbox.case("Active")["id"]
    email = sandbox.user_email()
    sandbox.control.set_assignee(case_id, email)
    alice = slack_user_for(fake_slack, email)
    other = fake_slack.workspace.add_user("colleague", email="colleague@agency.example")
    relay = await start(fake_slack, sandbox, redis_prefix, Clock())
    keys = Keys(redis_prefix)
    try:
        await as_webhook(relay, case_id, Want.CASE | Want.POLL | Want.PAYMENTS)
        await settle(redis, keys, case_id)
        ids = []
        for who, amount in ((alice.id, "11.00"), (other.id, "12.00")):
            case = await relay.runtime.debitura.get_case(case_id)
            form = PaymentForm(date=datetime.now(UTC).date(), amount=Decimal(amount),
                               recipient=Recipient.COLLECTION_PARTNER, commission=None)
            result = await payments.record_payment(relay.runtime, case=case, form=form,
                                                   idempotency_key=f"gaps-pay-{case_id}-{who}", user_id=who)
            assert result.ok
            ids.append(str(result.data["payment_id"]))
            await as_webhook(relay, case_id, Want.CASE | Want.PAYMENTS)
            await settle(redis, keys, case_id)
        own = await recorded(redis, keys, case_id, f"dm:pay:{case_id}:{ids[0]}:", "her own payment recorded")
        assert own.startswith("skipped|self|")
        theirs = f"dm:pay:{case_id}:{ids[1]}:"
        await wait_until(lambda: asyncio.sleep(0, dm_ids(fake_slack, alice.id, theirs)), 30,
                         "the DM for the colleague's payment")
        assert dm_ids(fake_slack, alice.id, f"dm:pay:{case_id}:{ids[0]}:") == []
    finally:
        await stop_relay(relay)


@pytest.mark.parametrize("change", ["guest", "deleted"])
async def test_user_change_reaches_the_dm_cache_no_dm_from_the_next_event(
    sandbox: SandboxHandle, fake_slack: FakeSlack, redis: aioredis.Redis, redis_prefix: str, change: str,
) -> None:
    email = sandbox.user_email()
    alice = slack_user_for(fake_slack, email)
    relay = await start(fake_slack, sandbox, redis_prefix, Clock())
    keys = Keys(redis_prefix)
    app = AsyncApp(client=relay.runtime.slack, signing_secret="unused", request_verification_enabled=False,
                   process_before_response=True)
    events.register(app, relay.runtime)
    try:
        case_id = sandbox.control.assign_new_case(assignee_email=email, lifecycle="Active")["id"]
        await as_webhook(relay, case_id)
        await wait_until(lambda: asyncio.sleep(0, dm_ids(fake_slack, alice.id, "dm:assigned:")), 30,
                         "the assignment DM")
        await settle(redis, keys, case_id)
        assert await redis.get(keys.notify_person(email)) is not None  # cached for an hour
        if change == "guest":
            alice.is_restricted = True
        else:
            alice.deleted = True
        ws = fake_slack.workspace
        envelope = payloads.event_envelope(ws, payloads.user_change_event(ws, alice))
        response = await app.async_dispatch(AsyncBoltRequest(body=json.dumps(envelope)))
        assert response.status == 200
        sandbox.control.set_lifecycle(case_id, "Closed", close_code="Paid", comment="x")
        await as_webhook(relay, case_id)
        skipped = await recorded(redis, keys, case_id, "dm:closed:", "the close DM recorded")
        assert skipped.split("|")[:2] == ["skipped", "guest" if change == "guest" else "no_slack_account"]
        assert dm_ids(fake_slack, alice.id, "dm:closed:") == []
    finally:
        await stop_relay(relay)


async def test_digest_records_live_in_a_per_day_hash_that_expires(
    sandbox: SandboxHandle, fake_slack: FakeSlack, redis: aioredis.Redis, redis_prefix: str,
) -> None:
    email = sandbox.user_email()
    alice = slack_user_for(fake_slack, email, tz="UTC", tz_offset=0)
    clock = Clock()
    now = datetime.fromtimestamp(clock(), UTC)
    relay = await start(fake_slack, sandbox, redis_prefix, clock, caseroom_digest_time=now.strftime("%H:%M"))
    keys = Keys(redis_prefix)
    try:
        case_id = sandbox.control.assign_new_case(assignee_email=email)["id"]
        await as_webhook(relay, case_id)
        await settle(redis, keys, case_id)
        assert (await relay.attention.run()).digests == 1
        await wait_until(lambda: asyncio.sleep(0, dm_ids(fake_slack, alice.id, "digest:")), 30, "the digest")
        day = now.strftime("%Y-%m-%d")
        records = keys.relayed(f"_digest:{day}")
        await recorded(redis, keys, f"_digest:{day}", f"digest:{day}:{alice.id}", "its record")
        assert 0 < await redis.ttl(records) <= 8 * 24 * 3600
        assert not await redis.exists(keys.relayed("_digest")), "no hash that grows forever"
        # the record holds within the day: the same digest queued again (a crash before its marker was
        # written, a replica) is not sent twice
        again = Delivery(id=f"digest:{day}:{alice.id}", case_id=f"_digest:{day}", kind="digest", op="dm",
                         text="again", at=clock(), path="digest", lane=dm_lane(email), to=email,
                         pref="digest")
        assert await relay.deliverer.notify.digest_once("replay", day, again.model_dump_json(), again.lane,
                                                        clock(), clock(), again.case_id)
        relay.nudge()
        await settle(redis, keys, case_id)
        assert len(dm_ids(fake_slack, alice.id, "digest:")) == 1
    finally:
        await stop_relay(relay)
