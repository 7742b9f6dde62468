"""Webhook subscriptions, signed deliveries with retries, the event log and replay.

Signature (REFERENCE section 9): `X-Debitura-Signature: t=<unix>,v1=<hex HMAC-SHA256>` keyed with
the base64-decoded secret over `"<t>.<raw body>"`, plus `X-Debitura-Timestamp` and
`X-Debitura-Event`; replays add `X-Debitura-Replay: true`, test-mode subscriptions
`X-Debitura-Test: true`. Deliveries are asynchronous, retried with exponential backoff
(`retry_base * 2**(attempt-1)` seconds) up to 8 attempts; after the 8th failure the subscription
is disabled with a reason, and a 410 answer disables it at once; either is logged as one WARNING
line saying how to turn it back on (`caseroom sandbox ctl webhooks --enable`). The sandbox only
delivers to loopback addresses (plain http allowed there); other hosts are refused at subscription time.
The event log (`GET /webhooks/events`) gets a row only once its delivery was tried, `log_lag`
seconds later (Debitura: "usually within a few seconds"), so a client has to poll it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.sandbox.enums import WEBHOOK_EVENTS as WEBHOOK_EVENTS
from bot.sandbox.http import (
    ApiFail,
    FieldErrors,
    Fields,
    json_body,
    not_found,
    parse_uuid,
    path_uuid,
    sandbox_of,
)
from bot.sandbox.model import iso, now, parse_iso

if TYPE_CHECKING:
    import httpx

    from bot.sandbox.model import CaseRec
    from bot.sandbox.state import Event

log = logging.getLogger("caseroom.sandbox.webhooks")

MAX_ATTEMPTS = 8
ENABLE_HINT = "caseroom sandbox ctl webhooks --enable"


def sign(secret_b64: str, body: bytes, t: int) -> str:
    key = base64.b64decode(secret_b64)
    digest = hmac.new(key, f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def new_secret() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def loopback_url_problem(url: str) -> str | None:
    """Why the sandbox will not deliver to `url`, or None if it will."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "url is not a valid absolute URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "url must be an absolute http(s) URL"
    host = parts.hostname
    if host == "localhost":
        return None
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        pass
    return "the sandbox delivers webhooks only to loopback addresses (127.0.0.0/8, ::1, localhost)"


@dataclass
class Subscription:
    id: str
    url: str
    events: list[str]
    secret: str
    is_test_mode: bool = False
    is_active: bool = True
    created: str = field(default_factory=lambda: iso(now()))
    updated: str = field(default_factory=lambda: iso(now()))
    disabled_reason: str | None = None

    def to_json(self, *, with_secret: bool = False) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.url,
            "events": list(self.events),
            "isActive": self.is_active,
            "createdUtc": self.created,
            "updatedUtc": self.updated,
            "disabledReason": self.disabled_reason,
            "secret": self.secret if with_secret else None,
            "isTestMode": self.is_test_mode,
        }


@dataclass
class EventRow:
    id: str
    subscription_id: str
    case_id: str
    event_type: str
    payload: str
    created_at: str
    delivered_at: str | None = None
    attempt_count: int = 0
    last_response_code: int | None = None
    last_error: str | None = None
    logged: bool = False  # in the event log (GET /webhooks/events) yet: only after a delivery attempt

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "subscriptionId": self.subscription_id,
            "caseId": self.case_id,
            "eventType": self.event_type,
            "payload": self.payload,
            "createdAt": self.created_at,
            "deliveredAt": self.delivered_at,
            "attemptCount": self.attempt_count,
            "lastResponseCode": self.last_response_code,
            "lastError": self.last_error,
        }


@dataclass
class DeliveryLog:
    """One HTTP attempt, for the control API (tests read what was sent)."""

    row_id: str
    subscription_id: str
    event_type: str
    attempt: int
    replay: bool
    status: int | None
    error: str | None
    at: str


LOG_LAG = 1.0
"""Seconds between the first delivery attempt of an event and its row in GET /webhooks/events.

Debitura writes the row only when its worker has drained the queue and tried the delivery,
"usually within a few seconds": a client that reads the log once, right after a write or a test
fire, may not see the event yet and must poll. The sandbox keeps that true with this lag."""


