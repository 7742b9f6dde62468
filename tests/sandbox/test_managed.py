"""Managed cases, test cases, test webhooks and ingestion jobs in the sandbox, with their guards."""
# ruff: noqa: F811  (the `api` and `receiver` fixtures come from test_webhooks)

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from bot.sandbox.ctl import main as ctl_main
from tests.fixtures.sandbox import SandboxHandle
from tests.sandbox.test_webhooks import Receiver, api, receiver, subscribe, verify  # noqa: F401

pytestmark = pytest.mark.sandbox


def poll(what: str, probe: Callable[[], Any], timeout: float = 15.0) -> Any:
    """Call `probe` until it returns something truthy (generous timeout: the machine may be busy)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def request_body(**overrides: Any) -> dict[str, Any]:
    debtor = {"type": "Company", "name": "Nordic Desk AB", "contactPerson": "Eva Lund", "countryAlpha2": "SE"}
    debtor.update(overrides.pop("debtor", {}))
    body: dict[str, Any] = {
        "creditorCompanyName": "Fjord Supplies ApS",
        "creditorCountryAlpha2": "DK",
        "currencyCode": "SEK",
        "date": "2026-01-15",
        "debtor": debtor,
        "amountToRecover": 1000,
        "isTest": True,
    }
    body.update(overrides)
    return body


@pytest.fixture
def partner_id(sandbox: SandboxHandle) -> str:
    value: str = sandbox.control.info()["partnerId"]
    return value


def create(api: httpx.Client, **overrides: Any) -> dict[str, Any]:
    r = api.post("/managed-cases", json=request_body(**overrides))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def business_type(r: httpx.Response) -> str:
    kind: str = r.json()["businessErrors"][0]["type"]
    return kind


# ---------------------------------------------------------------- managed cases


def test_a_test_case_comes_back_to_us_and_hides_from_the_default_listing(
    api: httpx.Client, sandbox: SandboxHandle, partner_id: str
) -> None:
    case = create(api, collectionPartnerId=partner_id, tag="run-1")
    assert case["isTestCase"] is True and case["lifecycle"] == "Pending Verification"
    assert case["collectionPartner"]["name"] == api.get("/me").json()["companyName"]
    assert case["creditor"]["companyName"] == "Fjord Supplies ApS" and case["debtor"]["country"] == "Sweden"
    assert api.get(f"/cases/{case['id']}").status_code == 200
    assert api.get("/cases", params={"Ids": case["id"]}).json()["cases"] == []
    listed = api.get("/cases", params={"Ids": case["id"], "includeTestCases": "true"}).json()["cases"]
    assert [c["id"] for c in listed] == [case["id"]]
    managed = api.get("/managed-cases").json()
    assert [c["id"] for c in managed["cases"]] == [case["id"]] and managed["page"]["totalResults"] == 1
    assert api.get(f"/managed-cases/case-reference/{case['reference']}").json()["id"] == case["id"]
    seeded = sandbox.case("Active")
    assert api.get(f"/managed-cases/{seeded['id']}").status_code == 404  # we collect it, we did not submit it
    summary = sandbox.control.case(case["id"])
    assert summary["managed"] is True and summary["tag"] == "run-1" and summary["ours"] is True


def test_production_cases_are_assigned_by_jurisdiction(api: httpx.Client, partner_id: str) -> None:
    ours = create(api, isTest=False)  # Sweden: us
    assert api.get(f"/cases/{ours['id']}").status_code == 200
    theirs = create(api, isTest=False, debtor={"countryAlpha2": "GB"})
    assert theirs["collectionPartner"]["name"] != ours["collectionPartner"]["name"]
    assert api.get(f"/cases/{theirs['id']}").status_code == 404
    assert api.get(f"/managed-cases/{theirs['id']}").status_code == 200
    by_name = create(api, isTest=False, debtor={"countryAlpha2": None, "country": "France"})
    assert by_name["debtor"]["countryAlpha2"] == "FR"
    nobody = api.post("/managed-cases", json=request_body(isTest=False, debtor={"countryAlpha2": "JP"}))
    assert nobody.status_code == 422 and business_type(nobody) == "NoPartnerAvailable"
    uncovered = api.post(
        "/managed-cases",
        json=request_body(isTest=False, collectionPartnerId=partner_id, debtor={"countryAlpha2": "GB"}),
    )
    assert uncovered.status_code == 422 and business_type(uncovered) == "NoCoverage"
    stranger = api.post(
        "/managed-cases", json=request_body(isTest=False, collectionPartnerId=str(uuid.uuid4()))
    )
    assert stranger.status_code == 422 and business_type(stranger) == "CollectionPartnerNotFound"
    routed = api.post("/managed-cases", json=request_body(collectionPartnerId=str(uuid.uuid4())))
    assert routed.status_code == 422 and business_type(routed) == "TestCaseRouting"
    assert api.get("/managed-cases").json()["page"]["totalResults"] == 3


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"creditorCompanyName": ""}, "creditorCompanyName"),
        ({"creditorCountryAlpha2": None}, "creditorCountryAlpha2"),
        ({"amountToRecover": 0}, "amountToRecover"),
        ({"date": "yesterday"}, "date"),
        ({"tag": "x" * 101}, "tag"),
        ({"debtor": {"contactPerson": None}}, "debtor.contactPerson"),
        ({"debtor": {"countryAlpha2": "US"}}, "debtor.stateAlpha2"),
        ({"debtor": {"type": "Private"}}, "debtor.type"),
    ],
)
def test_create_checks_the_documented_fields(
    api: httpx.Client, overrides: dict[str, Any], field: str
) -> None:
    r = api.post("/managed-cases", json=request_body(**overrides))
    assert r.status_code == 400 and field in r.json(), r.text
    assert api.get("/managed-cases").json()["cases"] == []


def test_idempotency_key_on_create(api: httpx.Client) -> None:
    key = f"create-{uuid.uuid4()}"
    bad = api.post("/managed-cases", json=request_body(amountToRecover=-1), headers={"Idempotency-Key": key})
    assert bad.status_code == 400  # not stored: the fixed request may use the key
    first = api.post("/managed-cases", json=request_body(), headers={"Idempotency-Key": key})
    again = api.post("/managed-cases", json=request_body(), headers={"Idempotency-Key": key})
    assert first.status_code == again.status_code == 200 and again.json()["id"] == first.json()["id"]
    other = api.post("/managed-cases", json=request_body(amountToRecover=5), headers={"Idempotency-Key": key})
    assert other.status_code == 422 and business_type(other) == "IdempotencyConflict"
    assert api.get("/managed-cases").json()["page"]["totalResults"] == 1


def test_managed_payments_on_test_cases_only(api: httpx.Client, sandbox: SandboxHandle) -> None:
    case = create(api)
    assert api.post(f"/test/cases/{case['id']}/advance", json={"to": "Active"}).json()["advanced"] is True
    short = api.post(
        f"/managed-cases/{case['id']}/payments",
        json={"date": "2026-01-20", "paymentAmount": 10, "closeCase": True},
    )
    assert short.status_code == 400
    made = api.post(
        f"/managed-cases/{case['id']}/payments", json={"date": "2026-01-20", "paymentAmount": 100}
    )
    assert made.status_code == 200, made.text
    payment = made.json()
    assert payment["paymentAmount"] == 100 and payment["remainingAmount"] == 900
    assert payment["caseClosed"] is False
    listed = api.get(f"/managed-cases/{case['id']}/payments").json()
    assert [p["id"] for p in listed] == [payment["paymentId"]] and listed[0]["recipient"] == "Creditor"
    edit = {"date": "2026-01-21", "paymentAmount": 150, "paymentRecipient": "CollectionPartner"}
    edited = api.put(f"/managed-cases/{case['id']}/payments/{payment['paymentId']}", json=edit)
    assert edited.status_code == 200 and edited.json()["grossAmount"] == 150
    assert api.delete(f"/managed-cases/{case['id']}/payments/{payment['paymentId']}").status_code == 204
    assert api.get(f"/managed-cases/{case['id']}/payments").json() == []
    titles = [i["title"] for i in api.get(f"/managed-cases/{case['id']}/timeline").json()["items"]]
    assert {"Payment registered", "Payment changed", "Payment deleted"} <= set(titles)
    assert api.get(f"/managed-cases/{case['id']}/chats").json() == []
    assert api.get(f"/managed-cases/{case['id']}/files").json() == []

    production = create(api, isTest=False)
    sandbox.control.set_lifecycle(production["id"], "Active")
    refused = api.post(
        f"/managed-cases/{production['id']}/payments", json={"date": "2026-01-20", "paymentAmount": 1}
    )
    assert refused.status_code == 400 and business_type(refused) == "NotATestCase"
    some_id = str(uuid.uuid4())
    assert api.put(f"/managed-cases/{production['id']}/payments/{some_id}", json=edit).status_code == 400
    assert api.delete(f"/managed-cases/{production['id']}/payments/{some_id}").status_code == 400
    assert api.get(f"/managed-cases/{some_id}/payments").status_code == 404


# ---------------------------------------------------------------- advance


def test_advance_to_paid_emits_what_the_real_api_emits(
    api: httpx.Client, sandbox: SandboxHandle, receiver: Receiver, partner_id: str
) -> None:
    test_sub = subscribe(api, receiver.url, isTestMode=True)
    subscribe(api, receiver.url.replace("/hook", "/live"))  # a live subscription: gets no test event
    case = create(api, collectionPartnerId=partner_id)
    receiver.wait_for(1)
    assert receiver.events() == ["case.assigned"]
    assert api.post(f"/test/cases/{case['id']}/advance", json={"to": "Active"}).json() == {
        "advanced": True, "state": "Active",
    }
    receiver.wait_for(2)
    paid = api.post(f"/test/cases/{case['id']}/advance", json={"to": "Closed:Paid", "amount": 1000})
    assert paid.json() == {"advanced": True, "state": "Closed:Paid"}
    got = receiver.wait_for(5)
    # deliveries run side by side: their arrival order is not part of the contract
    assert sorted(r.headers["x-debitura-event"] for r in got[2:]) == [
        "case.closed", "case.updated", "payment.created",
    ]
    for delivery in got:
        verify(test_sub["secret"], delivery)
        assert delivery.headers["x-debitura-test"] == "true" and delivery.json["data"]["caseId"] == case["id"]
    closed = next(r for r in got if r.headers["x-debitura-event"] == "case.closed")
    assert closed.json["data"]["closeCode"] == "Paid"
    again = api.post(f"/test/cases/{case['id']}/advance", json={"to": "Closed:Paid", "amount": 1000})
    assert again.json() == {"advanced": False, "state": "Closed:Paid"}
    mismatch = api.post(f"/test/cases/{case['id']}/advance", json={"to": "Closed:NoPayment"})
    assert mismatch.status_code == 400 and "Closed:Paid" in mismatch.json()["message"]
    assert sandbox.control.wait_webhooks_idle()
    assert len(receiver.received) == 5  # the no-op and the refused call fired nothing; live got none
    final = api.get(f"/cases/{case['id']}").json()
    assert final["lifecycle"] == "Closed" and final["closeCode"] == "Paid" and final["remainder"] == 0
    types = [i["type"] for i in api.get(f"/cases/{case['id']}/timeline").json()["items"]]
    assert types.count("LifecycleChange") == 2 and "Payment" in types and "Activation" in types


def test_advance_to_no_payment_and_the_guards(api: httpx.Client, sandbox: SandboxHandle) -> None:
    case = create(api)
    closed = api.post(f"/test/cases/{case['id']}/advance", json={"to": "closed:nopayment"})
    assert closed.json() == {"advanced": True, "state": "Closed:NoPayment"}
    body = api.get(f"/cases/{case['id']}").json()
    assert body["lifecycle"] == "Closed" and body["closeCode"] == "Pre-Legal Exhausted \u2013 No Payment"
    assert api.post(f"/test/cases/{case['id']}/advance", json={"to": "Active"}).json() == {
        "advanced": False, "state": "Closed:NoPayment",
    }
    fresh = create(api)
    no_amount = api.post(f"/test/cases/{fresh['id']}/advance", json={"to": "Closed:Paid"})
    assert no_amount.status_code == 400 and business_type(no_amount) == "AmountRequired"
    unknown = api.post(f"/test/cases/{fresh['id']}/advance", json={"to": "Paused"})
    assert unknown.status_code == 400 and business_type(unknown) == "InvalidTargetState"
    production = sandbox.case("PendingVerification")
    refused = api.post(f"/test/cases/{production['id']}/advance", json={"to": "Active"})
    assert refused.status_code == 400 and business_type(refused) == "NotATestCase"
    assert api.get(f"/cases/{production['id']}").json()["lifecycle"] == "Pending Verification"
    assert api.post(f"/test/cases/{uuid.uuid4()}/advance", json={"to": "Active"}).status_code == 404


# ---------------------------------------------------------------- fire, event log, replay


@pytest.fixture
def held_receiver() -> Iterator[tuple[str, threading.Event, list[bytes]]]:
    """A webhook endpoint that does not answer until the test lets it."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    release = threading.Event()
    bodies: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            bodies.append(self.rfile.read(int(self.headers.get("content-length", "0"))))
            release.wait(30)
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/held", release, bodies
    release.set()
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_a_fired_event_reaches_the_log_only_after_its_delivery_was_tried(
    api: httpx.Client, held_receiver: tuple[str, threading.Event, list[bytes]]
) -> None:
    url, release, bodies = held_receiver
    case = create(api)
    api.post(f"/test/cases/{case['id']}/advance", json={"to": "Active"})
    subscribe(api, url, ["case.updated"], isTestMode=True)
    fired = api.post("/test/webhooks/fire", json={"event": "case.updated", "caseId": case["id"]})
    assert fired.status_code == 200
    assert fired.json() == {"eventType": "case.updated", "caseId": case["id"], "enqueuedCount": 1}
    poll("the delivery to start", lambda: bodies)
    # queued and being delivered, but not in the log yet
    assert api.get("/webhooks/events", params={"caseId": case["id"]}).json() == []
    release.set()
    rows = poll(
        "the event in the log", lambda: api.get("/webhooks/events", params={"caseId": case["id"]}).json()
    )
    assert [r["eventType"] for r in rows] == ["case.updated"] and rows[0]["deliveredAt"]
    data = httpx.Response(200, content=rows[0]["payload"]).json()["data"]
    assert data["oldLifecycle"] == data["newLifecycle"] == "Active"


