"""People and channel events in process, with Slack's real payloads from the fake: `user_change` drops the
cached profile; `channel_shared` / `channel_unshared` update the relay's Slack Connect answer."""

from __future__ import annotations

import json

import pytest
import redis.asyncio as aioredis
from slack_bolt.async_app import AsyncApp, AsyncBoltRequest
from slack_sdk.web.async_client import AsyncWebClient

from bot.listeners import errors, events
from bot.runtime import Runtime
from bot.services import identity
from bot.services.errors import Refused
from bot.slack import sharing
from bot.store.keys import Keys
from tests.fakes.slack import payloads
from tests.fakes.slack.server import FakeSlack
from tests.services.helpers import make_runtime


@pytest.fixture
def runtime(slack_client: AsyncWebClient, redis: aioredis.Redis, keys: Keys) -> Runtime:
    return make_runtime(redis=redis, keys=keys, slack=slack_client)


@pytest.fixture
def app(runtime: Runtime, slack_client: AsyncWebClient) -> AsyncApp:
    bolt = AsyncApp(client=slack_client, signing_secret="unused", request_verification_enabled=False,
                    process_before_response=True)
    errors.register(bolt, runtime)
    events.register(bolt, runtime)
    return bolt


async def deliver_user_change(app: AsyncApp, fake_slack: FakeSlack, user_id: str) -> None:
    ws = fake_slack.workspace
    envelope = payloads.event_envelope(ws, payloads.user_change_event(ws, ws.users[user_id]))
    assert envelope["type"] == "event_callback" and envelope["event"]["user"]["id"] == user_id
    response = await app.async_dispatch(AsyncBoltRequest(body=json.dumps(envelope)))
    assert response.status == 200


@pytest.mark.parametrize(("change", "words"), [("guest", "Guests"), ("deleted", "deactivated"),
                                              ("other_org", "other organisations")])
async def test_user_change_drops_the_cached_profile_so_the_next_request_is_refused(
    app: AsyncApp, runtime: Runtime, fake_slack: FakeSlack, redis: aioredis.Redis, keys: Keys,
    change: str, words: str,
) -> None:
    user = fake_slack.workspace.add_user("jane")
    await identity.check_user(runtime, user.id)  # cached for hours for reads
    if change == "guest":
        user.is_restricted = True
    elif change == "deleted":
        user.deleted = True
    else:
        user.team_id = "T0OTHERORG"
    await deliver_user_change(app, fake_slack, user.id)
    assert await redis.get(keys.slack_user(user.id)) is None
    with pytest.raises(Refused, match=words):
        await identity.check_user(runtime, user.id)


async def test_user_change_without_a_user_is_ignored(app: AsyncApp, fake_slack: FakeSlack) -> None:
    envelope = payloads.event_envelope(fake_slack.workspace, {"type": "user_change", "user": "not-an-object"})
    response = await app.async_dispatch(AsyncBoltRequest(body=json.dumps(envelope)))
    assert response.status == 200


async def dispatch_event(app: AsyncApp, fake_slack: FakeSlack, event: dict[str, object]) -> None:
    envelope = payloads.event_envelope(fake_slack.workspace, event)
    response = await app.async_dispatch(AsyncBoltRequest(body=json.dumps(envelope)))
    assert response.status == 200


async def test_channel_shared_and_unshared_update_the_relays_answer_at_once(
    app: AsyncApp, runtime: Runtime, fake_slack: FakeSlack
) -> None:
    ws = fake_slack.workspace
    channel = ws.add_channel("case-ab12cd34", is_private=True)
    assert await sharing.channel_sharing(runtime, channel.id) is sharing.Sharing.INTERNAL  # now cached
    channel.is_shared = channel.is_ext_shared = True
    await dispatch_event(app, fake_slack, payloads.channel_shared_event(channel.id))
    assert await sharing.channel_sharing(runtime, channel.id) is sharing.Sharing.EXTERNAL
    channel.is_shared = channel.is_ext_shared = False
    await dispatch_event(app, fake_slack, payloads.channel_unshared_event(channel.id))
    assert await sharing.channel_sharing(runtime, channel.id) is sharing.Sharing.INTERNAL
    assert len(fake_slack.journal.calls("conversations.info")) == 2  # first look, and after the unshare