class WebhookHub:
    def __init__(
        self, base_url: Callable[[], str], retry_base: float = 1.0, timeout: float = 10.0,
        log_lag: float = LOG_LAG,
    ) -> None:
        self.base_url = base_url
        self.retry_base = retry_base
        self.timeout = timeout
        self.log_lag = log_lag
        self.subs: dict[str, Subscription] = {}
        self.rows: list[EventRow] = []
        self.rows_by_id: dict[str, EventRow] = {}
        self.log: list[DeliveryLog] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None
        self.paused = False

    def reset(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        self._tasks.clear()
        self.subs.clear()
        self.rows.clear()
        self.rows_by_id.clear()
        self.log.clear()

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()

    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            import httpx  # imported on first delivery: keeps start-up short

            self._client = httpx.AsyncClient(timeout=self.timeout, trust_env=False)
        return self._client

    # ---------- events ----------
    def publish(self, ev: Event) -> None:
        self.fire(ev.event, ev.case, ev.data, self.takers(ev.event, ev.case.is_test))

    def takers(self, event: str, is_test: bool) -> list[Subscription]:
        """The active subscriptions of the case's kind (test or live) that take `event`."""
        return [
            sub
            for sub in self.subs.values()
            if sub.is_active and event in sub.events and sub.is_test_mode == is_test
        ]

    def fire(self, event: str, case: CaseRec, data: dict[str, Any], subs: list[Subscription]) -> int:
        """Queue one delivery of `event` for `case` to each of `subs`; how many were queued."""
        base = self.base_url()
        envelope = {
            "id": str(uuid.uuid4()),
            "specVersion": "1.0",
            "event": event,
            "timestamp": iso(now()),
            "data": {"caseId": case.id, "reference": case.reference, **data},
            "links": {"case": f"{base}/cases/{case.id}", "timeline": f"{base}/cases/{case.id}/timeline"},
        }
        payload = json.dumps(envelope, separators=(",", ":"))
        for sub in subs:
            row = EventRow(
                id=str(uuid.uuid4()),
                subscription_id=sub.id,
                case_id=case.id,
                event_type=event,
                payload=payload,
                created_at=iso(now()),
            )
            self.rows.append(row)
            self.rows_by_id[row.id] = row
            self._spawn(row, replay=False)
        return len(subs)

    def logged_rows(self, case_id: str) -> list[EventRow]:
        """The case's rows of the event log (those whose delivery was tried), newest first."""
        # newest first; rows of one millisecond keep the order they were made in (reversed)
        rows = [r for r in self.rows if r.case_id == case_id and r.logged]
        order = sorted(enumerate(rows), key=lambda pair: (pair[1].created_at, pair[0]), reverse=True)
        return [row for _, row in order]

    def forget_case(self, case_id: str) -> None:
        """Drop a hard-deleted case's event rows and delivery records."""
        gone = {r.id for r in self.rows if r.case_id == case_id}
        self.rows = [r for r in self.rows if r.id not in gone]
        for row_id in gone:
            self.rows_by_id.pop(row_id, None)
        self.log = [d for d in self.log if d.row_id not in gone]

    def _log_row(self, row: EventRow) -> None:
        """Put the row in the event log `log_lag` seconds after its first attempt (a tracked task,
        so `idle()` waits for it too)."""
        if row.logged:
            return
        if self.log_lag <= 0:
            row.logged = True
            return

        async def later() -> None:
            await asyncio.sleep(self.log_lag)
            row.logged = True

        task = asyncio.get_running_loop().create_task(later())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _spawn(self, row: EventRow, *, replay: bool) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        task = loop.create_task(self._deliver(row, replay=replay))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, row: EventRow, *, replay: bool) -> None:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            sub = self.subs.get(row.subscription_id)
            if sub is None or not sub.is_active:
                return
            body = row.payload.encode()
            t = int(time.time())
            headers = {
                "Content-Type": "application/json",
                "X-Debitura-Signature": sign(sub.secret, body, t),
                "X-Debitura-Timestamp": str(t),
                "X-Debitura-Event": row.event_type,
                "User-Agent": "Debitura-Webhooks-Sandbox/1.0",
            }
            if replay:
                headers["X-Debitura-Replay"] = "true"
            if sub.is_test_mode:
                headers["X-Debitura-Test"] = "true"
            status: int | None = None
            error: str | None = None
            try:
                resp = await self.client().post(sub.url, content=body, headers=headers)
                status = resp.status_code
            except Exception as exc:  # httpx.HTTPError and friends: any failure is a failed attempt
                error = f"{type(exc).__name__}: {exc}"[:500]
            row.attempt_count += 1
            row.last_response_code = status
            row.last_error = (
                error if error else (None if status and 200 <= status < 300 else f"HTTP {status}")
            )
            self.log.append(
                DeliveryLog(
                    row_id=row.id,
                    subscription_id=sub.id,
                    event_type=row.event_type,
                    attempt=attempt,
                    replay=replay,
                    status=status,
                    error=error,
                    at=iso(now()),
                )
            )
            self._log_row(row)
            if status is not None and 200 <= status < 300:
                row.delivered_at = iso(now())
                return
            if status == 410:
                self._disable(sub, "Endpoint answered 410 Gone")
                return
            if attempt < MAX_ATTEMPTS:
                await asyncio.sleep(self.retry_base * (2 ** (attempt - 1)))
        sub = self.subs.get(row.subscription_id)
        if sub is not None and sub.is_active:
            self._disable(sub, f"Disabled after {MAX_ATTEMPTS} failed delivery attempts",
                          last=row.last_error)

    def _disable(self, sub: Subscription, reason: str, *, last: str | None = None) -> None:
        sub.is_active = False
        sub.disabled_reason = reason
        sub.updated = iso(now())
        log.warning(
            "webhook subscription %s for %s is disabled now (%s%s): no more webhooks go there, the "
            "relay only polls. Turn it back on: %s",
            sub.id, sub.url, reason, f"; last: {last}" if last else "", ENABLE_HINT,
        )

    def enable_all(self) -> list[Subscription]:
        """Turn every disabled subscription back on (the control API's `webhooks/enable`)."""
        enabled = [s for s in self.subs.values() if not s.is_active]
        for sub in enabled:
            sub.is_active = True
            sub.disabled_reason = None
            sub.updated = iso(now())
        return enabled

    def replay(self, row: EventRow) -> None:
        self._spawn(row, replay=True)

    async def idle(self, limit: float = 5.0) -> bool:
        """Wait until no delivery is pending, at most `limit` seconds (control API helper)."""
        deadline = asyncio.get_running_loop().time() + limit
        while self._tasks:
            if asyncio.get_running_loop().time() > deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    def create(
        self, url: str, events: list[str], *, is_test_mode: bool = False, secret: str | None = None
    ) -> Subscription:
        sub = Subscription(
            id=str(uuid.uuid4()),
            url=url,
            events=events,
            secret=secret or new_secret(),
            is_test_mode=is_test_mode,
        )
        self.subs[sub.id] = sub
        return sub

    # ---------- persistence ----------
    def snapshot(self) -> list[dict[str, Any]]:
        return [
            {
                "id": s.id,
                "url": s.url,
                "events": s.events,
                "secret": s.secret,
                "isTestMode": s.is_test_mode,
                "isActive": s.is_active,
                "created": s.created,
                "updated": s.updated,
                "disabledReason": s.disabled_reason,
            }
            for s in self.subs.values()
        ]

    def restore(self, rows: list[dict[str, Any]]) -> None:
        for r in rows:
            sub = Subscription(
                id=r["id"],
                url=r["url"],
                events=list(r["events"]),
                secret=r["secret"],
                is_test_mode=bool(r["isTestMode"]),
                is_active=bool(r["isActive"]),
                created=r["created"],
                updated=r["updated"],
                disabled_reason=r["disabledReason"],
            )
            self.subs[sub.id] = sub


