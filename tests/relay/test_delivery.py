"""Delivery against the fake Slack and Redis: the exactly-once record, history repair, fencing, channels."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from bot.relay.delivery import Deliverer
from bot.relay.model import Delivery
from bot.relay.store import RelayStore
from bot.runtime import Runtime
from bot.slack import channels
from bot.slack.pacing import SlackIO
from bot.store.pacing import PaceStore
from bot.store.reads import hget
from bot.store.snapshots import CaseSnap
from tests.fakes.slack.server import FakeSlack
from tests.relay.harness import (
    SUMMARY_MARK,
    build_test_runtime,
    close_runtime,
    relay_settings,
    relayed_items,
    summaries,
)

CASE = CaseSnap(id="case-1", reference="AB12CD34", lifecycle="Active", lifecycle_display="Active",
                debtor="Acme", outstanding="10", currency="EUR", assignee_email="ann@example.com")


class Crash(Exception):
    pass


@pytest.fixture
async def runtime(fake_slack: FakeSlack, redis: aioredis.Redis, redis_prefix: str) -> AsyncIterator[Runtime]:
    fake_slack.workspace.add_user("ann", email="ann@example.com")
    settings = relay_settings(fake_slack, "http://127.0.0.1:9", "key", redis_prefix,
                              caseroom_feed_channel=None)
    rt = await build_test_runtime(settings)
    yield rt
    await close_runtime(rt)


def deliverer(runtime: Runtime) -> Deliverer:
    store = RelayStore(runtime.redis, runtime.keys)
    slack = SlackIO(runtime.slack, PaceStore(runtime.redis, runtime.keys), runtime.metrics)
    return Deliverer(runtime, store, slack, lease_ms=3000)


def item(n: int) -> Delivery:
    return Delivery(id=f"chat:{n}", case_id=CASE.id, kind="chat", op="post", text=f"message {n}",
                    blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": f"message {n}"}}],
                    case=CASE, version="1.000")


async def enqueue(runtime: Runtime, *items: Delivery) -> None:
    await runtime.redis.rpush(runtime.keys.relay_outbox(CASE.id), *[i.model_dump_json() for i in items])
    await runtime.redis.zadd(runtime.keys.relay_ready(), {CASE.id: 0})


async def drain(d: Deliverer, token: str = "t") -> None:
    for _ in range(50):
        if not await d.run_once(token):
            return


async def test_delivery_creates_channel_invites_and_posts_once(
    runtime: Runtime, fake_slack: FakeSlack
) -> None:
    await enqueue(runtime, item(1), item(2))
    d = deliverer(runtime)
    await drain(d)
    ch = await channels.channel_for_case(runtime, CASE.id)
    assert ch is not None and ch.name == "case-ab12cd34"
    assert [i for i, _ in relayed_items(fake_slack, ch.id)] == ["chat:1", "chat:2"]
    # The Slack Connect check of the new channel came with conversations.create: no extra call.
    assert fake_slack.journal.calls("conversations.info") == []
    ann = next(u for u in fake_slack.workspace.users.values() if u.email == "ann@example.com")
    assert ann.id in fake_slack.workspace.channels[ch.id].members
    # queued again (a re-diff after a crash, say): the record says done, nothing is posted
    await enqueue(runtime, item(1))
    await drain(d)
    assert [i for i, _ in relayed_items(fake_slack, ch.id)] == ["chat:1", "chat:2"]
    record = await hget(runtime.redis, runtime.keys.relayed(CASE.id), "chat:1")
    assert record is not None and record.startswith(ch.id + "|")


async def test_delivery_crash_after_post_is_repaired_from_history(
    runtime: Runtime, fake_slack: FakeSlack
) -> None:
    await enqueue(runtime, item(1))
    crashing = deliverer(runtime)

    async def boom(_: Delivery) -> None:
        raise Crash

    crashing.after_post = boom
    with pytest.raises(Crash):
        await crashing.run_once("dead-worker")
    record = await hget(runtime.redis, runtime.keys.relayed(CASE.id), "chat:1")
    assert record is not None and record.startswith("pending|")
    # the dead worker's lease runs out; another worker takes the lane
    await runtime.redis.delete(runtime.keys.lease("lane:" + CASE.id))
    await runtime.redis.zadd(runtime.keys.relay_ready(), {CASE.id: 0})
    survivor = deliverer(runtime)
    await drain(survivor, "live-worker")
    ch = await channels.channel_for_case(runtime, CASE.id)
    assert ch is not None
    assert [i for i, _ in relayed_items(fake_slack, ch.id)] == ["chat:1"]
    assert survivor.stats.repaired == 1 and survivor.stats.posted == 0
    assert await runtime.redis.llen(runtime.keys.relay_outbox(CASE.id)) == 0


async def test_delivery_pending_without_post_posts_once(
    runtime: Runtime, fake_slack: FakeSlack
) -> None:
    d = deliverer(runtime)
    await enqueue(runtime, item(1))
    await drain(d)  # creates the channel
    ch = await channels.channel_for_case(runtime, CASE.id)
    assert ch is not None
    # crash after marking pending, before the post reached Slack
    await runtime.redis.hset(runtime.keys.relayed(CASE.id), "chat:2", f"pending|{ch.id}|0")
    await enqueue(runtime, item(2))
    await drain(d)
    assert [i for i, _ in relayed_items(fake_slack, ch.id)] == ["chat:1", "chat:2"]


async def test_delivery_edit_updates_recorded_message(
    runtime: Runtime, fake_slack: FakeSlack
) -> None:
    d = deliverer(runtime)
    await enqueue(runtime, item(1))
    await drain(d)
    edit = Delivery(id="edit:1@2.000", case_id=CASE.id, kind="chat_edit", op="update", text="edited",
                    blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "edited"}}],
                    version="2.000", case=CASE)
    await enqueue(runtime, edit, edit)
    await drain(d)
    updates = fake_slack.journal.calls("chat.update", ok=True)
    assert len(updates) == 1
    record = await hget(runtime.redis, runtime.keys.relayed(CASE.id), "chat:1")
    assert record is not None and record.endswith("|2.000")


async def test_delivery_lost_lease_records_nothing(
    runtime: Runtime, fake_slack: FakeSlack
) -> None:
    await enqueue(runtime, item(1))
    d = deliverer(runtime)
    store = d.store

    async def steal(_: Delivery) -> None:
        # someone else holds the lane now (our lease expired while we were posting)
        await runtime.redis.set(runtime.keys.lease("lane:" + CASE.id), "other")

    d.after_post = steal
    await d.run_once("slow")
    assert await store.head(CASE.id) is not None, "item stays queued for the lease holder"
    record = await hget(runtime.redis, runtime.keys.relayed(CASE.id), "chat:1")
    assert record is not None and record.startswith("pending|"), "the holder will repair from history"


async def test_channel_name_taken_by_someone_else_gets_suffix(
    runtime: Runtime, fake_slack: FakeSlack
) -> None:
    fake_slack.workspace.add_channel("case-ab12cd34", members=["U999"], creator="U999", bot_member=False)
    ch = await channels.ensure_case_channel(runtime, CASE)
    assert ch.name == "case-ab12cd34-2"


async def test_channel_our_archived_channel_comes_back(
    runtime: Runtime, fake_slack: FakeSlack
) -> None:
    ch = await channels.ensure_case_channel(runtime, CASE)
    assert await channels.archive_case_channel(runtime, CASE.id)
    assert fake_slack.workspace.channels[ch.id].is_archived
    assert fake_slack.workspace.channels[ch.id].name == "case-ab12cd34-closed"
    again = await channels.ensure_case_channel(runtime, CASE)
    assert again.id == ch.id and not fake_slack.workspace.channels[ch.id].is_archived
    assert fake_slack.workspace.channels[ch.id].name == "case-ab12cd34"
    # the mapping is lost (Redis wiped) while the channel sits archived under its own name: name_taken,
    # and Redis still knows the name -> adopt (unarchive) rather than make a second channel
    await runtime.redis.hset(runtime.keys.case_channel(CASE.id), "archived", "1")
    fake_slack.workspace.channels[ch.id].is_archived = True
    await runtime.redis.delete(runtime.keys.case_channel(CASE.id))
    adopted = await channels.ensure_case_channel(runtime, CASE)
    assert adopted.id == ch.id and not fake_slack.workspace.channels[ch.id].is_archived


async def test_feed_line_posted_with_link(
    fake_slack: FakeSlack, redis: aioredis.Redis, redis_prefix: str
) -> None:
    feed = fake_slack.workspace.add_channel("caseroom-feed")
    settings = relay_settings(fake_slack, "http://127.0.0.1:9", "key", redis_prefix,
                              caseroom_feed_channel=feed.id)
    rt = await build_test_runtime(settings)
    try:
        first = item(1).model_copy(update={"feed": "Creditor chat from Ann"})
        await enqueue(rt, first)
        await drain(deliverer(rt))
        ch = await channels.channel_for_case(rt, CASE.id)
        assert ch is not None
        lines = [m.text for m in fake_slack.journal.messages(feed.id, bot_only=True)]
        assert lines == [f"<#{ch.id}> · Creditor chat from Ann"]
    finally:
        await close_runtime(rt)


async def test_graceful_stop_finishes_in_flight_delivery(runtime: Runtime, fake_slack: FakeSlack) -> None:
    from bot.relay.service import Relay
    from tests.relay.harness import test_options, wait_until

    await channels.ensure_case_channel(runtime, CASE)
    fake_slack.faults.add("chat.postMessage", latency=1.0, times=None)
    await enqueue(runtime, item(1), item(2), item(3))
    relay = Relay(runtime, test_options(sweep=False, fetch_workers=1, delivery_workers=1))
    await relay.start()

    async def in_flight() -> bool:
        return relay.slack.calls >= 1

    await wait_until(in_flight, 10, "a post in flight")
    await relay.stop(graceful=True)
    record = await hget(runtime.redis, runtime.keys.relayed(CASE.id), "chat:1")
    assert record is not None and not record.startswith("pending|"), "the in-flight post was recorded"
    queued = await runtime.redis.lrange(runtime.keys.relay_outbox(CASE.id), 0, -1)
    assert [Delivery.model_validate_json(q).id for q in queued] == ["chat:2", "chat:3"], "the rest waits"
    assert await runtime.redis.zscore(runtime.keys.relay_ready(), CASE.id) is not None
    assert await runtime.redis.get(runtime.keys.lease("lane:" + CASE.id)) is None, "lease released"


async def test_topic_kept_current_and_new_assignee_invited(runtime: Runtime, fake_slack: FakeSlack) -> None:
    bob = fake_slack.workspace.add_user("bob", email="bob@example.com")
    ch = await channels.ensure_case_channel(runtime, CASE)
    moved = CASE.model_copy(update={"assignee_email": "Bob@Example.com", "lifecycle_display": "Paused"})
    topic = Delivery(id="topic:x", case_id=CASE.id, kind="topic", op="topic", text="Acme · Paused",
                     case=moved)
    await enqueue(runtime, topic)
    await drain(deliverer(runtime))
    channel = fake_slack.workspace.channels[ch.id]
    assert bob.id in channel.members
    assert "Acme · Paused" in str(channel.topic)


async def dead_letters(runtime: Runtime) -> list[tuple[str, str]]:
    """(item id, reason) of the dead-letter list, oldest first."""
    raw = await runtime.redis.lrange(runtime.keys.relay_dead(), 0, -1)
    return [(entry["item"]["id"], entry["reason"]) for entry in map(json.loads, reversed(raw))]


async def test_nothing_is_relayed_into_a_case_channel_shared_with_another_organisation(
    runtime: Runtime, fake_slack: FakeSlack
) -> None:
    await enqueue(runtime, item(1))
    d = deliverer(runtime)
    await drain(d)
    ch = await channels.channel_for_case(runtime, CASE.id)
    assert ch is not None and [i for i, _ in relayed_items(fake_slack, ch.id)] == ["chat:1"]
    channel = fake_slack.workspace.channels[ch.id]
    channel.is_shared = channel.is_ext_shared = True  # someone invited another organisation
    await runtime.redis.delete(runtime.keys.slack_channel_sharing(ch.id))  # the cached answer expired
    topic = Delivery(id="topic:y", case_id=CASE.id, kind="topic", op="topic", text="Acme · Paused", case=CASE)
    edit = item(1).model_copy(update={"id": "chat:1@2", "op": "update", "text": "edited", "version": "2.000"})
    await enqueue(runtime, item(2), topic, edit)
    await drain(d)
    assert [i for i, _ in relayed_items(fake_slack, ch.id)] == ["chat:1"]
    assert "Paused" not in str(channel.topic)
    assert "edited" not in json.dumps([m.text for m in channel.messages])
    assert await dead_letters(runtime) == [("chat:2", "channel_shared_externally"),
                                           ("topic:y", "channel_shared_externally"),
                                           ("chat:1@2", "channel_shared_externally")]


@pytest.mark.parametrize("shared", ["external", "pending"])
async def test_no_feed_line_goes_to_a_feed_channel_shared_with_another_organisation(
    fake_slack: FakeSlack, redis: aioredis.Redis, redis_prefix: str, shared: str
) -> None:
    feed = fake_slack.workspace.add_channel("caseroom-feed", shared=shared)
    settings = relay_settings(fake_slack, "http://127.0.0.1:9", "key", redis_prefix,
                              caseroom_feed_channel=feed.id)
    rt = await build_test_runtime(settings)
    try:
        await enqueue(rt, item(1).model_copy(update={"feed": "Creditor chat from Ann"}))
        await drain(deliverer(rt))
        ch = await channels.channel_for_case(rt, CASE.id)
        assert ch is not None and [i for i, _ in relayed_items(fake_slack, ch.id)] == ["chat:1"]
        assert fake_slack.journal.messages(feed.id, bot_only=True) == []
        assert await dead_letters(rt) == [("feed:chat:1", "channel_shared_externally")]
    finally:
        await close_runtime(rt)


# --- the pinned case summary: exactly once, like the relayed posts --------------------------------

def crash_after_summary_post(runtime: Runtime) -> list[str]:
    """Make the next summary post land in Slack and then "crash" (raise) before it is recorded, as a
    process killed between the two would; returns the ts it landed at."""
    original = runtime.slack.chat_postMessage
    landed: list[str] = []

    async def post(**kwargs: Any) -> Any:
        response = await original(**kwargs)
        if SUMMARY_MARK in json.dumps(kwargs.get("blocks") or []) and not landed:
            landed.append(str(response["ts"]))
            raise Crash
        return response

    runtime.slack.chat_postMessage = post  # type: ignore[method-assign]
    return landed


async def restart_lane(runtime: Runtime) -> Deliverer:
    """The dead worker's lease runs out; a fresh worker (a restarted process) takes the lane."""
    await runtime.redis.delete(runtime.keys.lease("lane:" + CASE.id))
    await runtime.redis.zadd(runtime.keys.relay_ready(), {CASE.id: 0})
    return deliverer(runtime)


