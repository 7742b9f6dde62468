"""`caseroom sandbox ctl`: the shell front of the control API."""

from __future__ import annotations

import json

import httpx
import pytest

from bot.sandbox.ctl import main
from tests.fixtures.sandbox import SandboxHandle

pytestmark = pytest.mark.sandbox


def ctl(sandbox: SandboxHandle, capsys: pytest.CaptureFixture[str], *argv: str) -> object:
    assert main(["--url", sandbox.url, *argv]) == 0
    out = capsys.readouterr().out
    return json.loads(out) if out.strip() else None


def test_ctl_actions(sandbox: SandboxHandle, capsys: pytest.CaptureFixture[str]) -> None:
    case = sandbox.case("Active")
    chat = ctl(sandbox, capsys, "chat", case["reference"], "Hello from the creditor")
    assert isinstance(chat, dict) and chat["role"] == 1
    ctl(sandbox, capsys, "edit-chat", case["id"], chat["id"], "--message", "edited", "--seen")
    ctl(sandbox, capsys, "phase", case["reference"], "Enforcement")
    ctl(sandbox, capsys, "timeline", case["id"], "Letter", "Letter sent", "--description", "2nd reminder")
    with httpx.Client(base_url=sandbox.url, headers=sandbox.headers) as api:
        assert api.get(f"/cases/{case['id']}/chats").json()[-1]["message"] == "edited"
        body = api.get(f"/cases/{case['id']}/timeline").json()
        assert body["currentEngagementPhase"] == "Enforcement" and body["items"][-1]["title"] == "Letter sent"
        ctl(sandbox, capsys, "lifecycle", case["id"], "Closed", "--close-code", "UnresponsiveClient")
        assert api.get(f"/cases/{case['id']}").json()["closeCode"] == "Unresponsive Client"
        new = ctl(sandbox, capsys, "assign")
        assert isinstance(new, dict) and api.get(f"/cases/{new['id']}").status_code == 200
        ctl(sandbox, capsys, "fault", "GET /me:error=1,times=1")
        assert api.get("/me").status_code == 500
        assert ctl(sandbox, capsys, "faults", "--clear") == []
        assert ctl(sandbox, capsys, "rate-limits", "--per-minute", "3") == {
            "perMinute": 3,
            "perHour": 20_000,
            "perDay": 100_000,
        }
        paid = sandbox.case("Active", invoiced=True)
        ctl(sandbox, capsys, "delete-payment", paid["id"], paid["invoicedPaymentIds"][0])
        assert paid["invoicedPaymentIds"][0] not in {
            p["id"] for p in api.get(f"/cases/{paid['id']}/payments").json()
        }


def test_ctl_errors(sandbox: SandboxHandle, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--url", sandbox.url, "chat", "NOSUCHREF", "hi"]) == 1
    assert "no case" in capsys.readouterr().err
    assert main(["--url", sandbox.url, "fault", "/me:bogus=1"]) == 2
    assert main(["--url", "http://127.0.0.1:9", "info"]) == 1
    assert "cannot reach" in capsys.readouterr().err