def test_fire_guards(api: httpx.Client, sandbox: SandboxHandle, receiver: Receiver) -> None:
    test_sub = subscribe(api, receiver.url, ["payment.created", "chat.created"], isTestMode=True)
    live_sub = subscribe(api, receiver.url, ["payment.created"])
    case = create(api)
    api.post(f"/test/cases/{case['id']}/advance", json={"to": "Active"})

    def fire(**body: Any) -> httpx.Response:
        return api.post("/test/webhooks/fire", json={"caseId": case["id"], **body})

    for event, kind in (("payment.created", "NoPayments"), ("chat.created", "NoChats"),
                        ("payment.deleted", "NoDeletedPayments")):
        r = fire(event=event)
        assert r.status_code == 422 and business_type(r) == kind
    assert fire(event="case.reopened").status_code == 400
    assert fire(event="payment.created", subscriptionId=live_sub["id"]).status_code == 400
    assert fire(event="payment.created", subscriptionId=str(uuid.uuid4())).status_code == 400
    production = sandbox.case("Active")
    r = api.post("/test/webhooks/fire", json={"event": "case.updated", "caseId": production["id"]})
    assert r.status_code == 400 and business_type(r) == "NotATestCase"
    missing = api.post("/test/webhooks/fire", json={"event": "case.updated", "caseId": str(uuid.uuid4())})
    assert missing.status_code == 404
    sandbox.control.add_chat(case["id"], "A creditor message")
    receiver.wait_for(1)
    made = api.post(f"/managed-cases/{case['id']}/payments", json={"date": "2026-01-20", "paymentAmount": 5})
    receiver.wait_for(2)
    only = fire(event="payment.created", subscriptionId=test_sub["id"])
    assert only.json()["enqueuedCount"] == 1
    got = receiver.wait_for(3)
    assert got[2].json["data"]["paymentId"] == made.json()["paymentId"]
    assert fire(event="chat.created").json()["enqueuedCount"] == 1
    assert fire(event="case.closed").json()["enqueuedCount"] == 0  # no test subscription takes it


