"""The relay in-process against the sandbox, the fake Slack and Redis: each kind of event once."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis.asyncio as aioredis

from bot.debitura.models import CreatePaymentRequest, PaymentRecipient
from bot.relay.fetch import Fetcher
from bot.relay.scheduler import Policy, policy_from_settings
from bot.relay.store import RelayStore
from bot.runtime import Runtime
from bot.slack.channels import channel_for_case
from bot.store.reads import hgetall
from tests.fakes.slack.server import FakeSlack
from tests.fixtures.sandbox import SandboxHandle
from tests.relay.harness import (
    build_test_runtime,
    close_runtime,
    relay_settings,
    relayed_items,
    start_relay,
    stop_relay,
    wait_until,
)

pytestmark = pytest.mark.sandbox


async def baselined(redis: aioredis.Redis, prefix: str, case_id: str) -> bool:
    from bot.store.keys import Keys

    state = await hgetall(redis, Keys(prefix).case_state(case_id))
    return {"chats", "timeline"} <= set((state.get("base") or "").split(","))


@pytest.mark.slow
async def test_relay_each_event_once(sandbox: SandboxHandle, fake_slack: FakeSlack, redis: aioredis.Redis,
                                     redis_prefix: str) -> None:
    case = sandbox.case("Active", with_payments=True)
    case_id = case["id"]
    settings = relay_settings(fake_slack, sandbox.url, sandbox.api_key, redis_prefix)
    relay = await start_relay(settings)
    try:
        runtime = relay.runtime
        await wait_until(lambda: baselined(redis, redis_prefix, case_id), 30, "baseline of the case")
        # nothing from history was posted
        assert await channel_for_case(runtime, case_id) is None
        # the state hash keeps Redis' compact encoding (its long values in pieces, bot/store/pieces.py)
        assert await redis.object("encoding", runtime.keys.case_state(case_id)) == "listpack"

        chat = sandbox.control.add_chat(case_id, "Hello <!channel> & welcome", role=1)

        async def chat_posted() -> list[tuple[str, str]] | None:
            ch = await channel_for_case(runtime, case_id)
            if ch is None:
                return None
            items = relayed_items(fake_slack, ch.id)
            return items if any(i == f"chat:{chat['id']}" for i, _ in items) else None

        await wait_until(chat_posted, 30, "creditor chat in the case channel")
        ch = await channel_for_case(runtime, case_id)
        assert ch is not None and ch.name == "case-" + case["reference"].lower()
        channel = fake_slack.workspace.channels[ch.id]
        assert channel.is_private
        assert "Outstanding" in str(channel.topic)

        sandbox.control.edit_chat(case_id, chat["id"], message="Hello again, edited")
        await wait_until(lambda: _async(bool(fake_slack.journal.calls("chat.update", ok=True))), 30,
                         "chat.update")
        message = next(m for m in fake_slack.journal.messages(ch.id, bot_only=True)
                       if (m.metadata or {}).get("event_payload", {}).get("item_id") == f"chat:{chat['id']}")
        assert "edited" in str(message.blocks)

        sandbox.control.add_timeline_item(case_id, "Note", "Debtor called", "Promised to pay Friday")
        await wait_until(lambda: _async(any("Debtor called" in str(m.blocks) for m in
                                            fake_slack.journal.messages(ch.id, bot_only=True))), 60,
                         "timeline item")

        payment_id = case["paymentIds"][0]
        sandbox.control.delete_payment(case_id, payment_id)
        await runtime.debitura.create_payment(case_id, CreatePaymentRequest(
            date=dt.date.today(), payment_amount="12.34",
            payment_recipient=PaymentRecipient.CollectionPartner,
        ), idempotency_key="relay-test-payment")
        await wait_until(lambda: _async(sum(1 for i, _ in relayed_items(fake_slack, ch.id)
                                            if i.startswith(("pay:", "paydel:"))) >= 2), 60, "payments")

        sandbox.control.set_lifecycle(case_id, "Paused")
        await wait_until(lambda: _async(any(i.startswith("lc:") for i, _ in relayed_items(fake_slack,
                                                                                               ch.id))),
                         60, "lifecycle change")

        sandbox.control.set_lifecycle(case_id, "Closed", close_code="Paid", comment="done")
        await wait_until(lambda: _async(fake_slack.workspace.channels[ch.id].is_archived), 60, "archived")
        items = relayed_items(fake_slack, ch.id)
        ids = [i for i, _ in items]
        assert len(ids) == len(set(ids)), f"duplicate posts: {ids}"
        assert any(i.startswith("close:") for i in ids)
        assert fake_slack.workspace.channels[ch.id].name.endswith("-closed")
        # the chat appears once, and once only, after all of that
        assert ids.count(f"chat:{chat['id']}") == 1
    finally:
        await stop_relay(relay)


async def _async(value: object) -> object:
    return value


async def test_relay_does_not_post_back_a_chat_sent_from_caseroom(
    sandbox: SandboxHandle, fake_slack: FakeSlack, redis: aioredis.Redis, redis_prefix: str
) -> None:
    """The chat modal's message is announced by the audit line; the relay must not relay it again."""
    from blocks.parse import ChatForm
    from bot.debitura.models import Case
    from bot.services.chats import send_chat

    case = sandbox.case("Active")
    case_id = case["id"]
    settings = relay_settings(fake_slack, sandbox.url, sandbox.api_key, redis_prefix)
    relay = await start_relay(settings)
    try:
        runtime = relay.runtime
        await wait_until(lambda: baselined(redis, redis_prefix, case_id), 30, "baseline of the case")
        full_case: Case = await runtime.debitura.get_case(case_id)
        sent = await send_chat(runtime, case=full_case, form=ChatForm(text="Sent from Slack"),
                               sender_email=sandbox.user_email(), idempotency_key="relay-own-chat",
                               user_id="U0AGENT")
        creditor = sandbox.control.add_chat(case_id, "Creditor answer", role=1)

        async def creditor_posted() -> list[str] | None:
            ch = await channel_for_case(runtime, case_id)
            if ch is None:
                return None
            ids = [i for i, _ in relayed_items(fake_slack, ch.id)]
            return ids if f"chat:{creditor['id']}" in ids else None

        ids = await wait_until(creditor_posted, 30, "the creditor's chat relayed")
        assert f"chat:{sent.data['chat_id']}" not in ids
    finally:
        await stop_relay(relay)


