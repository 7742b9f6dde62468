"""The driver's wire format: signatures (checked with slack_sdk's SignatureVerifier), bodies and
headers exactly as Slack sends them, the 3 s ack deadline. The receiving end is a recorder."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import parse_qs

import pytest
from aiohttp import web
from slack_sdk.signature import SignatureVerifier

from tests.fakes.slack.driver import Driver, HttpTransport, http_driver, sign
from tests.fakes.slack.server import FakeSlack

pytestmark = pytest.mark.fakeslack


def test_signature_verifies_with_slack_sdk() -> None:
    body = b"token=x&command=%2Fcase&text=help"
    headers = sign("s3cret", body)
    verifier = SignatureVerifier("s3cret")
    assert verifier.is_valid(body, headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"])
    assert not verifier.is_valid(
        body + b"x", headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"]
    )
    assert not SignatureVerifier("other").is_valid(
        body, headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"]
    )
    old = sign("s3cret", body, timestamp=int(time.time()) - 301)
    assert not verifier.is_valid(body, old["X-Slack-Request-Timestamp"], old["X-Slack-Signature"])


@dataclass
class Recorder:
    """A stand-in app: records each request, checks its signature, answers `reply`."""

    secret: str
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    reply: web.Response | None = None
    delay: float = 0.0
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append((dict(request.headers), body))
        ok = SignatureVerifier(self.secret).is_valid_request(body, dict(request.headers))
        if not ok:
            return web.Response(status=401, text="invalid signature")
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.reply is None:
            return web.Response(status=200)
        # a prepared aiohttp Response cannot be sent twice: answer a copy of the template
        template = self.reply
        return web.Response(status=template.status, body=template.body, headers=template.headers)


@pytest.fixture
async def recorder(fake_slack: FakeSlack) -> AsyncIterator[Recorder]:
    rec = Recorder(fake_slack.signing_secret)
    app = web.Application()
    app.router.add_post("/slack/events", rec.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    rec.url = f"http://127.0.0.1:{port}/slack/events"
    yield rec
    await runner.cleanup()


@pytest.fixture
def driver(fake_slack: FakeSlack, recorder: Recorder) -> Driver:
    return http_driver(fake_slack, recorder.url)


async def test_slash_command_is_a_signed_form_with_a_live_trigger_and_response_url(
    fake_slack: FakeSlack, recorder: Recorder, driver: Driver
) -> None:
    alice = fake_slack.workspace.add_user("alice")
    channel = fake_slack.workspace.add_channel("c", members=[alice.id])
    recorder.reply = web.json_response({"text": "working on it"})
    ack = await driver.command("/case", "Q8OAXF3W", user=alice.id, channel=channel.id)
    assert (ack.acked, ack.ok, ack.status, ack.text) == (True, True, 200, "working on it")
    assert ack.latency > 0
    headers, body = recorder.requests[0]
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
    assert (form["command"], form["text"], form["user_id"], form["channel_id"]) == (
        "/case",
        "Q8OAXF3W",
        alice.id,
        channel.id,
    )
    assert form["response_url"] == ack.response_url and form["trigger_id"] == ack.trigger_id
    assert ack.trigger_id in fake_slack.workspace.triggers
    assert ack.response_url is not None and ack.response_url.startswith(fake_slack.base_url)


async def test_interactions_are_a_signed_payload_field(
    fake_slack: FakeSlack, recorder: Recorder, driver: Driver
) -> None:
    alice = fake_slack.workspace.add_user("alice")
    ack = await driver.global_shortcut("case_open", user=alice.id)
    assert ack.ok
    headers, body = recorder.requests[0]
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    payload = json.loads(parse_qs(body.decode())["payload"][0])
    assert (payload["type"], payload["callback_id"], payload["user"]["id"]) == (
        "shortcut",
        "case_open",
        alice.id,
    )
    assert payload["trigger_id"] in fake_slack.workspace.triggers


async def test_block_actions_only_on_elements_that_exist(
    fake_slack: FakeSlack, recorder: Recorder, driver: Driver
) -> None:
    alice = fake_slack.workspace.add_user("alice")
    channel = fake_slack.workspace.add_channel("c", members=[alice.id])
    blocks = [
        {
            "type": "actions",
            "block_id": "card",
            "elements": [
                {
                    "type": "button",
                    "action_id": "case_open_note",
                    "text": {"type": "plain_text", "text": "Note"},
                    "value": '{"case_id": "c-1"}',
                }
            ],
        }
    ]
    message = fake_slack.workspace.add_bot_message(
        channel, text="card", blocks=blocks, attachments=None, thread_ts=None, metadata=None
    )
    with pytest.raises(ValueError, match="cannot click"):
        await driver.click("no_such_button", user=alice.id, channel=channel.id, message_ts=message.ts)
    ack = await driver.click("case_open_note", user=alice.id, channel=channel.id, message_ts=message.ts)
    assert ack.ok
    payload = json.loads(parse_qs(recorder.requests[-1][1].decode())["payload"][0])
    action = payload["actions"][0]
    assert (action["action_id"], action["block_id"], action["value"], action["type"]) == (
        "case_open_note",
        "card",
        '{"case_id": "c-1"}',
        "button",
    )
    assert payload["container"] == {
        "type": "message",
        "message_ts": message.ts,
        "channel_id": channel.id,
        "is_ephemeral": False,
    }
    assert payload["response_url"].startswith(fake_slack.base_url)


async def test_events_are_signed_json_and_retries_carry_the_retry_headers(
    fake_slack: FakeSlack, recorder: Recorder, driver: Driver
) -> None:
    event = {"type": "app_home_opened", "user": "U1", "tab": "home"}
    first = await driver.event(event, event_id="Ev0001")
    retry = await driver.event(event, event_id="Ev0001", retry_num=1, retry_reason="http_timeout")
    assert first.ok and retry.ok
    (h1, b1), (h2, b2) = recorder.requests
    assert h1["Content-Type"] == "application/json"
    assert "X-Slack-Retry-Num" not in h1
    assert (h2["X-Slack-Retry-Num"], h2["X-Slack-Retry-Reason"]) == ("1", "http_timeout")
    envelope = json.loads(b1)
    assert (envelope["type"], envelope["event_id"], envelope["event"]) == ("event_callback", "Ev0001", event)
    assert json.loads(b2)["event_id"] == "Ev0001"


async def test_user_change_carries_the_whole_changed_user_like_slack(
    fake_slack: FakeSlack, recorder: Recorder, driver: Driver
) -> None:
    user = fake_slack.workspace.add_user("jane", email="jane@agency.example")
    user.is_restricted = True  # turned into a guest
    ack = await driver.user_change(user)
    assert ack.ok
    envelope = json.loads(recorder.requests[0][1])
    assert envelope["type"] == "event_callback" and envelope["team_id"] == fake_slack.workspace.TEAM_ID
    event = envelope["event"]
    assert event["type"] == "user_change" and isinstance(event["cache_ts"], int) and event["event_ts"]
    assert event["user"] == user.to_api(fake_slack.workspace.TEAM_ID)  # what users.info shows
    assert event["user"]["is_restricted"] is True
    assert event["user"]["profile"]["email"] == "jane@agency.example"


async def test_url_verification(recorder: Recorder, driver: Driver) -> None:
    recorder.reply = web.json_response({"challenge": "abc"})
    ack = await driver.url_verification("abc")
    assert ack.payload == {"challenge": "abc"}
    assert json.loads(recorder.requests[0][1])["type"] == "url_verification"


async def test_a_wrong_secret_is_refused_by_the_receiver(fake_slack: FakeSlack, recorder: Recorder) -> None:
    alice = fake_slack.workspace.add_user("alice")
    driver = Driver(fake_slack, HttpTransport(recorder.url, "wrong-secret"))
    ack = await driver.global_shortcut("x", user=alice.id)
    assert (ack.acked, ack.status, ack.ok) == (True, 401, False)


async def test_no_answer_within_the_deadline_is_not_an_ack(fake_slack: FakeSlack, recorder: Recorder) -> None:
    alice = fake_slack.workspace.add_user("alice")
    recorder.delay = 1.0
    driver = Driver(fake_slack, HttpTransport(recorder.url, fake_slack.signing_secret), ack_deadline=0.2)
    ack = await driver.global_shortcut("x", user=alice.id)
    assert (ack.acked, ack.status, ack.ok) == (False, None, False)


async def test_driver_refuses_unknown_users(driver: Driver) -> None:
    with pytest.raises(ValueError, match="unknown user"):
        await driver.command("/case", "help", user="U_GHOST", channel="C1")


async def test_events_are_retried_like_slack_until_answered(recorder: Recorder, driver: Driver) -> None:
    recorder.reply = web.Response(status=500)
    acks = await driver.event_with_retries({"type": "app_mention", "text": "hi"}, event_id="Ev9")
    assert [a.status for a in acks] == [500, 500, 500, 500]  # the first try and 3 retries
    sent = [h for h, _ in recorder.requests]
    assert [h.get("X-Slack-Retry-Num") for h in sent] == [None, "1", "2", "3"]
    assert {h.get("X-Slack-Retry-Reason") for h in sent[1:]} == {"http_error"}
    assert {json.loads(b)["event_id"] for _, b in recorder.requests} == {"Ev9"}


async def test_event_retries_stop_on_success_or_no_retry(recorder: Recorder, driver: Driver) -> None:
    recorder.reply = web.Response(status=503, headers={"X-Slack-No-Retry": "1"})
    assert len(await driver.event_with_retries({"type": "app_mention"})) == 1
    recorder.reply = web.Response(status=200)
    assert len(await driver.event_with_retries({"type": "app_mention"})) == 1


async def test_click_on_an_ephemeral_message(
    fake_slack: FakeSlack, recorder: Recorder, driver: Driver
) -> None:
    alice = fake_slack.workspace.add_user("alice")
    channel = fake_slack.workspace.add_channel("c", members=[alice.id])
    blocks = [
        {
            "type": "actions",
            "elements": [
                {"type": "button", "action_id": "more", "text": {"type": "plain_text", "text": "More"}}
            ],
        }
    ]
    ephemeral = fake_slack.workspace.add_ephemeral(channel.id, alice.id, text="only alice", blocks=blocks)
    ack = await driver.click("more", user=alice.id, channel=channel.id, message_ts=ephemeral.ts)
    assert ack.ok
    payload = json.loads(parse_qs(recorder.requests[-1][1].decode())["payload"][0])
    assert payload["container"]["is_ephemeral"] is True
    assert "message" not in payload  # Slack does not send ephemeral content back
    assert payload["actions"][0]["block_id"]  # Slack generates one when the block has none


async def test_app_home_opened_names_the_user_the_dm_and_the_published_view(
    fake_slack: FakeSlack, recorder: Recorder, driver: Driver
) -> None:
    ws = fake_slack.workspace
    user = ws.add_user("jane", email="jane@agency.example")
    assert (await driver.app_home_opened(user)).ok
    first = json.loads(recorder.requests[0][1])["event"]
    im = ws.channels[first["channel"]]
    assert first["type"] == "app_home_opened" and first["user"] == user.id and first["tab"] == "home"
    assert im.is_im and im.members == {user.id, ws.BOT_USER_ID} and first["event_ts"]
    assert "view" not in first  # nothing published yet
    published = ws.publish_home(user.id, {"type": "home", "blocks": [], "private_metadata": "p"})
    await driver.app_home_opened(user)
    second = json.loads(recorder.requests[1][1])["event"]
    assert second["channel"] == first["channel"]
    assert second["view"]["id"] == published.id and second["view"]["type"] == "home"
    assert second["view"]["private_metadata"] == "p"
    await driver.app_home_opened(user, tab="messages")
    assert "view" not in json.loads(recorder.requests[2][1])["event"]