async def assert_one_pinned_summary(runtime: Runtime, fake_slack: FakeSlack, ts: str) -> None:
    ch = await channels.channel_for_case(runtime, CASE.id)
    assert ch is not None
    [summary] = summaries(fake_slack, ch.id)
    assert summary.ts == ts and summary.pinned_to == [ch.id]
    record = await runtime.stores.channels.record(CASE.id)
    assert record["pin"] == ts


async def test_summary_crash_between_post_and_record_on_channel_creation_leaves_one(
    runtime: Runtime, fake_slack: FakeSlack
) -> None:
    landed = crash_after_summary_post(runtime)
    await enqueue(runtime, item(1))
    with pytest.raises(Crash):
        await deliverer(runtime).run_once("dead-worker")
    assert len(landed) == 1
    survivor = await restart_lane(runtime)
    await drain(survivor, "live-worker")
    await assert_one_pinned_summary(runtime, fake_slack, landed[0])
    # the case changes: the relay's summary op edits that message, and posts none
    changed = CASE.model_copy(update={"outstanding": "5"})
    await enqueue(runtime, Delivery(id="summary:2", case_id=CASE.id, kind="summary", op="summary",
                                    case=changed))
    await drain(survivor, "live-worker")
    await assert_one_pinned_summary(runtime, fake_slack, landed[0])
    ch = await channels.channel_for_case(runtime, CASE.id)
    assert ch is not None
    [summary] = summaries(fake_slack, ch.id)
    assert "5" in json.dumps(summary.blocks)
    assert [i for i, _ in relayed_items(fake_slack, ch.id)] == ["chat:1"]


