"""Card and list buttons in process: stale values, refused users, Share in channel."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import redis.asyncio as aioredis
from slack_bolt.async_app import AsyncApp, AsyncBoltRequest
from slack_sdk.web.async_client import AsyncWebClient

from blocks.ids import Action
from blocks.metadata import CaseRef
from bot.listeners import cards, commands, errors
from bot.store.keys import Keys
from tests.fakes.slack.server import FakeSlack
from tests.fixtures.e2e import manifest_scopes
from tests.services.helpers import make_runtime

CASE = {"id": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "reference": "Q8OAXF3W", "lifecycle": "Active",
        "currency": "EUR", "grossAmount": 100, "remainder": 100, "debtor": {"name": "Acme"}}


def debitura(request: httpx.Request) -> httpx.Response:
    if request.url.path == f"/cases/{CASE['id']}":
        return httpx.Response(200, json=CASE)
    return httpx.Response(404, json={"error": None, "message": "Not found", "businessErrors": []})


@pytest.fixture
def app(fake_slack: FakeSlack, slack_client: AsyncWebClient, redis: aioredis.Redis, keys: Keys) -> AsyncApp:
    runtime = make_runtime(redis=redis, keys=keys, slack=slack_client, handler=debitura)
    bolt = AsyncApp(client=slack_client, signing_secret="unused", request_verification_enabled=False,
                    process_before_response=True)
    errors.register(bolt, runtime)
    commands.register(bolt, runtime)
    cards.register(bolt, runtime)
    return bolt


def click(fake_slack: FakeSlack, user_id: str, action_id: str, value: str, channel: str | None = None
          ) -> tuple[str, str]:
    """A click on a button of an ephemeral message in `channel` (a new channel with the user when None)."""
    ws = fake_slack.workspace
    if channel is None:
        channel = ws.add_channel(f"room-{len(ws.channels)}", members=[user_id]).id
    url = ws.issue_response_url(fake_slack.base_url, user_id, channel)
    payload: dict[str, Any] = {
        "type": "block_actions", "team": {"id": ws.TEAM_ID}, "user": {"id": user_id},
        "channel": {"id": channel}, "response_url": url, "trigger_id": ws.issue_trigger(user_id),
        "container": {"type": "message", "channel_id": channel, "is_ephemeral": True},
        "actions": [{"type": "button", "action_id": action_id, "block_id": "b", "value": value}],
    }
    return urlencode({"payload": json.dumps(payload)}), url


@pytest.mark.parametrize("action_id", [Action.SHOW_CARD, Action.SHOW_TIMELINE, Action.FOLLOW, Action.SHARE,
                                       Action.LIST_PAGE])
async def test_a_button_from_an_older_message_says_so(
    app: AsyncApp, fake_slack: FakeSlack, action_id: str
) -> None:
    user = fake_slack.workspace.add_user("jane")
    body, url = click(fake_slack, user.id, action_id, '{"unexpected": true}')
    response = await app.async_dispatch(AsyncBoltRequest(body=body))
    assert response.status == 200
    posts = fake_slack.journal.responses(url)
    assert len(posts) == 1 and "older message" in posts[0].text and "Error id" in posts[0].text


async def test_a_guest_clicking_a_shared_card_is_refused(app: AsyncApp, fake_slack: FakeSlack) -> None:
    guest = fake_slack.workspace.add_user("gus", guest="multi")
    body, url = click(fake_slack, guest.id, Action.SHOW_CARD, CaseRef(id=CASE["id"]).encode_value())
    await app.async_dispatch(AsyncBoltRequest(body=body))
    assert "Guests cannot use Caseroom" in fake_slack.journal.responses(url)[0].text


async def test_share_answers_in_channel_and_open_answers_ephemeral(
    app: AsyncApp, fake_slack: FakeSlack
) -> None:
    ws = fake_slack.workspace
    user = ws.add_user("jane")
    channel = ws.add_channel("team", members=[user.id])
    value = CaseRef(id=CASE["id"], ref="Q8OAXF3W").encode_value()
    body, url = click(fake_slack, user.id, Action.SHARE, value, channel.id)
    await app.async_dispatch(AsyncBoltRequest(body=body))
    shared = fake_slack.journal.responses(url)[0]
    assert shared.body["response_type"] == "in_channel" and shared.body["replace_original"] is False
    assert f"Shared by <@{user.id}>" in json.dumps(shared.body["blocks"])
    body, url = click(fake_slack, user.id, Action.SHOW_CARD, value, channel.id)
    await app.async_dispatch(AsyncBoltRequest(body=body))
    opened = fake_slack.journal.responses(url)[0]
    assert opened.ephemeral and "Q8OAXF3W" in json.dumps(opened.body["blocks"])


async def test_sharing_into_an_archived_channel_tells_the_user(app: AsyncApp, fake_slack: FakeSlack) -> None:
    ws = fake_slack.workspace
    user = ws.add_user("jane")
    channel = ws.add_channel("old", members=[user.id])
    channel.is_archived = True
    body, url = click(fake_slack, user.id, Action.SHARE, CaseRef(id=CASE["id"]).encode_value(), channel.id)
    await app.async_dispatch(AsyncBoltRequest(body=body))
    posts = fake_slack.journal.responses(url)
    assert len(posts) == 1  # the refused in_channel post is not counted as accepted
    assert posts[0].ephemeral and "Slack refused to show this reply (HTTP 410)" in posts[0].text
    assert "Error id" in posts[0].text
    assert fake_slack.journal.responses(url, accepted_only=False)[0].error == "channel_is_archived"


@pytest.mark.parametrize("shared", ["external", "pending"])
async def test_share_refuses_a_channel_shared_with_another_organisation(
    app: AsyncApp, fake_slack: FakeSlack, shared: str
) -> None:
    ws = fake_slack.workspace
    user = ws.add_user("jane")
    channel = ws.add_channel("with-partner", members=[user.id], shared=shared)
    body, url = click(fake_slack, user.id, Action.SHARE, CaseRef(id=CASE["id"]).encode_value(), channel.id)
    await app.async_dispatch(AsyncBoltRequest(body=body))
    posts = fake_slack.journal.responses(url, accepted_only=False)
    assert len(posts) == 1 and posts[0].ephemeral
    assert "shared with another organisation (Slack Connect)" in posts[0].text
    assert "Acme" not in json.dumps(posts[0].body)  # no debtor data in the refusal
    assert fake_slack.journal.messages(channel.id) == []


@pytest.mark.parametrize("where", ["private_without_bot", "dm"])
async def test_share_refuses_a_conversation_caseroom_cannot_check(
    app: AsyncApp, fake_slack: FakeSlack, where: str
) -> None:
    ws = fake_slack.workspace
    user = ws.add_user("jane")
    other = ws.add_user("bob")
    if where == "dm":
        fake_slack.granted_scopes = set(manifest_scopes())  # no im:read, as in manifest.yml
        channel_id = ws.open_im(user.id).id
    else:
        members = [user.id, other.id]
        channel_id = ws.add_channel("secret", is_private=True, members=members, bot_member=False).id
    body, url = click(fake_slack, user.id, Action.SHARE, CaseRef(id=CASE["id"]).encode_value(), channel_id)
    await app.async_dispatch(AsyncBoltRequest(body=body))
    posts = fake_slack.journal.responses(url, accepted_only=False)
    assert len(posts) == 1 and posts[0].ephemeral
    assert "cannot see this conversation" in posts[0].text


async def test_a_share_rereads_an_old_profile_first(
    app: AsyncApp, fake_slack: FakeSlack, redis: aioredis.Redis, keys: Keys
) -> None:
    """Sharing puts debtor data in front of a channel: a guest since the profile was cached is refused."""
    ws = fake_slack.workspace
    user = ws.add_user("jane")
    channel = ws.add_channel("team", members=[user.id])
    value = CaseRef(id=CASE["id"]).encode_value()
    body, url = click(fake_slack, user.id, Action.SHOW_CARD, value, channel.id)
    await app.async_dispatch(AsyncBoltRequest(body=body))  # caches the profile
    user.is_restricted = True
    cached = json.loads(await redis.get(keys.slack_user(user.id)))
    cached["fetched"] -= 10 * 60
    await redis.set(keys.slack_user(user.id), json.dumps(cached))
    body, url = click(fake_slack, user.id, Action.SHARE, value, channel.id)
    await app.async_dispatch(AsyncBoltRequest(body=body))
    posts = fake_slack.journal.responses(url, accepted_only=False)
    assert len(posts) == 1 and "Guests cannot use Caseroom" in posts[0].text


PAYMENT = {"id": "00000000-0000-0000-0000-000000000001", "date": "2026-03-01T00:00:00Z", "grossAmount": 40,
           "recipient": "CollectionPartner", "method": "Bank transfer", "currency": "EUR"}


def with_payments(request: httpx.Request) -> httpx.Response:
    if request.url.path == f"/cases/{CASE['id']}/payments":
        return httpx.Response(200, json=[PAYMENT])
    return debitura(request)


@pytest.mark.parametrize(("admins", "buttons"), [("", False), ("*", True)])
async def test_payment_edit_buttons_follow_the_admin_default(
    fake_slack: FakeSlack, slack_client: AsyncWebClient, redis: aioredis.Redis, keys: Keys,
    admins: str, buttons: bool,
) -> None:
    """Closed by default: no admin setting, nobody gets Edit / Delete; CASEROOM_ADMIN_USERS=* gives all."""
    runtime = make_runtime(redis=redis, keys=keys, slack=slack_client, handler=with_payments,
                           caseroom_admin_users=admins)
    bolt = AsyncApp(client=slack_client, signing_secret="unused", request_verification_enabled=False,
                    process_before_response=True)
    errors.register(bolt, runtime)
    cards.register(bolt, runtime)
    user = fake_slack.workspace.add_user("jane")
    body, url = click(fake_slack, user.id, Action.SHOW_PAYMENTS, CaseRef(id=CASE["id"]).encode_value())
    await bolt.async_dispatch(AsyncBoltRequest(body=body))
    shown = json.dumps(fake_slack.journal.responses(url)[0].body)
    assert "40.00" in shown
    assert (Action.EDIT_PAYMENT.value in shown) is buttons
    assert (Action.DELETE_PAYMENT.value in shown) is buttons
