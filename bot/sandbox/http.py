"""Response shapes and request parsing, as the real API answers them (REFERENCE section 4).

- `ApiFail` carries an `ApiErrorResponseDto` ({error, message, businessErrors[]}) with a status.
- `FieldErrors` is the ASP.NET field dictionary ({"field": ["msg"]}) for a 400.
- `problem()` builds RFC 7807 ProblemDetails (401, malformed JSON).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.sandbox.model import parse_iso

if TYPE_CHECKING:
    from bot.sandbox.app import Sandbox

Handler = Callable[[Request], Awaitable[Response]]


def sandbox_of(request: Request) -> Sandbox:
    """The `Sandbox` serving this request."""
    sb: Sandbox = request.app.state.sandbox
    return sb

_JSON_TYPES = ("application/json", "text/json", "application/json-patch+json")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ApiFail(Exception):
    """Raised by handlers and rules; turned into an ApiErrorResponseDto response."""

    def __init__(
        self,
        status: int,
        type_: str,
        message: str,
        *,
        error: str | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message
        self.error = error
        self.body = body

    def response(self) -> Response:
        if self.body is not None:
            return JSONResponse(self.body, status_code=self.status)
        return api_error(self.status, self.type, self.message, error=self.error)


class FieldErrors(Exception):
    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("validation failed")
        self.errors = errors

    def response(self) -> Response:
        return JSONResponse(self.errors, status_code=400)


def api_error(status: int, type_: str, message: str, *, error: str | None = None) -> Response:
    return JSONResponse(
        {
            "error": error if error is not None else type_,
            "message": message,
            "businessErrors": [{"type": type_, "message": message, "solutionUrl": None}],
        },
        status_code=status,
    )


def not_found(message: str = "Case not found or not assigned to you.") -> ApiFail:
    return ApiFail(404, "NotFound", message)


def problem(status: int, title: str, detail: str, instance: str, **extra: Any) -> Response:
    type_ = {
        401: "https://tools.ietf.org/html/rfc9110#section-15.5.2",
        400: "https://tools.ietf.org/html/rfc9110#section-15.5.1",
        415: "https://tools.ietf.org/html/rfc9110#section-15.5.16",
    }.get(status, "about:blank")
    body = {"type": type_, "title": title, "status": status, "detail": detail, "instance": instance, **extra}
    return JSONResponse(body, status_code=status)


class ProblemFail(Exception):
    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail


async def json_body(request: Request) -> dict[str, Any]:
    """The JSON object body, or the failure the real API gives (415, ProblemDetails, field map)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw = await request.body()
    if (
        ctype
        and ctype not in _JSON_TYPES
        and not (ctype.startswith("application/") and ctype.endswith("+json"))
    ):
        raise ProblemFail(
            415, "Unsupported Media Type", f"Content type '{ctype}' is not supported; send JSON."
        )
    if not raw.strip():
        raise FieldErrors({"": ["A non-empty request body is required."]})
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProblemFail(
            400, "One or more validation errors occurred.", f"The request body is not valid JSON: {exc}"
        ) from None
    if not isinstance(data, dict):
        raise FieldErrors({"$": ["The JSON value could not be converted to the request object."]})
    return data


