"""Webhooks: subscriptions, signed deliveries, retries, 410, event log and replay (REFERENCE 8.24, 9)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from tests.fixtures.sandbox import SandboxHandle

pytestmark = pytest.mark.sandbox


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data


@dataclass
class Receiver:
    """A loopback HTTP endpoint that records webhook deliveries and answers with scripted statuses."""

    statuses: list[int] = field(default_factory=list)  # consumed in order; then 200
    received: list[Received] = field(default_factory=list)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.02)
        raise AssertionError(f"expected {count} deliveries, got {len(self.received)}")

    def events(self) -> list[str]:
        with self.lock:
            return [r.headers["x-debitura-event"] for r in self.received]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            with rec.lock:
                rec.received.append(Received({k.lower(): v for k, v in self.headers.items()}, body))
                status = rec.statuses.pop(0) if rec.statuses else 200
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rec.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield rec
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def api(sandbox: SandboxHandle) -> Iterator[httpx.Client]:
    with sandbox.client() as client:
        yield client


ALL = ["case.assigned", "case.updated", "case.closed", "payment.created", "payment.deleted", "chat.created"]


def subscribe(api: httpx.Client, url: str, events: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    r = api.post("/webhooks", json={"url": url, "events": events or ALL, **extra})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def verify(secret: str, rec: Received) -> None:
    sig = rec.headers["x-debitura-signature"]
    parts = dict(p.split("=", 1) for p in sig.split(","))
    assert parts["t"] == rec.headers["x-debitura-timestamp"]
    expected = hmac.new(
        base64.b64decode(secret), f"{parts['t']}.".encode() + rec.body, hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(parts["v1"], expected)
    assert abs(time.time() - int(parts["t"])) < 300


def test_subscription_crud(api: httpx.Client, receiver: Receiver) -> None:
    sub = subscribe(api, receiver.url, ["chat.created"])
    assert sub["secret"] and base64.b64decode(sub["secret"]) and sub["isActive"] is True
    assert api.get(f"/webhooks/{sub['id']}").json()["secret"] is None
    assert [w["id"] for w in api.get("/webhooks").json()] == [sub["id"]]
    assert all(w["secret"] is None for w in api.get("/webhooks").json())
    upd = api.put(f"/webhooks/{sub['id']}", json={"events": ["chat.created", "case.closed"]}).json()
    assert upd["events"] == ["chat.created", "case.closed"] and upd["secret"] is None
    rotated = api.put(f"/webhooks/{sub['id']}", json={"regenerateSecret": True}).json()
    assert rotated["secret"] and rotated["secret"] != sub["secret"]
    assert api.put(f"/webhooks/{sub['id']}", json={"isTestMode": True}).status_code == 400
    assert api.delete(f"/webhooks/{sub['id']}").status_code == 204
    assert api.get(f"/webhooks/{sub['id']}").status_code == 404
    assert api.delete(f"/webhooks/{sub['id']}").status_code == 404


def test_subscription_validation(api: httpx.Client) -> None:
    assert api.post("/webhooks", json={"url": "https://example.com/hook", "events": ALL}).status_code == 400
    assert api.post("/webhooks", json={"url": "http://127.0.0.1:9/x", "events": []}).status_code == 400
    assert (
        api.post("/webhooks", json={"url": "http://127.0.0.1:9/x", "events": ["case.eaten"]}).status_code
        == 400
    )
    assert api.post("/webhooks", json={"events": ALL}).status_code == 400


def test_events_are_signed_and_enveloped(
    api: httpx.Client, sandbox: SandboxHandle, receiver: Receiver
) -> None:
    sub = subscribe(api, receiver.url)
    case = sandbox.case("Active", with_payments=False)
    email = sandbox.user_email()
    api.post(f"/cases/{case['id']}/chats", json={"message": "hello", "userEmail": email})
    pay = api.post(
        f"/cases/{case['id']}/payments",
        json={"date": "2026-01-02", "paymentAmount": 3, "paymentRecipient": "CollectionPartner"},
    ).json()
    api.delete(f"/cases/{case['id']}/payments/{pay['paymentId']}")
    api.post(f"/cases/{case['id']}/close", json={"closeCode": "Other", "comment": "done"})
    new = sandbox.control.assign_new_case()
    got = receiver.wait_for(6)
    assert sorted(receiver.events()) == sorted(
        ["chat.created", "payment.created", "payment.deleted", "case.updated", "case.closed", "case.assigned"]
    )
    for rec in got:
        verify(sub["secret"], rec)
        env = rec.json
        assert env["specVersion"] == "1.0" and env["event"] == rec.headers["x-debitura-event"]
        assert env["id"] and env["timestamp"] and env["links"]["case"].endswith(env["data"]["caseId"])
        assert "x-debitura-replay" not in rec.headers
    by_event = {r.json["event"]: r.json["data"] for r in got}
    assert by_event["case.updated"]["oldLifecycle"] == "Active"
    assert by_event["case.updated"]["newLifecycle"] == "Closed"
    assert (
        by_event["case.closed"]["closeCode"] == "Other" and by_event["case.closed"]["closeComment"] == "done"
    )
    assert by_event["payment.created"]["paymentId"] == pay["paymentId"]
    assert by_event["payment.deleted"]["paymentId"] == pay["paymentId"]
    assert by_event["case.assigned"]["caseId"] == new["id"]
    assert by_event["chat.created"]["reference"] == case["reference"]


def test_only_subscribed_events_and_test_mode_split(
    api: httpx.Client, sandbox: SandboxHandle, receiver: Receiver
) -> None:
    subscribe(api, receiver.url, ["case.closed"])
    subscribe(api, receiver.url + "?test", ["chat.created"], isTestMode=True)
    live = sandbox.case("Active")
    test_case = sandbox.case("Active", test=True)
    email = sandbox.user_email()
    api.post(f"/cases/{live['id']}/chats", json={"message": "live", "userEmail": email})
    api.post(f"/cases/{test_case['id']}/chats", json={"message": "test", "userEmail": email})
    api.post(f"/cases/{live['id']}/close", json={"closeCode": "Other"})
    got = receiver.wait_for(2)
    assert sandbox.control.wait_webhooks_idle()
    assert sorted(receiver.events()) == ["case.closed", "chat.created"]
    test_delivery = next(r for r in got if r.headers["x-debitura-event"] == "chat.created")
    assert test_delivery.headers["x-debitura-test"] == "true"
    assert test_delivery.json["data"]["caseId"] == test_case["id"]


def test_retries_with_backoff_then_delivered(
    api: httpx.Client, sandbox: SandboxHandle, receiver: Receiver
) -> None:
    receiver.statuses = [500, 503]
    subscribe(api, receiver.url, ["chat.created"])
    case = sandbox.case("Active")
    sandbox.control.add_chat(case["id"], "from the creditor")
    got = receiver.wait_for(3)
    assert got[0].body == got[1].body == got[2].body
    assert sandbox.control.wait_webhooks_idle()
    rows = api.get("/webhooks/events", params={"caseId": case["id"]}).json()
    assert len(rows) == 1
    row = rows[0]
    assert row["attemptCount"] == 3 and row["deliveredAt"] and row["lastResponseCode"] == 200
    assert json.loads(row["payload"])["event"] == "chat.created" and isinstance(row["payload"], str)
    attempts = [d["attempt"] for d in sandbox.control.deliveries()]
    assert attempts == [1, 2, 3]


def test_410_disables_subscription(api: httpx.Client, sandbox: SandboxHandle, receiver: Receiver) -> None:
    receiver.statuses = [410]
    sub = subscribe(api, receiver.url, ["chat.created"])
    case = sandbox.case("Active")
    sandbox.control.add_chat(case["id"], "one")
    receiver.wait_for(1)
    assert sandbox.control.wait_webhooks_idle()
    hook = api.get(f"/webhooks/{sub['id']}").json()
    assert hook["isActive"] is False and "410" in hook["disabledReason"]
    sandbox.control.add_chat(case["id"], "two")
    assert sandbox.control.wait_webhooks_idle()
    assert len(receiver.received) == 1
    again = api.put(f"/webhooks/{sub['id']}", json={"isActive": True}).json()
    assert again["isActive"] is True and again["disabledReason"] is None
    sandbox.control.add_chat(case["id"], "three")
    receiver.wait_for(2)


def test_eight_failures_disable(api: httpx.Client, sandbox: SandboxHandle, receiver: Receiver) -> None:
    receiver.statuses = [500] * 8
    sub = subscribe(api, receiver.url, ["chat.created"])
    case = sandbox.case("Active")
    sandbox.control.add_chat(case["id"], "never acknowledged")
    receiver.wait_for(8, timeout=20)
    assert sandbox.control.wait_webhooks_idle(timeout=20)
    assert len(receiver.received) == 8
    hook = api.get(f"/webhooks/{sub['id']}").json()
    assert hook["isActive"] is False and "8" in hook["disabledReason"]
    row = api.get("/webhooks/events", params={"caseId": case["id"]}).json()[0]
    assert row["attemptCount"] == 8 and row["deliveredAt"] is None and row["lastResponseCode"] == 500


def test_event_log_and_replay(api: httpx.Client, sandbox: SandboxHandle, receiver: Receiver) -> None:
    sub = subscribe(api, receiver.url, ["chat.created"])
    case = sandbox.case("Active")
    sandbox.control.add_chat(case["id"], "first")
    sandbox.control.add_chat(case["id"], "second")
    receiver.wait_for(2)
    assert sandbox.control.wait_webhooks_idle()
    rows = api.get("/webhooks/events", params={"caseId": case["id"]}).json()
    assert len(rows) == 2 and rows[0]["createdAt"] >= rows[1]["createdAt"]
    assert all(r["subscriptionId"] == sub["id"] and r["eventType"] == "chat.created" for r in rows)
    later = api.get("/webhooks/events", params={"caseId": case["id"], "since": "2999-01-01T00:00:00Z"}).json()
    assert later == []
    assert api.get("/webhooks/events").status_code == 400
    replay = api.post(f"/webhooks/events/{rows[0]['id']}/replay")
    assert replay.status_code == 200
    assert replay.json() == {
        "eventId": rows[0]["id"],
        "subscriptionId": sub["id"],
        "eventType": "chat.created",
    }
    got = receiver.wait_for(3)
    assert got[2].headers["x-debitura-replay"] == "true"
    assert got[2].body.decode() == rows[0]["payload"]
    verify(sub["secret"], got[2])
    assert api.post("/webhooks/events/00000000-0000-4000-8000-000000000000/replay").status_code == 404


def test_cli_webhook_flags(receiver: Receiver) -> None:
    from tests.fixtures.sandbox import SandboxControl, start_sandbox, stop_sandbox

    secret = base64.b64encode(b"k" * 32).decode()
    sp = start_sandbox(["--cases", "20", "--webhook-url", receiver.url, "--webhook-secret", secret])
    try:
        control = SandboxControl(sp.url)
        active = next(c for c in control.cases(lifecycle="Active") if not c["isTest"])
        control.add_chat(active["id"], "hello")
        rec = receiver.wait_for(1)[0]
        verify(secret, rec)
        control.close()
    finally:
        stop_sandbox(sp)
