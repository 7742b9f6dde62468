"""conversations.*: Slack's channel-name rules, membership and archive errors, history with metadata."""

from __future__ import annotations

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack.server import FakeSlack
from tests.fakeslack.helpers import error_code, slack_error

pytestmark = pytest.mark.fakeslack


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("", "invalid_name_required"),
        ("a" * 81, "invalid_name_maxlength"),
        ("Case-1", "invalid_name_specials"),
        ("case 1", "invalid_name_specials"),
        ("case#1", "invalid_name_specials"),
        ("---", "invalid_name_punctuation"),
        ("_-_", "invalid_name_punctuation"),
    ],
)
async def test_create_rejects_bad_names(slack_client: AsyncWebClient, name: str, error: str) -> None:
    assert await error_code(slack_client.conversations_create(name=name)) == error


@pytest.mark.parametrize("name", ["a" * 80, "case-q8oaxf3w", "case_2024-01", "9"])
async def test_create_accepts_good_names(
    slack_client: AsyncWebClient, fake_slack: FakeSlack, name: str
) -> None:
    resp = await slack_client.conversations_create(name=name, is_private=True)
    channel = resp["channel"]
    assert channel["name"] == name and channel["is_private"] is True
    assert fake_slack.workspace.BOT_USER_ID in fake_slack.workspace.channels[channel["id"]].members


async def test_name_taken_also_by_an_archived_channel(slack_client: AsyncWebClient) -> None:
    first = (await slack_client.conversations_create(name="case-1"))["channel"]["id"]
    assert await error_code(slack_client.conversations_create(name="case-1")) == "name_taken"
    await slack_client.conversations_archive(channel=first)
    assert await error_code(slack_client.conversations_create(name="case-1")) == "name_taken"


async def test_rename_follows_the_name_rules(slack_client: AsyncWebClient) -> None:
    one = (await slack_client.conversations_create(name="case-1"))["channel"]["id"]
    await slack_client.conversations_create(name="case-2")
    assert await error_code(slack_client.conversations_rename(channel=one, name="case-2")) == "name_taken"
    assert (
        await error_code(slack_client.conversations_rename(channel=one, name="Case 1"))
        == "invalid_name_specials"
    )
    resp = await slack_client.conversations_rename(channel=one, name="case-1-renamed")
    assert resp["channel"]["name"] == "case-1-renamed"
    resp = await slack_client.conversations_rename(channel=one, name="case-1-renamed")  # own name is fine
    assert resp["ok"]


async def test_channel_not_found_for_unknown_and_for_private_channels_without_the_bot(
    slack_client: AsyncWebClient, fake_slack: FakeSlack
) -> None:
    hidden = fake_slack.workspace.add_channel("secret", is_private=True, bot_member=False)
    assert await error_code(slack_client.conversations_info(channel="C_NOPE")) == "channel_not_found"
    assert await error_code(slack_client.conversations_info(channel=hidden.id)) == "channel_not_found"
    visible = fake_slack.workspace.add_channel("open", bot_member=False)
    resp = await slack_client.conversations_info(channel=visible.id, include_num_members=True)
    assert resp["channel"]["num_members"] == 0


async def test_not_in_channel_until_the_bot_joins(
    slack_client: AsyncWebClient, fake_slack: FakeSlack
) -> None:
    channel = fake_slack.workspace.add_channel("lobby", bot_member=False)
    assert await error_code(slack_client.chat_postMessage(channel=channel.id, text="hi")) == "not_in_channel"
    assert await error_code(slack_client.conversations_history(channel=channel.id)) == "not_in_channel"
    assert (
        await error_code(slack_client.conversations_setTopic(channel=channel.id, topic="t"))
        == "not_in_channel"
    )
    joined = await slack_client.conversations_join(channel=channel.id)
    assert "warning" not in joined
    again = await slack_client.conversations_join(channel=channel.id)
    assert again["warning"] == "already_in_channel"
    assert (await slack_client.chat_postMessage(channel=channel.id, text="hi"))["ok"]


async def test_join_refuses_private_and_archived_channels(
    slack_client: AsyncWebClient, fake_slack: FakeSlack
) -> None:
    private = fake_slack.workspace.add_channel("private", is_private=True)
    archived = fake_slack.workspace.add_channel("old", archived=True, bot_member=False)
    assert (
        await error_code(slack_client.conversations_join(channel=private.id))
        == "method_not_supported_for_channel_type"
    )
    assert await error_code(slack_client.conversations_join(channel=archived.id)) == "is_archived"


