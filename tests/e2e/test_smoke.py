"""Smoke: the real `caseroom run` process answers `/case help` in both transports within Slack's 3 s ack,
stops cleanly on SIGTERM and reconnects its Socket Mode websocket (subprocesses); a request with a bad
signature is refused (in process)."""

from __future__ import annotations

import pytest

from tests.fakes.slack.driver import HttpTransport
from tests.fixtures.e2e import Caseroom

pytestmark = pytest.mark.e2e


@pytest.mark.subprocess
async def test_case_help_comes_back_within_the_ack_deadline(caseroom: Caseroom) -> None:
    ack = await caseroom.driver.command("/case", "help", user=caseroom.user.id, channel=caseroom.channel.id)

    assert ack.acked, f"no ack within 3 s over {caseroom.mode}"
    assert ack.ok, (ack.status, ack.body)
    journal = caseroom.fake.journal
    if ack.rendered.strip():
        text = ack.rendered
    else:  # not in the ack body: it must come through the command's response_url
        assert ack.response_url is not None
        posts = await journal.wait_for(
            lambda: journal.responses(ack.response_url),
            timeout=10,
            what="a reply on the command's response_url",
        )
        assert all(p.ephemeral for p in posts)
        text = "\n".join(p.rendered for p in posts)
    assert "/case" in text
    assert "help" in text.lower() or "usage" in text.lower()
    rejected = [r for r in journal.responses(ack.response_url, accepted_only=False) if r.error is not None]
    assert not rejected, [(r.error, r.body) for r in rejected]


async def test_a_request_with_a_bad_signature_is_refused(caseroom_http: Caseroom) -> None:
    transport = caseroom_http.driver.transport
    assert isinstance(transport, HttpTransport)
    transport.signing_secret = "not-the-app-signing-secret"

    ack = await caseroom_http.driver.command(
        "/case", "help", user=caseroom_http.user.id, channel=caseroom_http.channel.id
    )

    assert ack.status == 401
    assert caseroom_http.fake.journal.responses(ack.response_url) == []


@pytest.mark.subprocess
async def test_sigterm_stops_the_process_cleanly(caseroom: Caseroom) -> None:
    assert caseroom.process is not None and caseroom.running
    assert await caseroom.stop() == 0, caseroom.output
    assert not caseroom.running
    if caseroom.mode == "socket":
        await caseroom.fake.journal.wait_for(
            lambda: not caseroom.fake.socket.connected, what="the websocket closed"
        )


@pytest.mark.subprocess
async def test_socket_mode_reconnects_after_slack_asks_it_to(caseroom_socket: Caseroom) -> None:
    fake = caseroom_socket.fake
    await fake.socket.disconnect("refresh_requested")
    await fake.socket.wait_connected(count=2, timeout=20)
    ack = await caseroom_socket.driver.command(
        "/case", "help", user=caseroom_socket.user.id, channel=caseroom_socket.channel.id
    )
    assert ack.ok, caseroom_socket.output
    assert len(fake.journal.calls("apps.connections.open", ok=True)) >= 2