async def test_summary_crash_between_post_and_record_in_the_summary_op_leaves_one(
    runtime: Runtime, fake_slack: FakeSlack
) -> None:
    await channel_without_summary(runtime, fake_slack)
    landed = crash_after_summary_post(runtime)
    await enqueue(runtime, Delivery(id="summary:1", case_id=CASE.id, kind="summary", op="summary", case=CASE))
    with pytest.raises(Crash):
        await deliverer(runtime).run_once("dead-worker")
    survivor = await restart_lane(runtime)
    await drain(survivor, "live-worker")  # the same summary op, worked again
    await assert_one_pinned_summary(runtime, fake_slack, landed[0])
    assert await runtime.redis.llen(runtime.keys.relay_outbox(CASE.id)) == 0


async def test_summary_pending_that_never_reached_slack_is_posted_once(
    runtime: Runtime, fake_slack: FakeSlack
) -> None:
    ch = await channel_without_summary(runtime, fake_slack)
    # a crash after the pending mark, before the post reached Slack
    await runtime.stores.channels.update(CASE.id, pin=f"pending|{time.time():.3f}", summary="")
    await enqueue(runtime, Delivery(id="summary:1", case_id=CASE.id, kind="summary", op="summary", case=CASE))
    await drain(deliverer(runtime))
    [summary] = summaries(fake_slack, ch.id)
    await assert_one_pinned_summary(runtime, fake_slack, summary.ts)


