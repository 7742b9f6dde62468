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
    ctl(sandbox, capsys, "timeline", case["id"], "Communication", "Letter sent",
        "--description", "2nd reminder")
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


def test_ctl_cases_prints_a_table_and_json_on_request(
    sandbox: SandboxHandle, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--url", sandbox.url, "cases"]) == 0
    lines = capsys.readouterr().out.splitlines()
    ours = sandbox.control.cases()
    assert lines[0].split() == ["reference", "lifecycle", "remainder", "test", "partner", "reference", "id"]
    assert len(lines) == len(ours) + 2  # header, one line per case, the count
    first = ours[0]
    assert lines[1].startswith(first["reference"]) and first["id"] in lines[1]
    assert lines[-1].startswith(f"{len(ours)} case(s)")
    full = ctl(sandbox, capsys, "cases", "--json", "--lifecycle", "Active")
    assert isinstance(full, list) and {c["lifecycle"] for c in full} == {"Active"}


def test_ctl_names_the_valid_lifecycles_and_timeline_types(
    sandbox: SandboxHandle, capsys: pytest.CaptureFixture[str]
) -> None:
    case = sandbox.case("Active")
    assert main(["--url", sandbox.url, "lifecycle", case["reference"], "Frozen"]) == 1
    err = capsys.readouterr().err
    assert "unknown lifecycle 'Frozen'" in err and "Active, Paused, Closed, Merged" in err
    assert "{" not in err  # a sentence, not the raw JSON answer
    assert main(["--url", sandbox.url, "cases", "--lifecycle", "Frozen"]) == 1
    assert "known: PendingContractSigning" in capsys.readouterr().err
    assert main(["--url", sandbox.url, "timeline", case["id"], "Letter", "Letter sent"]) == 1
    err = capsys.readouterr().err
    assert "unknown timeline type 'Letter'" in err and "Communication" in err and "Note" in err
    with httpx.Client(base_url=sandbox.url, headers=sandbox.headers) as api:
        items = api.get(f"/cases/{case['id']}/timeline").json()["items"]
        assert "Letter sent" not in [i["title"] for i in items]
        ctl(sandbox, capsys, "timeline", case["id"], "communication", "Letter sent")  # any case
        items = api.get(f"/cases/{case['id']}/timeline").json()["items"]
        assert items[-1]["type"] == "Communication" and items[-1]["title"] == "Letter sent"


def test_ctl_webhooks_lists_and_enables_subscriptions(
    sandbox: SandboxHandle, capsys: pytest.CaptureFixture[str]
) -> None:
    with httpx.Client(base_url=sandbox.url, headers=sandbox.headers) as api:
        hook = api.post("/webhooks", json={"url": "http://127.0.0.1:9/debitura/webhooks",
                                           "events": ["case.updated"]}).json()
        api.put(f"/webhooks/{hook['id']}", json={"isActive": False})
        listed = ctl(sandbox, capsys, "webhooks")
        assert isinstance(listed, list) and listed[0]["isActive"] is False and listed[0]["secret"] is None
        enabled = ctl(sandbox, capsys, "webhooks", "--enable")
        assert isinstance(enabled, dict) and [h["id"] for h in enabled["enabled"]] == [hook["id"]]
        assert api.get(f"/webhooks/{hook['id']}").json()["isActive"] is True
