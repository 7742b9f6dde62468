"""Errors raised by the Debitura client: one tree.

```
DebituraError
├── TransportError            connection failed / timed out (a safe request: after its retries)
├── OutcomeUnknown            a non-idempotent write got no answer (timeout or 5xx): re-read the state
├── ClientValidationError     rejected before sending (file too big, bad extension, bad argument)
├── UnexpectedResponse        a 2xx whose body is not what the API documents
└── ApiError                  Debitura answered 4xx/5xx: status, error, message, business_errors,
    │                         error_shape, body, field_errors, operation, case_id
    ├── BadRequest 400        (field_errors for the ASP.NET dictionary / ProblemDetails `errors`)
    ├── Unauthorized 401
    ├── NotFound 404          "not found, or not assigned to you"
    ├── Conflict 409
    ├── PayloadTooLarge 413
    ├── UnsupportedMediaType 415
    ├── Unprocessable 422
    ├── RateLimited 429       (retry_after seconds; also our own budget running out, `local=True`)
    └── ServerError 5xx
```

``str(error)`` is a sentence fit to show a person in Slack. No error text or repr ever contains the
API key: requests' headers are never copied into errors, and response text is scrubbed of it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = [
    "ApiError", "BadRequest", "BusinessError", "ClientValidationError", "Conflict", "DebituraError",
    "ErrorShape", "NotFound", "OutcomeUnknown", "PayloadTooLarge", "RateLimited", "ServerError",
    "TransportError", "Unauthorized", "UnexpectedResponse", "Unprocessable", "UnsupportedMediaType",
    "api_error_from_response", "parse_error_body",
]

_BODY_SNIPPET = 500


class ErrorShape(StrEnum):
    API_ERROR = "api_error"  # ApiErrorResponseDto {error, message, businessErrors}
    PROBLEM_DETAILS = "problem_details"  # RFC 7807
    FIELD_ERRORS = "field_errors"  # ASP.NET {"field": ["msg"]}
    RATE_LIMIT = "rate_limit"  # {error: rate_limit_exceeded, message, retryAfter}
    TEXT = "text"  # not JSON
    EMPTY = "empty"
    UNKNOWN = "unknown"  # JSON of no known shape


@dataclass(frozen=True)
class BusinessError:
    type: str | None
    message: str | None
    solution_url: str | None = None


class DebituraError(Exception):
    """Base of every client error."""


class TransportError(DebituraError):
    def __init__(self, message: str, *, operation: str = "", case_id: str | None = None) -> None:
        super().__init__(message)
        self.operation = operation
        self.case_id = case_id


class OutcomeUnknown(DebituraError):
    """A write that is not safe to repeat got no clear answer; it may or may not have been applied.

    Resolve it by re-reading the case (timeline, payments, lifecycle) before trying again.
    """

    def __init__(
        self, operation: str, case_id: str | None, *, reason: str, status: int | None = None
    ) -> None:
        self.operation = operation
        self.case_id = case_id
        self.reason = reason
        self.status = status
        where = f" on case {case_id}" if case_id else ""
        super().__init__(
            f"Debitura did not confirm the {operation.replace('_', ' ')}{where} ({reason}). "
            "It may or may not have been applied: check the case before trying again."
        )

    def __repr__(self) -> str:
        return (
            f"OutcomeUnknown(operation={self.operation!r}, case_id={self.case_id!r}, "
            f"reason={self.reason!r}, status={self.status!r})"
        )


class ClientValidationError(DebituraError, ValueError):
    """The request was refused before sending."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class UnexpectedResponse(DebituraError):
    def __init__(self, message: str, *, operation: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.operation = operation
        self.status = status


class ApiError(DebituraError):
    """Debitura answered with an error status."""

    default_text = "Debitura refused the request"

    def __init__(
        self,
        status: int,
        *,
        error: str | None = None,
        message: str | None = None,
        business_errors: Iterable[BusinessError] = (),
        error_shape: ErrorShape = ErrorShape.UNKNOWN,
        body: Any = None,
        field_errors: Mapping[str, list[str]] | None = None,
        operation: str = "",
        case_id: str | None = None,
        subject: str | None = None,
    ) -> None:
        self.status = status
        self.error = error
        self.message = message
        self.business_errors = list(business_errors)
        self.error_shape = error_shape
        self.body = body
        self.field_errors: dict[str, list[str]] = {k: list(v) for k, v in (field_errors or {}).items()}
        self.operation = operation
        self.case_id = case_id
        self.subject = subject
        super().__init__(self.human_message())

    @property
    def business_error_types(self) -> list[str]:
        return [b.type for b in self.business_errors if b.type]

    def has_business_error(self, type_: str) -> bool:
        return any((b.type or "").casefold() == type_.casefold() for b in self.business_errors) or (
            (self.error or "").casefold() == type_.casefold()
        )

    def detail_text(self) -> str | None:
        """What Debitura said, as one line (business messages first)."""
        messages = [b.message or b.type or "" for b in self.business_errors]
        messages = [m for m in messages if m]
        if messages:
            return "; ".join(dict.fromkeys(messages))
        if self.field_errors:
            return "; ".join(
                f"{name}: {' '.join(msgs)}" if name else " ".join(msgs)
                for name, msgs in self.field_errors.items()
            )
        return self.message or self.error

    def human_message(self) -> str:
        detail = self.detail_text()
        if detail:
            return f"{self.default_text}: {_sentence(detail)}"
        return f"{self.default_text} (HTTP {self.status})."

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status}, shape={self.error_shape.value!r}, "
            f"error={self.error!r}, business_errors={self.business_error_types!r}, "
            f"operation={self.operation!r})"
        )