async def test_relay_plans_with_the_pages_its_sweeps_really_read(
    sandbox: SandboxHandle, fake_slack: FakeSlack, redis: aioredis.Redis, redis_prefix: str
) -> None:
    """Incremental sweeps record what they read; the polling plan pays for it (budget not overrun)."""
    from bot.relay.scheduler import SWEEP_PAGES_FIELD, pages_average
    from bot.store.keys import Keys

    settings = relay_settings(fake_slack, sandbox.url, sandbox.api_key, redis_prefix)
    relay = await start_relay(settings)
    try:
        sweep_key = Keys(redis_prefix).relay_sweep()

        async def recorded() -> str | None:
            value = await redis.hget(sweep_key, SWEEP_PAGES_FIELD)
            return str(value) if value else None

        raw = await wait_until(recorded, 30, "an incremental sweep's page count")
        assert float(raw) >= 1.0
        await redis.hset(sweep_key, SWEEP_PAGES_FIELD, "4.0")
        policy = await relay.refresh_policy()
        # 4.0 as written, or a little less if a one-page sweep ran in between (0.8 x 4 + 0.2 x 1)
        assert 3.0 <= policy.incremental_pages <= pages_average("4.0") == 4.0
        assert policy.sweep_cost_per_day > policy.__class__(
            cases=policy.cases, active=policy.active, daily_budget=policy.daily_budget,
            max_staleness=policy.max_staleness, min_interval=policy.min_interval,
            sweep_interval=policy.sweep_interval).sweep_cost_per_day
    finally:
        await stop_relay(relay)


@dataclass
class FetchRig:
    runtime: Runtime
    store: RelayStore
    fetcher: Fetcher
    policy: Policy