# ---------------------------------------------------------------- routes


def _hub(request: Request) -> WebhookHub:
    return sandbox_of(request).webhooks


def _events(f: Fields, name: str, *, required: bool) -> list[str] | None:
    value = f.raw(name)
    if value is None:
        if required:
            f.fail(name, f"The {name} field is required.")
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        f.fail(name, f"The JSON value could not be converted to System.String[]. Path: $.{name}")
        return None
    if required and not value:
        f.fail(name, f"The field {name} must have at least 1 item.")
        return None
    unknown = [v for v in value if v not in WEBHOOK_EVENTS]
    if unknown:
        f.fail(name, f"Unknown event type(s): {', '.join(unknown)}. Allowed: {', '.join(WEBHOOK_EVENTS)}.")
        return None
    return list(dict.fromkeys(value))


def _url(f: Fields, name: str, *, required: bool) -> str | None:
    url = f.string(name, required=required, max_len=1024)
    if url is None:
        return None
    reason = loopback_url_problem(url)
    if reason:
        f.fail(name, reason)
        return None
    return url


def _sub_from_path(request: Request) -> Subscription:
    sub_id = parse_uuid(request.path_params["id"])
    sub = _hub(request).subs.get(sub_id) if sub_id else None
    if sub is None:
        raise not_found("Webhook subscription not found.")
    return sub