async def channel_without_summary(runtime: Runtime, fake_slack: FakeSlack) -> channels.CaseChannel:
    """The case's channel, created while the case was not active (so with no summary yet)."""
    pending = CASE.model_copy(update={"lifecycle": "Pending", "lifecycle_display": "Pending"})
    await enqueue(runtime, Delivery(id="chat:1", case_id=CASE.id, kind="chat", op="post", text="m",
                                    case=pending, version="1"))
    await drain(deliverer(runtime))
    ch = await channels.channel_for_case(runtime, CASE.id)
    assert ch is not None and summaries(fake_slack, ch.id) == []
    return ch


async def test_no_post_until_a_replica_holds_the_pending_mark(
    runtime: Runtime, fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a Redis Cluster the pending mark is written with a WAIT for a replica (write_replicated): when
    none acknowledges it, a failover could lose it after the post, so the post waits (the lane backs off),
    and the next turn posts once."""
    import bot.relay.delivery as delivery
    from bot.store.connect import write_replicated

    answers = [0]

    async def replicated(*args: Any, **kwargs: Any) -> int | None:
        await write_replicated(*args, **kwargs)  # the write itself (no replica on the test Redis)
        return answers.pop(0) if answers else 1

    monkeypatch.setattr(delivery, "write_replicated", replicated)
    d = deliverer(runtime)
    await enqueue(runtime, item(1))
    assert await d.run_once("t")
    ch = await channels.channel_for_case(runtime, CASE.id)
    assert ch is not None and relayed_items(fake_slack, ch.id) == []
    assert d.stats.retries == 1 and d.stats.posted == 0
    record = await hget(runtime.redis, runtime.keys.relayed(CASE.id), "chat:1")
    assert record is not None and record.startswith("pending|")
    await runtime.redis.zadd(runtime.keys.relay_ready(), {CASE.id: 0})  # its backoff is over
    await drain(d)
    assert [i for i, _ in relayed_items(fake_slack, ch.id)] == ["chat:1"]
    assert d.stats.posted == 1 and d.stats.repaired == 0
