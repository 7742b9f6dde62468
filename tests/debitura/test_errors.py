"""The four error body shapes (plus text and empty bodies), typed by status, with people-ready text."""

from __future__ import annotations

import json

import httpx
import pytest

from bot.debitura.client import DebituraClient
from bot.debitura.errors import (
    ApiError,
    BadRequest,
    ClientValidationError,
    Conflict,
    DebituraError,
    ErrorShape,
    NotFound,
    OutcomeUnknown,
    PayloadTooLarge,
    RateLimited,
    ServerError,
    TransportError,
    Unauthorized,
    Unprocessable,
    UnsupportedMediaType,
    api_error_from_response,
)
from bot.debitura.models import CreateNoteRequest, CreatePaymentRequest
from tests.debitura import bodies
from tests.debitura.conftest import API_KEY, FakeApi

CID = bodies.CASE_ID

API_ERROR = {
    "error": "Validation failed",
    "message": "Legacy message",
    "businessErrors": [
        {
            "type": "CreditorBlocked",
            "message": "The creditor is blocked.",
            "solutionUrl": "https://docs.example/x",
        },
        {"type": "MissingPowerOfAttorney", "message": "A power of attorney is missing.", "solutionUrl": None},
    ],
}
PROBLEM = {
    "type": "https://tools.ietf.org/html/rfc7235#section-3.1",
    "title": "Unauthorized",
    "status": 401,
    "detail": "The API key is invalid.",
    "instance": "/me",
    "traceId": "00-abc-01",
}
FIELD_MAP = {"PaymentAmount": ["Must be at least 0.01."], "Date": ["The Date field is required."]}
RATE_LIMIT = {
    "error": "rate_limit_exceeded",
    "message": "Too many requests. Retry later.",
    "retryAfter": 42.0,
}


def test_api_error_shape_keeps_business_errors() -> None:
    err = api_error_from_response(400, json.dumps(API_ERROR).encode(), operation="create_payment")
    assert isinstance(err, BadRequest)
    assert err.error_shape is ErrorShape.API_ERROR
    assert err.business_error_types == ["CreditorBlocked", "MissingPowerOfAttorney"]
    assert err.business_errors[0].solution_url == "https://docs.example/x"
    assert err.has_business_error("creditorblocked")
    assert str(err) == (
        "Debitura rejected the request: The creditor is blocked.; A power of attorney is missing."
    )
    assert err.error == "Validation failed" and err.message == "Legacy message"


def test_api_error_with_only_legacy_fields_uses_message() -> None:
    err = api_error_from_response(422, b'{"error":"MissingUserIdentifier","message":"Give userEmail."}')
    assert isinstance(err, Unprocessable)
    assert err.has_business_error("MissingUserIdentifier")
    assert str(err) == "Debitura could not apply the request: Give userEmail."


def test_problem_details_shape() -> None:
    err = api_error_from_response(
        400,
        json.dumps(
            {**PROBLEM, "status": 400, "title": "Bad JSON", "detail": "Unexpected end of input."}
        ).encode(),
    )
    assert isinstance(err, BadRequest)
    assert err.error_shape is ErrorShape.PROBLEM_DETAILS
    assert "Unexpected end of input." in str(err)


def test_problem_details_with_validation_errors_member() -> None:
    body = {"title": "One or more validation errors occurred.", "status": 400, "errors": FIELD_MAP}
    err = api_error_from_response(400, json.dumps(body).encode())
    assert isinstance(err, BadRequest)
    assert err.field_errors == FIELD_MAP


def test_field_dictionary_shape() -> None:
    err = api_error_from_response(400, json.dumps(FIELD_MAP).encode())
    assert isinstance(err, BadRequest)
    assert err.error_shape is ErrorShape.FIELD_ERRORS
    assert err.field_errors == FIELD_MAP
    assert str(err) == (
        "Debitura rejected the request: PaymentAmount: Must be at least 0.01.; "
        "Date: The Date field is required."
    )


def test_rate_limit_shape() -> None:
    err = api_error_from_response(429, json.dumps(RATE_LIMIT).encode())
    assert isinstance(err, RateLimited)
    assert err.error_shape is ErrorShape.RATE_LIMIT
    assert err.retry_after == 42.0
    assert str(err) == "Debitura's rate limit was reached; try again in 42 s."


