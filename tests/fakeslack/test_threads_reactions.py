"""Thread replies, edits, other apps' posts and reactions: the fake's Web API and the events it sends.

conversations.replies (parent first, a reply's ts finds its thread, thread_not_found), reactions.add
(scope, already_reacted, invalid_name, message_not_found), chat.postEphemeral into a thread, permalinks
of replies, and the Events API shapes of thread replies (`parent_user_id`), `message_changed`,
`bot_message` and `reaction_added`, delivered only when the app subscribes, holds the scope and is in
the channel.
"""

from __future__ import annotations

import json

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack.driver import Driver
from tests.fakes.slack.server import FakeSlack
from tests.fakeslack.helpers import error_code
from tests.fakeslack.test_driver import Recorder, driver, recorder  # noqa: F401  (fixtures)

pytestmark = pytest.mark.fakeslack


async def test_replies_parent_first_and_found_from_any_reply(
    slack_client: AsyncWebClient, fake_slack: FakeSlack
) -> None:
    ws = fake_slack.workspace
    alice = ws.add_user("alice")
    channel = ws.add_channel("case-1", is_private=True, members=[alice.id])
    parent = await slack_client.chat_postMessage(
        channel=channel.id, text="creditor chat",
        metadata={"event_type": "caseroom_item", "event_payload": {"item_id": "chat:1", "case_id": "c"}})
    first = ws.post_as_user(channel.id, alice.id, "first", thread_ts=parent["ts"])
    second = ws.post_as_user(channel.id, alice.id, "second", thread_ts=parent["ts"])

    whole = await slack_client.conversations_replies(channel=channel.id, ts=parent["ts"],
                                                     include_all_metadata=True)
    assert [m["text"] for m in whole["messages"]] == ["creditor chat", "first", "second"]
    assert whole["messages"][0]["metadata"]["event_payload"]["item_id"] == "chat:1"
    assert whole["messages"][0]["reply_count"] == 2 and whole["messages"][0]["thread_ts"] == parent["ts"]
    assert whole["messages"][1]["parent_user_id"] == ws.BOT_USER_ID
    no_meta = await slack_client.conversations_replies(channel=channel.id, ts=parent["ts"])
    assert "metadata" not in no_meta["messages"][0]

    one = await slack_client.conversations_replies(channel=channel.id, ts=first.ts, oldest=second.ts,
                                                   latest=second.ts, inclusive=True)
    assert [m["text"] for m in one["messages"]] == ["creditor chat", "second"]
    limited = await slack_client.conversations_replies(channel=channel.id, ts=parent["ts"], limit=1)
    assert limited["messages"][0]["text"] == "creditor chat" and limited["has_more"] is True
    assert await error_code(slack_client.conversations_replies(channel=channel.id, ts="1.000001")) \
        == "thread_not_found"
    history = await slack_client.conversations_history(channel=channel.id)
    assert [m["text"] for m in history["messages"]] == ["creditor chat"]


async def test_replies_need_the_bot_in_the_channel_and_the_history_scope(fake_slack: FakeSlack) -> None:
    ws = fake_slack.workspace
    hidden = ws.add_channel("not-mine", is_private=True, bot_member=False)
    public = ws.add_channel("public-one")
    message = ws.post_as_user(public.id, ws.add_user("bob").id, "hi")
    fake_slack.granted_scopes = {"chat:write", "channels:history"}
    client = AsyncWebClient(token=fake_slack.bot_token, base_url=fake_slack.api_url)
    answer = await client.conversations_replies(channel=public.id, ts=message.ts)
    assert [m["text"] for m in answer["messages"]] == ["hi"]  # not in a thread: itself alone
    private = ws.add_channel("private-one", is_private=True)
    assert await error_code(client.conversations_replies(channel=private.id, ts="1.0")) == "missing_scope"
    fake_slack.granted_scopes.add("groups:history")
    assert await error_code(client.conversations_replies(channel=hidden.id, ts="1.0")) == "channel_not_found"


async def test_reactions_add_rules(slack_client: AsyncWebClient, fake_slack: FakeSlack) -> None:
    ws = fake_slack.workspace
    channel = ws.add_channel("case-2", is_private=True)
    posted = await slack_client.chat_postMessage(channel=channel.id, text="reply")
    await slack_client.reactions_add(channel=channel.id, timestamp=posted["ts"], name="white_check_mark")
    message = channel.find(posted["ts"])
    assert message is not None and message.reactions == [
        {"name": "white_check_mark", "users": [ws.BOT_USER_ID], "count": 1}]
    assert await error_code(slack_client.reactions_add(channel=channel.id, timestamp=posted["ts"],
                                                       name="white_check_mark")) == "already_reacted"
    assert await error_code(slack_client.reactions_add(channel=channel.id, timestamp=posted["ts"],
                                                       name="Not An Emoji")) == "invalid_name"
    assert await error_code(slack_client.reactions_add(channel=channel.id, timestamp="1.000001",
                                                       name="memo")) == "message_not_found"
    listed = await slack_client.conversations_history(channel=channel.id)
    assert listed["messages"][0]["reactions"][0]["name"] == "white_check_mark"
    fake_slack.granted_scopes = {"chat:write"}
    assert await error_code(slack_client.reactions_add(channel=channel.id, timestamp=posted["ts"],
                                                       name="memo")) == "missing_scope"


