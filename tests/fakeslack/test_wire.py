"""Wire formats and authentication, exercised by slack_sdk's own AsyncWebClient."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack.server import FakeSlack
from tests.fakeslack.helpers import error_code, slack_error

pytestmark = pytest.mark.fakeslack


async def test_auth_test_answers_the_bot_identity(
    slack_client: AsyncWebClient, fake_slack: FakeSlack
) -> None:
    resp = await slack_client.auth_test()
    assert resp["user_id"] == fake_slack.workspace.BOT_USER_ID
    assert resp["team_id"] == fake_slack.workspace.TEAM_ID
    assert resp["bot_id"] == fake_slack.workspace.BOT_ID


async def test_missing_token_is_not_authed(fake_slack: FakeSlack) -> None:
    client = AsyncWebClient(token=None, base_url=fake_slack.api_url)
    assert await error_code(client.auth_test()) == "not_authed"


async def test_unknown_token_is_invalid_auth(fake_slack: FakeSlack) -> None:
    client = AsyncWebClient(token="xoxb-not-issued", base_url=fake_slack.api_url)
    assert await error_code(client.auth_test()) == "invalid_auth"


async def test_app_token_only_opens_connections(fake_slack: FakeSlack, slack_client: AsyncWebClient) -> None:
    app_client = AsyncWebClient(token=fake_slack.app_token, base_url=fake_slack.api_url)
    assert await error_code(app_client.auth_test()) == "not_allowed_token_type"
    assert (
        await error_code(slack_client.apps_connections_open(app_token=fake_slack.bot_token))
        == "not_allowed_token_type"
    )
    resp = await slack_client.apps_connections_open(app_token=fake_slack.app_token)
    assert resp["url"].startswith(f"ws://127.0.0.1:{fake_slack.port}/link/?ticket=")


async def test_json_bodies_form_bodies_and_query_strings_are_all_read(
    fake_slack: FakeSlack, slack_client: AsyncWebClient
) -> None:
    channel = fake_slack.workspace.add_channel("wire")
    await slack_client.chat_postMessage(channel=channel.id, text="json body")  # JSON
    await slack_client.conversations_setTopic(channel=channel.id, topic="query on POST")  # params
    info = await slack_client.conversations_info(channel=channel.id)  # GET query string
    assert info["channel"]["topic"]["value"] == "query on POST"
    form = {"token": fake_slack.bot_token, "channel": channel.id, "topic": "form"}  # form, token inside
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{fake_slack.api_url}conversations.setTopic", data=form) as resp,
    ):
        assert (await resp.json())["ok"] is True
    assert channel.topic == "form"
    posted = fake_slack.journal.last_call("chat.postMessage")
    assert posted is not None and posted.args["text"] == "json body"


async def test_a_token_inside_a_json_body_is_ignored(fake_slack: FakeSlack) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{fake_slack.api_url}auth.test", json={"token": fake_slack.bot_token}) as resp,
    ):
        assert (await resp.json()) == {"ok": False, "error": "not_authed"}


async def test_malformed_json_body_is_invalid_json(fake_slack: FakeSlack) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{fake_slack.api_url}chat.postMessage",
            data=b"{nope",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {fake_slack.bot_token}"},
        ) as resp,
    ):
        assert (await resp.json())["error"] == "invalid_json"


async def test_unknown_method(fake_slack: FakeSlack, slack_client: AsyncWebClient) -> None:
    assert await error_code(slack_client.api_call("chat.doesNotExist")) == "unknown_method"


async def test_every_call_is_journaled_with_its_parsed_arguments(
    fake_slack: FakeSlack, slack_client: AsyncWebClient
) -> None:
    await error_code(slack_client.users_info(user="U_NOBODY"))
    await slack_client.auth_test()
    failed = fake_slack.journal.calls("users.info", ok=False)
    assert [c.args for c in failed] == [{"user": "U_NOBODY"}]
    assert failed[0].error == "user_not_found"
    assert [c.method for c in fake_slack.journal.calls()] == ["users.info", "auth.test"]


async def test_a_bug_in_the_fake_is_a_500_and_recorded(
    slack_client: AsyncWebClient, fake_slack: FakeSlack
) -> None:
    from tests.fakes.slack.api import REGISTRY, Method

    async def broken(ctx: object) -> dict[str, object]:
        raise KeyError("oops")

    original = REGISTRY["auth.test"]
    REGISTRY["auth.test"] = Method("auth.test", broken)
    try:
        exc = await slack_error(slack_client.auth_test())
    finally:
        REGISTRY["auth.test"] = original
    assert (exc.response.status_code, exc.response["error"]) == (500, "fake_slack_internal_error")
    assert "KeyError: 'oops'" in fake_slack.internal_errors[0]
    fake_slack.internal_errors.clear()  # handled here; the fixture would otherwise fail the test


@pytest.mark.parametrize(
    ("granted", "call", "needed"),
    [
        (["commands"], lambda c, ch: c.chat_postMessage(channel=ch.id, text="x"), "chat:write"),
        (
            ["channels:manage"],
            lambda c, ch: c.conversations_create(name="p", is_private=True),
            "groups:write",
        ),
        (["groups:write"], lambda c, ch: c.conversations_create(name="p"), "channels:manage"),
        (["groups:history"], lambda c, ch: c.conversations_history(channel=ch.id), "channels:history"),
        (["users:read"], lambda c, ch: c.users_lookupByEmail(email="a@example.com"), "users:read.email"),
        (["users:read"], lambda c, ch: c.usergroups_users_list(usergroup="S1"), "usergroups:read"),
    ],
    ids=["chat:write", "private create", "public create", "history", "email", "usergroups"],
)
async def test_missing_scope(
    fake_slack: FakeSlack, slack_client: AsyncWebClient, granted: list[str], call: Any, needed: str
) -> None:
    channel = fake_slack.workspace.add_channel("public-one")
    fake_slack.granted_scopes = set(granted)
    exc = await slack_error(call(slack_client, channel))
    assert (exc.response["error"], exc.response["needed"]) == ("missing_scope", needed)
    assert exc.response["provided"] == ",".join(sorted(granted))
    assert exc.response.headers["x-oauth-scopes"] == ",".join(sorted(granted))
    fake_slack.granted_scopes = {*granted, needed}
    try:
        await call(slack_client, channel)
    except SlackApiError as granted_exc:  # past the scope check, the method's own rules apply
        assert granted_exc.response["error"] in ("users_not_found", "no_such_subteam")


async def test_scope_free_methods_need_none(fake_slack: FakeSlack, slack_client: AsyncWebClient) -> None:
    fake_slack.granted_scopes = set()
    assert (await slack_client.auth_test())["ok"]
