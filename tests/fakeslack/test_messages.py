"""chat.*: no_text, the 40,000-character truncation, metadata, updates, ephemerals, permalinks."""

from __future__ import annotations

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack.server import FakeSlack
from tests.fakes.slack.workspace import Channel
from tests.fakeslack.helpers import error_code

pytestmark = pytest.mark.fakeslack

SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "hello"}}


@pytest.fixture
def channel(fake_slack: FakeSlack) -> Channel:
    return fake_slack.workspace.add_channel("messages")


async def test_no_text_when_text_and_blocks_are_missing(
    slack_client: AsyncWebClient, channel: Channel
) -> None:
    with pytest.warns(UserWarning):  # slack_sdk warns about a missing text, then Slack refuses
        assert await error_code(slack_client.chat_postMessage(channel=channel.id)) == "no_text"
    assert (await slack_client.chat_postMessage(channel=channel.id, text="x"))["ok"]
    with pytest.warns(UserWarning):
        assert (await slack_client.chat_postMessage(channel=channel.id, blocks=[SECTION]))["ok"]


async def test_text_is_truncated_at_40000_characters(
    slack_client: AsyncWebClient, channel: Channel, fake_slack: FakeSlack
) -> None:
    resp = await slack_client.chat_postMessage(channel=channel.id, text="x" * 40_010)
    assert len(resp["message"]["text"]) == 40_000
    assert len(fake_slack.journal.messages(channel.id)[-1].text) == 40_000
    exact = await slack_client.chat_postMessage(channel=channel.id, text="y" * 40_000)
    assert len(exact["message"]["text"]) == 40_000


async def test_channel_not_found(slack_client: AsyncWebClient) -> None:
    assert (
        await error_code(slack_client.chat_postMessage(channel="C_MISSING", text="x")) == "channel_not_found"
    )


async def test_post_to_a_user_id_opens_a_dm(slack_client: AsyncWebClient, fake_slack: FakeSlack) -> None:
    alice = fake_slack.workspace.add_user("alice")
    resp = await slack_client.chat_postMessage(channel=alice.id, text="psst")
    assert resp["channel"].startswith("D")
    assert fake_slack.journal.messages(resp["channel"])[0].text == "psst"


@pytest.mark.parametrize(
    "metadata",
    [
        {"event_payload": {"a": 1}},
        {"event_type": "", "event_payload": {}},
        {"event_type": "relay", "event_payload": "not an object"},
        "not json",
    ],
)
async def test_metadata_must_have_a_type_and_an_object_payload(
    slack_client: AsyncWebClient, channel: Channel, metadata: object
) -> None:
    call = slack_client.api_call(
        "chat.postMessage", json={"channel": channel.id, "text": "x", "metadata": metadata}
    )
    assert await error_code(call) == "invalid_metadata_format"


async def test_metadata_is_stored(
    slack_client: AsyncWebClient, channel: Channel, fake_slack: FakeSlack
) -> None:
    metadata = {"event_type": "caseroom_relay", "event_payload": {"case": "abc"}}
    await slack_client.chat_postMessage(channel=channel.id, text="x", metadata=metadata)
    assert fake_slack.journal.messages(channel.id)[-1].metadata == metadata


async def test_blocks_that_are_not_an_array_are_invalid_blocks_format(
    slack_client: AsyncWebClient, channel: Channel
) -> None:
    call = slack_client.api_call(
        "chat.postMessage", json={"channel": channel.id, "text": "x", "blocks": {"a": 1}}
    )
    assert await error_code(call) == "invalid_blocks_format"
    call = slack_client.api_call(
        "chat.postMessage", params={"channel": channel.id, "text": "x", "blocks": "[{"}
    )
    assert await error_code(call) == "invalid_blocks_format"
    ok = slack_client.api_call(
        "chat.postMessage", params={"channel": channel.id, "text": "x", "blocks": '[{"type": "divider"}]'}
    )
    assert (await ok)["ok"]


async def test_update_edits_the_bots_own_message(
    slack_client: AsyncWebClient, channel: Channel, fake_slack: FakeSlack
) -> None:
    metadata = {"event_type": "relay", "event_payload": {"n": 1}}
    posted = await slack_client.chat_postMessage(channel=channel.id, text="v1", metadata=metadata)
    resp = await slack_client.chat_update(channel=channel.id, ts=posted["ts"], text="v2", blocks=[SECTION])
    assert resp["ts"] == posted["ts"]
    message = fake_slack.journal.messages(channel.id)[-1]
    assert (message.text, message.blocks, message.metadata) == ("v2", [SECTION], metadata)
    assert message.edited is not None and message.edited["user"] == fake_slack.workspace.BOT_USER_ID


async def test_update_errors(slack_client: AsyncWebClient, channel: Channel, fake_slack: FakeSlack) -> None:
    alice = fake_slack.workspace.add_user("alice")
    theirs = fake_slack.workspace.post_as_user(channel.id, alice.id, "mine")
    assert (
        await error_code(slack_client.chat_update(channel=channel.id, ts="1.000001", text="x"))
        == "message_not_found"
    )
    assert (
        await error_code(slack_client.chat_update(channel=channel.id, ts=theirs.ts, text="x"))
        == "cant_update_message"
    )
    posted = await slack_client.chat_postMessage(channel=channel.id, text="v1")
    with pytest.warns(UserWarning):
        assert await error_code(slack_client.chat_update(channel=channel.id, ts=posted["ts"])) == "no_text"
    bad = [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}]
    assert (
        await error_code(slack_client.chat_update(channel=channel.id, ts=posted["ts"], text="x", blocks=bad))
        == "invalid_blocks"
    )


async def test_post_ephemeral(slack_client: AsyncWebClient, channel: Channel, fake_slack: FakeSlack) -> None:
    alice = fake_slack.workspace.add_user("alice")
    assert (
        await error_code(slack_client.chat_postEphemeral(channel=channel.id, user=alice.id, text="x"))
        == "user_not_in_channel"
    )
    assert (
        await error_code(slack_client.chat_postEphemeral(channel=channel.id, user="U_GHOST", text="x"))
        == "user_not_found"
    )
    channel.members.add(alice.id)
    resp = await slack_client.chat_postEphemeral(channel=channel.id, user=alice.id, text="only you")
    assert resp["message_ts"]
    assert [e.text for e in fake_slack.journal.ephemerals(user=alice.id)] == ["only you"]
    assert fake_slack.journal.messages(channel.id) == []


async def test_permalink(slack_client: AsyncWebClient, channel: Channel) -> None:
    posted = await slack_client.chat_postMessage(channel=channel.id, text="x")
    resp = await slack_client.chat_getPermalink(channel=channel.id, message_ts=posted["ts"])
    assert resp["permalink"].endswith(f"/archives/{channel.id}/p{posted['ts'].replace('.', '')}")
    assert (
        await error_code(slack_client.chat_getPermalink(channel=channel.id, message_ts="1.2"))
        == "message_not_found"
    )