async def test_ephemeral_in_a_thread_and_permalink_of_a_reply(
    slack_client: AsyncWebClient, fake_slack: FakeSlack
) -> None:
    ws = fake_slack.workspace
    alice = ws.add_user("alice")
    channel = ws.add_channel("case-3", is_private=True, members=[alice.id])
    parent = await slack_client.chat_postMessage(channel=channel.id, text="parent")
    reply = ws.post_as_user(channel.id, alice.id, "answer", thread_ts=parent["ts"])
    await slack_client.chat_postEphemeral(channel=channel.id, user=alice.id, text="send?",
                                          thread_ts=parent["ts"])
    [shown] = fake_slack.journal.ephemerals(user=alice.id)
    assert shown.thread_ts == parent["ts"]
    link = (await slack_client.chat_getPermalink(channel=channel.id, message_ts=reply.ts))["permalink"]
    assert link.endswith(f"p{reply.ts.replace('.', '')}?thread_ts={parent['ts']}&cid={channel.id}")


async def test_event_shapes_of_replies_edits_bots_and_reactions(
    fake_slack: FakeSlack, recorder: Recorder, driver: Driver  # noqa: F811
) -> None:
    ws = fake_slack.workspace
    alice = ws.add_user("alice")
    channel = ws.add_channel("case-4", is_private=True, members=[alice.id])
    parent = ws.add_bot_message(channel, text="chat", blocks=None, attachments=None, thread_ts=None,
                                metadata=None)
    reply, ack = await driver.thread_reply("answer", user=alice, channel=channel.id, thread_ts=parent.ts)
    assert ack.ok
    await driver.edit_message(reply, "answer, edited")
    await driver.bot_post("from a webhook", channel=channel.id, thread_ts=parent.ts)
    await driver.react("memo", user=alice, channel=channel.id, ts=reply.ts)
    assert await driver.react("memo", user=alice, channel=channel.id, ts=reply.ts) is None  # already there
    events = [json.loads(body)["event"] for _, body in recorder.requests]
    posted, changed, bot, reaction = events
    assert posted["type"] == "message" and "subtype" not in posted
    assert (posted["channel_type"], posted["thread_ts"], posted["parent_user_id"], posted["user"]) == (
        "group", parent.ts, ws.BOT_USER_ID, alice.id)
    assert posted["client_msg_id"] and posted["ts"] == reply.ts
    assert changed["subtype"] == "message_changed" and changed["hidden"] is True
    assert changed["message"]["text"] == "answer, edited" and changed["message"]["ts"] == reply.ts
    assert changed["message"]["thread_ts"] == parent.ts and changed["message"]["edited"]["user"] == alice.id
    assert changed["previous_message"]["text"] == "answer" and changed["ts"] != reply.ts
    assert bot["subtype"] == "bot_message" and bot["bot_id"] and "user" not in bot and bot["username"]
    assert reaction == {"type": "reaction_added", "user": alice.id, "reaction": "memo", "item_user": alice.id,
                        "item": {"type": "message", "channel": channel.id, "ts": reply.ts},
                        "event_ts": reaction["event_ts"]}


async def test_events_only_when_subscribed_scoped_and_a_member(
    fake_slack: FakeSlack, recorder: Recorder, driver: Driver  # noqa: F811
) -> None:
    ws = fake_slack.workspace
    alice = ws.add_user("alice")
    private = ws.add_channel("case-5", is_private=True, members=[alice.id])
    public = ws.add_channel("case-6", members=[alice.id])
    outside = ws.add_channel("case-7", members=[alice.id], bot_member=False)
    message = ws.post_as_user(outside.id, alice.id, "not for the bot")
    fake_slack.subscribed_events = {"message.groups", "reaction_added"}
    fake_slack.granted_scopes = {"groups:history", "channels:history"}
    _, ack = await driver.user_message("private", user=alice, channel=private.id)
    assert ack.ok
    with pytest.raises(ValueError, match=r"message\.channels"):
        await driver.user_message("public", user=alice, channel=public.id)
    with pytest.raises(ValueError, match="reactions:read"):
        await driver.react("memo", user=alice, channel=private.id, ts=private.messages[0].ts)
    fake_slack.granted_scopes.add("reactions:read")
    with pytest.raises(ValueError, match="not in"):
        await driver.react("memo", user=alice, channel=outside.id, ts=message.ts)
    with pytest.raises(ValueError, match="reply to"):
        ws.post_as_user(private.id, alice.id, "orphan", thread_ts="1.000001")