@contextlib.asynccontextmanager
async def fetch_rig(sandbox: SandboxHandle, fake_slack: FakeSlack, redis_prefix: str, *, cases: int,
                    **policy_changes: Any) -> AsyncIterator[FetchRig]:
    """One Fetcher against the sandbox and Redis, with a fixed polling plan for `cases` cases."""
    settings = relay_settings(fake_slack, sandbox.url, sandbox.api_key, redis_prefix)
    runtime = await build_test_runtime(settings)
    try:
        store = RelayStore(runtime.redis, runtime.keys)
        policy = dataclasses.replace(policy_from_settings(settings, cases=cases), **policy_changes)
        yield FetchRig(runtime, store, Fetcher(runtime, store, lambda: policy, lease_ms=5000), policy)
    finally:
        await close_runtime(runtime)


async def checked_case(sandbox: SandboxHandle, rig: FetchRig) -> str:
    """An active case of the sandbox, watched and checked once by the rig's fetcher."""
    import time

    case_id: str = sandbox.case("Active")["id"]
    await rig.store.watch([case_id], [time.time() - 1])
    assert await rig.fetcher.run_once("first-check")
    return case_id


async def test_fetches_outside_the_plan_are_counted(sandbox: SandboxHandle, fake_slack: FakeSlack,
                                                    redis: aioredis.Redis, redis_prefix: str) -> None:
    """A due poll's chats + timeline are the plan; a case read, a payment baseline and a fetch a
    webhook asked for are not, and are counted for the plan to pay for (Policy.extra_per_day)."""
    import time

    from bot.relay.store import EXTRA_SINCE
    from bot.store.cases import Want

    async with fetch_rig(sandbox, fake_slack, redis_prefix, cases=1) as rig:
        runtime, store, fetcher, policy = rig.runtime, rig.store, rig.fetcher, rig.policy
        case_id = sandbox.case("Active", with_payments=True)["id"]
        keys = runtime.keys

        async def extra() -> int:
            return await store.extra_requests(time.time(), policy.day)

        # counting for a day already (the first day's extrapolation: tests/relay/test_store.py)
        await redis.hset(keys.relay_extra(), EXTRA_SINCE, f"{time.time() - policy.day:.3f}")
        # first check of a case nobody listed yet: GET case + payments baseline outside the plan
        await store.watch([case_id], [time.time() - 1])
        assert await fetcher.run_once("t1")
        assert fetcher.stats.requests == 4 and await extra() == 2
        # a webhook asks for the chats: one request, all of it outside the plan (the poll stays due later)
        await store.request_fetch(case_id, int(Want.CHATS), time.time(), source="webhook")
        assert await fetcher.run_once("t2")
        assert fetcher.stats.requests == 5 and await extra() == 3
        # the next due poll: chats + timeline, inside the plan
        await redis.hset(keys.case_state(case_id), "next", f"{time.time() - 1:.3f}")
        await redis.zadd(keys.schedule(), {case_id: time.time() - 1})
        assert await fetcher.run_once("t3")
        assert fetcher.stats.requests == 7 and await extra() == 3


async def test_a_requested_fetch_refused_by_a_429_is_not_counted_and_stays_requested(
    sandbox: SandboxHandle, fake_slack: FakeSlack, redis: aioredis.Redis, redis_prefix: str
) -> None:
    """Refused requests cost nothing (the plan is not charged), and the webhook's fetch waits out the
    Retry-After among the requested fetches (its lease kept), not in the paced queue of polls."""
    import time

    from bot.relay.store import EXTRA_SINCE
    from bot.store.cases import URGENT_OFFSET, Want

    async with fetch_rig(sandbox, fake_slack, redis_prefix, cases=1) as rig:
        runtime, store, fetcher, policy = rig.runtime, rig.store, rig.fetcher, rig.policy
        keys = runtime.keys

        async def extra() -> int:
            return await store.extra_requests(time.time(), policy.day)

        await redis.hset(keys.relay_extra(), EXTRA_SINCE, f"{time.time() - policy.day:.3f}")
        case_id = await checked_case(sandbox, rig)
        before, made = await extra(), fetcher.stats.requests
        sandbox.control.add_fault(f"/cases/{case_id}/chats*", rate_limit_rate=1.0, retry_after=2, times=20)
        await store.request_fetch(case_id, int(Want.CHATS), time.time(), source="webhook")
        assert await fetcher.run_once("t2")  # refused with 429s
        assert sandbox.control.faults()[0]["hits"] >= 1
        assert await extra() == before and fetcher.stats.requests == made
        score = await redis.zscore(keys.schedule(), case_id)
        assert score is not None and score < time.time() - URGENT_OFFSET / 2  # still requested
        assert await redis.pttl(keys.lease("fetch:" + case_id)) > 500  # not before the Retry-After
        assert not await fetcher.run_once("t3")  # nobody takes it sooner, nor as a poll
        sandbox.control.clear_faults()
        await asyncio.sleep(await redis.pttl(keys.lease("fetch:" + case_id)) / 1000 + 0.05)
        assert await fetcher.run_once("t4")  # then it is fetched, and counted
        assert await extra() == before + 1
        assert not await redis.zrangebyscore(keys.schedule(), "-inf", time.time() - URGENT_OFFSET / 2)


