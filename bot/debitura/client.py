"""Async client of the Debitura Collection Partner API.

One :class:`DebituraClient` owns one ``httpx.AsyncClient`` (explicit timeouts and connection
limits); :meth:`DebituraClient.with_priority` gives a view with another limiter priority over the
same pool. Every request passes through the rate limiter first, then through one retry policy
(:meth:`DebituraClient._send`):

* 429: wait the body's ``retryAfter``, else the ``Retry-After`` header, else backoff; tell the
  limiter (``penalize``) so every process holds back; then retry (the request was not processed).
* 5xx, timeouts, dropped connections: capped exponential backoff with full jitter, but only for
  requests that are safe to repeat (GET, webhook DELETE, writes carrying an ``Idempotency-Key``).
  Other writes (notes, close, start, fees, upload, payment edit/delete) raise
  :class:`~bot.debitura.errors.OutcomeUnknown` instead: the caller re-reads the case.
  A connection that was never established is retried for every request (nothing was sent).
* 409 on a request with an ``Idempotency-Key``: the same key is still in flight; wait and retry.

The API key is sent in the ``XApiKey`` header and appears in no log line, error or repr.
"""

from __future__ import annotations

import asyncio
import logging
import mimetypes
import os
import random
import re
import time
import unicodedata
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from enum import Enum, StrEnum
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, SecretStr, TypeAdapter, ValidationError

from bot.debitura.errors import (
    ApiError,
    ClientValidationError,
    NotFound,
    OutcomeUnknown,
    RateLimited,
    TransportError,
    UnexpectedResponse,
    api_error_from_response,
    parse_error_body,
)
from bot.debitura.models import (
    TEST_TAG_MAX,
    UPLOAD_DESCRIPTION_MAX,
    UPLOAD_EXTENSIONS,
    UPLOAD_MAX_BYTES,
    AdvanceTarget,
    AdvanceTestCaseRequest,
    AdvanceTestCaseResponse,
    Case,
    CaseFile,
    CasePage,
    Chat,
    CloseCaseRequest,
    CloseCaseResponse,
    CreateIngestionJobRequest,
    CreateIngestionJobResponse,
    CreateManagedCasePaymentRequest,
    CreateManagedCasePaymentResponse,
    CreateManagedCaseRequest,
    CreateNoteRequest,
    CreatePaymentRequest,
    CreatePaymentResponse,
    CreateWebhookRequest,
    ExclusivePeriod,
    FireWebhookRequest,
    FireWebhookResponse,
    IngestionJobStatusResponse,
    Lifecycle,
    Note,
    PartnerProfile,
    Payment,
    PriceChangeRequired,
    ReplayEventResult,
    ReplayLastEventResult,
    RequestModel,
    SendChatRequest,
    StartCaseRequest,
    StartCaseResponse,
    Timeline,
    UpdateFeesRequest,
    UpdateFeesResponse,
    UpdatePaymentRequest,
    UpdateWebhookRequest,
    UploadDocumentType,
    User,
    UserPage,
    ValidationStatus,
    Webhook,
    WebhookEventRecord,
)
from bot.debitura.ratelimit import BudgetExhausted, Priority, RateLimiter

if TYPE_CHECKING:
    from bot.metrics import Metrics

__all__ = [
    "ALLOWED_UPLOAD_EXTENSIONS", "BATCH_REFERENCE_LIMIT", "LISTINGS", "MAX_PAGES", "MAX_UPLOAD_BYTES",
    "DebituraClient", "ListingEnd", "PageGuard", "RetryPolicy", "Truncated",
]

log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = UPLOAD_MAX_BYTES
ALLOWED_UPLOAD_EXTENSIONS = frozenset(UPLOAD_EXTENSIONS)
BATCH_REFERENCE_LIMIT = 100
MAX_IDEMPOTENCY_KEY = 255
MAX_PAGE_SIZE = 100
PARSE_OFF_LOOP_BYTES = 32 * 1024
"""Response bodies from this size on are validated in a worker thread (about 3 ms of work and more)."""
MAX_PAGES = 2_000
"""The most pages one listing follows, whatever ``totalPages`` says. 2,000 pages of 100 are 200,000
cases, over ten times the largest portfolio Caseroom is measured with (bench/RESULTS.md: 16,000 cases,
153 pages per full listing); and
2,000 requests are one minute of Debitura's per-minute limit (docs/debitura/REFERENCE.md, section 2),
so a listing that would never end costs at most that much of the key's budget."""
DEFAULT_LIMITS = httpx.Limits(max_connections=20, max_keepalive_connections=10, keepalive_expiry=30)

Sleep = Callable[[float], Awaitable[None]]
ListingHook = Callable[["ListingEnd"], Awaitable[None]]
M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

_CHATS = TypeAdapter(list[Chat])
_PAYMENTS = TypeAdapter(list[Payment])
_FILES = TypeAdapter(list[CaseFile])
_WEBHOOKS = TypeAdapter(list[Webhook])
_WEBHOOK_EVENTS = TypeAdapter(list[WebhookEventRecord])
_CASE_MAP = TypeAdapter(dict[str, Case])

# Connection failures where the request provably never reached the server.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff for retries: full jitter over ``min(cap, base * 2**attempt)``."""

    max_retries: int = 4
    base: float = 0.5
    cap: float = 8.0
    max_wait: float = 60.0
    """Longest 429 / in-flight wait the client sleeps through; longer waits raise RateLimited."""
    in_flight_wait: float = 1.5

    def backoff(self, attempt: int) -> float:
        return random.uniform(0, min(self.cap, self.base * (2**attempt)))


@dataclass(frozen=True)
class _Call:
    """One API operation as the retry policy sees it."""

    operation: str
    method: str
    path: str
    params: Sequence[tuple[str, str]] = ()
    content: bytes | None = None
    files: Mapping[str, tuple[str, bytes, str]] | None = None
    data: Mapping[str, str] | None = None
    idempotency_key: str | None = None
    retry_safe: bool = False
    case_id: str | None = None
    subject: str | None = None
    allow_status: frozenset[int] = frozenset()