def test_replay_last_event(api: httpx.Client, sandbox: SandboxHandle, receiver: Receiver) -> None:
    case = create(api)
    none_yet = api.post(f"/test/cases/{case['id']}/replay-last-event")
    assert none_yet.status_code == 404
    sub = subscribe(api, receiver.url, ["case.updated", "case.closed"], isTestMode=True)
    api.post(f"/test/cases/{case['id']}/advance", json={"to": "Closed:NoPayment"})
    got = receiver.wait_for(3)
    assert sandbox.control.wait_webhooks_idle()
    rows = api.get("/webhooks/events", params={"caseId": case["id"]}).json()
    replayed = api.post(f"/test/cases/{case['id']}/replay-last-event")
    assert replayed.status_code == 200
    assert replayed.json() == {
        "eventId": rows[0]["id"], "subscriptionId": sub["id"], "eventType": rows[0]["eventType"],
    }
    assert rows[0]["eventType"] == "case.closed" and len(got) == 3
    again = receiver.wait_for(4)[3]
    assert again.headers["x-debitura-replay"] == "true" and again.body == rows[0]["payload"].encode()
    verify(sub["secret"], again)
    production = sandbox.case("Active")
    assert api.post(f"/test/cases/{production['id']}/replay-last-event").status_code == 400