class Fields:
    """Reads typed fields out of a JSON object, collecting ASP.NET-style messages."""

    def __init__(self, data: dict[str, Any]) -> None:
        # ASP.NET's JSON binding is case-insensitive on property names.
        self.data = {k.lower(): v for k, v in data.items()}
        self.errors: dict[str, list[str]] = {}

    def fail(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)

    def has(self, name: str) -> bool:
        return self.data.get(name.lower()) is not None

    def raw(self, name: str) -> Any:
        return self.data.get(name.lower())

    def string(
        self, name: str, *, required: bool = False, max_len: int | None = None, min_len: int | None = None
    ) -> str | None:
        value = self.data.get(name.lower())
        if value is None:
            if required:
                self.fail(name, f"The {name} field is required.")
            return None
        if not isinstance(value, str):
            self.fail(name, f"The JSON value could not be converted to System.String. Path: $.{name}")
            return None
        if required and not value.strip():
            self.fail(name, f"The {name} field is required.")
            return None
        if max_len is not None and len(value) > max_len:
            self.fail(name, f"The field {name} must be a string with a maximum length of {max_len}.")
        if min_len is not None and len(value) < min_len:
            self.fail(name, f"The field {name} must be a string with a minimum length of {min_len}.")
        return value

    def number(self, name: str, *, required: bool = False, minimum: float | None = None) -> float | None:
        value = self.data.get(name.lower())
        if value is None:
            if required:
                self.fail(name, f"The {name} field is required.")
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(name, f"The JSON value could not be converted to System.Decimal. Path: $.{name}")
            return None
        if value != value or value in (float("inf"), float("-inf")) or abs(value) > 1e15:
            self.fail(name, f"The field {name} is out of range.")
            return None
        if minimum is not None and value < minimum:
            self.fail(name, f"The field {name} must be at least {minimum}.")
            return None
        return float(value)

    def boolean(self, name: str, default: bool = False) -> bool:
        value = self.data.get(name.lower())
        if value is None:
            return default
        if not isinstance(value, bool):
            self.fail(name, f"The JSON value could not be converted to System.Boolean. Path: $.{name}")
            return default
        return value

    def enum(self, name: str, allowed: tuple[str, ...], *, required: bool = False) -> str | None:
        value = self.string(name, required=required)
        if value is None:
            return None
        match = next((a for a in allowed if a.lower() == value.strip().lower()), None)
        if match is None:
            self.fail(name, f"The value '{value}' is not valid for {name}. Allowed: {', '.join(allowed)}.")
        return match

    def email(self, name: str) -> str | None:
        value = self.string(name, max_len=256)
        if value is not None and not _EMAIL.match(value.strip()):
            self.fail(name, f"The {name} field is not a valid e-mail address.")
            return None
        return value.strip() if value is not None else None

    def uuid(self, name: str) -> str | None:
        value = self.string(name)
        if value is None:
            return None
        parsed = parse_uuid(value)
        if parsed is None:
            self.fail(name, f"The JSON value could not be converted to System.Guid. Path: $.{name}")
        return parsed

    def day(self, name: str, *, required: bool = False) -> date | None:
        value = self.string(name, required=required)
        if value is None:
            return None
        try:
            if len(value.strip()) == 10:
                return date.fromisoformat(value.strip())
            return parse_iso(value).date()
        except ValueError:
            self.fail(name, f"The JSON value could not be converted to System.DateTime. Path: $.{name}")
            return None

    def timestamp(self, name: str) -> datetime | None:
        value = self.string(name)
        if value is None:
            return None
        try:
            return parse_iso(value)
        except ValueError:
            self.fail(name, f"The JSON value could not be converted to System.DateTime. Path: $.{name}")
            return None

    def check(self) -> None:
        if self.errors:
            raise FieldErrors(self.errors)


def parse_uuid(text: str) -> str | None:
    try:
        return str(uuid.UUID(text.strip()))
    except ValueError:
        return None


def path_uuid(request: Request, name: str = "id") -> str:
    """The UUID in the path parameter `name`; a 400 field error if it is not one."""
    raw = request.path_params[name]
    value = parse_uuid(raw)
    if value is None:
        raise FieldErrors({name: [f"The value '{raw}' is not valid."]})
    return value


def query_multi(request: Request) -> dict[str, list[str]]:
    """Query parameters with case-insensitive names (ASP.NET binding); `Statuses[]` counts too."""
    out: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        name = key.lower()
        if name.endswith("[]"):
            name = name[:-2]
        out.setdefault(name, []).append(value)
    return out