class Shape(Enum):
    """The documented shape of a value that travels in a URL (docs/debitura/REFERENCE.md, openapi.yaml)."""

    GUID = "a GUID (such as 3fa85f64-5717-4562-b3fc-2c963f66afa6)"
    """Case, payment, webhook and webhook event ids, creditor ids (``format: uuid``)."""
    CASE_REFERENCE = "a Debitura reference: 8 letters or digits (such as Q8OAXF3W)"
    TEXT = "free text"
    """Our own (partner) and the creditor's references: chosen by people; only what is unsafe is refused."""


GUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
CASE_REFERENCE_RE = re.compile(r"[A-Za-z0-9]{8}")
MAX_PARTNER_REFERENCE = 128
"""CollectionPartnerReference is at most 128 characters (REFERENCE.md 8.5, StartCaseRequest)."""
MAX_CREDITOR_REFERENCE = 256
"""Not documented; twice the partner reference's bound (a creditor's invoice number, in practice)."""
_PATH_UNSAFE = ("/", "\\")


def text_problem(value: str, *, max_length: int) -> str | None:
    """Why ``value`` cannot be sent as a reference at all (None when it can).

    Empty or blank, longer than ``max_length``, control characters (line breaks, tabs, NUL, DEL...)
    or unpaired surrogates (which have no UTF-8 form, so no URL form either).
    """
    if not value.strip():
        return "is empty"
    if len(value) > max_length:
        return f"is longer than {max_length} characters"
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value):
        return "contains control characters (line breaks, tabs...)"
    return None


def path_problem(value: str) -> str | None:
    """Why ``value`` cannot be one URL path segment even when percent-encoded (None when it can).

    ``quote(..., safe="")`` keeps ``.`` and ``..``, which URL resolution removes or turns into "one
    level up" (``partner:..`` became ``GET /cases``); ``/`` and ``\\`` are decoded into separators by
    some servers and proxies even when sent as ``%2F`` / ``%5C``.
    """
    if value in (".", ".."):
        return "is a dot segment ('.' or '..')"
    if any(ch in value for ch in _PATH_UNSAFE):
        return "contains '/' or '\\'"
    return None


def shape_problem(value: str, shape: Shape, *, max_length: int = MAX_PARTNER_REFERENCE) -> str | None:
    """Why ``value`` does not have the documented ``shape`` (None when it has). ``max_length`` is for TEXT."""
    if shape is Shape.GUID:
        return None if GUID_RE.fullmatch(value) else f"is not {shape.value}"
    if shape is Shape.CASE_REFERENCE:
        return None if CASE_REFERENCE_RE.fullmatch(value) else f"is not {shape.value}"
    return text_problem(value, max_length=max_length)


def _segment(value: str, what: str, shape: Shape = Shape.GUID, *, max_length: int = MAX_PARTNER_REFERENCE
             ) -> str:
    """The one helper that turns a value into one URL path segment.

    Raises ClientValidationError (nothing is sent) when the value does not have its documented
    shape or could not stay a single segment; otherwise percent-encodes everything but letters,
    digits and ``-._~``.
    """
    text = value if isinstance(value, str) else str(value)
    problem = shape_problem(text, shape, max_length=max_length) or path_problem(text)
    if problem is not None:
        raise ClientValidationError(f"{what} {problem}", field=what)
    return quote(text, safe="")


def _guid(value: str, what: str) -> str:
    """A GUID that travels in a query parameter, checked like a path segment."""
    text = value if isinstance(value, str) else str(value)
    if not GUID_RE.fullmatch(text):
        raise ClientValidationError(f"{what} is not {Shape.GUID.value}", field=what)
    return text


class Truncated(StrEnum):
    """Why a listing stopped before the API said it was done (the metric's closed label values)."""

    MAX_PAGES = "max_pages"
    REPEATED_PAGE = "repeated_page"


LISTINGS = ("cases", "users", "relay_sweep", "relay_full_sweep", "managed_cases")
"""The listings that report how they ended: the closed label values of
caseroom_debitura_listing_truncated_total."""


@dataclass(frozen=True)
class ListingEnd:
    """How one listing ended: ``truncated`` is None when the API said there was nothing more."""

    listing: str
    pages: int
    truncated: Truncated | None = None


