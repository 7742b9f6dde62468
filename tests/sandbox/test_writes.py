"""Write endpoints of the sandbox and their documented rules (REFERENCE 5, 8.10-8.20)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.fixtures.sandbox import SandboxHandle

pytestmark = pytest.mark.sandbox


@pytest.fixture
def api(sandbox: SandboxHandle) -> Iterator[httpx.Client]:
    with sandbox.client() as client:
        yield client


def case_json(api: httpx.Client, case_id: str) -> dict[str, Any]:
    body: dict[str, Any] = api.get(f"/cases/{case_id}").json()
    return body


def timeline(api: httpx.Client, case_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = api.get(f"/cases/{case_id}/timeline").json()["items"]
    return items


def business_type(resp: httpx.Response) -> str:
    return str(resp.json()["businessErrors"][0]["type"])


def pay(amount: float, **extra: Any) -> dict[str, Any]:
    return {"date": "2026-01-15", "paymentAmount": amount, "paymentRecipient": "CollectionPartner", **extra}


# ---------------------------------------------------------------- payments


def test_payment_recipient_rules(api: httpx.Client, sandbox: SandboxHandle) -> None:
    case = sandbox.case("Active", with_payments=False)
    url = f"/cases/{case['id']}/payments"
    r = api.post(url, json=pay(10, paymentRecipient="Creditor"))
    assert r.status_code == 400 and "commissionPaymentStatus" in r.json()
    r = api.post(url, json=pay(10, paymentRecipient="Creditor", commissionPaymentStatus="Unpaid"))
    assert r.status_code == 200 and r.json()["commissionPaymentStatus"] == "Unpaid"
    r = api.post(url, json=pay(10, commissionPaymentStatus="Unpaid"))  # forced Paid for other recipients
    assert r.status_code == 200 and r.json()["commissionPaymentStatus"] == "Paid"
    r = api.post(url, json=pay(10, paymentRecipient="Platform"))
    assert r.status_code == 200 and r.json()["paymentRecipient"] == "Platform"
    r = api.post(url, json=pay(10, paymentRecipient="Bank"))
    assert r.status_code == 400 and "paymentRecipient" in r.json()
    assert api.post(url, json=pay(0)).status_code == 400
    r = api.post(url, json={"paymentAmount": 5, "paymentRecipient": "CollectionPartner"})
    assert r.status_code == 400 and "date" in r.json()


def test_payment_split_both_or_neither_and_sum(api: httpx.Client, sandbox: SandboxHandle) -> None:
    case = sandbox.case("Active", with_payments=False)
    url = f"/cases/{case['id']}/payments"
    r = api.post(url, json=pay(100, payoutCreditor=80))
    assert r.status_code == 400 and business_type(r) == "InvalidPayoutSplit"
    r = api.post(url, json=pay(100, payoutCreditor=80, payoutCollectionPartner=19.98))
    assert r.status_code == 400 and business_type(r) == "InvalidPayoutSplit"
    r = api.post(url, json=pay(100, payoutCreditor=80, payoutCollectionPartner=19.99))
    assert r.status_code == 200
    assert (r.json()["payoutCreditor"], r.json()["payoutCollectionPartner"]) == (80, 19.99)
    r = api.post(url, json=pay(100, payoutCreditor=0, payoutCollectionPartner=100))
    assert r.status_code == 200 and any("payoutCreditor is 0" in w for w in r.json()["warnings"])
    default = api.post(url, json=pay(100)).json()
    fee = case["successFee"]
    assert default["payoutCollectionPartner"] == pytest.approx(100 * fee / 100)
    assert default["payoutCreditor"] + default["payoutCollectionPartner"] == pytest.approx(100)
    assert default["warnings"] == []


def test_payment_remainder_timeline_and_date_updated(api: httpx.Client, sandbox: SandboxHandle) -> None:
    case = sandbox.case("Active", with_payments=False)
    before = case_json(api, case["id"])
    items_before = len(timeline(api, case["id"]))
    r = api.post(f"/cases/{case['id']}/payments", json=pay(50, closeCase=True)).json()
    after = case_json(api, case["id"])
    assert after["remainder"] == pytest.approx(before["remainder"] - 50)
    assert r["remainingAmount"] == after["remainder"]
    assert r["caseClosed"] is False and r["closeCode"] is None and after["lifecycle"] == "Active"
    assert any("closeCase was ignored" in w for w in r["warnings"])
    assert after["dateUpdated"] > before["dateUpdated"]
    items = timeline(api, case["id"])
    assert len(items) == items_before + 1 and items[-1]["type"] == "Payment"
    payments = api.get(f"/cases/{case['id']}/payments").json()
    assert payments[0]["id"] == r["paymentId"] and payments[0]["date"].startswith("2026-01-15")


def test_full_payment_with_close_case_closes_paid(api: httpx.Client, sandbox: SandboxHandle) -> None:
    case = sandbox.case("Active", with_payments=False)
    remainder = case_json(api, case["id"])["remainder"]
    r = api.post(f"/cases/{case['id']}/payments", json=pay(remainder, closeCase=True)).json()
    assert r["caseClosed"] is True and r["closeCode"] == "Paid" and r["remainingAmount"] == 0
    after = case_json(api, case["id"])
    assert after["lifecycle"] == "Closed" and after["closeCode"] == "Paid" and after["dateFinished"]
    r2 = api.post(f"/cases/{case['id']}/payments", json=pay(5))
    assert r2.status_code == 400 and business_type(r2) == "InvalidCaseState"


def test_payment_wrong_state(api: httpx.Client, sandbox: SandboxHandle) -> None:
    for lifecycle in ("PendingVerification", "Merged"):
        case = sandbox.case(lifecycle)
        r = api.post(f"/cases/{case['id']}/payments", json=pay(5))
        assert r.status_code == 400 and business_type(r) == "InvalidCaseState"


def test_payment_idempotency_replay_conflict(api: httpx.Client, sandbox: SandboxHandle) -> None:
    case = sandbox.case("Active", with_payments=False)
    url = f"/cases/{case['id']}/payments"
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = api.post(url, json=pay(12.5), headers=key)
    replay = api.post(url, json=pay(12.5), headers=key)
    assert first.status_code == replay.status_code == 200 and first.json() == replay.json()
    assert len(api.get(url).json()) == 1
    conflict = api.post(url, json=pay(13), headers=key)
    assert conflict.status_code == 422 and business_type(conflict) == "IdempotencyConflict"
    # field-level 400s are not stored: the key can be reused once the request is fixed
    key2 = {"Idempotency-Key": str(uuid.uuid4())}
    assert api.post(url, json=pay(0), headers=key2).status_code == 400
    assert api.post(url, json=pay(1), headers=key2).status_code == 200
    assert api.post(url, json=pay(1), headers={"Idempotency-Key": "x" * 256}).status_code == 400


def test_payment_idempotency_in_flight_409(api: httpx.Client, sandbox: SandboxHandle) -> None:
    case = sandbox.case("Active", with_payments=False)
    # every payment POST holds its Idempotency-Key for 2.5 s before it is processed
    sandbox.control.add_fault("/cases/*/payments", "POST", hold_ms=2500)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    url = f"{sandbox.url}/cases/{case['id']}/payments"
    results: list[httpx.Response] = []

    def post() -> None:
        results.append(httpx.post(url, json=pay(7), headers={**sandbox.headers, **key}, timeout=10))

    threads = [threading.Thread(target=post) for _ in range(2)]
    threads[0].start()
    time.sleep(0.3)  # ordering only: let the first request take the key
    threads[1].start()
    for t in threads:
        t.join()
    by_status = {r.status_code: r for r in results}
    assert set(by_status) == {200, 409}
    assert business_type(by_status[409]) == "IdempotencyInFlight"
    sandbox.control.clear_faults()
    replay = api.post(f"/cases/{case['id']}/payments", json=pay(7), headers=key)
    assert replay.json() == by_status[200].json()
    assert len(api.get(f"/cases/{case['id']}/payments").json()) == 1


def test_edit_payment_and_reopen_gate(api: httpx.Client, sandbox: SandboxHandle) -> None:
    case = next(c for c in sandbox.cases("Closed", close_code="Paid") if not c["invoicedPaymentIds"])
    pid = case["paymentIds"][0]
    url = f"/cases/{case['id']}/payments/{pid}"
    body = {"date": "2026-02-01", "paymentAmount": 1, "paymentRecipient": "CollectionPartner"}
    r = api.put(url, json=body)
    assert r.status_code == 409 and business_type(r) == "ReopenRequired"
    assert case_json(api, case["id"])["lifecycle"] == "Closed"
    r = api.put(url, json={**body, "reopenCaseIfNeeded": True})
    assert r.status_code == 200 and r.json()["grossAmount"] == 1 and r.json()["dateUpdated"]
    after = case_json(api, case["id"])
    assert after["lifecycle"] == "Active" and after["closeCode"] is None and after["remainder"] > 0
    assert api.put(f"/cases/{case['id']}/payments/{uuid.uuid4()}", json=body).status_code == 404
    r = api.put(url, json={**body, "paymentRecipient": "Platform"})
    assert r.status_code == 400


def test_delete_payment_and_reopen_gate(api: httpx.Client, sandbox: SandboxHandle) -> None:
    case = next(c for c in sandbox.cases("Closed", close_code="Paid") if not c["invoicedPaymentIds"])
    pid = case["paymentIds"][0]
    url = f"/cases/{case['id']}/payments/{pid}"
    r = api.delete(url)
    assert r.status_code == 409 and business_type(r) == "ReopenRequired"
    r = api.delete(url, params={"reopenCaseIfNeeded": "true"})
    assert r.status_code == 204 and r.content == b""
    assert pid not in {p["id"] for p in api.get(f"/cases/{case['id']}/payments").json()}
    assert case_json(api, case["id"])["lifecycle"] == "Active"
    assert api.delete(url).status_code == 404
    assert timeline(api, case["id"])[-1]["type"] in ("LifecycleChange", "PaymentDeleted")


def test_invoiced_payment_is_frozen(api: httpx.Client, sandbox: SandboxHandle) -> None:
    case = sandbox.case("Active", invoiced=True)
    pid = case["invoicedPaymentIds"][0]
    url = f"/cases/{case['id']}/payments/{pid}"
    body = {"date": "2026-02-01", "paymentAmount": 1, "paymentRecipient": "CollectionPartner"}
    r = api.put(url, json=body)
    assert r.status_code == 422 and business_type(r) == "PaymentInvoiced"
    assert api.delete(url).status_code == 422


# ---------------------------------------------------------------- notes


def test_notes(api: httpx.Client, sandbox: SandboxHandle) -> None:
    case = sandbox.case("Active")
    url = f"/cases/{case['id']}/notes"
    r = api.post(url, json={"description": "Called the debtor", "eventDate": "2026-01-10T09:30:00Z"})
    assert r.status_code == 200
    note = r.json()
    assert note["caseReference"] == case["reference"] and note["eventDate"].startswith("2026-01-10T09:30")
    assert isinstance(note["createdBy"]["userId"], int)
    assert any(
        i["type"] == "Note" and i["description"] == "Called the debtor" for i in timeline(api, case["id"])
    )
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    r = api.post(url, json={"description": "x", "eventDate": future})
    assert r.status_code == 400 and "eventDate" in r.json()
    assert api.post(url, json={"description": "x" * 10_001}).status_code == 400
    assert api.post(url, json={"description": "x" * 10_000}).status_code == 200
    assert api.post(url, json={}).status_code == 400


def test_malformed_json_is_problem_details(api: httpx.Client, sandbox: SandboxHandle) -> None:
    case = sandbox.case("Active")
    r = api.post(
        f"/cases/{case['id']}/notes", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400
    body = r.json()
    assert body["status"] == 400 and body["title"] and "businessErrors" not in body


# ---------------------------------------------------------------- close


def test_close_codes_and_preconditions(api: httpx.Client, sandbox: SandboxHandle) -> None:
    no_payments = sandbox.case("Active", with_payments=False)
    url = f"/cases/{no_payments['id']}/close"
    for code in ("Paid", "PartiallyPaid"):
        r = api.post(url, json={"closeCode": code})
        assert r.status_code == 400 and business_type(r) == "PaymentRequired"
    assert api.post(url, json={"closeCode": "Bogus"}).status_code == 400
    r = api.post(url, json={"closeCode": "DebtorUntraceable", "comment": "moved abroad"})
    assert r.status_code == 200
    body = r.json()
    assert body["closeCode"] == "DebtorUntraceable" and body["closeCodeDescription"] == "Debtor Untraceable"
    assert body["comment"] == "moved abroad" and body["closedBy"]["userName"]
    assert case_json(api, no_payments["id"])["closeCode"] == "Debtor Untraceable"
    r = api.post(url, json={"closeCode": "Other"})
    assert r.status_code == 400 and business_type(r) == "CaseAlreadyClosed"


def test_close_paid_needs_full_payment(api: httpx.Client, sandbox: SandboxHandle) -> None:
    case = sandbox.case("Active", with_payments=True, invoiced=False)
    url = f"/cases/{case['id']}/close"
    r = api.post(url, json={"closeCode": "Paid"})
    assert r.status_code == 400 and business_type(r) == "OutstandingBalance"
    r = api.post(url, json={"closeCode": "PartiallyPaid"})
    assert r.status_code == 200 and r.json()["finalOutstandingAmount"] > 0
    assert case_json(api, case["id"])["closeCode"] == "Partially paid"


def test_close_paid_after_settling(api: httpx.Client, sandbox: SandboxHandle) -> None:
    case = sandbox.case("Paused", with_payments=False)
    remainder = case_json(api, case["id"])["remainder"]
    assert api.post(f"/cases/{case['id']}/payments", json=pay(remainder)).status_code == 200
    r = api.post(f"/cases/{case['id']}/close", json={"closeCode": "PartiallyPaid"})
    assert r.status_code == 400 and business_type(r) == "NoOutstandingBalance"
    r = api.post(f"/cases/{case['id']}/close", json={"closeCode": "paid"})
    assert r.status_code == 200 and r.json()["totalPayments"] == pytest.approx(remainder)


# ---------------------------------------------------------------- start


def test_start_case_effects(api: httpx.Client, sandbox: SandboxHandle) -> None:
    case = sandbox.case("PendingVerification", custom_terms=False)
    email = sandbox.user_email()
    body = {
        "welcomeMessage": "Hello, we take it from here.",
        "userEmail": email,
        "collectionPartnerReference": "OUR 77/1",
        "interestFees": 10,
        "assignedUserEmail": email,
    }
    r = api.post(f"/cases/{case['id']}/start", json=body)
    assert r.status_code == 200
    out = r.json()
    assert out["status"] == "Active" and out["collectionPartnerReference"] == "OUR 77/1"
    after = case_json(api, case["id"])
    assert after["lifecycle"] == "Active" and after["dateCollectionStarted"] and after["interestFees"] == 10
    assert after["assignedUser"]["email"] == email
    chats = api.get(f"/cases/{case['id']}/chats").json()
    assert chats[-1]["message"] == body["welcomeMessage"] and chats[-1]["role"] == 0
    assert chats[-1]["user"]["email"] == email
    types = [i["type"] for i in timeline(api, case["id"])]
    assert {"LifecycleChange", "Activation", "ExclusivePeriod", "Communication"} <= set(types)
    period = api.get(f"/cases/{case['id']}/exclusive-period").json()
    assert period["status"] == "Active" and 180 <= period["daysRemaining"] <= 184
    assert api.get("/cases/by-partner-reference/OUR%2077%2F1").json()["id"] == case["id"]
    again = api.post(f"/cases/{case['id']}/start", json=body)
    assert again.status_code == 400 and business_type(again) == "InvalidCaseState"


def test_start_case_validation(api: httpx.Client, sandbox: SandboxHandle) -> None:
    case = sandbox.case("PendingVerification", custom_terms=False)
    url = f"/cases/{case['id']}/start"
    email = sandbox.user_email()
    r = api.post(url, json={"userEmail": email})
    assert r.status_code == 400 and "welcomeMessage" in r.json()
    assert api.post(url, json={"welcomeMessage": "x" * 5001, "userEmail": email}).status_code == 400
    r = api.post(url, json={"welcomeMessage": "hi"})
    assert r.status_code == 400 and r.json()["error"] == "MissingUserIdentifier"
    r = api.post(url, json={"welcomeMessage": "hi", "userEmail": "stranger@example.com"})
    assert r.status_code == 400 and business_type(r) == "MissingUserIdentifier"
    user_id = sandbox.users()[1]["id"]
    assert api.post(url, json={"welcomeMessage": "hi", "userId": user_id}).status_code == 200
    custom = sandbox.case("PendingVerification", custom_terms=True)
    r = api.post(f"/cases/{custom['id']}/start", json={"welcomeMessage": "hi", "userEmail": email})
    assert r.status_code == 400 and business_type(r) == "CustomTermsRequired"
    active = sandbox.case("Active")
    r = api.post(f"/cases/{active['id']}/start", json={"welcomeMessage": "hi", "userEmail": email})
    assert r.status_code == 400 and business_type(r) == "InvalidCaseState"


# ---------------------------------------------------------------- fees


def test_fees_replace_semantics(api: httpx.Client, sandbox: SandboxHandle) -> None:
    case = sandbox.case("Active", intentional_rate=False)
    url = f"/cases/{case['id']}/fees"
    r = api.put(url, json={"interestFees": 11, "reminderFees": 22, "collectionFees": 33})
    assert r.status_code == 200
    out = r.json()
    assert (out["interestFees"], out["reminderFees"], out["collectionFees"], out["totalAddedFees"]) == (
        11,
        22,
        33,
        66,
    )
    assert out["recalculatedSuccessFee"] is None
    r = api.put(url, json={"interestFees": 5})  # omitted fees are replaced (zeroed)
    assert (r.json()["reminderFees"], r.json()["collectionFees"]) == (0, 0)
    after = case_json(api, case["id"])
    assert after["totalAddedFees"] == 5 and after["remainder"] == r.json()["remainder"]
    assert timeline(api, case["id"])[-1]["type"] == "FeeChange"
    assert api.put(url, json={"interestFees": -1}).status_code == 400


def test_fees_price_change_gate(api: httpx.Client, sandbox: SandboxHandle) -> None:
    case = sandbox.case("Active", intentional_rate=False)
    url = f"/cases/{case['id']}/fees"
    current = case_json(api, case["id"])
    # a principal that moves the fee table by more than 0.1 points
    gross = 500.0 if current["grossAmount"] >= 1000 else 50_000.0
    body = {"grossAmount": gross, "interestFees": 0, "reminderFees": 0, "collectionFees": 0}
    r = api.put(url, json=body)
    assert r.status_code == 409
    gate = r.json()
    assert gate["confirmationRequired"] is True and gate["isIntentionalRate"] is False
    assert (
        gate["currentSuccessFee"] == current["preLegalSuccessFee"]
        and gate["proposedSuccessFee"] != gate["currentSuccessFee"]
    )
    assert case_json(api, case["id"])["grossAmount"] == current["grossAmount"]  # nothing applied
    r = api.put(url, json={**body, "keepIntentionalRate": True})
    assert r.status_code == 409
    r = api.put(url, json={**body, "confirmPriceChange": True})
    assert r.status_code == 200 and r.json()["recalculatedSuccessFee"] == gate["proposedSuccessFee"]
    after = case_json(api, case["id"])
    assert after["grossAmount"] == gross and after["preLegalSuccessFee"] == gate["proposedSuccessFee"]
    assert timeline(api, case["id"])[-1]["type"] in ("PrincipalChange", "FeeChange")


def test_fees_intentional_rate(api: httpx.Client, sandbox: SandboxHandle) -> None:
    case = sandbox.case("Active", intentional_rate=True)
    url = f"/cases/{case['id']}/fees"
    current = case_json(api, case["id"])
    body = {
        "grossAmount": current["grossAmount"] + 1,
        "interestFees": 0,
        "reminderFees": 0,
        "collectionFees": 0,
    }
    r = api.put(url, json=body)
    assert r.status_code == 409 and r.json()["isIntentionalRate"] is True
    r = api.put(url, json={**body, "confirmPriceChange": True})
    assert r.status_code == 400 and business_type(r) == "IntentionalRate"
    r = api.put(url, json={**body, "keepIntentionalRate": True})
    assert r.status_code == 200 and r.json()["recalculatedSuccessFee"] == current["preLegalSuccessFee"]


def test_fees_small_move_needs_no_confirmation(api: httpx.Client, sandbox: SandboxHandle) -> None:
    case = sandbox.case("Active", intentional_rate=False)
    current = case_json(api, case["id"])
    r = api.put(
        f"/cases/{case['id']}/fees",
        json={
            "grossAmount": current["grossAmount"] + 0.5,
            "interestFees": 0,
            "reminderFees": 0,
            "collectionFees": 0,
        },
    )
    assert r.status_code == 200


def test_fees_not_on_closed_or_merged(api: httpx.Client, sandbox: SandboxHandle) -> None:
    for lifecycle in ("Closed", "Merged"):
        case = sandbox.case(lifecycle)
        r = api.put(f"/cases/{case['id']}/fees", json={"interestFees": 1})
        assert r.status_code == 400 and business_type(r) == "InvalidCaseState"


# ---------------------------------------------------------------- chats


def test_send_chat_rules(api: httpx.Client, sandbox: SandboxHandle) -> None:
    case = sandbox.case("Active")
    url = f"/cases/{case['id']}/chats"
    email = sandbox.user_email()
    r = api.post(url, json={"message": "Debtor promised to pay", "userEmail": email})
    assert r.status_code == 200
    chat = r.json()
    assert chat["role"] == 0 and chat["roleLabel"] == "Partner" and chat["user"]["email"] == email
    assert api.get(url).json()[-1]["id"] == chat["id"]
    assert timeline(api, case["id"])[-1]["type"] == "Communication"
    r = api.post(url, json={"message": "hi"})
    assert r.status_code == 400 and r.json()["error"] == "MissingUserIdentifier"
    r = api.post(url, json={"message": "hi", "userEmail": "nobody@example.com"})
    assert r.status_code == 400 and business_type(r) == "MissingUserIdentifier"
    assert api.post(url, json={"message": "", "userEmail": email}).status_code == 400
    assert api.post(url, json={"message": "x" * 10_001, "userEmail": email}).status_code == 400
    assert api.post(url, json={"message": "x" * 10_000, "userEmail": email}).status_code == 200
    # userEmail wins over userId
    other = sandbox.users()[1]
    r = api.post(url, json={"message": "both", "userEmail": email, "userId": other["id"]})
    assert r.json()["user"]["email"] == email


def test_chat_idempotency_keyed_by_body(api: httpx.Client, sandbox: SandboxHandle) -> None:
    case = sandbox.case("Active")
    url = f"/cases/{case['id']}/chats"
    key = {"Idempotency-Key": "chat-key-1"}
    body = {"message": "Once only", "userEmail": sandbox.user_email()}
    first = api.post(url, json=body, headers=key).json()
    again = api.post(url, json=body, headers=key)
    assert again.status_code == 200 and again.json()["id"] == first["id"]
    different = api.post(url, json={**body, "message": "Another"}, headers=key)
    assert different.status_code == 200 and different.json()["id"] != first["id"]
    messages = [c["message"] for c in api.get(url).json()]
    assert messages.count("Once only") == 1 and messages.count("Another") == 1


# ---------------------------------------------------------------- files


def test_upload_file_and_download(api: httpx.Client, sandbox: SandboxHandle) -> None:
    case = sandbox.case("Closed")
    r = api.post(
        f"/cases/{case['id']}/files",
        files={"File": ("letter.PDF", b"%PDF-1.4 sandbox", "application/pdf")},
        data={"DocumentType": "DemandLetter", "Description": "First letter"},
    )
    assert r.status_code == 200
    f = r.json()
    assert f["fileName"] == "letter.PDF" and f["documentType"] == "DemandLetter" and f["caseId"] == case["id"]
    assert httpx.get(f["url"]).content == b"%PDF-1.4 sandbox"
    assert f["id"] in {x["id"] for x in api.get(f"/cases/{case['id']}/files").json()}
    assert timeline(api, case["id"])[-1]["type"] == "Document"
    odd = api.post(f"/cases/{case['id']}/files", files={"File": ("rapport é 1.pdf", b"%PDF")})
    assert odd.status_code == 200 and odd.json()["fileName"] == "rapport é 1.pdf"
    dl = httpx.get(odd.json()["url"])
    assert (
        dl.status_code == 200
        and "filename*=UTF-8''rapport%20%C3%A9%201.pdf" in dl.headers["content-disposition"]
    )
    lower = api.post(f"/cases/{case['id']}/files", files={"file": ("a.txt", b"x")}, data={"description": "d"})
    assert lower.status_code == 200 and lower.json()["description"] == "d"


def test_upload_file_errors(api: httpx.Client, sandbox: SandboxHandle) -> None:
    case = sandbox.case("Active")
    url = f"/cases/{case['id']}/files"
    r = api.post(url, files={"File": ("run.exe", b"MZ")})
    assert r.status_code == 415 and r.json()["businessErrors"]
    r = api.post(url, files={"File": ("big.pdf", b"0" * (25 * 1024 * 1024 + 1))})
    assert r.status_code == 413
    assert api.post(url, files={"File": ("ok.pdf", b"0" * (25 * 1024 * 1024))}).status_code == 200
    r = api.post(url, data={"Description": "no file"}, files={"Other": ("x.pdf", b"x")})
    assert r.status_code == 400
    r = api.post(url, files={"File": ("a.pdf", b"x")}, data={"DocumentType": "Selfie"})
    assert r.status_code == 400 and "DocumentType" in r.json()
    r = api.post(url, files={"File": ("a.pdf", b"x")}, data={"Description": "d" * 501})
    assert r.status_code == 400
    merged = sandbox.case("Merged")
    r = api.post(f"/cases/{merged['id']}/files", files={"File": ("a.pdf", b"x")})
    assert r.status_code == 409 and business_type(r) == "CaseMerged"


def test_merged_cases_are_read_only(api: httpx.Client, sandbox: SandboxHandle) -> None:
    merged = sandbox.case("Merged")
    base = f"/cases/{merged['id']}"
    email = sandbox.user_email()
    assert api.get(base).json()["lifecycle"] == "Merged"
    for method, path, body in (
        ("POST", "/notes", {"description": "x"}),
        ("POST", "/chats", {"message": "x", "userEmail": email}),
        ("POST", "/close", {"closeCode": "Other"}),
        ("POST", "/start", {"welcomeMessage": "x", "userEmail": email}),
        ("PUT", "/fees", {"interestFees": 1}),
        (
            "POST",
            "/payments",
            {"date": "2026-01-01", "paymentAmount": 1, "paymentRecipient": "CollectionPartner"},
        ),
    ):
        r = api.request(method, base + path, json=body)
        assert r.status_code == 400, (path, r.text)
        assert business_type(r) == "InvalidCaseState"
