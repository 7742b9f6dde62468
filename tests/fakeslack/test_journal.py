"""The journal: waiting for effects, and the failure message when they never come."""

from __future__ import annotations

import asyncio

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack.server import FakeSlack

pytestmark = pytest.mark.fakeslack


async def test_wait_for_returns_the_first_truthy_value(
    slack_client: AsyncWebClient, fake_slack: FakeSlack
) -> None:
    channel = fake_slack.workspace.add_channel("later")

    async def post_later() -> None:
        await asyncio.sleep(0.05)
        await slack_client.chat_postMessage(channel=channel.id, text="done")

    task = asyncio.ensure_future(post_later())
    messages = await fake_slack.journal.wait_for(lambda: fake_slack.journal.messages(channel.id), timeout=5)
    assert [m.text for m in messages] == ["done"]
    call = await fake_slack.journal.wait_for_call("chat.postMessage", lambda c: c.args["text"] == "done")
    assert call.ok and call.response["channel"] == channel.id
    await task


async def test_wait_for_names_what_never_happened(fake_slack: FakeSlack) -> None:
    with pytest.raises(TimeoutError, match=r"the case card did not happen within 0\.1s"):
        await fake_slack.journal.wait_for(lambda: None, timeout=0.1, what="the case card")