class PageGuard:
    """Keeps a listing from following a misbehaving ``totalPages`` forever.

    ``repeated(ids)`` after each page read: True when the page holds the same ids as the one before (a
    server ignoring ``Page`` answers page 1 again and again); ``last_page(page)`` before asking for
    the next: True at ``max_pages``. Either sets ``reason``. An empty page already ends a listing
    (``has_more``).
    """

    def __init__(self, max_pages: int = MAX_PAGES) -> None:
        self.max_pages = max_pages
        self.reason: Truncated | None = None
        self._previous: frozenset[str] | None = None

    def repeated(self, ids: Iterable[str]) -> bool:
        current = frozenset(ids)
        if current and current == self._previous:
            self.reason = Truncated.REPEATED_PAGE
            return True
        self._previous = current
        return False

    def last_page(self, page: int) -> bool:
        if page >= self.max_pages:
            self.reason = Truncated.MAX_PAGES
            return True
        return False


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _retry_after_header(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return max(0.0, seconds) if seconds == seconds else None


class DebituraClient:
    """Typed async client for every Collection Partner operation Caseroom uses."""

    def __init__(
        self,
        base_url: str,
        api_key: SecretStr | str,
        *,
        limiter: RateLimiter | None = None,
        priority: Priority = Priority.INTERACTIVE,
        metrics: Metrics | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float | httpx.Timeout = 20,
        max_retries: int = 4,
        sleep: Sleep = asyncio.sleep,
        retry_policy: RetryPolicy | None = None,
        limits: httpx.Limits | None = None,
        on_listing_end: ListingHook | None = None,
        _http: httpx.AsyncClient | None = None,
    ) -> None:
        url = str(base_url).strip()
        if not url.lower().startswith(("http://", "https://")):
            raise ValueError("Debitura base URL must start with http:// or https://")
        self._api_key = api_key if isinstance(api_key, SecretStr) else SecretStr(api_key)
        if not self._api_key.get_secret_value().strip():
            raise ValueError("Debitura API key is empty")
        self.base_url = url.rstrip("/") + "/"
        self.limiter = limiter
        self.priority = priority
        self.metrics = metrics
        self.retry = retry_policy or RetryPolicy(max_retries=max_retries)
        self._sleep = sleep
        self.on_listing_end = on_listing_end
        """Told how every full listing (iter_users, iter_cases, the relay's sweeps) ended."""
        if _http is not None:
            self._http = _http
            self._owns_http = False
        else:
            self._http = httpx.AsyncClient(
                base_url=self.base_url,
                headers={"XApiKey": self._api_key.get_secret_value(), "Accept": "application/json",
                         "User-Agent": "caseroom/0.1 (+debitura-partner-client)"},
                timeout=timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout, connect=5),
                limits=limits or DEFAULT_LIMITS,
                transport=transport,
                follow_redirects=False,
            )
            self._owns_http = True

    # ------------------------------------------------------------------ lifecycle

    def with_priority(self, priority: Priority, *, retry_policy: RetryPolicy | None = None) -> DebituraClient:
        """The same client (same pool, limiter, metrics) with another limiter priority (and retry policy)."""
        return DebituraClient(
            self.base_url, self._api_key, limiter=self.limiter, priority=priority, metrics=self.metrics,
            sleep=self._sleep, retry_policy=retry_policy or self.retry, on_listing_end=self.on_listing_end,
            _http=self._http,
        )

    async def aclose(self) -> None:
        """Close the connection pool (views made by with_priority share it and leave it open)."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> DebituraClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"DebituraClient(base_url={self.base_url!r}, priority={self.priority.value!r})"

    # ------------------------------------------------------------------ the one retry policy

    async def _acquire(self, call: _Call) -> None:
        if self.limiter is None:
            return
        try:
            await self.limiter.acquire(self.priority, call.operation)
        except BudgetExhausted as exc:
            self._count(call.operation, "budget")
            raise RateLimited(
                429, retry_after=exc.retry_after, local=True, operation=call.operation, case_id=call.case_id,
                message=str(exc),
            ) from None

    def _count(self, operation: str, status: str) -> None:
        if self.metrics is not None:
            self.metrics.debitura_requests.labels(operation, status).inc()

    async def _wait(self, seconds: float) -> None:
        await self._sleep(max(0.0, seconds))

    async def _send(self, call: _Call) -> httpx.Response:
        """Send ``call`` under the retry policy; return a 2xx (or an allowed status) response."""
        headers = {"Idempotency-Key": call.idempotency_key} if call.idempotency_key else {}
        if call.content is not None:
            headers["Content-Type"] = "application/json"
        attempt = 0
        while True:
            await self._acquire(call)
            started = time.perf_counter()
            try:
                response = await self._http.request(
                    call.method, call.path, params=list(call.params) or None, content=call.content,
                    files=call.files, data=call.data, headers=headers,
                )
            except (httpx.LocalProtocolError, httpx.UnsupportedProtocol) as exc:
                # Refused locally before anything was sent; repeating would fail the same way.
                self._count(call.operation, "connection_error")
                raise TransportError(
                    f"Could not send the request to Debitura ({type(exc).__name__}).",
                    operation=call.operation, case_id=call.case_id,
                ) from None
            except httpx.TransportError as exc:
                kind = "timeout" if isinstance(exc, httpx.TimeoutException) else "connection_error"
                self._count(call.operation, kind)
                log.debug("debitura %s %s failed: %s (attempt %d)", call.method, call.path, kind, attempt + 1)
                never_sent = isinstance(exc, _NOT_SENT)
                if (call.retry_safe or never_sent) and attempt < self.retry.max_retries:
                    await self._wait(self.retry.backoff(attempt))
                    attempt += 1
                    continue
                if call.retry_safe or never_sent:
                    raise TransportError(
                        f"Could not reach Debitura ({kind.replace('_', ' ')}); try again shortly.",
                        operation=call.operation, case_id=call.case_id,
                    ) from None
                raise OutcomeUnknown(call.operation, call.case_id, reason=kind.replace("_", " ")) from None

            status = response.status_code
            self._count(call.operation, str(status))
            log.debug(
                "debitura %s %s -> %d in %.0f ms (attempt %d)", call.method, call.path, status,
                (time.perf_counter() - started) * 1000, attempt + 1,
            )
            if status < 400 or status in call.allow_status:
                return response

            raw = await response.aread()
            if status == 429:
                parsed = parse_error_body(raw)
                wait = parsed.retry_after
                if wait is None:
                    wait = _retry_after_header(response)
                if wait is None:
                    wait = self.retry.backoff(attempt)
                if self.limiter is not None:
                    await self.limiter.penalize(wait)
                if attempt < self.retry.max_retries and wait <= self.retry.max_wait:
                    await self._wait(wait)
                    attempt += 1
                    continue
                raise self._error(call, status, raw, retry_after=wait)

            if status == 409 and call.idempotency_key and attempt < self.retry.max_retries:
                # The same Idempotency-Key is still being processed: wait, then ask again.
                wait = parse_error_body(raw).retry_after or _retry_after_header(response)
                if wait is None:
                    wait = self.retry.in_flight_wait
                if wait <= self.retry.max_wait:
                    await self._wait(wait)
                    attempt += 1
                    continue

            if status >= 500:
                if call.retry_safe and attempt < self.retry.max_retries:
                    await self._wait(self.retry.backoff(attempt))
                    attempt += 1
                    continue
                error = self._error(call, status, raw)
                if call.retry_safe:
                    raise error
                raise OutcomeUnknown(
                    call.operation, call.case_id, reason=f"Debitura answered HTTP {status}", status=status
                ) from error
            raise self._error(call, status, raw)

    def _error(self, call: _Call, status: int, raw: bytes, *, retry_after: float | None = None) -> ApiError:
        return api_error_from_response(
            status, raw, operation=call.operation, case_id=call.case_id, subject=call.subject,
            retry_after=retry_after, redact=(self._api_key.get_secret_value(),),
        )

    # ------------------------------------------------------------------ request helpers

    @staticmethod
    def _parse(call: _Call, response: httpx.Response, parser: Callable[[bytes], T]) -> T:
        try:
            return parser(response.content)
        except ValidationError as exc:
            raise UnexpectedResponse(
                f"Debitura sent an unexpected {call.operation} response ({exc.error_count()} problems: "
                f"{_first_error(exc)})",
                operation=call.operation, status=response.status_code,
            ) from None

    async def _parse_off_loop(self, call: _Call, response: httpx.Response, parser: Callable[[bytes], T]) -> T:
        """`_parse`, in a worker thread when the body is big: a page of 100 cases (about 230 KB) takes
        20 ms and more to validate, time the event loop (Slack's acks, in `caseroom run`) would
        otherwise wait. The validators call back into Python, so the loop gets the GIL in between."""
        if len(response.content) < PARSE_OFF_LOOP_BYTES:
            return self._parse(call, response, parser)
        return await asyncio.to_thread(self._parse, call, response, parser)

    async def _get_model(self, call: _Call, model: type[M]) -> M:
        response = await self._send(call)
        return await self._parse_off_loop(call, response, model.model_validate_json)

    async def _get_list(self, call: _Call, adapter: TypeAdapter[list[T]]) -> list[T]:
        response = await self._send(call)
        return await self._parse_off_loop(call, response, adapter.validate_json)

    @staticmethod
    def _body(request: RequestModel) -> bytes:
        return request.to_json().encode("utf-8")

    @staticmethod
    def _idempotency_key(key: str | None) -> str:
        if key is None:
            return str(uuid.uuid4())
        if not key.strip() or len(key) > MAX_IDEMPOTENCY_KEY:
            raise ClientValidationError(
                f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters", field="idempotency_key"
            )
        if not all(" " <= ch <= "~" for ch in key):
            raise ClientValidationError(
                "Idempotency-Key must be printable ASCII (it is an HTTP header)", field="idempotency_key"
            )
        return key

    @staticmethod
    def _case_path(case_id: str, *rest: str) -> str:
        return "/".join(("cases", _segment(case_id, "case_id"), *rest))

    # ------------------------------------------------------------------ me / users

    async def me(self) -> PartnerProfile:
        call = _Call("me", "GET", "me", retry_safe=True, subject="Partner profile")
        return await self._get_model(call, PartnerProfile)

    async def list_users(self, page: int = 1, page_size: int = 50) -> UserPage:
        _check_paging(page, page_size)
        call = _Call(
            "list_users", "GET", "users", params=(("Page", str(page)), ("PageSize", str(page_size))),
            retry_safe=True,
        )
        return await self._get_model(call, UserPage)

    async def iter_users(self, *, page_size: int = 100, max_pages: int = MAX_PAGES) -> AsyncIterator[User]:
        """Every team member, page after page (at most ``max_pages``; a repeated page ends it too)."""
        guard = PageGuard(max_pages)
        page = 1
        while True:
            result = await self.list_users(page=page, page_size=page_size)
            if guard.repeated(user.id for user in result.users):
                break
            for user in result.users:
                yield user
            if not result.has_more(page, page_size, len(result.users)) or guard.last_page(page):
                break
            page += 1
        await self.end_listing(ListingEnd("users", page, guard.reason))

    async def all_users(self, *, page_size: int = 100, max_pages: int = MAX_PAGES) -> list[User]:
        return [user async for user in self.iter_users(page_size=page_size, max_pages=max_pages)]

    # ------------------------------------------------------------------ cases

    async def list_cases(
        self,
        *,
        page: int = 1,
        page_size: int = 100,
        statuses: Iterable[Lifecycle | str] | None = None,
        sort: str | None = None,
        ids: Iterable[str] | None = None,
        debtor_ids: Iterable[str] | None = None,
        division_ids: Iterable[str] | None = None,
        include_test_cases: bool = False,
    ) -> CasePage:
        _check_paging(page, page_size)
        params: list[tuple[str, str]] = [("Page", str(page)), ("PageSize", str(page_size))]
        for status in statuses or ():
            member = Lifecycle.from_display(str(status))
            params.append(("Statuses", member.value if member is not None else str(status)))
        if sort:
            params.append(("Sort", sort))
        params += [("Ids", str(v)) for v in ids or ()]
        params += [("DebtorIds", str(v)) for v in debtor_ids or ()]
        params += [("DivisionIds", str(v)) for v in division_ids or ()]
        if include_test_cases:
            params.append(("includeTestCases", "true"))
        call = _Call("list_cases", "GET", "cases", params=tuple(params), retry_safe=True)
        return await self._get_model(call, CasePage)

    async def iter_cases(
        self,
        *,
        page_size: int = 100,
        statuses: Iterable[Lifecycle | str] | None = None,
        sort: str | None = None,
        ids: Iterable[str] | None = None,
        debtor_ids: Iterable[str] | None = None,
        division_ids: Iterable[str] | None = None,
        include_test_cases: bool = False,
        max_pages: int = MAX_PAGES,
    ) -> AsyncIterator[Case]:
        """Every case matching the filters, page after page (at most ``max_pages``; a repeated page
        ends it too)."""
        filters: dict[str, Any] = {
            "statuses": list(statuses) if statuses is not None else None, "sort": sort,
            "ids": list(ids) if ids is not None else None,
            "debtor_ids": list(debtor_ids) if debtor_ids is not None else None,
            "division_ids": list(division_ids) if division_ids is not None else None,
            "include_test_cases": include_test_cases,
        }
        guard = PageGuard(max_pages)
        page = 1
        while True:
            result = await self.list_cases(page=page, page_size=page_size, **filters)
            if guard.repeated(case.id for case in result.cases):
                break
            for case in result.cases:
                yield case
            if not result.has_more(page, page_size, len(result.cases)) or guard.last_page(page):
                break
            page += 1
        await self.end_listing(ListingEnd("cases", page, guard.reason))

    async def end_listing(self, end: ListingEnd) -> None:
        """Report how a listing ended: a cut-short one is logged (once) and counted; then the hook."""
        if end.truncated is not None:
            log.warning(
                "Debitura %s listing stopped after %d pages (%s): totalPages would have us read on",
                end.listing, end.pages, end.truncated.value,
                extra={"listing": end.listing, "pages": end.pages, "reason": end.truncated.value},
            )
            if self.metrics is not None:
                self.metrics.listing_truncated.labels(end.listing, end.truncated.value).inc()
        if self.on_listing_end is None:
            return
        try:
            await self.on_listing_end(end)
        except Exception as exc:  # recording is best effort; the listing itself succeeded
            log.warning("could not record how the %s listing ended: %s", end.listing, type(exc).__name__)

    async def get_case(self, case_id: str) -> Case:
        call = _Call(
            "get_case", "GET", self._case_path(case_id), retry_safe=True, case_id=case_id, subject="Case"
        )
        return await self._get_model(call, Case)

    async def get_case_by_reference(self, reference: str) -> Case:
        path = f"cases/case-reference/{_segment(reference.strip(), 'reference', Shape.CASE_REFERENCE)}"
        call = _Call(
            "get_case_by_reference", "GET", path, retry_safe=True, subject=f"Case {reference.strip()}"
        )
        return await self._get_model(call, Case)

    async def get_case_by_partner_reference(self, reference: str) -> Case:
        """Exact match on our own reference (sent as one URL-encoded path segment, unchanged).

        Our references are free text. One that cannot be a path segment (``.``, ``..``, or holding
        ``/`` or ``\\``) is looked up with the batch endpoint instead, where it travels as a query
        parameter (NotFound when the answer leaves it out); only one that can travel neither way
        (such a reference with a comma too) is refused.
        """
        subject = f"Case with partner reference {reference}"
        problem = text_problem(reference, max_length=MAX_PARTNER_REFERENCE)
        if problem is None and path_problem(reference) is not None:
            if "," in reference:
                problem = "contains a comma and '/', '\\' or is '.' or '..' (it cannot be looked up)"
            else:
                found = await self._partner_batch([reference])
                if reference not in found:
                    raise NotFound(404, operation="get_case_by_partner_reference", subject=subject)
                return found[reference]
        if problem is not None:
            raise ClientValidationError(f"reference {problem}", field="reference")
        path = f"cases/by-partner-reference/{_segment(reference, 'reference', Shape.TEXT)}"
        call = _Call("get_case_by_partner_reference", "GET", path, retry_safe=True, subject=subject)
        return await self._get_model(call, Case)

    async def _partner_batch(self, chunk: Sequence[str]) -> dict[str, Case]:
        call = _Call(
            "get_cases_by_partner_references", "GET", "cases/by-partner-reference",
            params=(("references", ",".join(chunk)),), retry_safe=True,
        )
        response = await self._send(call)
        return await self._parse_off_loop(call, response, _CASE_MAP.validate_json)

    async def get_cases_by_partner_references(self, references: Iterable[str]) -> dict[str, Case]:
        """Cases for many of our references; unknown ones are left out.

        Done in batches of 100. A reference containing a comma cannot travel in the
        comma-separated batch parameter, so it is looked up on its own.
        """
        unique = [r for r in dict.fromkeys(references) if r and r.strip()]
        batched = [r for r in unique if "," not in r]
        single = [r for r in unique if "," in r]
        found: dict[str, Case] = {}
        for start in range(0, len(batched), BATCH_REFERENCE_LIMIT):
            found.update(await self._partner_batch(batched[start:start + BATCH_REFERENCE_LIMIT]))
        for reference in single:
            try:
                found[reference] = await self.get_case_by_partner_reference(reference)
            except NotFound:
                continue
        return found

    async def get_case_by_creditor_reference(self, reference: str, creditor_id: str) -> Case:
        if not reference.strip() or not str(creditor_id).strip():
            raise ClientValidationError("both the creditor reference and the creditor id are required")
        problem = text_problem(reference, max_length=MAX_CREDITOR_REFERENCE)
        if problem is not None:
            raise ClientValidationError(f"the creditor reference {problem}", field="reference")
        call = _Call(
            "get_case_by_creditor_reference", "GET", "cases/by-creditor-reference",
            params=(("reference", reference), ("creditorId", _guid(creditor_id, "creditor_id"))),
            retry_safe=True,
            subject=f"Case with creditor reference {reference}",
        )
        return await self._get_model(call, Case)

    async def get_timeline(self, case_id: str) -> Timeline:
        call = _Call(
            "get_timeline", "GET", self._case_path(case_id, "timeline"), retry_safe=True, case_id=case_id,
            subject="Case",
        )
        return await self._get_model(call, Timeline)

    # ------------------------------------------------------------------ chats

    async def list_chats(self, case_id: str) -> list[Chat]:
        call = _Call(
            "list_chats", "GET", self._case_path(case_id, "chats"), retry_safe=True, case_id=case_id,
            subject="Case",
        )
        return await self._get_list(call, _CHATS)

    async def send_chat(
        self, case_id: str, request: SendChatRequest, *, idempotency_key: str | None = None
    ) -> Chat:
        """Post a chat message. Retries reuse one Idempotency-Key (a fresh one if none is given)."""
        call = _Call(
            "send_chat", "POST", self._case_path(case_id, "chats"), content=self._body(request),
            idempotency_key=self._idempotency_key(idempotency_key), retry_safe=True, case_id=case_id,
            subject="Case",
        )
        return await self._get_model(call, Chat)

    # ------------------------------------------------------------------ payments

    async def list_payments(self, case_id: str) -> list[Payment]:
        call = _Call(
            "list_payments", "GET", self._case_path(case_id, "payments"), retry_safe=True, case_id=case_id,
            subject="Case",
        )
        return await self._get_list(call, _PAYMENTS)

    async def create_payment(
        self, case_id: str, request: CreatePaymentRequest, *, idempotency_key: str | None = None
    ) -> CreatePaymentResponse:
        """Record a payment. Retries reuse one Idempotency-Key (a fresh one if none is given)."""
        call = _Call(
            "create_payment", "POST", self._case_path(case_id, "payments"), content=self._body(request),
            idempotency_key=self._idempotency_key(idempotency_key), retry_safe=True, case_id=case_id,
            subject="Case",
        )
        return await self._get_model(call, CreatePaymentResponse)

    async def update_payment(self, case_id: str, payment_id: str, request: UpdatePaymentRequest) -> Payment:
        call = _Call(
            "update_payment", "PUT", self._case_path(case_id, "payments", _segment(payment_id, "payment_id")),
            content=self._body(request), case_id=case_id, subject="Case or payment",
        )
        return await self._get_model(call, Payment)

    async def delete_payment(
        self, case_id: str, payment_id: str, *, reopen_case_if_needed: bool = False
    ) -> None:
        call = _Call(
            "delete_payment", "DELETE",
            self._case_path(case_id, "payments", _segment(payment_id, "payment_id")),
            params=(("reopenCaseIfNeeded", _bool(reopen_case_if_needed)),), case_id=case_id,
            subject="Case or payment",
        )
        await self._send(call)

    # ------------------------------------------------------------------ files

    async def list_files(self, case_id: str) -> list[CaseFile]:
        call = _Call(
            "list_files", "GET", self._case_path(case_id, "files"), retry_safe=True, case_id=case_id,
            subject="Case",
        )
        return await self._get_list(call, _FILES)

    async def upload_file(
        self,
        case_id: str,
        *,
        filename: str,
        content: bytes,
        document_type: UploadDocumentType | str | None = None,
        description: str | None = None,
    ) -> CaseFile:
        """Upload a file (multipart ``File``, ``DocumentType``, ``Description``); checked before sending."""
        check_upload(filename, content, description)
        name = os.path.basename(filename.replace("\\", "/"))
        mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
        data: dict[str, str] = {}
        if document_type is not None:
            data["DocumentType"] = str(document_type.value if isinstance(document_type, UploadDocumentType)
                                       else document_type)
        if description:
            data["Description"] = description
        call = _Call(
            "upload_file", "POST", self._case_path(case_id, "files"), files={"File": (name, content, mime)},
            data=data, case_id=case_id, subject="Case",
        )
        return await self._get_model(call, CaseFile)

    # ------------------------------------------------------------------ notes / close / start / fees

    async def create_note(self, case_id: str, request: CreateNoteRequest) -> Note:
        call = _Call(
            "create_note", "POST", self._case_path(case_id, "notes"), content=self._body(request),
            case_id=case_id, subject="Case",
        )
        return await self._get_model(call, Note)

    async def close_case(self, case_id: str, request: CloseCaseRequest) -> CloseCaseResponse:
        call = _Call(
            "close_case", "POST", self._case_path(case_id, "close"), content=self._body(request),
            case_id=case_id, subject="Case",
        )
        return await self._get_model(call, CloseCaseResponse)

    async def start_case(self, case_id: str, request: StartCaseRequest) -> StartCaseResponse:
        call = _Call(
            "start_case", "POST", self._case_path(case_id, "start"), content=self._body(request),
            case_id=case_id, subject="Case",
        )
        return await self._get_model(call, StartCaseResponse)

    async def update_fees(
        self, case_id: str, request: UpdateFeesRequest
    ) -> UpdateFeesResponse | PriceChangeRequired:
        """Replace the fees (all three are always sent) and optionally the principal.

        If the success fee would move, nothing is applied and a :class:`PriceChangeRequired` comes
        back; ``await client.update_fees(case_id, result.confirmation())`` accepts the change.
        """
        call = _Call(
            "update_fees", "PUT", self._case_path(case_id, "fees"), content=self._body(request),
            case_id=case_id, subject="Case", allow_status=frozenset({409}),
        )
        response = await self._send(call)
        if response.status_code == 409:
            parsed = parse_error_body(response.content)
            body = parsed.body if isinstance(parsed.body, dict) else {}
            if "confirmationRequired" in body or "proposedSuccessFee" in body:
                gate = self._parse(call, response, PriceChangeRequired.model_validate_json)
                gate.request = request
                return gate
            raise self._error(call, 409, response.content)
        return self._parse(call, response, UpdateFeesResponse.model_validate_json)

    # ------------------------------------------------------------------ exclusive period / validation

    async def get_exclusive_period(self, case_id: str) -> ExclusivePeriod:
        call = _Call(
            "get_exclusive_period", "GET", self._case_path(case_id, "exclusive-period"), retry_safe=True,
            case_id=case_id, subject="Exclusive period (or the case)",
        )
        return await self._get_model(call, ExclusivePeriod)

    async def get_validation(self, case_id: str) -> ValidationStatus:
        call = _Call(
            "get_validation", "GET", self._case_path(case_id, "validation"), retry_safe=True, case_id=case_id,
            subject="Case",
        )
        return await self._get_model(call, ValidationStatus)

    # ------------------------------------------------------------------ webhooks

    async def list_webhooks(self) -> list[Webhook]:
        call = _Call("list_webhooks", "GET", "webhooks", retry_safe=True)
        return await self._get_list(call, _WEBHOOKS)

    async def create_webhook(self, request: CreateWebhookRequest) -> Webhook:
        call = _Call("create_webhook", "POST", "webhooks", content=self._body(request))
        return await self._get_model(call, Webhook)

    async def get_webhook(self, webhook_id: str) -> Webhook:
        call = _Call(
            "get_webhook", "GET", f"webhooks/{_segment(webhook_id, 'webhook_id')}", retry_safe=True,
            subject="Webhook subscription",
        )
        return await self._get_model(call, Webhook)

    async def update_webhook(self, webhook_id: str, request: UpdateWebhookRequest) -> Webhook:
        call = _Call(
            "update_webhook", "PUT", f"webhooks/{_segment(webhook_id, 'webhook_id')}",
            content=self._body(request), subject="Webhook subscription",
        )
        return await self._get_model(call, Webhook)

    async def delete_webhook(self, webhook_id: str) -> None:
        """Delete a subscription (retried safely: deleting twice changes nothing more)."""
        call = _Call(
            "delete_webhook", "DELETE", f"webhooks/{_segment(webhook_id, 'webhook_id')}", retry_safe=True,
            subject="Webhook subscription",
        )
        await self._send(call)

    async def list_webhook_events(
        self, case_id: str, since: datetime | str | None = None
    ) -> list[WebhookEventRecord]:
        """The case's delivery log, newest first. An event is in it only once its delivery was tried
        (Debitura: usually seconds after the change, up to about 30 s): poll for a fresh one."""
        if not str(case_id).strip():
            raise ClientValidationError("case_id is required to list webhook events", field="case_id")
        params: list[tuple[str, str]] = [("caseId", _guid(case_id, "case_id"))]
        if since is not None:
            params.append(("since", since.isoformat() if isinstance(since, datetime) else since))
        call = _Call(
            "list_webhook_events", "GET", "webhooks/events", params=tuple(params), retry_safe=True,
            case_id=case_id,
        )
        return await self._get_list(call, _WEBHOOK_EVENTS)

    async def replay_webhook_event(self, event_id: str) -> ReplayEventResult:
        call = _Call(
            "replay_webhook_event", "POST", f"webhooks/events/{_segment(event_id, 'event_id')}/replay",
            subject="Webhook event",
        )
        return await self._get_model(call, ReplayEventResult)

    # ------------------------------------------------------------------ managed cases
    # Cases we submit as managing partner (/managed-cases); test cases are created here.

    @staticmethod
    def _managed_path(case_id: str, *rest: str) -> str:
        return "/".join(("managed-cases", _segment(case_id, "case_id"), *rest))

    async def create_managed_case(
        self, request: CreateManagedCaseRequest, *, idempotency_key: str | None = None
    ) -> Case:
        """Submit a case as managing partner (``is_test=True``: a test case, routed back to us).

        Retries reuse one Idempotency-Key (a fresh one if none is given), so a retried create
        cannot make a second case.
        """
        call = _Call(
            "create_managed_case", "POST", "managed-cases", content=self._body(request),
            idempotency_key=self._idempotency_key(idempotency_key), retry_safe=True,
            subject="Managed case",
        )
        return await self._get_model(call, Case)

    async def list_managed_cases(
        self,
        *,
        page: int = 1,
        page_size: int = 100,
        statuses: Iterable[Lifecycle | str] | None = None,
        sort: str | None = None,
        ids: Iterable[str] | None = None,
        debtor_ids: Iterable[str] | None = None,
        division_ids: Iterable[str] | None = None,
    ) -> CasePage:
        """One page of the cases we submitted (as managing partner); test cases included."""
        _check_paging(page, page_size)
        params: list[tuple[str, str]] = [("Page", str(page)), ("PageSize", str(page_size))]
        for status in statuses or ():
            member = Lifecycle.from_display(str(status))
            params.append(("Statuses", member.value if member is not None else str(status)))
        if sort:
            params.append(("Sort", sort))
        params += [("Ids", _guid(str(v), "ids")) for v in ids or ()]
        params += [("DebtorIds", _guid(str(v), "debtor_ids")) for v in debtor_ids or ()]
        params += [("DivisionIds", _guid(str(v), "division_ids")) for v in division_ids or ()]
        call = _Call("list_managed_cases", "GET", "managed-cases", params=tuple(params), retry_safe=True)
        return await self._get_model(call, CasePage)

    async def iter_managed_cases(
        self,
        *,
        page_size: int = 100,
        statuses: Iterable[Lifecycle | str] | None = None,
        sort: str | None = None,
        ids: Iterable[str] | None = None,
        debtor_ids: Iterable[str] | None = None,
        division_ids: Iterable[str] | None = None,
        max_pages: int = MAX_PAGES,
    ) -> AsyncIterator[Case]:
        """Every managed case matching the filters, page after page (``PageGuard`` as iter_cases)."""
        filters: dict[str, Any] = {
            "statuses": list(statuses) if statuses is not None else None, "sort": sort,
            "ids": list(ids) if ids is not None else None,
            "debtor_ids": list(debtor_ids) if debtor_ids is not None else None,
            "division_ids": list(division_ids) if division_ids is not None else None,
        }
        guard = PageGuard(max_pages)
        page = 1
        while True:
            result = await self.list_managed_cases(page=page, page_size=page_size, **filters)
            if guard.repeated(case.id for case in result.cases):
                break
            for case in result.cases:
                yield case
            if not result.has_more(page, page_size, len(result.cases)) or guard.last_page(page):
                break
            page += 1
        await self.end_listing(ListingEnd("managed_cases", page, guard.reason))

    async def get_managed_case(self, case_id: str) -> Case:
        call = _Call(
            "get_managed_case", "GET", self._managed_path(case_id), retry_safe=True, case_id=case_id,
            subject="Managed case",
        )
        return await self._get_model(call, Case)

    async def get_managed_case_by_reference(self, reference: str) -> Case:
        ref = reference.strip()
        path = f"managed-cases/case-reference/{_segment(ref, 'reference', Shape.CASE_REFERENCE)}"
        call = _Call(
            "get_managed_case_by_reference", "GET", path, retry_safe=True, subject=f"Managed case {ref}"
        )
        return await self._get_model(call, Case)

    async def get_managed_case_timeline(self, case_id: str) -> Timeline:
        call = _Call(
            "get_managed_case_timeline", "GET", self._managed_path(case_id, "timeline"), retry_safe=True,
            case_id=case_id, subject="Managed case",
        )
        return await self._get_model(call, Timeline)

    async def list_managed_case_chats(self, case_id: str) -> list[Chat]:
        call = _Call(
            "list_managed_case_chats", "GET", self._managed_path(case_id, "chats"), retry_safe=True,
            case_id=case_id, subject="Managed case",
        )
        return await self._get_list(call, _CHATS)

    async def list_managed_case_payments(self, case_id: str) -> list[Payment]:
        call = _Call(
            "list_managed_case_payments", "GET", self._managed_path(case_id, "payments"), retry_safe=True,
            case_id=case_id, subject="Managed case",
        )
        return await self._get_list(call, _PAYMENTS)

    async def create_managed_case_payment(
        self, case_id: str, request: CreateManagedCasePaymentRequest
    ) -> CreateManagedCasePaymentResponse:
        """Record a payment on a managed test case (400 on a production case).

        The operation takes no Idempotency-Key, so it is not repeated after a failure whose
        outcome is unknown (OutcomeUnknown: re-read the payments).
        """
        call = _Call(
            "create_managed_case_payment", "POST", self._managed_path(case_id, "payments"),
            content=self._body(request), case_id=case_id, subject="Managed case",
        )
        return await self._get_model(call, CreateManagedCasePaymentResponse)

    async def update_managed_case_payment(
        self, case_id: str, payment_id: str, request: UpdatePaymentRequest
    ) -> Payment:
        call = _Call(
            "update_managed_case_payment", "PUT",
            self._managed_path(case_id, "payments", _segment(payment_id, "payment_id")),
            content=self._body(request), case_id=case_id, subject="Managed case or payment",
        )
        return await self._get_model(call, Payment)

    async def delete_managed_case_payment(
        self, case_id: str, payment_id: str, *, reopen_case_if_needed: bool = False
    ) -> None:
        call = _Call(
            "delete_managed_case_payment", "DELETE",
            self._managed_path(case_id, "payments", _segment(payment_id, "payment_id")),
            params=(("reopenCaseIfNeeded", _bool(reopen_case_if_needed)),), case_id=case_id,
            subject="Managed case or payment",
        )
        await self._send(call)

    async def list_managed_case_files(self, case_id: str) -> list[CaseFile]:
        call = _Call(
            "list_managed_case_files", "GET", self._managed_path(case_id, "files"), retry_safe=True,
            case_id=case_id, subject="Managed case",
        )
        return await self._get_list(call, _FILES)

    # ------------------------------------------------------------------ test cases and test webhooks
    # Only for cases created with is_test=True: Debitura answers 400 for a production case.

    async def advance_test_case(
        self, case_id: str, target: AdvanceTarget | str, *, amount: Decimal | int | str | None = None
    ) -> AdvanceTestCaseResponse:
        """Drive a test case to ``Active``, ``Closed:Paid`` (``amount`` required) or ``Closed:NoPayment``.

        Safe to repeat: a case already at the target answers ``advanced=False`` and nothing changes.
        """
        try:
            request = AdvanceTestCaseRequest(
                to=AdvanceTarget(target), amount=Decimal(str(amount)) if amount is not None else None
            )
        except (ValueError, ArithmeticError) as exc:
            raise ClientValidationError(
                f"cannot advance a test case that way: {exc}", field="target"
            ) from None
        call = _Call(
            "advance_test_case", "POST", f"test/cases/{_segment(case_id, 'case_id')}/advance",
            content=self._body(request), retry_safe=True, case_id=case_id, subject="Test case",
        )
        return await self._get_model(call, AdvanceTestCaseResponse)

    async def delete_test_case(self, case_id: str) -> None:
        """Hard-delete one test case (nothing is kept). Deleting it again is no error."""
        call = _Call(
            "delete_test_case", "DELETE", f"test/cases/{_segment(case_id, 'case_id')}", retry_safe=True,
            case_id=case_id, subject="Test case",
        )
        await self._send(call)

    async def delete_test_cases_by_tag(self, tag: str) -> None:
        """Hard-delete every test case created with ``tag``: all of them, or none when one of them is a
        production case (400). No case with the tag is no error."""
        problem = text_problem(tag, max_length=TEST_TAG_MAX)
        if problem is not None:
            raise ClientValidationError(f"tag {problem}", field="tag")
        call = _Call(
            "delete_test_cases_by_tag", "DELETE", "test/cases", params=(("tag", tag),), retry_safe=True,
            subject=f"Test cases tagged {tag}",
        )
        await self._send(call)

    async def replay_test_case_last_event(self, case_id: str) -> ReplayLastEventResult:
        """Send the most recent recorded webhook event of a test case again (signed, marked replay)."""
        call = _Call(
            "replay_test_case_last_event", "POST",
            f"test/cases/{_segment(case_id, 'case_id')}/replay-last-event", case_id=case_id,
            subject="Test case (or its webhook events)",
        )
        return await self._get_model(call, ReplayLastEventResult)

    async def fire_test_webhook(self, request: FireWebhookRequest) -> FireWebhookResponse:
        """Fire ``request.event`` for a test case, carrying the case's current state.

        The event is queued: it shows in ``list_webhook_events`` only once delivery was tried
        (seconds later), so poll for it rather than reading once.
        """
        call = _Call(
            "fire_test_webhook", "POST", "test/webhooks/fire", content=self._body(request),
            case_id=request.case_id, subject="Test case",
        )
        return await self._get_model(call, FireWebhookResponse)

    # ------------------------------------------------------------------ ingestion jobs

    async def create_ingestion_job(
        self, request: CreateIngestionJobRequest, *, idempotency_key: str | None = None
    ) -> CreateIngestionJobResponse:
        """Queue a batch of notes (202); poll :meth:`get_ingestion_job` for the outcome.

        Retries reuse one Idempotency-Key (a fresh one if none is given).
        """
        call = _Call(
            "create_ingestion_job", "POST", "ingestion-jobs", content=self._body(request),
            idempotency_key=self._idempotency_key(idempotency_key), retry_safe=True,
        )
        return await self._get_model(call, CreateIngestionJobResponse)

    async def get_ingestion_job(self, job_id: str) -> IngestionJobStatusResponse:
        call = _Call(
            "get_ingestion_job", "GET", f"ingestion-jobs/{_segment(job_id, 'job_id')}", retry_safe=True,
            subject="Ingestion job",
        )
        return await self._get_model(call, IngestionJobStatusResponse)


# ---------------------------------------------------------------------- checks


def check_upload(filename: str, content: bytes, description: str | None = None) -> None:
    """Raise ClientValidationError for what Debitura would refuse with 400/413/415."""
    name = os.path.basename((filename or "").replace("\\", "/"))
    if not name.strip():
        raise ClientValidationError("the file needs a name", field="filename")
    ext = os.path.splitext(name)[1].lower()
    if ext not in ALLOWED_UPLOAD_EXTENSIONS:
        allowed = " ".join(sorted(ALLOWED_UPLOAD_EXTENSIONS))
        shown = ext or "no extension"
        raise ClientValidationError(
            f"Debitura does not accept {shown} files; allowed: {allowed}", field="filename"
        )
    if len(content) > MAX_UPLOAD_BYTES:
        raise ClientValidationError(
            f"the file is {len(content) / 1024 / 1024:.1f} MB; Debitura accepts 25 MB at most",
            field="content",
        )
    if description is not None and len(description) > UPLOAD_DESCRIPTION_MAX:
        raise ClientValidationError(
            f"the file description is longer than {UPLOAD_DESCRIPTION_MAX} characters", field="description"
        )


def _check_paging(page: int, page_size: int) -> None:
    if page < 1:
        raise ClientValidationError("page starts at 1", field="page")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ClientValidationError(f"page_size must be 1 to {MAX_PAGE_SIZE}", field="page_size")


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0] if exc.errors() else None
    if not first:
        return "invalid"
    where = ".".join(str(p) for p in first.get("loc", ()))
    return f"{where}: {first.get('msg', 'invalid')}"