@pytest.mark.parametrize(
    ("raw", "shape"),
    [
        (b"<html><body>Bad Gateway</body></html>", ErrorShape.TEXT),
        (b"", ErrorShape.EMPTY),
        (b"upstream timed out", ErrorShape.TEXT),
        (b"[1,2]", ErrorShape.UNKNOWN),
    ],
)
def test_non_json_and_odd_bodies(raw: bytes, shape: ErrorShape) -> None:
    err = api_error_from_response(502, raw)
    assert isinstance(err, ServerError)
    assert err.error_shape is shape
    assert str(err).startswith("Debitura had a server error (HTTP 502)")


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequest),
        (401, Unauthorized),
        (404, NotFound),
        (409, Conflict),
        (413, PayloadTooLarge),
        (415, UnsupportedMediaType),
        (422, Unprocessable),
        (429, RateLimited),
        (500, ServerError),
        (503, ServerError),
        (418, ApiError),
    ],
)
def test_status_maps_to_class(status: int, cls: type[ApiError]) -> None:
    err = api_error_from_response(status, b'{"businessErrors":[]}')
    assert type(err) is cls
    assert isinstance(err, DebituraError) and err.status == status


async def test_404_reads_not_found_or_not_assigned(client: DebituraClient, api: FakeApi) -> None:
    api.json({"error": "NotFound", "message": "Invoice not found", "businessErrors": []}, status=404)
    with pytest.raises(NotFound) as info:
        await client.get_case(CID)
    assert str(info.value) == "Case not found, or not assigned to you."
    assert info.value.case_id == CID and info.value.operation == "get_case"


async def test_404_for_reference_names_the_reference(client: DebituraClient, api: FakeApi) -> None:
    api.json({"businessErrors": []}, status=404)
    with pytest.raises(NotFound) as info:
        await client.get_case_by_reference("Q8OAXF3W")
    assert str(info.value) == "Case Q8OAXF3W not found, or not assigned to you."


async def test_401_problem_details_from_the_client(client: DebituraClient, api: FakeApi) -> None:
    api.json(PROBLEM, status=401)
    with pytest.raises(Unauthorized) as info:
        await client.me()
    assert info.value.error_shape is ErrorShape.PROBLEM_DETAILS
    assert "DEBITURA_API_KEY" in str(info.value)


async def test_422_idempotency_conflict(client: DebituraClient, api: FakeApi) -> None:
    api.json(
        {
            "error": None,
            "message": None,
            "businessErrors": [
                {"type": "IdempotencyConflict", "message": "The key was used with a different body."}
            ],
        },
        status=422,
    )
    with pytest.raises(Unprocessable) as info:
        await client.create_payment(
            CID,
            CreatePaymentRequest(date="2025-11-19", payment_amount=10, payment_recipient="Platform"),
            idempotency_key="k1",
        )
    assert info.value.has_business_error("IdempotencyConflict")
    assert len(api.requests) == 1  # a 4xx is never retried


async def test_secrets_never_in_error_text_or_repr(client: DebituraClient, api: FakeApi) -> None:
    # Even a server that echoes the key back does not get it into our errors.
    api.json(
        {
            "error": f"bad key {API_KEY}",
            "message": f"key {API_KEY} rejected",
            "businessErrors": [{"type": "X", "message": f"echo {API_KEY}"}],
        },
        status=400,
    )
    with pytest.raises(BadRequest) as info:
        await client.me()
    err = info.value
    for text in (str(err), repr(err), repr(err.body), str(err.detail_text()), str(err.args)):
        assert API_KEY not in text
    assert API_KEY not in repr(client) and API_KEY not in str(client)


async def test_secret_not_in_transport_or_outcome_errors(client: DebituraClient, api: FakeApi) -> None:
    api.reply(httpx.ReadTimeout("timed out"))
    with pytest.raises(OutcomeUnknown) as info:
        await client.create_note(CID, CreateNoteRequest(description="x"))
    assert API_KEY not in str(info.value) and API_KEY not in repr(info.value)
    api.reply(*[httpx.ConnectError("refused")] * 4)
    with pytest.raises(TransportError) as info2:
        await client.me()
    assert API_KEY not in str(info2.value) and API_KEY not in repr(info2.value)


def test_client_validation_error_is_a_value_error() -> None:
    err = ClientValidationError("too big", field="content")
    assert isinstance(err, ValueError) and isinstance(err, DebituraError) and err.field == "content"


def test_empty_api_key_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        DebituraClient("https://x.test", "  ")
    with pytest.raises(ValueError, match="http"):
        DebituraClient("ftp://x.test", "key")