async def test_archived_channels_refuse_writes_until_unarchived(
    slack_client: AsyncWebClient, fake_slack: FakeSlack
) -> None:
    channel = (await slack_client.conversations_create(name="case-9"))["channel"]["id"]
    alice = fake_slack.workspace.add_user("alice")
    await slack_client.conversations_archive(channel=channel)
    assert await error_code(slack_client.conversations_archive(channel=channel)) == "already_archived"
    assert await error_code(slack_client.chat_postMessage(channel=channel, text="x")) == "is_archived"
    assert (
        await error_code(slack_client.conversations_invite(channel=channel, users=alice.id)) == "is_archived"
    )
    assert await error_code(slack_client.conversations_setTopic(channel=channel, topic="t")) == "is_archived"
    await slack_client.conversations_unarchive(channel=channel)
    assert await error_code(slack_client.conversations_unarchive(channel=channel)) == "not_archived"
    assert (await slack_client.chat_postMessage(channel=channel, text="back"))["ok"]


async def test_general_cannot_be_archived(slack_client: AsyncWebClient, fake_slack: FakeSlack) -> None:
    general = fake_slack.workspace.channel_by_name("general")
    assert general is not None
    assert await error_code(slack_client.conversations_archive(channel=general.id)) == "cant_archive_general"


async def test_invite_errors_and_success(slack_client: AsyncWebClient, fake_slack: FakeSlack) -> None:
    ws = fake_slack.workspace
    alice, bob = ws.add_user("alice"), ws.add_user("bob")
    channel = (await slack_client.conversations_create(name="case-3", is_private=True))["channel"]["id"]
    assert (
        await error_code(slack_client.conversations_invite(channel=channel, users="U_GHOST"))
        == "user_not_found"
    )
    assert (
        await error_code(slack_client.conversations_invite(channel=channel, users=ws.BOT_USER_ID))
        == "cant_invite_self"
    )
    resp = await slack_client.conversations_invite(channel=channel, users=[alice.id, bob.id])
    assert resp["ok"]
    assert {alice.id, bob.id} <= ws.channels[channel].members
    exc = await slack_error(slack_client.conversations_invite(channel=channel, users=alice.id))
    assert exc.response["error"] == "already_in_channel"
    assert exc.response["errors"] == [{"user": alice.id, "ok": False, "error": "already_in_channel"}]


async def test_invite_with_force_adds_the_valid_users_and_reports_the_rest(
    slack_client: AsyncWebClient, fake_slack: FakeSlack
) -> None:
    alice = fake_slack.workspace.add_user("alice")
    channel = (await slack_client.conversations_create(name="case-4"))["channel"]["id"]
    resp = await slack_client.conversations_invite(channel=channel, users=[alice.id, "U_GHOST"], force=True)
    assert resp["errors"] == [{"user": "U_GHOST", "ok": False, "error": "user_not_found"}]
    assert alice.id in fake_slack.workspace.channels[channel].members


async def test_single_channel_guest_cannot_join_a_second_channel(
    slack_client: AsyncWebClient, fake_slack: FakeSlack
) -> None:
    guest = fake_slack.workspace.add_user("guest", guest="single")
    fake_slack.workspace.add_channel("their-one", members=[guest.id])
    channel = (await slack_client.conversations_create(name="case-5"))["channel"]["id"]
    assert (
        await error_code(slack_client.conversations_invite(channel=channel, users=guest.id))
        == "ura_max_channels"
    )


async def test_set_topic_limit(slack_client: AsyncWebClient) -> None:
    channel = (await slack_client.conversations_create(name="case-6"))["channel"]["id"]
    assert (
        await error_code(slack_client.conversations_setTopic(channel=channel, topic="t" * 251)) == "too_long"
    )
    resp = await slack_client.conversations_setTopic(channel=channel, topic="t" * 250)
    assert resp["channel"]["topic"]["value"] == "t" * 250


