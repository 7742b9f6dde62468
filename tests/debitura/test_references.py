"""Every value that becomes part of a request URL is checked against its documented shape first.

`partner:..` used to become `GET /cases` (`quote(..., safe="")` keeps `.` and `..`, and URL
resolution removes them). Ids are GUIDs, Debitura references 8 letters or digits; our own
references are free text, so only what cannot stay one path segment is kept out of the path.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.debitura.client import DebituraClient, RetryPolicy
from bot.debitura.errors import ClientValidationError, NotFound
from bot.debitura.models import (
    CloseCaseRequest,
    CloseCode,
    CreateManagedCasePaymentRequest,
    CreateNoteRequest,
    PaymentRecipient,
    SendChatRequest,
    UpdatePaymentRequest,
    UpdateWebhookRequest,
)
from tests.debitura import bodies
from tests.debitura.conftest import BASE_URL, FakeApi, query

CID = bodies.CASE_ID
PID = bodies.PAYMENT_ID
WID = bodies.WEBHOOK_ID

Call = Callable[[DebituraClient, str], Awaitable[Any]]
CHAT = SendChatRequest(message="hi", user_email="a@b.example")
MANAGED_PAYMENT = CreateManagedCasePaymentRequest(date=date(2026, 4, 4), payment_amount=Decimal("1"))
EDIT = UpdatePaymentRequest(date=date(2026, 4, 4), payment_amount=Decimal("1"),
                            payment_recipient=PaymentRecipient.CollectionPartner)

# Each operation that puts a caller's value into the path: (name, call, the path with {} for it).
PATH_OPERATIONS: list[tuple[str, Call, str]] = [
    ("get_case", lambda c, v: c.get_case(v), "/cases/{}"),
    ("get_timeline", lambda c, v: c.get_timeline(v), "/cases/{}/timeline"),
    ("list_chats", lambda c, v: c.list_chats(v), "/cases/{}/chats"),
    ("send_chat", lambda c, v: c.send_chat(v, CHAT), "/cases/{}/chats"),
    ("list_payments", lambda c, v: c.list_payments(v), "/cases/{}/payments"),
    ("update_payment (case)", lambda c, v: c.update_payment(v, PID, EDIT),
     "/cases/{}/payments/" + PID),
    ("update_payment (payment)", lambda c, v: c.update_payment(CID, v, EDIT),
     f"/cases/{CID}/payments/{{}}"),
    ("delete_payment", lambda c, v: c.delete_payment(CID, v), f"/cases/{CID}/payments/{{}}"),
    ("list_files", lambda c, v: c.list_files(v), "/cases/{}/files"),
    ("create_note", lambda c, v: c.create_note(v, CreateNoteRequest(description="n")), "/cases/{}/notes"),
    ("close_case", lambda c, v: c.close_case(v, CloseCaseRequest(close_code=CloseCode.Paid)),
     "/cases/{}/close"),
    ("get_exclusive_period", lambda c, v: c.get_exclusive_period(v), "/cases/{}/exclusive-period"),
    ("get_validation", lambda c, v: c.get_validation(v), "/cases/{}/validation"),
    ("get_case_by_reference", lambda c, v: c.get_case_by_reference(v), "/cases/case-reference/{}"),
    ("get_webhook", lambda c, v: c.get_webhook(v), "/webhooks/{}"),
    ("update_webhook", lambda c, v: c.update_webhook(v, UpdateWebhookRequest(is_active=False)),
     "/webhooks/{}"),
    ("delete_webhook", lambda c, v: c.delete_webhook(v), "/webhooks/{}"),
    ("replay_webhook_event", lambda c, v: c.replay_webhook_event(v), "/webhooks/events/{}/replay"),
    ("get_managed_case", lambda c, v: c.get_managed_case(v), "/managed-cases/{}"),
    ("get_managed_case_timeline", lambda c, v: c.get_managed_case_timeline(v), "/managed-cases/{}/timeline"),
    ("list_managed_case_chats", lambda c, v: c.list_managed_case_chats(v), "/managed-cases/{}/chats"),
    ("list_managed_case_payments", lambda c, v: c.list_managed_case_payments(v),
     "/managed-cases/{}/payments"),
    ("create_managed_case_payment", lambda c, v: c.create_managed_case_payment(v, MANAGED_PAYMENT),
     "/managed-cases/{}/payments"),
    ("update_managed_case_payment (case)", lambda c, v: c.update_managed_case_payment(v, PID, EDIT),
     "/managed-cases/{}/payments/" + PID),
    ("update_managed_case_payment (payment)", lambda c, v: c.update_managed_case_payment(CID, v, EDIT),
     f"/managed-cases/{CID}/payments/{{}}"),
    ("delete_managed_case_payment", lambda c, v: c.delete_managed_case_payment(CID, v),
     f"/managed-cases/{CID}/payments/{{}}"),
    ("list_managed_case_files", lambda c, v: c.list_managed_case_files(v), "/managed-cases/{}/files"),
    ("get_managed_case_by_reference", lambda c, v: c.get_managed_case_by_reference(v),
     "/managed-cases/case-reference/{}"),
    ("advance_test_case", lambda c, v: c.advance_test_case(v, "Active"), "/test/cases/{}/advance"),
    ("delete_test_case", lambda c, v: c.delete_test_case(v), "/test/cases/{}"),
    ("replay_test_case_last_event", lambda c, v: c.replay_test_case_last_event(v),
     "/test/cases/{}/replay-last-event"),
    ("get_ingestion_job", lambda c, v: c.get_ingestion_job(v), "/ingestion-jobs/{}"),
]
BY_REFERENCE = ("get_case_by_reference", "get_managed_case_by_reference")
OPERATION_IDS = [p[0] for p in PATH_OPERATIONS]

HOSTILE = [
    "", " ", ".", "..", "../..", "../../webhooks", "a/b", "a\\b", "%2e%2e", "x\ny", "x\x00", "x\x7f",
    "\ud800", "3f2c8a9e-6b1d-4c52-9a77-0e5b8d41c2aa/..", " 3f2c8a9e-6b1d-4c52-9a77-0e5b8d41c2aa",
    "Q8OAXF3W?x=1", "g" * 36, "x" * 10_000,
]


def answer(request: httpx.Request) -> httpx.Response:
    """A 200 shaped for whichever operation asked (the bodies are not what these tests look at)."""
    path = request.url.path
    if path.startswith("/test/cases/"):
        if path.endswith("/advance"):
            return httpx.Response(200, json=bodies.ADVANCED)
        if path.endswith("/replay-last-event"):
            return httpx.Response(200, json=bodies.REPLAYED_LAST)
        return httpx.Response(204)
    if path.startswith("/ingestion-jobs/"):
        return httpx.Response(200, json=bodies.JOB_STATUS)
    if path.startswith("/managed-cases/") and request.method == "POST" and path.endswith("/payments"):
        return httpx.Response(200, json=bodies.MANAGED_PAYMENT_RESPONSE)
    if path.startswith("/webhooks/events/"):
        return httpx.Response(200, json=bodies.REPLAY)
    if path.startswith("/webhooks/"):
        return httpx.Response(200 if request.method != "DELETE" else 204, json=bodies.WEBHOOK)
    if path == "/cases/by-partner-reference":
        refs = dict(query(request))["references"].split(",")
        return httpx.Response(200, json={ref: bodies.case() for ref in refs})
    tail = path.rsplit("/", 1)[-1]
    body: Any = {
        "timeline": bodies.TIMELINE, "chats": [bodies.CHAT], "payments": [bodies.PAYMENT],
        "files": [bodies.CASE_FILE], "notes": bodies.NOTE, "close": bodies.CLOSE_RESPONSE,
        "exclusive-period": bodies.EXCLUSIVE_PERIOD, "validation": bodies.VALIDATION,
    }.get(tail, bodies.case())
    if request.method == "POST" and tail == "chats":
        body = bodies.CHAT
    if "/payments/" in path:
        body = bodies.PAYMENT if request.method == "PUT" else None
        return httpx.Response(200 if body else 204, json=body)
    return httpx.Response(200, json=body)


def client_for(api: FakeApi) -> DebituraClient:
    return DebituraClient(BASE_URL, "k", transport=httpx.MockTransport(api.handler),
                          retry_policy=RetryPolicy(max_retries=0))


# --- unit: the user's example and each operation -------------------------------------------------


async def test_partner_dot_dot_never_becomes_get_cases(api: FakeApi) -> None:
    api.reply(lambda r: httpx.Response(200, json={}))
    c = client_for(api)
    with pytest.raises(NotFound):
        await c.get_case_by_partner_reference("..")
    await c.aclose()
    assert len(api.requests) == 1
    sent = api.last
    # Not GET /cases: the reference travels whole, as a query parameter of the batch lookup.
    assert sent.url.path == "/cases/by-partner-reference"
    assert query(sent) == [("references", "..")]


@pytest.mark.parametrize("reference", [".", "..", "INV 2026/0042", "A\\B", "ACME-2026/17 & 18"])
async def test_partner_reference_unsafe_in_a_path_is_found_by_query(api: FakeApi, reference: str) -> None:
    api.reply(answer)
    c = client_for(api)
    case = await c.get_case_by_partner_reference(reference)
    await c.aclose()
    assert case.id == CID
    assert api.last.url.path == "/cases/by-partner-reference"
    assert query(api.last) == [("references", reference)]


@pytest.mark.parametrize("reference", ["", "  ", "a\nb", "tab\there", "nul\x00", "x" * 129,
                                       "a/b,c", "a\\b,c"])
async def test_partner_reference_that_cannot_travel_is_refused(api: FakeApi, reference: str) -> None:
    c = client_for(api)
    with pytest.raises(ClientValidationError):
        await c.get_case_by_partner_reference(reference)
    await c.aclose()
    assert api.requests == []


@pytest.mark.parametrize(("name", "call", "template"), PATH_OPERATIONS, ids=OPERATION_IDS)
async def test_malformed_ids_are_refused_before_sending(
    api: FakeApi, name: str, call: Call, template: str
) -> None:
    c = client_for(api)
    for value in HOSTILE:
        with pytest.raises(ClientValidationError):
            await call(c, value)
    await c.aclose()
    assert api.requests == []


@pytest.mark.parametrize(("name", "call", "template"), PATH_OPERATIONS, ids=OPERATION_IDS)
async def test_well_formed_ids_still_reach_their_path(
    api: FakeApi, name: str, call: Call, template: str
) -> None:
    api.reply(answer)
    c = client_for(api)
    good = "Q8OAXF3W" if name in BY_REFERENCE else (WID if "webhook" in name else PID)
    await call(c, good)
    await c.aclose()
    assert api.last.url.raw_path.split(b"?")[0].decode() == template.format(good)


async def test_creditor_lookup_checks_the_creditor_id_and_reference(api: FakeApi) -> None:
    c = client_for(api)
    for reference, creditor_id in [("INV-1", "../x"), ("INV-1", "not-a-guid"), ("a\nb", bodies.CREDITOR_ID),
                                   ("x" * 257, bodies.CREDITOR_ID)]:
        with pytest.raises(ClientValidationError):
            await c.get_case_by_creditor_reference(reference, creditor_id)
    with pytest.raises(ClientValidationError):
        await c.list_webhook_events("../cases")
    await c.aclose()
    assert api.requests == []


# --- property: whatever the string, one segment or the documented error -------------------------

def _segments(raw_path: bytes) -> list[str]:
    return raw_path.split(b"?")[0].decode("ascii").split("/")


def _run(call: Call, value: str) -> tuple[list[httpx.Request], BaseException | None]:
    api = FakeApi()
    api.reply(*([answer] * 2))

    async def go() -> BaseException | None:
        c = client_for(api)
        try:
            await call(c, value)
        except ClientValidationError as exc:
            return exc
        except NotFound as exc:  # the batch lookup left it out: a documented answer
            return exc
        finally:
            await c.aclose()
        return None

    return api.requests, asyncio.run(go())


VALUES = st.one_of(
    st.text(max_size=200),
    st.text(alphabet=st.sampled_from("./\\%2eE-aA0 \n\t?#&,"), max_size=12),
    st.sampled_from([*HOSTILE, bodies.CASE_ID, bodies.CASE_ID.upper(), "Q8OAXF3W"]),
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=VALUES, index=st.integers(min_value=0, max_value=len(PATH_OPERATIONS) - 1))
@example(value="..", index=0)
def test_property_any_string_keeps_the_path_template(value: str, index: int) -> None:
    """Random strings never change the path's segment count; the only error is ClientValidationError."""
    name, call, template = PATH_OPERATIONS[index]
    requests, error = _run(call, value)
    if error is not None:
        assert isinstance(error, ClientValidationError), repr(error)
        assert requests == []
        return
    assert len(requests) == 1
    sent = _segments(requests[0].url.raw_path)
    expected = template.split("/")
    assert len(sent) == len(expected)
    slot = expected.index("{}")
    assert unquote(sent[slot]) == (value.strip() if name in BY_REFERENCE else value)
    assert [s for i, s in enumerate(sent) if i != slot] == [s for i, s in enumerate(expected) if i != slot]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=VALUES)
@example(value="..")
@example(value="a/b")
def test_property_partner_reference_travels_whole_or_is_refused(value: str) -> None:
    """Our free-text references: one path segment, or the batch query, or ClientValidationError."""
    requests, error = _run(lambda c, v: c.get_case_by_partner_reference(v), value)
    if isinstance(error, ClientValidationError):
        assert requests == []
        return
    assert error is None or isinstance(error, NotFound)
    assert len(requests) == 1
    sent = requests[0]
    segments = _segments(sent.url.raw_path)
    if len(segments) == 4:
        assert segments[:3] == ["", "cases", "by-partner-reference"]
        assert unquote(segments[3]) == value
        assert query(sent) == []
    else:
        assert segments == ["", "cases", "by-partner-reference"]
        assert query(sent) == [("references", value)]
