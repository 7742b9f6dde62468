"""Fault injection and the control API (acting as the creditor and as Debitura)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from bot.sandbox.faults import FaultRule
from tests.fixtures.sandbox import SandboxHandle

pytestmark = pytest.mark.sandbox


@pytest.fixture
def api(sandbox: SandboxHandle) -> Iterator[httpx.Client]:
    with sandbox.client() as client:
        yield client


def test_fault_flag_parsing() -> None:
    rule = FaultRule.parse_flag(
        "GET /cases/*/chats:latency=200,jitter=50,error=0.1,429=0.2,drop=0.05,times=3"
    )
    assert (rule.method, rule.path, rule.latency_ms, rule.jitter_ms) == ("GET", "/cases/*/chats", 200, 50)
    assert (rule.error_rate, rule.rate_limit_rate, rule.drop_rate, rule.times) == (0.1, 0.2, 0.05, 3)
    assert FaultRule.parse_flag("/me:error=1").method == "*"
    with pytest.raises(ValueError):
        FaultRule.parse_flag("/me:explode=1")
    with pytest.raises(ValueError):
        FaultRule.parse_flag("/me:error=2")
    with pytest.raises(ValueError):
        FaultRule.from_json({"path": "/me", "latencyMs": -5})


def test_injected_500s_only_on_the_matching_endpoint(api: httpx.Client, sandbox: SandboxHandle) -> None:
    case_id = sandbox.case_ids[0]
    sandbox.control.add_fault("/cases/*/chats", "GET", error_rate=1.0, times=2)
    for _ in range(2):
        r = api.get(f"/cases/{case_id}/chats")
        assert r.status_code == 500 and r.json()["businessErrors"]
    assert api.get(f"/cases/{case_id}/chats").status_code == 200  # times exhausted
    assert api.get(f"/cases/{case_id}/timeline").status_code == 200
    assert sandbox.control.faults()[0]["hits"] == 2


def test_forced_429(api: httpx.Client, sandbox: SandboxHandle) -> None:
    sandbox.control.add_fault("/me", rate_limit_rate=1.0, retry_after=7.5, times=1)
    r = api.get("/me")
    assert r.status_code == 429 and r.json() == {
        "error": "rate_limit_exceeded",
        "message": "Too many requests (injected).",
        "retryAfter": 7.5,
    }
    assert "retry-after" not in r.headers
    assert api.get("/me").status_code == 200


def test_dropped_connection(api: httpx.Client, sandbox: SandboxHandle) -> None:
    sandbox.control.add_fault("/users", "GET", drop_rate=1.0, times=1)
    with pytest.raises(httpx.TransportError):
        api.get("/users")
    assert api.get("/users").status_code == 200


def test_latency_rule_applies_and_shares_are_drawn(api: httpx.Client, sandbox: SandboxHandle) -> None:
    sandbox.control.add_fault("/me", latency_ms=20, jitter_ms=10, error_rate=0.5)
    statuses = [api.get("/me").status_code for _ in range(40)]
    assert set(statuses) == {200, 500}
    assert sandbox.control.faults()[0]["hits"] == 40
    sandbox.control.clear_faults()
    assert sandbox.control.faults() == []


def test_bad_fault_rule_is_rejected(sandbox: SandboxHandle) -> None:
    r = sandbox.control.http.post("/faults", json={"path": "/me", "errorRate": 3})
    assert r.status_code == 400


def test_creditor_chat_and_edit(api: httpx.Client, sandbox: SandboxHandle) -> None:
    case = sandbox.case("Active")
    chat = sandbox.control.add_chat(case["id"], "Any news?")
    assert chat["role"] == 1 and chat["roleLabel"] == "Creditor"
    listed = api.get(f"/cases/{case['id']}/chats").json()
    assert listed[-1]["id"] == chat["id"]
    edited = sandbox.control.edit_chat(case["id"], chat["id"], message="Any news? (edited)", is_seen=True)
    assert edited["dateUpdated"] and edited["isSeen"] is True
    again = api.get(f"/cases/{case['id']}/chats").json()[-1]
    assert again["message"] == "Any news? (edited)" and again["dateUpdated"]
    managed = sandbox.control.add_chat(case["id"], "On behalf of the creditor", role=2)
    assert managed["roleLabel"] == "Managed by partner"


def test_timeline_lifecycle_phase(api: httpx.Client, sandbox: SandboxHandle) -> None:
    case = sandbox.case("Active")
    sandbox.control.add_timeline_item(
        case["id"],
        "Communication",
        "Letter sent",
        "Second reminder",
        actor_type="Partner user",
        actor_name="Anna Berg",
    )
    items = api.get(f"/cases/{case['id']}/timeline").json()["items"]
    assert any(i["title"] == "Letter sent" and i["actor"]["name"] == "Anna Berg" for i in items)
    sandbox.control.set_phase(case["id"], "Legal")
    body = api.get(f"/cases/{case['id']}/timeline").json()
    assert body["currentEngagementPhase"] == "Legal"
    assert api.get(f"/cases/{case['id']}").json()["currentEngagementPhase"] == "Legal"
    sandbox.control.set_phase(case["id"], None)
    assert api.get(f"/cases/{case['id']}").json()["currentEngagementPhase"] is None
    sandbox.control.set_lifecycle(case["id"], "Paused")
    assert api.get(f"/cases/{case['id']}").json()["lifecycle"] == "Paused"
    sandbox.control.set_lifecycle(case["id"], "Closed", close_code="WithdrawnByClient")
    closed = api.get(f"/cases/{case['id']}").json()
    assert closed["closeCode"] == "Withdrawn by Client" and closed["dateFinished"]
    sandbox.control.set_lifecycle(case["id"], "PendingVerificationInternal")
    assert api.get(f"/cases/{case['id']}").status_code == 404


def test_assign_new_case(api: httpx.Client, sandbox: SandboxHandle) -> None:
    before = api.get("/cases").json()["page"]["totalResults"]
    new = sandbox.control.assign_new_case()
    assert new["lifecycle"] == "PendingVerification"
    case = api.get(f"/cases/{new['id']}").json()
    assert case["lifecycle"] == "Pending Verification" and case["remainder"] == case["grossAmount"]
    assert api.get("/cases").json()["page"]["totalResults"] == before + 1
    assert api.get(f"/cases/case-reference/{new['reference']}").json()["id"] == new["id"]
    assert [i["type"] for i in api.get(f"/cases/{new['id']}/timeline").json()["items"]] == ["Assignment"]


def test_support_deletes_payment_even_when_invoiced(api: httpx.Client, sandbox: SandboxHandle) -> None:
    case = sandbox.case("Active", invoiced=True)
    pid = case["invoicedPaymentIds"][0]
    before = api.get(f"/cases/{case['id']}").json()["remainder"]
    sandbox.control.delete_payment(case["id"], pid)
    assert pid not in {p["id"] for p in api.get(f"/cases/{case['id']}/payments").json()}
    assert api.get(f"/cases/{case['id']}").json()["remainder"] > before
    items = api.get(f"/cases/{case['id']}/timeline").json()["items"]
    assert items[-1]["type"] == "PaymentDeleted" and items[-1]["actor"]["name"] == "Debitura Support"


def test_mark_payment_invoiced(api: httpx.Client, sandbox: SandboxHandle) -> None:
    case = sandbox.case("Closed", close_code="PartiallyPaid", invoiced=False)
    pid = case["paymentIds"][0]
    sandbox.control.set_payment_invoiced(case["id"], pid)
    assert api.delete(f"/cases/{case['id']}/payments/{pid}").status_code == 422


def test_control_token(tmp_path: object) -> None:
    from tests.fixtures.sandbox import SandboxControl, start_sandbox, stop_sandbox

    sp = start_sandbox(["--control-token", "s3cret", "--cases", "20"])
    try:
        assert httpx.get(f"{sp.url}/_sandbox/info").status_code == 401
        control = SandboxControl(sp.url, token="s3cret")
        assert control.info()["cases"] == 20
        control.close()
    finally:
        stop_sandbox(sp)
