"""SIGTERM while a command is being worked on: the answer still reaches the user, then the process exits 0."""

from __future__ import annotations

import asyncio
import signal

import pytest

from tests.e2e.case_helpers import mrkdwn, reply, run
from tests.fixtures.e2e import Factory
from tests.fixtures.sandbox import SandboxHandle

pytestmark = [pytest.mark.e2e, pytest.mark.subprocess]


async def test_sigterm_finishes_in_flight_work_before_exiting(
    caseroom_factory: Factory, sandbox: SandboxHandle
) -> None:
    caseroom = await caseroom_factory("http")
    case = sandbox.case("Active")
    # Debitura answers this case slowly: the card is still being built when SIGTERM arrives.
    sandbox.control.add_fault(f"/cases/{case['id']}", latency_ms=1500)
    ack = await run(caseroom, case["id"])
    assert caseroom.process is not None
    caseroom.process.send_signal(signal.SIGTERM)
    code = await asyncio.wait_for(caseroom.process.wait(), 30)
    assert code == 0, caseroom.output
    post = await reply(caseroom, ack, timeout=5)
    assert case["reference"] in mrkdwn(post.body)
    out = caseroom.output
    assert "SIGTERM received: shutting down gracefully" in out
    assert "Traceback" not in out