async def list_webhooks(request: Request) -> Response:
    return JSONResponse([s.to_json() for s in _hub(request).subs.values()])


async def create_webhook(request: Request) -> Response:
    f = Fields(await json_body(request))
    url = _url(f, "url", required=True)
    events = _events(f, "events", required=True)
    test_mode = f.boolean("isTestMode")
    f.check()
    assert url is not None and events is not None
    sub = _hub(request).create(url, events, is_test_mode=test_mode)
    sandbox_of(request).mark_dirty()
    return JSONResponse(sub.to_json(with_secret=True), status_code=201)


async def get_webhook(request: Request) -> Response:
    return JSONResponse(_sub_from_path(request).to_json())


async def update_webhook(request: Request) -> Response:
    sub = _sub_from_path(request)
    f = Fields(await json_body(request))
    url = _url(f, "url", required=False)
    events = _events(f, "events", required=False)
    active = f.raw("isActive")
    if active is not None and not isinstance(active, bool):
        f.fail("isActive", "The JSON value could not be converted to System.Boolean. Path: $.isActive")
    regenerate = f.boolean("regenerateSecret")
    test_mode = f.raw("isTestMode")
    if test_mode is not None and test_mode != sub.is_test_mode:
        f.fail("isTestMode", "isTestMode cannot be changed after the subscription is created.")
    if events is not None and not events:
        f.fail("events", "The field events must have at least 1 item.")
    f.check()
    if url is not None:
        sub.url = url
    if events is not None:
        sub.events = events
    if isinstance(active, bool):
        sub.is_active = active
        if active:
            sub.disabled_reason = None
    if regenerate:
        sub.secret = new_secret()
    sub.updated = iso(now())
    sandbox_of(request).mark_dirty()
    return JSONResponse(sub.to_json(with_secret=regenerate))


async def delete_webhook(request: Request) -> Response:
    sub = _sub_from_path(request)
    del _hub(request).subs[sub.id]
    sandbox_of(request).mark_dirty()
    return Response(status_code=204)


async def list_events(request: Request) -> Response:
    hub = _hub(request)
    raw_case = request.query_params.get("caseId") or request.query_params.get("caseid")
    if not raw_case:
        raise FieldErrors({"caseId": ["The caseId field is required."]})
    case_id = parse_uuid(raw_case)
    if case_id is None:
        raise FieldErrors({"caseId": [f"The value '{raw_case}' is not valid."]})
    since_raw = request.query_params.get("since")
    since = None
    if since_raw:
        try:
            since = iso(parse_iso(since_raw))
        except ValueError:
            raise FieldErrors({"since": [f"The value '{since_raw}' is not valid."]}) from None
    rows = [r for r in hub.logged_rows(case_id) if since is None or r.created_at >= since]
    return JSONResponse([r.to_json() for r in rows])


async def replay_event(request: Request) -> Response:
    hub = _hub(request)
    row = hub.rows_by_id.get(path_uuid(request))
    if row is None or not row.logged:
        raise not_found("Webhook event not found.")
    sub = hub.subs.get(row.subscription_id)
    if sub is None:
        raise ApiFail(400, "SubscriptionDeleted", "The subscription of this event no longer exists.")
    if not sub.is_active:
        raise ApiFail(400, "SubscriptionInactive", "The subscription is disabled; re-enable it first.")
    hub.replay(row)
    return JSONResponse(
        {"eventId": row.id, "subscriptionId": row.subscription_id, "eventType": row.event_type}
    )


def routes(
    guard: Callable[[Callable[[Request], Awaitable[Response]]], Callable[[Request], Awaitable[Response]]],
) -> list[Route]:
    return [
        Route("/webhooks", guard(list_webhooks), methods=["GET"]),
        Route("/webhooks", guard(create_webhook), methods=["POST"]),
        Route("/webhooks/events", guard(list_events), methods=["GET"]),
        Route("/webhooks/events/{id}/replay", guard(replay_event), methods=["POST"]),
        Route("/webhooks/{id}", guard(get_webhook), methods=["GET"]),
        Route("/webhooks/{id}", guard(update_webhook), methods=["PUT"]),
        Route("/webhooks/{id}", guard(delete_webhook), methods=["DELETE"]),
    ]
