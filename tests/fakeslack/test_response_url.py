"""response_url: 5 uses within 30 minutes, ephemeral/in_channel, replace_original and delete_original."""

from __future__ import annotations

import pytest
from slack_sdk.webhook.async_client import AsyncWebhookClient

from tests.fakes.slack.server import FakeSlack
from tests.fakes.slack.workspace import Channel, User

pytestmark = pytest.mark.fakeslack


@pytest.fixture
def alice(fake_slack: FakeSlack) -> User:
    return fake_slack.workspace.add_user("alice")


@pytest.fixture
def channel(fake_slack: FakeSlack, alice: User) -> Channel:
    return fake_slack.workspace.add_channel("case-1", members=[alice.id])


def url(fake: FakeSlack, user: User, channel: Channel, message_ts: str | None = None) -> str:
    return fake.workspace.issue_response_url(fake.base_url, user.id, channel.id, message_ts)


async def test_five_uses_then_used_url(fake_slack: FakeSlack, alice: User, channel: Channel) -> None:
    hook = AsyncWebhookClient(url(fake_slack, alice, channel))
    for i in range(5):
        assert (await hook.send(text=f"reply {i}")).status_code == 200
    sixth = await hook.send(text="one too many")
    assert (sixth.status_code, sixth.body) == (404, "used_url")
    assert len(fake_slack.journal.responses(hook.url)) == 5
    assert len(fake_slack.journal.responses(hook.url, accepted_only=False)) == 6


async def test_expires_after_30_minutes(fake_slack: FakeSlack, alice: User, channel: Channel) -> None:
    fresh = AsyncWebhookClient(url(fake_slack, alice, channel))
    stale = AsyncWebhookClient(url(fake_slack, alice, channel))
    assert (await stale.send(text="early")).status_code == 200
    fake_slack.clock.advance(29 * 60)
    assert (await fresh.send(text="still fine")).status_code == 200
    fake_slack.clock.advance(61)
    late = await stale.send(text="too late")
    assert (late.status_code, late.body) == (404, "expired_url")


async def test_ephemeral_by_default_in_channel_when_asked(
    fake_slack: FakeSlack, alice: User, channel: Channel
) -> None:
    hook = AsyncWebhookClient(url(fake_slack, alice, channel))
    await hook.send(text="just you")
    assert fake_slack.journal.messages(channel.id) == []
    await hook.send(text="everyone", response_type="in_channel")
    assert [m.text for m in fake_slack.journal.messages(channel.id)] == ["everyone"]
    assert [r.ephemeral for r in fake_slack.journal.responses(hook.url)] == [True, False]


async def test_replace_and_delete_original(fake_slack: FakeSlack, alice: User, channel: Channel) -> None:
    original = fake_slack.workspace.add_bot_message(
        channel, text="card v1", blocks=None, attachments=None, thread_ts=None, metadata=None
    )
    hook = AsyncWebhookClient(url(fake_slack, alice, channel, original.ts))
    await hook.send(text="card v2", replace_original=True)
    assert [m.text for m in fake_slack.journal.messages(channel.id)] == ["card v2"]
    assert (await hook.send(delete_original=True)).status_code == 200
    assert fake_slack.journal.messages(channel.id) == []


async def test_bad_bodies_are_refused(fake_slack: FakeSlack, alice: User, channel: Channel) -> None:
    hook = AsyncWebhookClient(url(fake_slack, alice, channel))
    bad_blocks = await hook.send(
        text="x", blocks=[{"type": "header", "text": {"type": "mrkdwn", "text": "h"}}]
    )
    assert (bad_blocks.status_code, bad_blocks.body) == (400, "invalid_blocks")
    empty = await hook.send_dict({"response_type": "ephemeral"})
    assert (empty.status_code, empty.body) == (400, "no_text")
    unknown = AsyncWebhookClient(f"{fake_slack.base_url}response/{fake_slack.workspace.TEAM_ID}/nope")
    assert (await unknown.send(text="x")).status_code == 404
    # refused posts do not use up the five uses
    for _ in range(5):
        assert (await hook.send(text="ok")).status_code == 200


async def test_ephemeral_replies_are_messages_only_their_user_sees(
    fake_slack: FakeSlack, alice: User, channel: Channel
) -> None:
    hook = AsyncWebhookClient(url(fake_slack, alice, channel))
    await hook.send(text="card", blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "card"}}])
    post = fake_slack.journal.responses(hook.url)[0]
    assert post.message_ts is not None
    ephemeral = fake_slack.workspace.find_message(channel.id, post.message_ts, user_id=alice.id)
    assert ephemeral is not None and ephemeral.visible_to == alice.id
    assert fake_slack.workspace.find_message(channel.id, post.message_ts, user_id="U_OTHER") is None
    # an interaction on the ephemeral message gets a response_url that can replace or delete it
    follow_up = AsyncWebhookClient(url(fake_slack, alice, channel, post.message_ts))
    await follow_up.send(text="card v2", replace_original=True)
    assert ephemeral.text == "card v2"
    await follow_up.send(delete_original=True)
    assert post.message_ts not in fake_slack.workspace.ephemerals
