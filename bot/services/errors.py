"""Our own errors, and the one place any error becomes words for a person.

Errors Caseroom raises itself (bad input, refused users, missing case channel) derive from
`CaseroomError`, whose message is already meant for the user. `describe()` turns those, the
Debitura client's error tree (`bot.debitura.errors`) and `SlackApiError`s into a short sentence that
says what happened and what to do. `report()` logs the error with a fresh error id and returns the
sentence with that id appended, so what a user pastes into a support message matches a log line.

Texts are mrkdwn: everything that comes from an API is escaped.
"""

from __future__ import annotations

import logging
import math
import uuid
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError

from blocks.text import esc, one_line, truncate
from bot.debitura.errors import (
    ApiError,
    ClientValidationError,
    Conflict,
    DebituraError,
    NotFound,
    OutcomeUnknown,
    PayloadTooLarge,
    RateLimited,
    ServerError,
    TransportError,
    Unauthorized,
    Unprocessable,
    UnsupportedMediaType,
)
from bot.debitura.ratelimit import BudgetExhausted
from bot.slack.errors import slack_error

log = logging.getLogger(__name__)

MAX_ERROR_TEXT = 1500


def new_error_id() -> str:
    """A short random id shown to the user and written to the log line of the same error."""
    return uuid.uuid4().hex[:10]


class CaseroomError(Exception):
    """An error whose message is written for the person who caused it (mrkdwn, already escaped)."""

    expected = True
    """Expected errors are logged at INFO without a traceback; others at ERROR with one."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadInput(CaseroomError):
    """The command or form input is malformed; `message` says how to write it."""


class Refused(CaseroomError):
    """The user may not do this (guest, another organisation, not an admin, no Debitura account)."""


class NotInCaseChannel(BadInput):
    """No case reference was given and the command was not used in a case's channel."""


@dataclass(frozen=True, slots=True)
class UserMessage:
    text: str
    """mrkdwn, without the error id."""
    expected: bool
    """False for bugs and outages (logged with traceback)."""

    def with_id(self, error_id: str) -> str:
        return f"{self.text}\n_Error id `{error_id}`_"


def _api_detail(exc: ApiError) -> str:
    """The API's own explanation (business errors first, then field errors, then message), escaped."""
    detail = one_line(exc.detail_text() or "")
    return esc(truncate(detail, MAX_ERROR_TEXT)) if detail else ""


def retry_after_seconds(value: float | None) -> int:
    if value is None or not math.isfinite(value):
        return 1
    return max(1, math.ceil(value))


def describe(exc: BaseException, *, subject: str = "Case") -> UserMessage:
    """Words for `exc`. `subject` names what a 404 is about ("Case", "Payment"...)."""
    if isinstance(exc, CaseroomError):
        return UserMessage(exc.message, exc.expected)
    if isinstance(exc, BudgetExhausted):
        secs = retry_after_seconds(exc.retry_after)
        return UserMessage(f"Debitura is rate limiting us, try again in {secs} s.", True)
    if isinstance(exc, DebituraError):
        return _describe_debitura(exc, subject)
    if isinstance(exc, SlackApiError):
        return _describe_slack(exc)
    return UserMessage("Something went wrong on our side. Try again; if it keeps failing, "
                       "send the error id to your Caseroom admin.", False)


def _describe_debitura(exc: DebituraError, subject: str) -> UserMessage:
    if isinstance(exc, RateLimited):
        secs = retry_after_seconds(exc.retry_after)
        return UserMessage(f"Debitura is rate limiting us, try again in {secs} s.", True)
    if isinstance(exc, NotFound):
        detail = _api_detail(exc)
        text = f"{subject} not found, or not assigned to you."
        return UserMessage(text, True) if not detail or "not found" in detail.lower() else UserMessage(
            f"{text} ({detail})", True)
    if isinstance(exc, TransportError):
        return UserMessage("Could not reach Debitura (no answer). Try again in a minute.", False)
    if isinstance(exc, OutcomeUnknown):
        return UserMessage("Debitura did not answer, so we cannot tell whether this was saved. "
                           "Check the case before you try again.", False)
    if isinstance(exc, ClientValidationError):
        return UserMessage(esc(one_line(str(exc))), True)
    if isinstance(exc, Unauthorized):
        return UserMessage("Debitura refused Caseroom's API key. Ask your Caseroom admin to check "
                           "DEBITURA_API_KEY.", False)
    if isinstance(exc, ServerError):
        return UserMessage(f"Debitura had an internal error (HTTP {exc.status}). Try again in a minute.",
                           False)
    if isinstance(exc, PayloadTooLarge):
        return UserMessage("The file is too large: Debitura accepts files up to 25 MB.", True)
    if isinstance(exc, UnsupportedMediaType):
        return UserMessage("Debitura does not accept this file type. Allowed: pdf, doc, docx, xls, xlsx, "
                           "jpg, jpeg, png, txt, zip, csv, eml.", True)
    if isinstance(exc, ApiError):
        detail = _api_detail(exc)
        if isinstance(exc, Conflict):
            lead = "Debitura refused this because of the case's current state"
        elif isinstance(exc, Unprocessable):
            lead = "Debitura cannot apply this"
        else:
            lead = "Debitura refused this"
        return UserMessage(f"{lead}: {detail}" if detail else f"{lead} (HTTP {exc.status}).", True)
    return UserMessage(f"Debitura request failed: {esc(one_line(str(exc)))}", False)


_SLACK_WORDS = {
    "channel_not_found": "Caseroom cannot see that channel. Invite the Caseroom app to it first.",
    "not_in_channel": "Caseroom is not a member of that channel. Invite the Caseroom app to it first.",
    "is_archived": "That channel is archived.",
    "ratelimited": "Slack is rate limiting Caseroom. Try again in a minute.",
    "restricted_action": "Your workspace's settings do not let Caseroom do this.",
    "expired_trigger_id": "Slack took too long to open the form. Run the command again.",
    "invalid_trigger_id": "Slack took too long to open the form. Run the command again.",
    "user_not_found": "Slack does not know that user.",
    "missing_scope": "Caseroom's Slack app is missing a permission (scope). Ask your admin to reinstall it.",
    "already_in_channel": "You are already in that channel.",
    "cant_invite_self": "Caseroom cannot invite itself.",
    "user_is_restricted": "Guests cannot be added to case channels.",
}


def _describe_slack(exc: SlackApiError) -> UserMessage:
    code = slack_error(exc)
    if code in _SLACK_WORDS:
        return UserMessage(_SLACK_WORDS[code], code not in {"missing_scope"})
    return UserMessage(f"Slack refused the request (`{esc(code or 'unknown error')}`). Try again.", False)


def report(exc: BaseException, *, where: str, subject: str = "Case", error_id: str | None = None,
           logger: logging.Logger | None = None) -> str:
    """Log `exc` with an error id and return the user's message with that id appended."""
    error_id = error_id or new_error_id()
    message = describe(exc, subject=subject)
    logger = logger or log
    extra = {"error_id": error_id, "where": where}
    if message.expected:
        logger.info("error_id=%s %s: %s: %s", error_id, where, type(exc).__name__, exc, extra=extra)
    else:
        logger.error("error_id=%s %s: %s: %s", error_id, where, type(exc).__name__, exc,
                     exc_info=exc, extra=extra)
    return message.with_id(error_id)