# ---------------------------------------------------------------- hard delete


def test_delete_one_test_case(api: httpx.Client, sandbox: SandboxHandle, receiver: Receiver) -> None:
    subscribe(api, receiver.url, ["case.assigned"], isTestMode=True)
    case = create(api)
    receiver.wait_for(1)
    assert sandbox.control.wait_webhooks_idle()
    assert api.get("/webhooks/events", params={"caseId": case["id"]}).json()
    assert api.delete(f"/test/cases/{case['id']}").status_code == 204
    assert api.delete(f"/test/cases/{case['id']}").status_code == 204  # already gone: still 204
    for path in (f"/cases/{case['id']}", f"/managed-cases/{case['id']}",
                 f"/cases/case-reference/{case['reference']}"):
        assert api.get(path).status_code == 404, path
    assert api.get("/webhooks/events", params={"caseId": case["id"]}).json() == []
    assert api.get("/cases", params={"includeTestCases": "true", "Ids": case["id"]}).json()["cases"] == []
    production = sandbox.case("Active")
    refused = api.delete(f"/test/cases/{production['id']}")
    assert refused.status_code == 400 and api.get(f"/cases/{production['id']}").status_code == 200
    assert api.delete(f"/test/cases/{uuid.uuid4()}").status_code == 404


def test_delete_by_tag_is_all_or_nothing(api: httpx.Client, sandbox: SandboxHandle) -> None:
    mixed = [create(api, tag="mixed"), create(api, tag="mixed"), create(api, tag="mixed", isTest=False)]
    refused = api.delete("/test/cases", params={"tag": "mixed"})
    assert refused.status_code == 400 and business_type(refused) == "ProductionCaseInTag"
    assert all(api.get(f"/managed-cases/{c['id']}").status_code == 200 for c in mixed)
    mine = [create(api, tag="run-7"), create(api, tag="run-7")]
    other_run = create(api, tag="run-8")
    seeded_test = [c for c in sandbox.cases(test=True) if not c["managed"]]
    assert api.delete("/test/cases", params={"tag": "run-7"}).status_code == 204
    assert all(api.get(f"/managed-cases/{c['id']}").status_code == 404 for c in mine)
    assert api.get(f"/managed-cases/{other_run['id']}").status_code == 200
    assert all(api.get(f"/cases/{c['id']}").status_code == 200 for c in seeded_test if c["visible"])
    assert api.delete("/test/cases", params={"tag": "run-7"}).status_code == 204  # nothing left: fine
    assert api.delete("/test/cases").status_code == 400
    assert api.delete("/test/cases", params={"tag": "  "}).status_code == 400


