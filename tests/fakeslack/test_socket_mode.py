"""Socket Mode on the fake, with slack_sdk's own aiohttp SocketModeClient: hello, envelopes, acks with
payloads, redelivery of unacked Events API envelopes, disconnect and reconnect, single-use URLs."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack.server import FakeSlack
from tests.fakes.slack.socket_mode import NotConnected

pytestmark = pytest.mark.fakeslack


class Recording:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.requests: list[SocketModeRequest] = []
        self.ack_payload: dict[str, Any] | None = None
        self.skip_first_attempt = False


@pytest.fixture
async def client(fake_slack: FakeSlack) -> AsyncIterator[tuple[SocketModeClient, Recording]]:
    rec = Recording()
    web_client = AsyncWebClient(token=fake_slack.bot_token, base_url=fake_slack.api_url)
    sm = SocketModeClient(app_token=fake_slack.app_token, web_client=web_client)

    async def on_message(_: Any, message: dict[str, Any], raw: str | None) -> None:
        rec.messages.append(message)

    async def on_request(c: Any, req: SocketModeRequest) -> None:
        rec.requests.append(req)
        if rec.skip_first_attempt and req.retry_attempt in (None, 0):
            return  # never ack: Slack will redeliver
        await c.send_socket_mode_response(
            SocketModeResponse(envelope_id=req.envelope_id, payload=rec.ack_payload)
        )

    sm.message_listeners.append(on_message)
    sm.socket_mode_request_listeners.append(on_request)
    await sm.connect()  # type: ignore[no-untyped-call]
    await fake_slack.socket.wait_connected()
    yield sm, rec
    await sm.close()  # type: ignore[no-untyped-call]


async def test_hello_on_connect(fake_slack: FakeSlack, client: tuple[SocketModeClient, Recording]) -> None:
    _, rec = client
    hello = await fake_slack.journal.wait_for(lambda: [m for m in rec.messages if m.get("type") == "hello"])
    assert hello[0]["connection_info"]["app_id"] == fake_slack.workspace.APP_ID
    assert fake_slack.socket.connects == 1


async def test_envelope_is_acked_with_its_payload(
    fake_slack: FakeSlack, client: tuple[SocketModeClient, Recording]
) -> None:
    _, rec = client
    rec.ack_payload = {"response_action": "errors", "errors": {"note_text": "Too short"}}
    delivery = await fake_slack.socket.send("interactive", {"type": "view_submission", "view": {"id": "V1"}})
    ack = await fake_slack.journal.wait_for(lambda: (delivery.ack.done() and delivery.ack.result()) or None)
    assert ack == rec.ack_payload
    req = rec.requests[0]
    assert (req.type, req.envelope_id, req.payload["view"]["id"]) == (
        "interactive",
        delivery.envelope_id,
        "V1",
    )
    assert delivery.acked_at is not None


async def test_unacked_event_is_redelivered_with_retry_attempt(
    fake_slack: FakeSlack, client: tuple[SocketModeClient, Recording]
) -> None:
    _, rec = client
    rec.skip_first_attempt = True
    task = fake_slack.socket.deliver_event(
        {"type": "event_callback", "event_id": "Ev1", "event": {"type": "x"}},
        ack_timeout=0.2,
        retry_delays=(0.0, 0.0, 0.0),
    )
    attempts = await task
    assert [a.retry_attempt for a in attempts] == [0, 1]
    assert [a.acked for a in attempts] == [False, True]
    assert (rec.requests[1].retry_attempt, rec.requests[1].retry_reason) == (1, "timeout")
    assert rec.requests[1].payload["event_id"] == "Ev1"
    assert rec.requests[0].accepts_response_payload is False


async def test_events_stop_after_three_retries(fake_slack: FakeSlack) -> None:
    url = fake_slack.socket.issue_url()
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        await ws.receive_json()  # hello
        task = fake_slack.socket.deliver_event(
            {"event_id": "Ev2"}, ack_timeout=0.05, retry_delays=(0.0, 0.0, 0.0)
        )
        attempts = await task
        received = [await ws.receive_json() for _ in range(4)]
    assert [a.retry_attempt for a in attempts] == [0, 1, 2, 3]
    assert [r["retry_attempt"] for r in received] == [0, 1, 2, 3]
    assert not any(a.acked for a in attempts)


async def test_disconnect_makes_the_client_reconnect(
    fake_slack: FakeSlack, client: tuple[SocketModeClient, Recording]
) -> None:
    await fake_slack.socket.disconnect("refresh_requested")
    await fake_slack.socket.wait_connected(count=2)
    assert len(fake_slack.journal.calls("apps.connections.open", ok=True)) == 2
    delivery = await fake_slack.socket.send("slash_commands", {"command": "/case", "text": "help"})
    await fake_slack.journal.wait_for(lambda: delivery.acked, what="an ack on the new connection")
    await fake_slack.journal.wait_for(
        lambda: len(fake_slack.socket.connections) == 1, what="the old socket closed"
    )


async def test_urls_are_single_use_and_need_a_ticket(fake_slack: FakeSlack) -> None:
    url = fake_slack.socket.issue_url()
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url) as ws:
            assert json.loads((await ws.receive()).data)["type"] == "hello"
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await session.ws_connect(url)
        assert info.value.status == 401


async def test_sending_without_a_connection_fails(fake_slack: FakeSlack) -> None:
    with pytest.raises(NotConnected):
        await fake_slack.socket.send("events_api", {})


async def test_a_frozen_link_fails_the_clients_ping_check_and_it_reconnects(fake_slack: FakeSlack) -> None:
    web_client = AsyncWebClient(token=fake_slack.bot_token, base_url=fake_slack.api_url)
    sm = SocketModeClient(app_token=fake_slack.app_token, web_client=web_client, ping_interval=0.1)
    await sm.connect()  # type: ignore[no-untyped-call]
    try:
        await fake_slack.socket.wait_connected()
        assert await sm.is_connected()
        assert fake_slack.socket.freeze() == 1
        assert not fake_slack.socket.connected
        with pytest.raises(NotConnected):
            await fake_slack.socket.send("events_api", {})
        await fake_slack.socket.wait_connected(count=2, timeout=10)  # the client noticed and reconnected
        delivery = await fake_slack.socket.send("events_api", {"event_id": "Ev3"})
        assert delivery.envelope_id
    finally:
        await sm.close()  # type: ignore[no-untyped-call]