async def test_history_returns_metadata_only_when_asked(slack_client: AsyncWebClient) -> None:
    channel = (await slack_client.conversations_create(name="case-7"))["channel"]["id"]
    metadata = {"event_type": "caseroom_relay", "event_payload": {"event_id": "tl-1"}}
    posted = await slack_client.chat_postMessage(channel=channel, text="relayed", metadata=metadata)
    plain = await slack_client.conversations_history(channel=channel)
    assert "metadata" not in plain["messages"][0]
    full = await slack_client.conversations_history(channel=channel, include_all_metadata=True)
    assert full["messages"][0]["metadata"] == metadata
    assert full["messages"][0]["ts"] == posted["ts"]


async def test_history_pages_newest_first_without_thread_replies(slack_client: AsyncWebClient) -> None:
    channel = (await slack_client.conversations_create(name="case-8"))["channel"]["id"]
    sent = []
    for i in range(5):
        sent.append((await slack_client.chat_postMessage(channel=channel, text=f"m{i}"))["ts"])
    first = await slack_client.conversations_history(channel=channel, limit=3)
    assert [m["text"] for m in first["messages"]] == ["m4", "m3", "m2"]
    assert first["has_more"] is True
    rest = await slack_client.conversations_history(
        channel=channel, limit=3, cursor=first["response_metadata"]["next_cursor"]
    )
    assert [m["text"] for m in rest["messages"]] == ["m1", "m0"]
    assert rest["has_more"] is False
    newer = await slack_client.conversations_history(channel=channel, oldest=sent[2])
    assert [m["text"] for m in newer["messages"]] == ["m4", "m3"]
    assert (
        await error_code(slack_client.conversations_history(channel=channel, cursor="bogus"))
        == "invalid_cursor"
    )


async def test_thread_replies_stay_out_of_history(
    slack_client: AsyncWebClient, fake_slack: FakeSlack
) -> None:
    channel = fake_slack.workspace.add_channel("threads")
    parent = await slack_client.chat_postMessage(channel=channel.id, text="parent")
    await slack_client.chat_postMessage(channel=channel.id, text="reply", thread_ts=parent["ts"])
    history = await slack_client.conversations_history(channel=channel.id)
    assert [m["text"] for m in history["messages"]] == ["parent"]
    assert history["messages"][0]["reply_count"] == 1


async def test_members_pages(slack_client: AsyncWebClient, fake_slack: FakeSlack) -> None:
    users = [fake_slack.workspace.add_user(f"user{i}").id for i in range(3)]
    channel = fake_slack.workspace.add_channel("team", members=users)
    first = await slack_client.conversations_members(channel=channel.id, limit=2)
    rest = await slack_client.conversations_members(
        channel=channel.id, limit=2, cursor=first["response_metadata"]["next_cursor"]
    )
    assert sorted(first["members"] + rest["members"]) == sorted([*users, fake_slack.workspace.BOT_USER_ID])
    assert rest["response_metadata"]["next_cursor"] == ""


async def test_history_refuses_malformed_timestamps(
    slack_client: AsyncWebClient, fake_slack: FakeSlack
) -> None:
    channel = fake_slack.workspace.add_channel("ts")
    assert (
        await error_code(slack_client.conversations_history(channel=channel.id, oldest="yesterday"))
        == "invalid_ts_oldest"
    )
    assert (
        await error_code(slack_client.conversations_history(channel=channel.id, latest="soon"))
        == "invalid_ts_latest"
    )


async def test_info_says_whether_the_bot_is_a_member(
    slack_client: AsyncWebClient, fake_slack: FakeSlack
) -> None:
    inside = fake_slack.workspace.add_channel("inside")
    outside = fake_slack.workspace.add_channel("outside", bot_member=False)
    assert (await slack_client.conversations_info(channel=inside.id))["channel"]["is_member"] is True
    assert (await slack_client.conversations_info(channel=outside.id))["channel"]["is_member"] is False


async def test_invite_takes_at_most_100_users(slack_client: AsyncWebClient, fake_slack: FakeSlack) -> None:
    users = [fake_slack.workspace.add_user(f"u{i}").id for i in range(101)]
    channel = (await slack_client.conversations_create(name="big"))["channel"]["id"]
    assert (
        await error_code(slack_client.conversations_invite(channel=channel, users=users)) == "too_many_users"
    )
    assert (await slack_client.conversations_invite(channel=channel, users=users[:100]))["ok"]
    assert await error_code(slack_client.conversations_invite(channel=channel, users=[])) == "no_user"