# ---------------------------------------------------------------- ingestion jobs


def test_ingestion_job_runs_in_the_background_with_per_row_status(
    api: httpx.Client, sandbox: SandboxHandle
) -> None:
    case = sandbox.case("Active")
    rows = [
        {"type": 0, "caseId": case["id"], "description": "Called the debtor", "externalRef": "crm-1"},
        {"caseId": str(uuid.uuid4()), "description": "Nobody's case", "externalRef": "crm-2"},
        {"caseId": case["id"], "description": "From the future", "eventDate": "2999-01-01T00:00:00Z"},
    ]
    key = f"job-{uuid.uuid4()}"
    created = api.post("/ingestion-jobs", json={"rows": rows}, headers={"Idempotency-Key": key})
    assert created.status_code == 202 and created.json()["rowsQueued"] == 3
    job_id = created.json()["jobId"]
    replayed = api.post("/ingestion-jobs", json={"rows": rows}, headers={"Idempotency-Key": key})
    assert replayed.json() == created.json()

    def finished() -> dict[str, Any] | None:
        body: dict[str, Any] = api.get(f"/ingestion-jobs/{job_id}").json()
        return body if body["status"] >= 2 else None

    status = poll("the job to finish", finished)
    assert status == {"status": 2, "rowsTotal": 3, "rowsSucceeded": 1, "rowsFailed": 2}
    detail = sandbox.control.ingestion_job(job_id)
    assert [(r["externalRef"], r["status"]) for r in detail["rows"]] == [
        ("crm-1", "Succeeded"), ("crm-2", "Failed"), (None, "Failed"),
    ]
    assert "future" in detail["rows"][2]["error"]
    timeline = api.get(f"/cases/{case['id']}/timeline").json()["items"]
    assert [i["description"] for i in timeline].count("Called the debtor") == 1
    assert "From the future" not in [i["description"] for i in timeline]

    failing = api.post("/ingestion-jobs", json={"rows": [rows[1]]}).json()["jobId"]
    assert poll("the failing job", lambda: api.get(f"/ingestion-jobs/{failing}").json()["status"] == 3)
    assert api.get(f"/ingestion-jobs/{uuid.uuid4()}").status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"rows": []},
        {"rows": [{"type": 1, "caseId": str(uuid.uuid4()), "description": "a payment"}]},
        {"rows": [{"type": 0, "caseId": str(uuid.uuid4())}]},
        {"rows": [{"type": 0, "description": "no case"}]},
        {"rows": [{"caseId": str(uuid.uuid4()), "description": "x"}] * 1001},
        {},
    ],
)
def test_ingestion_job_refused_as_a_whole(
    api: httpx.Client, sandbox: SandboxHandle, body: dict[str, Any]
) -> None:
    r = api.post("/ingestion-jobs", json=body)
    assert r.status_code == 400, r.text


