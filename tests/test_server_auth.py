"""The first Slack request after start-up is acked without a Slack round trip (auth.test)."""

from __future__ import annotations

from urllib.parse import urlencode

from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.server import reuse_auth_test


def auth_answer(client: AsyncWebClient) -> AsyncSlackResponse:
    data = {"ok": True, "team_id": "T1", "team": "Team", "user_id": "UBOT", "bot_id": "B1", "url": "x"}
    return AsyncSlackResponse(client=client, http_verb="POST", api_url="auth.test", req_args={},
                              data=data, headers={}, status_code=200)


def command_request() -> AsyncBoltRequest:
    body = urlencode({"command": "/case", "text": "help", "team_id": "T1", "user_id": "U1",
                      "channel_id": "C1", "response_url": "http://127.0.0.1:9/r", "trigger_id": "t"})
    return AsyncBoltRequest(body=body, headers={"content-type": ["application/x-www-form-urlencoded"]})


async def test_the_first_command_is_acked_with_the_auth_test_answer_start_up_got() -> None:
    # Slack is unreachable here: were auth.test called at the first request, the ack would fail.
    client = AsyncWebClient(token="xoxb-1-2-test", base_url="http://127.0.0.1:9/api/", timeout=1)
    app = AsyncApp(client=client, signing_secret="s", request_verification_enabled=False,
                   process_before_response=True)
    seen: list[str] = []

    @app.command("/case")
    async def case(ack: object, command: dict[str, str], context: dict[str, object]) -> None:
        seen.append(str(context.get("bot_user_id")))
        await ack()  # type: ignore[operator]

    reuse_auth_test(app, auth_answer(client))
    response = await app.async_dispatch(command_request())
    assert response.status == 200
    assert seen == ["UBOT"]