class BadRequest(ApiError):
    default_text = "Debitura rejected the request"


class Unauthorized(ApiError):
    default_text = "Debitura rejected the API key"

    def human_message(self) -> str:
        return "Debitura rejected the API key (HTTP 401): check DEBITURA_API_KEY."


class NotFound(ApiError):
    default_text = "Not found"

    def human_message(self) -> str:
        if self.subject:
            return f"{self.subject} not found, or not assigned to you."
        return "Not found, or not assigned to you."


class Conflict(ApiError):
    default_text = "Debitura reported a conflict"


class PayloadTooLarge(ApiError):
    default_text = "The file is too large for Debitura (25 MB at most)"


class UnsupportedMediaType(ApiError):
    default_text = "Debitura does not accept this file type"


class Unprocessable(ApiError):
    default_text = "Debitura could not apply the request"


class RateLimited(ApiError):
    default_text = "Debitura's rate limit was reached"

    def __init__(
        self, status: int = 429, *, retry_after: float = 0.0, local: bool = False, **kw: Any
    ) -> None:
        self.retry_after = max(0.0, float(retry_after))
        self.local = local
        super().__init__(status, **kw)

    def human_message(self) -> str:
        seconds = math.ceil(self.retry_after)
        wait = f"; try again in {seconds} s" if seconds else "; try again shortly"
        if self.local:
            return f"Caseroom's Debitura request budget is used up{wait}."
        return f"Debitura's rate limit was reached{wait}."


class ServerError(ApiError):
    default_text = "Debitura had a server error"

    def human_message(self) -> str:
        detail = self.detail_text()
        extra = f": {_sentence(detail)}" if detail else "."
        return f"Debitura had a server error (HTTP {self.status}){extra}"


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    422: Unprocessable,
    429: RateLimited,
}


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    return text if text.endswith((".", "!", "?")) else text + "."


def _str_or_none(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


@dataclass
class ParsedError:
    shape: ErrorShape
    body: Any
    error: str | None = None
    message: str | None = None
    business_errors: list[BusinessError] | None = None
    field_errors: dict[str, list[str]] | None = None
    retry_after: float | None = None


def _is_field_map(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and bool(value)
        and all(isinstance(v, list) and all(isinstance(m, str) for m in v) for v in value.values())
    )


def parse_error_body(raw: bytes, *, redact: Iterable[str] = ()) -> ParsedError:
    """Recognise the four documented error shapes (plus text and empty bodies)."""
    text = raw.decode("utf-8", errors="replace")
    for secret in redact:
        if secret:
            text = text.replace(secret, "***")
    if not text.strip():
        return ParsedError(ErrorShape.EMPTY, None)
    try:
        data = json.loads(text)
    except ValueError:
        snippet = " ".join(text.split())[:_BODY_SNIPPET]
        return ParsedError(ErrorShape.TEXT, snippet, message=snippet if "<" not in snippet[:1] else None)
    if not isinstance(data, dict):
        return ParsedError(ErrorShape.UNKNOWN, data)
    if "retryAfter" in data or data.get("error") == "rate_limit_exceeded":
        retry_after = _float_or_none(data.get("retryAfter"))
        return ParsedError(
            ErrorShape.RATE_LIMIT, data, error=_str_or_none(data.get("error")),
            message=_str_or_none(data.get("message")), retry_after=retry_after,
        )
    if "businessErrors" in data or (("error" in data or "message" in data) and "title" not in data):
        business: list[BusinessError] = []
        for item in data.get("businessErrors") or []:
            if isinstance(item, dict):
                business.append(
                    BusinessError(
                        type=_str_or_none(item.get("type")), message=_str_or_none(item.get("message")),
                        solution_url=_str_or_none(item.get("solutionUrl")),
                    )
                )
        return ParsedError(
            ErrorShape.API_ERROR, data, error=_str_or_none(data.get("error")),
            message=_str_or_none(data.get("message")), business_errors=business,
        )
    if any(k in data for k in ("title", "detail", "status", "type", "instance")):
        fields = data.get("errors") if _is_field_map(data.get("errors")) else None
        detail = _str_or_none(data.get("detail"))
        title = _str_or_none(data.get("title"))
        return ParsedError(
            ErrorShape.PROBLEM_DETAILS, data, error=title, message=detail or title, field_errors=fields,
        )
    if _is_field_map(data):
        return ParsedError(ErrorShape.FIELD_ERRORS, data, field_errors=data)
    return ParsedError(ErrorShape.UNKNOWN, data)


def _float_or_none(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return result if result >= 0 and result == result else None  # reject NaN and negatives


def api_error_from_response(
    status: int,
    raw: bytes,
    *,
    operation: str = "",
    case_id: str | None = None,
    subject: str | None = None,
    retry_after: float | None = None,
    redact: Iterable[str] = (),
) -> ApiError:
    """The typed ApiError for an error response."""
    parsed = parse_error_body(raw, redact=redact)
    kwargs: dict[str, Any] = {
        "error": parsed.error,
        "message": parsed.message,
        "business_errors": parsed.business_errors or (),
        "error_shape": parsed.shape,
        "body": parsed.body,
        "field_errors": parsed.field_errors,
        "operation": operation,
        "case_id": case_id,
        "subject": subject,
    }
    if status == 429:
        wait = parsed.retry_after if parsed.retry_after is not None else retry_after
        return RateLimited(status, retry_after=wait or 0.0, **kwargs)
    if status >= 500:
        return ServerError(status, **kwargs)
    cls = _BY_STATUS.get(status, ApiError)
    return cls(status, **kwargs)