async def test_webhooks_for_one_case_within_the_spacing_share_one_fetch(
    sandbox: SandboxHandle, fake_slack: FakeSlack, redis: aioredis.Redis, redis_prefix: str
) -> None:
    """The first webhook of a quiet case is fetched at once; the ones that follow within
    WEBHOOK_SPACING wait for it to pass (among the requested fetches) and share one fetch."""
    import time

    from bot.relay.fetch import WEBHOOK_SPACING
    from bot.store.cases import URGENT_OFFSET, Want

    async with fetch_rig(sandbox, fake_slack, redis_prefix, cases=1) as rig:
        store, fetcher, keys = rig.store, rig.fetcher, rig.runtime.keys
        case_id = await checked_case(sandbox, rig)
        await store.request_fetch(case_id, int(Want.CHATS), time.time(), source="webhook")
        made = fetcher.stats.requests
        assert await fetcher.run_once("t2")  # at once
        assert fetcher.stats.requests == made + 1
        for n in range(3):  # a burst right after
            await store.request_fetch(case_id, int(Want.CHATS), time.time(), source="webhook")
            await fetcher.run_once(f"burst{n}")
        assert fetcher.stats.requests == made + 1  # put off, not fetched
        left = await redis.pttl(keys.lease("fetch:" + case_id))
        assert 0 < left <= WEBHOOK_SPACING * 1000
        score = await redis.zscore(keys.schedule(), case_id)
        assert score is not None and score < time.time() - URGENT_OFFSET / 2
        await asyncio.sleep(left / 1000 + 0.05)
        assert await fetcher.run_once("t3")
        assert fetcher.stats.requests == made + 2  # the burst shared one fetch
        assert not await redis.zrangebyscore(keys.schedule(), "-inf", time.time() - URGENT_OFFSET / 2)


async def test_a_state_stored_whole_is_rewritten_compact_by_its_next_fetch(
    sandbox: SandboxHandle, fake_slack: FakeSlack, redis: aioredis.Redis, redis_prefix: str
) -> None:
    """A state an older Caseroom wrote with whole values has Redis' larger encoding, which Redis never
    gives up by itself: the next fetch rewrites it in pieces, keeping every field."""
    import time

    from bot.store.cases import PIECED, CaseState
    from bot.store.pieces import gather

    async with fetch_rig(sandbox, fake_slack, redis_prefix, cases=1) as rig:
        fetcher, keys = rig.fetcher, rig.runtime.keys
        case_id = await checked_case(sandbox, rig)
        key = keys.case_state(case_id)
        stored = CaseState.from_hash(await hgetall(redis, key))
        old = gather(await hgetall(redis, key), PIECED)  # whole values, as stored before the pieces
        await redis.delete(key)
        await redis.hset(key, mapping={**old, "err": "2", "fs": "123.000"})  # type: ignore[arg-type]  # redis-py's mapping type is invariant
        assert await redis.object("encoding", key) == "hashtable"
        await redis.zadd(keys.schedule(), {case_id: time.time() - 1})
        await redis.hset(key, "next", f"{time.time() - 1:.3f}")
        assert await fetcher.run_once("t2")
        assert await redis.object("encoding", key) == "listpack"
        raw = await hgetall(redis, key)
        after = CaseState.from_hash(raw)
        assert after.case == stored.case and after.baselined == stored.baselined
        assert after.first_seen == 123.0 and "err" not in raw  # kept what the fetch does not write