# ---------------------------------------------------------------- ctl


def test_ctl_lists_test_cases_with_their_tags(
    api: httpx.Client, sandbox: SandboxHandle, capsys: pytest.CaptureFixture[str]
) -> None:
    tagged = create(api, tag="smoke-1")
    assert ctl_main(["--url", sandbox.url, "cases", "--test"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(tagged["reference"] in line and "test [smoke-1]" in line for line in lines)
    seeded_tests = sandbox.control.cases(test="true")
    assert lines[-1].startswith(f"{len(seeded_tests)} case(s)")
    assert ctl_main(["--url", sandbox.url, "cases", "--tag", "smoke-1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1].startswith("1 case(s)") and tagged["id"] in lines[1]


async def test_an_ingestion_job_never_counts_every_row_while_still_running() -> None:
    """The last row's outcome and the final status land together (a poller's view of it)."""
    import asyncio
    from types import SimpleNamespace

    from bot.sandbox.ingestion import IngestionJobs, RowOutcome

    jobs = IngestionJobs(start_delay=0)
    sb: Any = SimpleNamespace(state=SimpleNamespace(find=lambda _id: None))
    rows = [RowOutcome(i, str(uuid.uuid4()), "x", None, None) for i in range(3)]
    job = jobs.submit(sb, rows)
    seen = []
    while job.status < 2:
        body = job.to_json()
        seen.append(body["status"])
        assert body["rowsSucceeded"] + body["rowsFailed"] < body["rowsTotal"], body
        await asyncio.sleep(0)
    assert job.to_json() == {"status": 3, "rowsTotal": 3, "rowsSucceeded": 0, "rowsFailed": 3}
    assert 1 in seen
    await jobs.aclose()
