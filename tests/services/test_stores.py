"""The stores are a seam: services run on in-memory twins without Redis, and each twin behaves like
its Redis store for the same calls."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from slack_sdk.web.async_client import AsyncWebClient

from bot.services import audit, casework
from bot.slack.channels import channel_for_case
from bot.store.audit import AuditStore, MemoryAudit
from bot.store.cases import CaseStateStore, MemoryCaseStates, Want, chat_field
from bot.store.channels import ChannelStore, MemoryChannels
from bot.store.follows import FollowStore, MemoryFollows
from bot.store.keys import Keys
from bot.store.reads import hgetall
from bot.store.stores import Stores
from tests.blocks.factories import make_case
from tests.fakes.slack.server import FakeSlack
from tests.services.helpers import make_runtime


def no_redis() -> aioredis.Redis:
    """A client for a port nothing listens on: any Redis call fails."""
    return aioredis.Redis(host="127.0.0.1", port=1, decode_responses=True, socket_connect_timeout=0.2)


async def test_audit_runs_on_in_memory_stores(fake_slack: FakeSlack, slack_client: AsyncWebClient) -> None:
    ws = fake_slack.workspace
    channel = ws.add_channel("case-q8oaxf3w", is_private=True, members=[ws.BOT_USER_ID])
    runtime = make_runtime(redis=no_redis(), keys=Keys("t:"), slack=slack_client)
    stores = runtime.stores = Stores.in_memory()
    await stores.channels.save("case-1", channel.id, name=channel.name, base=channel.name, archived=False)

    entry_id = await audit.record_write(runtime, user_id="U1", action="note", case_id="case-1",
                                        case_reference="Q8OAXF3W", summary="text", result=None)

    assert entry_id == "1-0"
    assert isinstance(stores.audit, MemoryAudit)
    assert [e["action"] for e in await audit.recent_entries(runtime)] == ["note"]
    posted = fake_slack.journal.messages(channel.id, bot_only=True)
    assert [m.text for m in posted] == ["<@U1> added a note on Q8OAXF3W."]
    await runtime.redis.aclose()


async def test_follow_and_unfollow_run_on_in_memory_stores(fake_slack: FakeSlack,
                                                           slack_client: AsyncWebClient) -> None:
    runtime = make_runtime(redis=no_redis(), keys=Keys("t:"), slack=slack_client)
    stores = runtime.stores = Stores.in_memory()
    case = make_case()
    user = fake_slack.workspace.add_user("agent")

    await casework.follow_case(runtime, case, user_id=user.id)

    channel = await channel_for_case(runtime, case.id)
    assert channel is not None and fake_slack.workspace.channels[channel.id].name == channel.name
    assert isinstance(stores.follows, MemoryFollows) and isinstance(stores.cases, MemoryCaseStates)
    assert await stores.follows.is_followed(case.id)
    assert stores.cases.fetches == [(case.id, int(Want.CASE | Want.POLL), "")]
    assert (await stores.cases.load(case.id)).first_seen > 0

    await casework.unfollow_case(runtime, case)
    assert not await stores.follows.is_followed(case.id)
    assert stores.follows.unfollowed == {case.id}
    await runtime.redis.aclose()


async def test_channel_store_and_its_twin_agree(redis: aioredis.Redis, keys: Keys) -> None:
    async def run(store: Any) -> list[Any]:
        out: list[Any] = [await store.record("c1")]
        await store.save("c1", "C1", name="case-r1", base="case-r1", archived=False)
        await store.update("c1", topic="Debtor | 10 EUR", assignee="a@x.test")
        out += [await store.record("c1"), await store.case_for_channel("C1"),
                await store.channel_named("case-r1"), await store.field("c1", "topic"),
                await store.field("c1", "nope")]
        await store.update("c1", archived="1", name="case-r1-closed")
        out.append(await store.record("c1"))
        await store.forget("c1", "C1")
        out += [await store.record("c1"), await store.case_for_channel("C1"),
                await store.channel_named("case-r1")]
        return out

    assert await run(ChannelStore(redis, keys)) == await run(MemoryChannels())


async def test_follow_and_case_state_stores_and_their_twins_agree(redis: aioredis.Redis, keys: Keys) -> None:
    async def run(follows: Any, cases: Any) -> list[Any]:
        out: list[Any] = [await follows.is_followed("c1"), await follows.unfollow("c1"),
                          await follows.unfollow("c1")]
        await follows.follow("c1")
        out.append(await follows.is_followed("c1"))
        await cases.first_seen("c1", 1.0)  # kept: follow already set it
        await cases.request_fetch("c1", int(Want.PAYMENTS), 5.0, source="webhook")
        state = await cases.load("c1")
        out += [state.first_seen > 1.0, await follows.unfollow("c1"), await follows.is_followed("c1")]
        await cases.mark_chat_sent("c1", "chat-1", "12.000")
        await cases.mark_chat_sent("c1", "chat-1", "99.000")  # first mark wins
        return out

    redis_cases = CaseStateStore(redis, keys)
    memory_cases = MemoryCaseStates()
    assert await run(FollowStore(redis, keys, redis_cases), redis_cases) == await run(
        MemoryFollows(memory_cases), memory_cases)
    raw = await hgetall(redis, keys.case_state("c1"))
    assert raw["want"] == memory_cases.state["c1"]["want"] == str(int(Want.CASE | Want.POLL | Want.PAYMENTS))
    assert raw["src"] == memory_cases.state["c1"]["src"] == "webhook"
    seen = await hgetall(redis, keys.relay_seen("c1"))
    assert seen == memory_cases.seen["c1"] == {chat_field("chat-1"): "12.000|0"}


async def test_audit_store_and_its_twin_agree(redis: aioredis.Redis, keys: Keys) -> None:
    async def run(store: Any) -> list[list[str]]:
        for n in range(3):
            await store.append({"action": f"a{n}", "user": "U1"})
        return [[e["action"] for e in await store.recent(count)] for count in (2, 10)]

    expected = [["a2", "a1"], ["a2", "a1", "a0"]]
    assert await run(AuditStore(redis, keys)) == await run(MemoryAudit()) == expected


async def test_send_chat_marks_the_chat_for_the_relay_in_the_case_state_store(
    fake_slack: FakeSlack, slack_client: AsyncWebClient
) -> None:
    import httpx

    from blocks.parse import ChatForm
    from bot.services import chats

    case = make_case()

    def debitura(request: httpx.Request) -> httpx.Response:
        assert request.method == "POST" and request.url.path.endswith(f"/{case.id}/chats")
        return httpx.Response(200, json={"id": "chat-9", "dateCreated": "2026-01-02T03:04:05.250Z",
                                         "role": 1, "message": "Hello"})

    runtime = make_runtime(redis=no_redis(), keys=Keys("t:"), slack=slack_client, handler=debitura)
    stores = runtime.stores = Stores.in_memory()
    result = await chats.send_chat(runtime, case=case, form=ChatForm(text="Hello"), sender_email="a@x.test",
                                   idempotency_key="k1", user_id="U1")

    assert result.ok and result.data == {"chat_id": "chat-9"}
    assert isinstance(stores.cases, MemoryCaseStates) and isinstance(stores.audit, MemoryAudit)
    assert stores.cases.seen[case.id] == {chat_field("chat-9"): "1767323045.250|0"}
    assert [e["action"] for e in stores.audit.entries] == ["chat"]
    await runtime.redis.aclose()


async def test_sharing_store_and_its_twin_agree(redis: aioredis.Redis, keys: Keys) -> None:
    from bot.store.sharing import MemorySharing, SharingStore

    async def run(store: Any) -> list[str | None]:
        out = [await store.known("C1")]
        await store.remember("C1", "internal")
        out.append(await store.known("C1"))
        await store.remember("C1", "external")
        out.append(await store.known("C1"))
        await store.forget("C1")
        out.append(await store.known("C1"))
        return out

    assert await run(SharingStore(redis, keys)) == await run(MemorySharing()) == [
        None, "internal", "external", None]


async def test_identity_store_and_its_twin_agree(redis: aioredis.Redis, keys: Keys) -> None:
    from bot.store.identity import IdentityStore, MemoryIdentity

    async def run(store: Any) -> list[Any]:
        out: list[Any] = [await store.slack_user("U1"), await store.bot_team(),
                          await store.team_member("a@x"), await store.usergroup("S1")]
        await store.save_slack_user("U1", '{"id":"U1"}')
        await store.save_bot_team('{"team_id":"T1"}')
        await store.replace_team({"a@x": '{"email":"a@x"}', "b@x": "{}"}, 12.5)
        await store.replace_team({"a@x": '{"email":"a@x"}'}, 13.5)  # b@x left the team
        await store.save_usergroup("S1", '["U1"]')
        out += [await store.slack_user("U1"), await store.bot_team(), await store.team_member("a@x"),
                await store.team_member("b@x"), await store.usergroup("S1")]
        await store.forget_slack_user("U1")
        out.append(await store.slack_user("U1"))
        return out

    assert await run(IdentityStore(redis, keys)) == await run(MemoryIdentity())


async def test_check_user_runs_on_in_memory_stores(fake_slack: FakeSlack,
                                                   slack_client: AsyncWebClient) -> None:
    from bot.services import identity
    from bot.store.identity import MemoryIdentity

    runtime = make_runtime(redis=no_redis(), keys=Keys("t:"), slack=slack_client)
    stores = runtime.stores = Stores.in_memory()
    user = fake_slack.workspace.add_user("agent")

    assert (await identity.check_user(runtime, user.id)).id == user.id
    assert isinstance(stores.identity, MemoryIdentity)
    assert user.id in stores.identity.users and stores.identity.team is not None
    await identity.forget_user(runtime, user.id)
    assert user.id not in stores.identity.users
    await runtime.redis.aclose()


async def test_write_outcome_store_and_its_twin_agree(redis: aioredis.Redis, keys: Keys) -> None:
    from bot.store.outcomes import MemoryWriteOutcomes, WriteOutcomeStore

    async def run(store: Any) -> list[Any]:
        seen: list[Any] = [await store.claim("k", "pending:a", 60), await store.claim("k", "pending:b", 60),
                           await store.current("k")]
        await store.release("k", "pending:b")  # not ours: kept
        seen.append(await store.current("k"))
        await store.release("k", "pending:a")
        seen.append(await store.current("k"))
        await store.claim("k", "pending:c", 60)
        await store.record("k", '{"ok":true}', 600)
        seen += [await store.current("k"), await store.claim("k", "pending:d", 60)]
        await store.forget("k")
        seen.append(await store.current("k"))
        return seen

    expected = [True, False, "pending:a", "pending:a", None, '{"ok":true}', False, None]
    assert await run(WriteOutcomeStore(redis, keys)) == await run(MemoryWriteOutcomes()) == expected


async def test_a_write_runs_once_on_in_memory_stores(slack_client: AsyncWebClient) -> None:
    from bot.services.writes import WriteResult, run_once

    runtime = make_runtime(redis=no_redis(), keys=Keys("t:"), slack=slack_client)
    runtime.stores = Stores.in_memory()
    calls: list[int] = []

    async def operation() -> WriteResult:
        calls.append(1)
        return WriteResult(ok=True, text="recorded")

    first = await run_once(runtime, "caseroom-note-abc", operation)
    again = await run_once(runtime, "caseroom-note-abc", operation)
    assert (first.replayed, again.replayed, again.text, len(calls)) == (False, True, "recorded", 1)