async def test_a_webhook_during_the_fetch_of_its_case_gets_a_fetch_of_its_own(
    sandbox: SandboxHandle, fake_slack: FakeSlack, redis: aioredis.Redis, redis_prefix: str
) -> None:
    """A chat that arrives while its case's chats are being read may be missing from that read: its
    webhook leaves the case asked for, so it is fetched again (not left to the next poll)."""
    import time

    from bot.store.cases import URGENT_OFFSET, Want

    async with fetch_rig(sandbox, fake_slack, redis_prefix, cases=1) as rig:
        store, fetcher, keys = rig.store, rig.fetcher, rig.runtime.keys
        case_id = await checked_case(sandbox, rig)
        await store.request_fetch(case_id, int(Want.CHATS), time.time(), source="webhook")
        sandbox.control.add_fault(f"/cases/{case_id}/chats*", latency_ms=400, times=1)
        fetching = asyncio.create_task(fetcher.run_once("t2"))
        await asyncio.sleep(0.2)  # the chats are being read
        await store.request_fetch(case_id, int(Want.CHATS), time.time(), source="webhook")
        assert await fetching
        assert int(await redis.hget(keys.case_state(case_id), "want") or 0) & Want.CHATS
        assert await redis.hget(keys.case_state(case_id), "src") == "webhook"
        score = await redis.zscore(keys.schedule(), case_id)
        assert score is not None and score < time.time() - URGENT_OFFSET / 2
        await asyncio.sleep(2.1)  # WEBHOOK_SPACING
        assert await fetcher.run_once("t3")  # fetched again; nothing more asked for since
        assert int(await redis.hget(keys.case_state(case_id), "want") or 0) == 0
        assert not await redis.zrangebyscore(keys.schedule(), "-inf", time.time() - URGENT_OFFSET / 2)


async def test_a_polls_first_worker_takes_a_due_poll_before_requested_fetches(
    sandbox: SandboxHandle, fake_slack: FakeSlack, redis: aioredis.Redis, redis_prefix: str
) -> None:
    """A flood of webhook fetches keeps every worker busy; the one worker per process that takes due
    polls first (paced) keeps the polling plan, so no case's gap between checks grows with the flood."""
    import time

    from bot.store.cases import Want

    async with fetch_rig(sandbox, fake_slack, redis_prefix, cases=3) as rig:
        store, fetcher, keys = rig.store, rig.fetcher, rig.runtime.keys
        polled, *requested = [c["id"] for c in sandbox.cases(lifecycle="Active")[:3]]
        now = time.time()
        await store.watch([polled, *requested], [now - 10, now + 3600, now + 3600])
        assert await fetcher.run_once("t0")  # the due first check of `polled`
        first = float(await redis.hget(keys.case_state(polled), "chk") or 0)
        assert first
        await redis.hset(keys.case_state(polled), "next", f"{time.time() - 1:.3f}")
        await redis.zadd(keys.schedule(), {polled: time.time() - 1})  # its next poll is due
        for case_id in requested:  # webhooks ask for the others: urgent, ahead of every poll
            await store.request_fetch(case_id, int(Want.CHATS), time.time(), source="webhook")

        async def checked() -> float:
            return float(await redis.hget(keys.case_state(polled), "chk") or 0)

        assert await fetcher.run_once("t1")  # an ordinary worker: a requested fetch first
        assert await checked() == first
        assert await fetcher.run_once("t2", polls_first=True)  # the due poll, though one is requested
        assert await checked() > first
        urgent = await redis.zrangebyscore(keys.schedule(), "-inf", time.time() - 1e8)
        assert len(urgent) == 1  # still waiting for an ordinary worker (or this one, when no poll is due)
        assert await fetcher.run_once("t3", polls_first=True)
        assert not await redis.zrangebyscore(keys.schedule(), "-inf", time.time() - 1e8)


