"""Rate limits per method tier and chat.postMessage per channel, per workspace; injected faults."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack.server import FakeSlack
from tests.fakeslack.helpers import error_code, slack_error

pytestmark = pytest.mark.fakeslack

Call = Callable[[AsyncWebClient, FakeSlack], Awaitable[Any]]


def tier_calls() -> list[tuple[str, int, Call]]:
    async def connections_open(c: AsyncWebClient, f: FakeSlack) -> Any:
        return await c.apps_connections_open(app_token=f.app_token)

    async def set_topic(c: AsyncWebClient, f: FakeSlack) -> Any:
        general = f.workspace.channel_by_name("general")
        assert general is not None
        return await c.conversations_setTopic(channel=general.id, topic="t")

    async def history(c: AsyncWebClient, f: FakeSlack) -> Any:
        general = f.workspace.channel_by_name("general")
        assert general is not None
        return await c.conversations_history(channel=general.id)

    async def users_info(c: AsyncWebClient, f: FakeSlack) -> Any:
        return await c.users_info(user=f.workspace.BOT_USER_ID)

    # tier 1 is "1+ per minute": the fake allows a burst of 3
    return [
        ("tier 1", 3, connections_open),
        ("tier 2", 20, set_topic),
        ("tier 3", 50, history),
        ("tier 4", 100, users_info),
    ]


@pytest.mark.parametrize(("budget", "call"), [t[1:] for t in tier_calls()], ids=[t[0] for t in tier_calls()])
async def test_tier_budget_per_minute(
    slack_client: AsyncWebClient, fake_slack: FakeSlack, budget: int, call: Call
) -> None:
    # The bucket refills at budget/60 a second: frozen, so a slow burst is not refilled mid-way.
    fake_slack.clock.freeze()
    for _ in range(budget):
        await call(slack_client, fake_slack)
    exc = await slack_error(call(slack_client, fake_slack))
    assert exc.response.status_code == 429
    assert exc.response["error"] == "ratelimited"
    retry_after = int(exc.response.headers["Retry-After"])
    assert retry_after >= 1
    fake_slack.clock.advance(retry_after)
    assert (await call(slack_client, fake_slack))["ok"]


async def test_limits_are_per_method(slack_client: AsyncWebClient, fake_slack: FakeSlack) -> None:
    fake_slack.rate_limits.scale = 0.1  # tier 2: 2 per minute
    general = fake_slack.workspace.channel_by_name("general")
    assert general is not None
    for _ in range(2):
        await slack_client.conversations_setTopic(channel=general.id, topic="t")
    assert (
        await error_code(slack_client.conversations_setTopic(channel=general.id, topic="t")) == "ratelimited"
    )
    assert (await slack_client.conversations_create(name="other-tier-2-method"))["ok"]


async def test_each_workspace_has_its_own_budgets(
    slack_client: AsyncWebClient, fake_slack: FakeSlack
) -> None:
    """Slack counts per app per workspace: team A exhausting a Tier 2 method gets 429 with Retry-After,
    team B's calls of the same method (and its channels' postMessage) still answer."""
    fake_slack.clock.freeze()
    ws_b = fake_slack.add_team("T0OTHERTEAM")
    token_b = fake_slack.oauth.issue_bot_token(ws_b.TEAM_ID)
    client_b = AsyncWebClient(token=token_b, base_url=fake_slack.api_url)
    general_a, general_b = fake_slack.workspace.channel_by_name("general"), ws_b.channel_by_name("general")
    assert general_a is not None and general_b is not None
    for i in range(20):  # Tier 2: 20 a minute
        await slack_client.conversations_setTopic(channel=general_a.id, topic=f"a{i}")
    exc = await slack_error(slack_client.conversations_setTopic(channel=general_a.id, topic="over"))
    assert (exc.response.status_code, exc.response["error"]) == (429, "ratelimited")
    assert int(exc.response.headers["Retry-After"]) >= 1
    for i in range(20):  # B's own Tier 2 budget, whole
        assert (await client_b.conversations_setTopic(channel=general_b.id, topic=f"b{i}"))["ok"]
    over_b = client_b.conversations_setTopic(channel=general_b.id, topic="over")
    assert await error_code(over_b) == "ratelimited"
    still_a = slack_client.conversations_setTopic(channel=general_a.id, topic="still")
    assert await error_code(still_a) == "ratelimited"
    assert (general_a.topic, general_b.topic) == ("a19", "b19")
    # chat.postMessage: each channel's burst in each workspace
    for i in range(fake_slack.rate_limits.post_message_burst):
        await slack_client.chat_postMessage(channel=general_a.id, text=f"a{i}")
    assert await error_code(slack_client.chat_postMessage(channel=general_a.id, text="over")) == "ratelimited"
    assert (await client_b.chat_postMessage(channel=general_b.id, text="b"))["ok"]


async def test_post_message_about_one_per_second_per_channel(
    slack_client: AsyncWebClient, fake_slack: FakeSlack
) -> None:
    one = fake_slack.workspace.add_channel("one")
    two = fake_slack.workspace.add_channel("two")
    for i in range(fake_slack.rate_limits.post_message_burst):
        await slack_client.chat_postMessage(channel=one.id, text=f"burst {i}")
    exc = await slack_error(slack_client.chat_postMessage(channel=one.id, text="over"))
    assert (exc.response.status_code, exc.response["error"], exc.response.headers["Retry-After"]) == (
        429,
        "ratelimited",
        "1",
    )
    assert (await slack_client.chat_postMessage(channel=two.id, text="other channel"))["ok"]
    fake_slack.clock.advance(1)
    assert (await slack_client.chat_postMessage(channel=one.id, text="a second later"))["ok"]
    assert await error_code(slack_client.chat_postMessage(channel=one.id, text="again")) == "ratelimited"


async def test_limits_can_be_turned_off(slack_client: AsyncWebClient, fake_slack: FakeSlack) -> None:
    fake_slack.rate_limits.enabled = False
    channel = fake_slack.workspace.add_channel("flood")
    for i in range(30):
        await slack_client.chat_postMessage(channel=channel.id, text=str(i))
    assert len(fake_slack.journal.messages(channel.id)) == 30


async def test_sdk_rate_limit_retry_handler_waits_retry_after_and_succeeds(fake_slack: FakeSlack) -> None:
    channel = fake_slack.workspace.add_channel("retry")
    client = AsyncWebClient(
        token=fake_slack.bot_token,
        base_url=fake_slack.api_url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=2)],
    )
    for i in range(fake_slack.rate_limits.post_message_burst):
        await client.chat_postMessage(channel=channel.id, text=str(i))
    resp = await client.chat_postMessage(channel=channel.id, text="after waiting")
    assert resp["ok"]
    statuses = [c.status for c in fake_slack.journal.calls("chat.postMessage")]
    assert statuses[-2:] == [429, 200]


async def test_fault_error_code_n_times(slack_client: AsyncWebClient, fake_slack: FakeSlack) -> None:
    fault = fake_slack.faults.add("users.info", error="fatal_error", times=2)
    for _ in range(2):
        assert (
            await error_code(slack_client.users_info(user=fake_slack.workspace.BOT_USER_ID)) == "fatal_error"
        )
    assert (await slack_client.users_info(user=fake_slack.workspace.BOT_USER_ID))["ok"]
    assert fault.hits == 2


async def test_fault_always_until_removed(slack_client: AsyncWebClient, fake_slack: FakeSlack) -> None:
    fault = fake_slack.faults.add("auth.test", error="account_inactive", times=None)
    for _ in range(3):
        assert await error_code(slack_client.auth_test()) == "account_inactive"
    fake_slack.faults.remove(fault)
    assert (await slack_client.auth_test())["ok"]


async def test_fault_429_with_retry_after(slack_client: AsyncWebClient, fake_slack: FakeSlack) -> None:
    fake_slack.faults.add("conversations.create", retry_after=42)
    exc = await slack_error(slack_client.conversations_create(name="case-1"))
    assert (exc.response.status_code, exc.response["error"], exc.response.headers["Retry-After"]) == (
        429,
        "ratelimited",
        "42",
    )
    assert (await slack_client.conversations_create(name="case-1"))["ok"]


async def test_fault_500_and_the_sdk_server_error_handler(fake_slack: FakeSlack) -> None:
    plain = AsyncWebClient(token=fake_slack.bot_token, base_url=fake_slack.api_url)
    fake_slack.faults.add("auth.test", status=500)
    exc = await slack_error(plain.auth_test())
    assert exc.response.status_code == 500
    retrying = AsyncWebClient(
        token=fake_slack.bot_token,
        base_url=fake_slack.api_url,
        retry_handlers=[AsyncServerErrorRetryHandler(max_retry_count=1)],
    )
    fake_slack.faults.add("auth.test", status=500)
    assert (await retrying.auth_test())["ok"]


async def test_fault_only_for_matching_arguments(slack_client: AsyncWebClient, fake_slack: FakeSlack) -> None:
    bad = fake_slack.workspace.add_channel("bad")
    good = fake_slack.workspace.add_channel("good")
    fake_slack.faults.add(
        "chat.postMessage",
        error="channel_not_found",
        times=None,
        when=lambda args: args.get("channel") == bad.id,
    )
    assert await error_code(slack_client.chat_postMessage(channel=bad.id, text="x")) == "channel_not_found"
    assert (await slack_client.chat_postMessage(channel=good.id, text="x"))["ok"]


async def test_fault_latency_delays_only_that_method(
    slack_client: AsyncWebClient, fake_slack: FakeSlack
) -> None:
    fake_slack.faults.add("users.info", latency=1.0)
    slow = asyncio.ensure_future(slack_client.users_info(user=fake_slack.workspace.BOT_USER_ID))
    await asyncio.sleep(0.05)
    assert (await slack_client.auth_test())["ok"]
    assert not slow.done()
    assert (await slow)["ok"]
    assert [c.method for c in fake_slack.journal.calls()] == ["auth.test", "users.info"]


def test_a_fault_needs_an_effect(fake_slack: FakeSlack) -> None:
    with pytest.raises(ValueError, match="needs an error"):
        fake_slack.faults.add("auth.test")
    with pytest.raises(ValueError, match="times"):
        fake_slack.faults.add("auth.test", error="x", times=0)
