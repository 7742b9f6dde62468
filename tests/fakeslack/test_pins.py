"""pins.add: Slack's rules (the message exists in that channel, the bot is in it, not archived, once,
well-formed arguments),
the `pins:write` scope, and `pinned_to` on the message afterwards."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack.server import FakeSlack
from tests.fakeslack.helpers import error_code

pytestmark = pytest.mark.fakeslack


async def test_pins_add_pins_a_message_once(slack_client: AsyncWebClient, fake_slack: FakeSlack) -> None:
    room = (await slack_client.conversations_create(name="case-pins", is_private=True))["channel"]["id"]
    ts = (await slack_client.chat_postMessage(channel=room, text="summary"))["ts"]
    assert (await slack_client.pins_add(channel=room, timestamp=ts))["ok"] is True
    history = await slack_client.conversations_history(channel=room)
    assert history["messages"][0]["pinned_to"] == [room]
    assert await error_code(slack_client.pins_add(channel=room, timestamp=ts)) == "already_pinned"


async def test_pins_add_refuses_what_slack_refuses(
    slack_client: AsyncWebClient, fake_slack: FakeSlack
) -> None:
    ws = fake_slack.workspace
    room = (await slack_client.conversations_create(name="case-pins-2"))["channel"]["id"]
    ts = (await slack_client.chat_postMessage(channel=room, text="summary"))["ts"]
    assert await error_code(slack_client.pins_add(channel=room, timestamp="1.000001")) == "message_not_found"
    assert await error_code(slack_client.pins_add(channel="C0NOPE", timestamp=ts)) == "channel_not_found"
    missing = slack_client.api_call("pins.add", params={"channel": room})
    assert await error_code(missing) == "no_item_specified"
    assert await error_code(slack_client.pins_add(channel=room, timestamp="yesterday")) == "bad_timestamp"
    no_channel = slack_client.api_call("pins.add", params={"timestamp": ts})
    assert await error_code(no_channel) == "channel_not_found"
    other = ws.add_channel("not-mine", members=[], bot_member=False)
    theirs = ws.post_as_user(other.id, ws.add_user("zed").id, "hello")
    assert await error_code(slack_client.pins_add(channel=other.id, timestamp=theirs.ts)) == "not_in_channel"
    ws.channels[room].is_archived = True
    assert await error_code(slack_client.pins_add(channel=room, timestamp=ts)) == "is_archived"


async def test_pins_add_needs_pins_write(slack_client: AsyncWebClient, fake_slack: FakeSlack) -> None:
    room = (await slack_client.conversations_create(name="case-pins-3"))["channel"]["id"]
    ts = (await slack_client.chat_postMessage(channel=room, text="summary"))["ts"]
    fake_slack.granted_scopes = {"chat:write", "channels:manage"}
    with pytest.raises(SlackApiError) as info:
        await slack_client.pins_add(channel=room, timestamp=ts)
    assert (info.value.response["error"], info.value.response["needed"]) == ("missing_scope", "pins:write")
    fake_slack.granted_scopes = {"chat:write", "channels:manage", "pins:write"}
    assert (await slack_client.pins_add(channel=room, timestamp=ts))["ok"] is True