async def test_full_sweep_once_per_quiet_interval(fake_slack: FakeSlack, redis: aioredis.Redis,
                                                  redis_prefix: str) -> None:
    """Out of reach, the full listing runs once per bound (not every CASEROOM_MAX_STALENESS)."""
    from bot.relay.sweep import Sweeper

    settings = relay_settings(fake_slack, "http://127.0.0.1:9", "key", redis_prefix,
                              caseroom_max_staleness=3600, caseroom_relay_sweep_interval=120,
                              caseroom_rate_per_day=100_000, caseroom_rate_per_hour=20_000,
                              caseroom_rate_per_minute=2_000)
    runtime = await build_test_runtime(settings)
    now = 1_800_000_000.0
    try:
        small = policy_from_settings(settings, cases=100)
        large = dataclasses.replace(small, cases=10_000)
        assert not small.out_of_reach and large.out_of_reach
        current = {"policy": small}
        sweeper = Sweeper(runtime, RelayStore(redis, runtime.keys), lambda: current["policy"],
                          clock=lambda: now)
        assert await sweeper.due() == "full"  # never swept
        await redis.hset(runtime.keys.relay_sweep(),
                         mapping={"full": f"{now - 3700:.3f}", "inc": f"{now:.3f}"})
        assert await sweeper.due() == "full"  # within reach: every max staleness
        current["policy"] = large
        assert await sweeper.due() is None  # out of reach: not before the bound (~8 h)
        await redis.hset(runtime.keys.relay_sweep(), "full", f"{now - large.quiet_interval - 1:.3f}")
        assert await sweeper.due() == "full"
    finally:
        await close_runtime(runtime)


async def test_a_future_dated_case_does_not_poison_the_sweep_watermark(
    fake_slack: FakeSlack, redis: aioredis.Redis, redis_prefix: str
) -> None:
    """A case whose dateUpdated lies in the future (a skewed clock, bad data) sorts first forever; the
    watermark stays at the sweep's start, so later sweeps still read past page one to every change."""
    import datetime as dt
    from types import SimpleNamespace

    from bot.debitura.models import CasePage
    from bot.relay.scheduler import FULL_PAGES_FIELD
    from bot.relay.sweep import Sweeper
    from bot.store.cases import Want

    settings = relay_settings(fake_slack, "http://127.0.0.1:9", "key", redis_prefix)
    runtime = await build_test_runtime(settings)
    now = 1_800_000_000.0

    def iso(t: float) -> str:
        return dt.datetime.fromtimestamp(t, dt.UTC).isoformat().replace("+00:00", "Z")

    listing = [{"id": "future", "lifecycle": "Active", "dateUpdated": iso(now + 86400)}]
    listing += [{"id": f"c{i}", "lifecycle": "Active", "dateUpdated": iso(now - 10 - i)} for i in range(150)]
    reads: list[int] = []

    class Client:
        async def list_cases(self, *, page: int, page_size: int, sort: str, include_test_cases: bool = False
                         ) -> CasePage:
            reads.append(page)
            ordered = sorted(listing, key=lambda c: c["dateUpdated"], reverse=True)
            chunk = ordered[(page - 1) * page_size: page * page_size]
            total = (len(ordered) + page_size - 1) // page_size
            envelope = {"currentPage": page, "totalPages": total}
            return CasePage.model_validate({"cases": chunk, "page": envelope})

        async def end_listing(self, end: object) -> None:
            """How the listing ended (bot.debitura.client.DebituraClient.end_listing); not looked at here."""

    try:
        fake_runtime = SimpleNamespace(settings=settings, debitura_background=Client())
        store = RelayStore(redis, runtime.keys)
        policy = policy_from_settings(settings, cases=151)
        clock = {"now": now}
        sweeper = Sweeper(fake_runtime, store, lambda: policy, clock=lambda: clock["now"])  # type: ignore[arg-type]
        await sweeper.run("full")
        wm = float(await redis.hget(runtime.keys.relay_sweep(), "wm") or 0)
        assert wm <= now
        # what the full listing cost is recorded for the plan (Policy.full_pages)
        assert await redis.hget(runtime.keys.relay_sweep(), FULL_PAGES_FIELD) == "2"
        assert sweeper.stats.first_sight == 151
        # a second full listing with nothing changed asks for no fetch
        await sweeper.run("full")
        assert sweeper.stats.changed == 0 and sweeper.stats.first_sight == 151
        # 120 cases change in the next two minutes (and end up below the future-dated one)
        clock["now"] = now + 120
        for i in range(120):
            listing[1 + i]["dateUpdated"] = iso(now + 100 - i * 0.1)
        reads.clear()
        await sweeper.run("incremental")
        assert reads == [1, 2], "a second page is read: the changes do not fit on the first"
        requested = [str(m) for m in await redis.zrangebyscore(runtime.keys.schedule(), "-inf", now - 1e8)]
        assert len(requested) == 120
        state = await redis.hget(runtime.keys.case_state("c119"), "want")
        assert state is not None and int(state) & int(Want.POLL)
    finally:
        await close_runtime(runtime)


