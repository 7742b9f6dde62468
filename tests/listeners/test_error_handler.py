"""The global error handler and the command listener, in process (Bolt app, fake Slack, Redis)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import redis.asyncio as aioredis
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltRequest
from slack_sdk.web.async_client import AsyncWebClient

from bot.listeners import cards, commands, errors
from bot.listeners.errors import describe_request
from bot.store.keys import Keys
from tests.fakes.slack.server import FakeSlack
from tests.services.helpers import make_runtime


def _app(fake_slack: FakeSlack, slack_client: AsyncWebClient, redis: aioredis.Redis, keys: Keys,
         handler: Any = None, *, fast_ack: bool = True) -> AsyncApp:
    runtime = make_runtime(redis=redis, keys=keys, slack=slack_client, handler=handler)
    app = AsyncApp(client=slack_client, signing_secret="unused", request_verification_enabled=False,
                   process_before_response=True)
    errors.register(app, runtime)
    commands.register(app, runtime, fast_ack=fast_ack)
    cards.register(app, runtime)
    return app


def _command(fake_slack: FakeSlack, user_id: str, text: str, command: str = "/case") -> tuple[str, str]:
    ws = fake_slack.workspace
    channel = ws.add_channel(f"room-{len(ws.channels)}", members=[user_id]).id
    url = ws.issue_response_url(fake_slack.base_url, user_id, channel)
    body = urlencode({"command": command, "text": text, "user_id": user_id, "channel_id": channel,
                      "team_id": ws.TEAM_ID, "trigger_id": ws.issue_trigger(user_id), "response_url": url})
    return body, url


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"command": "/case", "text": "secret words"}, "command /case"),
        ({"type": "block_actions", "actions": [{"action_id": "case_share"}]}, "block_actions case_share"),
        ({"type": "view_submission", "view": {"callback_id": "case_note_modal"}},
         "view_submission case_note_modal"),
        ({"type": "message_action", "callback_id": "case_note_from_message"},
         "message_action case_note_from_message"),
        ({}, "request"),
    ],
)
def test_describe_request_names_ids_not_user_text(body: dict[str, Any], expected: str) -> None:
    assert describe_request(body) == expected


async def test_an_escaping_exception_reaches_the_user_with_an_error_id(
    fake_slack: FakeSlack, slack_client: AsyncWebClient, redis: aioredis.Redis, keys: Keys,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = _app(fake_slack, slack_client, redis, keys)

    @app.command("/boom")
    async def _boom(ack: AsyncAck) -> None:
        await ack()
        raise RuntimeError("kaboom internals")

    user = fake_slack.workspace.add_user("jane")
    body, url = _command(fake_slack, user.id, "", command="/boom")
    await app.async_dispatch(AsyncBoltRequest(body=body))
    posts = fake_slack.journal.responses(url)
    assert len(posts) == 1
    text = posts[0].text
    assert "Something went wrong on our side" in text and "kaboom" not in text
    error_id = text.split("`")[-2]
    assert any(error_id in r.getMessage() and r.exc_info for r in caplog.records)


@pytest.mark.parametrize("fast_ack", [True, False], ids=["fast-ack-middleware", "bolt-listener"])
async def test_command_answers_usage_in_the_ack_and_the_card_on_the_response_url(
    fake_slack: FakeSlack, slack_client: AsyncWebClient, redis: aioredis.Redis, keys: Keys, fast_ack: bool
) -> None:
    case = {"id": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "reference": "Q8OAXF3W", "lifecycle": "Active",
            "currency": "EUR", "grossAmount": 100, "remainder": 100, "debtor": {"name": "Acme"}}

    def debitura(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/cases/case-reference/Q8OAXF3W":
            return httpx.Response(200, json=case)
        return httpx.Response(404, json={"error": None, "message": "Not found", "businessErrors": []})

    app = _app(fake_slack, slack_client, redis, keys, handler=debitura, fast_ack=fast_ack)
    journal = fake_slack.journal
    user = fake_slack.workspace.add_user("jane")

    body, url = _command(fake_slack, user.id, "frobnicate")
    response = await app.async_dispatch(AsyncBoltRequest(body=body))
    assert response.status == 200
    ack = json.loads(response.body)
    assert ack["response_type"] == "ephemeral" and "Unknown command" in json.dumps(ack["blocks"])
    assert fake_slack.journal.responses(url) == []

    body, url = _command(fake_slack, user.id, "Q8OAXF3W")
    response = await app.async_dispatch(AsyncBoltRequest(body=body))
    assert response.status == 200 and response.body == ""
    posts = await journal.wait_for(lambda: journal.responses(url), what="the card")
    assert len(posts) == 1 and "Q8OAXF3W · Acme" in json.dumps(posts[0].body["blocks"], ensure_ascii=False)

    body, url = _command(fake_slack, user.id, "ZZZZ0000")
    await app.async_dispatch(AsyncBoltRequest(body=body))
    posts = await journal.wait_for(lambda: journal.responses(url), what="the 404 words")
    assert "Case not found, or not assigned to you." in posts[0].text


async def test_a_refusal_wins_over_the_lookup_result_and_its_errors(
    fake_slack: FakeSlack, slack_client: AsyncWebClient, redis: aioredis.Redis, keys: Keys
) -> None:
    from bot.debitura.errors import NotFound
    from bot.listeners.commands import while_checking
    from bot.services.errors import Refused

    runtime = make_runtime(redis=redis, keys=keys, slack=slack_client)
    guest = fake_slack.workspace.add_user("gus", guest="multi")
    member = fake_slack.workspace.add_user("mia")

    async def found() -> str:
        return "the case"

    async def missing() -> str:
        raise NotFound(404)

    with pytest.raises(Refused):
        await while_checking(runtime, guest.id, found())
    with pytest.raises(Refused):
        await while_checking(runtime, guest.id, missing())
    assert await while_checking(runtime, member.id, found()) == "the case"
    with pytest.raises(NotFound):
        await while_checking(runtime, member.id, missing())


async def test_the_command_name_is_configurable(
    fake_slack: FakeSlack, slack_client: AsyncWebClient, redis: aioredis.Redis, keys: Keys
) -> None:
    runtime = make_runtime(redis=redis, keys=keys, slack=slack_client, caseroom_command="/cr")
    app = AsyncApp(client=slack_client, signing_secret="unused", request_verification_enabled=False,
                   process_before_response=True)
    commands.register(app, runtime)
    user = fake_slack.workspace.add_user("jane")
    body, _ = _command(fake_slack, user.id, "help", command="/cr")
    response = await app.async_dispatch(AsyncBoltRequest(body=body))
    assert response.status == 200
    usage = json.dumps(json.loads(response.body)["blocks"])
    assert "`/cr list [mine] [lifecycle:Active,Paused] [phase:Legal] [page N]`" in usage
    assert "/case" not in usage
    other, _ = _command(fake_slack, user.id, "help", command="/case")
    assert (await app.async_dispatch(AsyncBoltRequest(body=other))).status == 404
