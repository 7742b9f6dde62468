from __future__ import annotations

import logging

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.debitura.errors import (
    BadRequest,
    BusinessError,
    ClientValidationError,
    Conflict,
    ErrorShape,
    NotFound,
    OutcomeUnknown,
    RateLimited,
    ServerError,
    TransportError,
    Unauthorized,
    Unprocessable,
)
from bot.debitura.ratelimit import BudgetExhausted
from bot.services.errors import BadInput, Refused, describe, new_error_id, report


def _slack_error(code: str) -> SlackApiError:
    response = AsyncSlackResponse(client=None, http_verb="POST", api_url="https://x/api/chat.postMessage",
                                  req_args={}, data={"ok": False, "error": code}, headers={}, status_code=200)
    return SlackApiError("failed", response)  # type: ignore[no-untyped-call]


def test_error_ids_are_short_and_unique() -> None:
    ids = {new_error_id() for _ in range(1000)}
    assert len(ids) == 1000 and all(len(i) == 10 for i in ids)


@pytest.mark.parametrize(
    ("exc", "words", "expected"),
    [
        (NotFound(404), "Case not found, or not assigned to you.", True),
        (RateLimited(retry_after=41.2), "Debitura is rate limiting us, try again in 42 s.", True),
        (RateLimited(retry_after=0), "try again in 1 s", True),
        (BudgetExhausted(7.0, "minute"), "Debitura is rate limiting us, try again in 7 s.", True),
        (BadRequest(400, business_errors=[BusinessError("CreditorBlocked", "The creditor is <blocked>.")]),
         "Debitura refused this: The creditor is &lt;blocked&gt;.", True),
        (BadRequest(400, field_errors={"PaymentAmount": ["Must be at least 0.01"]}),
         "PaymentAmount: Must be at least 0.01", True),
        (Conflict(409, message="Case must be reopened"), "current state: Case must be reopened", True),
        (Unprocessable(422, message="The payout is invoiced"),
         "cannot apply this: The payout is invoiced", True),
        (BadRequest(400), "Debitura refused this (HTTP 400).", True),
        (Unauthorized(401, error_shape=ErrorShape.PROBLEM_DETAILS), "DEBITURA_API_KEY", False),
        (ServerError(503), "internal error (HTTP 503)", False),
        (TransportError("timed out"), "Could not reach Debitura", False),
        (OutcomeUnknown("create_note", "c1", reason="timeout"), "cannot tell whether this was saved", False),
        (ClientValidationError("file <x> too big"), "file &lt;x&gt; too big", True),
        (BadInput("Say `please`."), "Say `please`.", True),
        (Refused("Guests cannot use Caseroom."), "Guests cannot use Caseroom.", True),
        (RuntimeError("boom"), "Something went wrong on our side", False),
    ],
)
def test_describe(exc: BaseException, words: str, expected: bool) -> None:
    message = describe(exc)
    assert words in message.text
    assert message.expected is expected
    assert "Traceback" not in message.text


def test_not_found_names_the_subject() -> None:
    assert describe(NotFound(404), subject="Payment").text == "Payment not found, or not assigned to you."


@pytest.mark.parametrize(
    ("code", "words"),
    [("channel_not_found", "Invite the Caseroom app"), ("ratelimited", "rate limiting"),
     ("missing_scope", "reinstall"), ("weird_thing", "`weird_thing`")],
)
def test_slack_errors_become_words(code: str, words: str) -> None:
    assert words in describe(_slack_error(code)).text


def test_report_logs_the_id_that_the_user_sees(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="bot.services.errors")
    text = report(NotFound(404), where="command card")
    error_id = text.rsplit("`", 2)[1]
    assert "Case not found, or not assigned to you." in text and len(error_id) == 10
    record = next(r for r in caplog.records if error_id in r.getMessage())
    assert record.levelno == logging.INFO and record.exc_info is None
    assert record.__dict__["error_id"] == error_id


def test_report_logs_unexpected_errors_with_traceback(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="bot.services.errors")
    try:
        raise ValueError("internal detail")
    except ValueError as exc:
        text = report(exc, where="command card", error_id="abc123")
    assert text.endswith("_Error id `abc123`_")
    assert "internal detail" not in text
    record = next(r for r in caplog.records if "abc123" in r.getMessage())
    assert record.levelno == logging.ERROR and record.exc_info is not None