async def test_out_of_reach_payments_are_read_when_they_change(
    sandbox: SandboxHandle, fake_slack: FakeSlack, redis: aioredis.Redis, redis_prefix: str
) -> None:
    """When the budget cannot hold the max staleness, a first check skips the payments baseline; the
    first payment change reads them, posts the payment created since first sight and nothing older."""
    import json
    import time

    from bot.store.cases import Want

    async with fetch_rig(sandbox, fake_slack, redis_prefix, cases=5_000_000) as rig:
        runtime, store, fetcher = rig.runtime, rig.store, rig.fetcher
        assert rig.policy.out_of_reach and not rig.policy.eager_payment_baselines
        case = sandbox.case("Active", with_payments=True)
        case_id = case["id"]
        await store.watch([case_id], [time.time() - 1])
        assert await fetcher.run_once("t1")
        assert fetcher.stats.requests == 3  # case, chats, timeline: no payments
        state = await hgetall(redis, runtime.keys.case_state(case_id))
        assert "payments" not in state["base"].split(",")

        created = await runtime.debitura.create_payment(case_id, CreatePaymentRequest(
            date=dt.date.today(), payment_amount="7.77", payment_recipient=PaymentRecipient.CollectionPartner,
        ), idempotency_key="lazy-baseline-payment")
        await store.request_fetch(case_id, int(Want.CASE | Want.PAYMENTS), time.time(), source="webhook")
        assert await fetcher.run_once("t2")
        queued = [json.loads(x) for x in await redis.lrange(runtime.keys.relay_outbox(case_id), 0, -1)]
        payments = [d["id"] for d in queued if d["kind"].startswith("payment")]
        assert payments == [f"pay:{created.payment_id}"], payments
        state = await hgetall(redis, runtime.keys.case_state(case_id))
        assert "payments" in state["base"].split(",")


async def test_due_polls_wait_for_the_pacer_requested_fetches_do_not(
    sandbox: SandboxHandle, fake_slack: FakeSlack, redis: aioredis.Redis, redis_prefix: str
) -> None:
    """A schedule running ahead of the plan's poll rate is held back by the shared pacer; a fetch a
    webhook asked for goes at once."""
    import time

    from bot.store.cases import Want

    # a budget of about 4 polls a day for 3 cases: two go (the burst), the third waits
    async with fetch_rig(sandbox, fake_slack, redis_prefix, cases=3, daily_budget=8,
                         sweep_interval=1e12) as rig:
        runtime, store, fetcher = rig.runtime, rig.store, rig.fetcher
        assert rig.policy.poll_burst == 2.0 and rig.policy.poll_rate < 1e-4
        ids = [c["id"] for c in sandbox.cases("Active")[:3]]
        await store.watch(ids, [time.time() - 1] * 3)
        assert await fetcher.run_once("t1") and await fetcher.run_once("t2")
        assert not await fetcher.run_once("t3") and fetcher.stats.paced == 1
        assert await redis.zcount(runtime.keys.schedule(), "-inf", time.time()) == 1  # still due, not lost
        # a webhook's fetch of any case is not paced
        await store.request_fetch(ids[0], int(Want.CHATS), time.time(), source="webhook")
        assert await fetcher.run_once("t4")
        assert fetcher.stats.fetches == 3 and fetcher.stats.paced == 1


async def test_a_late_poll_keeps_its_place_in_the_cycle(sandbox: SandboxHandle, fake_slack: FakeSlack,
                                                        redis: aioredis.Redis, redis_prefix: str) -> None:
    """A poll that started late is next due one interval after it was due (so the due times stay the
    planned spread); one far behind (an outage) is next due at most 5 % of an interval early."""
    import time

    from bot.relay.scheduler import PACER_HEADROOM

    async with fetch_rig(sandbox, fake_slack, redis_prefix, cases=2) as rig:
        interval = rig.policy.quiet_poll_interval
        ids = [c["id"] for c in sandbox.cases("Active")[:2]]
        slightly, far = time.time() - 0.03 * interval, time.time() - 10 * interval
        await rig.store.watch(ids, [slightly, far])
        for case_id, due in ((ids[0], slightly), (ids[1], far)):
            await redis.hset(rig.runtime.keys.case_state(case_id), "next", f"{due:.3f}")
        before = time.time()
        assert await rig.fetcher.run_once("t1") and await rig.fetcher.run_once("t2")
        after = time.time()

        async def next_due(case_id: str) -> float:
            return float(await redis.hget(rig.runtime.keys.case_state(case_id), "next"))

        jitter = 0.01 * interval + 0.01  # +-1 %; rescheduled from the poll it would be 3 % later
        assert abs(await next_due(ids[0]) - (slightly + interval)) <= jitter
        earliest = interval * (1 - PACER_HEADROOM)
        assert before + earliest - jitter <= await next_due(ids[1]) <= after + earliest + jitter


async def test_workers_racing_for_one_due_poll_spend_one_slot(
    sandbox: SandboxHandle, fake_slack: FakeSlack, redis: aioredis.Redis, redis_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Eight idle workers see the one due case at once: one polls it, the others give their slot
    back, so the pace is spent on polls and not on races."""
    import asyncio
    import time

    async with fetch_rig(sandbox, fake_slack, redis_prefix, cases=1, daily_budget=40_000,
                         sweep_interval=1e12) as rig:
        runtime, store, fetcher, policy = rig.runtime, rig.store, rig.fetcher, rig.policy
        assert policy.poll_burst >= 8
        case_id = sandbox.case("Active")["id"]
        await store.watch([case_id], [time.time() - 1])
        # all eight see the case due before any of them claims it
        barrier = asyncio.Barrier(8)
        real_next_due = store.next_due

        async def next_due_together(zset: str, now: float) -> float | None:
            due = await real_next_due(zset, now)
            await barrier.wait()
            return due

        monkeypatch.setattr(store, "next_due", next_due_together)
        results = await asyncio.gather(*(fetcher.run_once(f"w{i}") for i in range(8)))
        assert sum(results) == 1
        tokens = float(await redis.hget(runtime.keys.relay_poll_pace(), "t") or 0)
        assert tokens >= policy.poll_burst - 1 - 1e-6


async def test_a_case_debitura_does_not_give_us_is_unwatched_and_an_unknown_one_leaves_nothing(
    sandbox: SandboxHandle, fake_slack: FakeSlack, redis: aioredis.Redis, redis_prefix: str
) -> None:
    """404 for a case the relay had read: unwatched, its state kept and marked gone. 404 for an id it
    never read (a webhook naming another partner's case): unwatched and no state left behind."""
    import time

    from bot.store.cases import Want

    async with fetch_rig(sandbox, fake_slack, redis_prefix, cases=2) as rig:
        store, fetcher, keys = rig.store, rig.fetcher, rig.runtime.keys
        known = sandbox.case("Active")["id"]
        await store.watch([known], [time.time() - 1])
        assert await fetcher.run_once("t1")
        assert await redis.hexists(keys.case_state(known), "case")
        sandbox.control.set_lifecycle(known, "PendingVerificationInternal")  # hidden: 404 for us now
        await store.request_fetch(known, int(Want.CASE), time.time(), source="webhook")
        assert await fetcher.run_once("t2")
        state = await hgetall(redis, keys.case_state(known))
        assert state["gone"] == "1" and state["want"] == "0" and "case" in state
        assert await redis.zscore(keys.schedule(), known) is None

        foreign = sandbox.case(ours=False, visible=None)["id"]
        await store.request_fetch(foreign, int(Want.CHATS), time.time(), source="webhook")
        assert await redis.exists(keys.case_state(foreign))
        assert await fetcher.run_once("t3")
        assert not await redis.exists(keys.case_state(foreign))
        assert await redis.zscore(keys.schedule(), foreign) is None
