"""The one ASGI app of a Caseroom process.

HTTP mode:   POST /slack/events, POST /debitura/webhooks, GET /healthz, /readyz, /metrics.
Socket Mode: the same, without /slack/events (Slack talks to us over the websocket).
`caseroom relay`: /debitura/webhooks and the three operational endpoints.

`/healthz` answers "is this process alive and able to work" (process, Redis, the websocket in Socket
Mode); a failing health check means "restart me". `/readyz` answers "send me traffic": the runtime is
built, Slack accepted our token at start, Redis answers and we are not shutting down. Anyone may ask,
so both say only which part is ok or not (`{"status": "fail", "checks": {"redis": {"ok": false}}}`);
why a part fails goes to the log (one line per part a minute) and `caseroom check` shows it in full.

The two public doors (signature headers, a capped streamed body, the signature over the raw bytes,
then parsing; see bot/doors.py) refuse bad requests before any work and count them in
`caseroom_requests_rejected_total{door, reason}`, nothing else.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.debitura.webhooks import SIGNATURE_HEADER, InvalidSignature, verify_any
from bot.doors import (
    MAX_SLACK_BODY,
    MAX_WEBHOOK_BODY,
    BodyBudget,
    Busy,
    Door,
    LogLimiter,
    Reason,
    TooLarge,
    read_capped,
    slack_envelope_ok,
    slack_signature_ok,
    slack_timestamp_reason,
)
from bot.runtime import Runtime

if TYPE_CHECKING:
    from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler

    from bot.relay import Relay
    from bot.relay.fleet import RelayFleet
    from bot.tenancy import TenantRegistry

log = logging.getLogger(__name__)

CHECK_TIMEOUT = 2.0
__all__ = ["MAX_SLACK_BODY", "MAX_WEBHOOK_BODY", "WebState", "build_web_app"]

_STATUS = {Reason.SIGNATURE: 401, Reason.STALE: 401, Reason.TOO_LARGE: 413, Reason.BAD_BODY: 400,
           Reason.BUSY: 503}
_ERROR = {Reason.SIGNATURE: "invalid_signature", Reason.STALE: "invalid_signature",
          Reason.TOO_LARGE: "too_large", Reason.BAD_BODY: "bad_body", Reason.BUSY: "busy"}
_WHY = {
    (Door.SLACK, Reason.SIGNATURE): "bad or missing Slack signature (if every request is rejected, "
                                    "SLACK_SIGNING_SECRET is wrong)",
    (Door.SLACK, Reason.STALE): "X-Slack-Request-Timestamp more than 5 minutes from now (a replay, or "
                                "this host's clock is wrong)",
    (Door.SLACK, Reason.TOO_LARGE): f"body over {MAX_SLACK_BODY // 1024} KiB",
    (Door.SLACK, Reason.BAD_BODY): "signed body is not the UTF-8 JSON or form data Slack sends",
    (Door.SLACK, Reason.BUSY): "other large bodies hold the shared body budget (503, retry)",
    (Door.WEBHOOK, Reason.SIGNATURE): "bad or missing X-Debitura-Signature (if every delivery is "
                                      "rejected, DEBITURA_WEBHOOK_SECRET is wrong)",
    (Door.WEBHOOK, Reason.STALE): "X-Debitura-Signature timestamp more than 5 minutes from now (a replay, "
                                  "or this host's clock is wrong)",
    (Door.WEBHOOK, Reason.TOO_LARGE): f"body over {MAX_WEBHOOK_BODY // 1024} KiB",
    (Door.WEBHOOK, Reason.BAD_BODY): "signed body is not a webhook event",
    (Door.WEBHOOK, Reason.BUSY): "other large bodies hold the shared body budget (503, retry)",
}
_PATH = {Door.SLACK: "/slack/events", Door.WEBHOOK: "/debitura/webhooks"}

WebhookHandler = Callable[[Runtime, Any, bytes, dict[str, str]], Awaitable[tuple[int, dict[str, Any]]]]
"""`bot.relay.webhooks.handle_webhook(runtime, relay, body, headers) -> (status, json)`."""


@dataclass
class WebState:
    """What the endpoints look at. The server fills it in as the process starts and stops."""

    runtime: Runtime
    mode: str
    """"http", "socket" or "relay"."""
    slack_ok: bool = False
    """Slack accepted the bot token (auth.test) at start."""
    shutting_down: bool = False
    socket_connected: Callable[[], Awaitable[bool]] | None = None
    """Socket Mode only: whether the websocket to Slack is live."""
    relay: Relay | None = None
    """The relay running in this process, or None."""
    webhook_handler: WebhookHandler | None = None
    metric_refreshers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    """Run before /metrics renders (budget gauges read from Redis, queue depth...)."""
    log_limiter: LogLimiter = field(default_factory=lambda: LogLimiter(log))
    """Refused requests and failing health checks: one log line per kind a minute."""
    body_budget: BodyBudget = field(default_factory=BodyBudget)
    """Request body bytes both doors may hold together past each request's first 16 KiB."""
    registry: TenantRegistry | None = None
    """Multi-workspace mode: the installed workspaces' runtimes (webhooks go to /debitura/webhooks/{id})."""
    fleet: RelayFleet | None = None
    """Multi-workspace mode: the relays of this process, one per workspace."""

    def reject(self, door: Door, reason: Reason) -> Response:
        """Count, log (rate-limited) and answer a request refused at a door."""
        self.runtime.metrics.rejected.labels(door=door.value, reason=reason.value).inc()
        self.log_limiter.warning(
            f"reject:{door}:{reason}", f"rejected a request to {_PATH[door]}: {_WHY[door, reason]}"
        )
        # Hang up after the answer: the rest of a refused body is never read (uvicorn would otherwise
        # read and drop it all to keep the connection alive).
        headers = {"Connection": "close"}
        if reason is Reason.BUSY:
            headers["Retry-After"] = "5"
        return JSONResponse({"error": _ERROR[reason]}, status_code=_STATUS[reason], headers=headers)


async def _check(probe: Callable[[], Awaitable[bool]]) -> tuple[bool, str]:
    try:
        ok = await asyncio.wait_for(probe(), CHECK_TIMEOUT)
    except TimeoutError:
        return False, f"no answer within {CHECK_TIMEOUT:.0f} s"
    except Exception as exc:
        return False, f"{type(exc).__name__}: {exc}"
    return ok, "ok" if ok else "down"


async def _redis_ping(state: WebState) -> tuple[bool, str]:
    async def probe() -> bool:
        return bool(await state.runtime.redis.ping())

    return await _check(probe)


async def _socket_check(state: WebState) -> tuple[bool, str] | None:
    if state.socket_connected is None:
        return None
    ok, detail = await _check(state.socket_connected)
    return ok, "connected" if ok else ("not connected" if detail == "down" else detail)


async def _connections(state: WebState) -> dict[str, tuple[bool, str]]:
    """What both health endpoints check: Redis, and the Socket Mode link when there is one."""
    checks = {"redis": await _redis_ping(state)}
    socket = await _socket_check(state)
    if socket is not None:
        checks["socket"] = socket
    return checks


def _relay_check(state: WebState) -> tuple[bool, str] | None:
    """The relay in this process: running with every worker task alive (a dead loop means restart)."""
    relay: Relay | RelayFleet | None = state.relay if state.relay is not None else state.fleet
    if relay is None:
        return None
    if state.shutting_down:
        return True, "stopping"
    health = relay.health()
    alive, total = health.get("tasks_alive", 0), health.get("tasks_total", 0)
    ok = bool(health.get("running")) and alive == total
    detail = f"{alive}/{total} workers alive, {health.get('cases_watched', 0)} cases watched"
    if health.get("last_error"):
        detail += f"; last error: {health['last_error']}"
    return ok, detail


def _report(state: WebState, checks: dict[str, tuple[bool, str]]) -> JSONResponse:
    """The answer says which part is ok; why one is not goes to the log only (hosts, ports, errors)."""
    healthy = all(ok for ok, _ in checks.values())
    for name, (ok, detail) in checks.items():
        if not ok:
            state.log_limiter.warning(f"health:{name}", f"health check {name} not ok: {detail}")
    body = {
        "status": "ok" if healthy else "fail",
        "checks": {name: {"ok": ok} for name, (ok, _) in checks.items()},
    }
    return JSONResponse(body, status_code=200 if healthy else 503, headers={"Cache-Control": "no-store"})


async def _read_body(state: WebState, request: Request, door: Door, cap: int) -> bytes | Response:
    """The request body read as a capped stream, or the answer that refuses it (413, 503 busy, or 400
    when the client went away)."""
    try:
        return await read_capped(request, cap, state.body_budget)
    except TooLarge:
        return state.reject(door, Reason.TOO_LARGE)
    except Busy:
        return state.reject(door, Reason.BUSY)
    except ClientDisconnect:
        return Response(status_code=400)


def build_web_app(state: WebState, *, slack_handler: AsyncSlackRequestHandler | None = None,
                  oauth_handler: AsyncSlackRequestHandler | None = None) -> Starlette:
    """Starlette app over `state`. `slack_handler` is given in HTTP mode only; `oauth_handler` in
    multi-workspace mode (both modes): GET /slack/install and /slack/oauth_redirect."""

    async def healthz(request: Request) -> Response:
        checks = {"process": (True, state.mode), **await _connections(state)}
        relay = _relay_check(state)
        if relay is not None:
            checks["relay"] = relay
        return _report(state, checks)

    async def readyz(request: Request) -> Response:
        checks: dict[str, tuple[bool, str]] = {
            "accepting": (not state.shutting_down, "shutting down" if state.shutting_down else "ok"),
            "slack_auth": (state.slack_ok, "ok" if state.slack_ok else "auth.test not done"),
            **await _connections(state),
        }
        return _report(state, checks)

    async def metrics(request: Request) -> Response:
        for refresh in state.metric_refreshers:
            try:
                await asyncio.wait_for(refresh(), CHECK_TIMEOUT)
            except Exception as exc:  # stale gauges beat no metrics at all
                log.warning("metrics refresh failed: %s: %s", type(exc).__name__, exc)
        return Response(state.runtime.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    async def debitura_webhooks(request: Request) -> Response:
        secret = state.runtime.settings.debitura_webhook_secret
        if secret is None:
            return JSONResponse(
                {"error": "webhooks_not_configured",
                 "message": "DEBITURA_WEBHOOK_SECRET is not set on this Caseroom, so deliveries "
                            "cannot be verified"},
                status_code=503,
            )
        if state.webhook_handler is None:
            return JSONResponse({"error": "webhooks_not_served"}, status_code=503)
        signature = request.headers.get(SIGNATURE_HEADER)
        if not signature:
            return state.reject(Door.WEBHOOK, Reason.SIGNATURE)
        body = await _read_body(state, request, Door.WEBHOOK, MAX_WEBHOOK_BODY)
        if isinstance(body, Response):
            return body
        try:
            # The live subscription's secret, then the test-mode one's (DEBITURA_WEBHOOK_TEST_SECRET).
            test = state.runtime.settings.debitura_webhook_test_secret
            keys = [secret.get_secret_value(), *([test.get_secret_value()] if test is not None else [])]
            verify_any(keys, signature, body)
        except InvalidSignature as exc:
            return state.reject(Door.WEBHOOK, Reason.STALE if exc.reason in ("stale", "future")
                                else Reason.SIGNATURE)
        except ValueError:
            state.log_limiter.log(logging.ERROR, "webhook-secret",
                                  "DEBITURA_WEBHOOK_SECRET is not valid base64; every webhook is refused")
            return state.reject(Door.WEBHOOK, Reason.SIGNATURE)
        status, payload = await state.webhook_handler(state.runtime, state.relay, body, dict(request.headers))
        # 503 (Redis down): Debitura retries the delivery later.
        headers = {"Retry-After": "30"} if status == 503 else None
        return JSONResponse(payload, status_code=status, headers=headers)

    async def workspace_webhooks(request: Request) -> Response:
        """Multi-workspace mode: a delivery for one workspace, verified with that workspace's secret
        (a body signed with another workspace's secret is refused like any bad signature)."""
        registry = state.registry
        if registry is None or state.webhook_handler is None:
            return JSONResponse({"error": "webhooks_not_served"}, status_code=404)
        signature = request.headers.get(SIGNATURE_HEADER)
        if not signature:
            return state.reject(Door.WEBHOOK, Reason.SIGNATURE)
        tenant = await registry.runtime(request.path_params["workspace"])
        secret = tenant.settings.debitura_webhook_secret if tenant is not None else None
        if tenant is None or secret is None:
            # Unknown workspace, or none set up: refused the same way, so the path tells nothing.
            return state.reject(Door.WEBHOOK, Reason.SIGNATURE)
        body = await _read_body(state, request, Door.WEBHOOK, MAX_WEBHOOK_BODY)
        if isinstance(body, Response):
            return body
        try:
            verify_any([secret.get_secret_value()], signature, body)
        except InvalidSignature as exc:
            return state.reject(Door.WEBHOOK, Reason.STALE if exc.reason in ("stale", "future")
                                else Reason.SIGNATURE)
        except ValueError:
            return state.reject(Door.WEBHOOK, Reason.SIGNATURE)
        relay = state.fleet.relay_for(tenant.workspace_id or "") if state.fleet is not None else None
        status, payload = await state.webhook_handler(tenant, relay, body, dict(request.headers))
        headers = {"Retry-After": "30"} if status == 503 else None
        return JSONResponse(payload, status_code=status, headers=headers)

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/debitura/webhooks", debitura_webhooks, methods=["POST"]),
        Route("/debitura/webhooks/{workspace}", workspace_webhooks, methods=["POST"]),
    ]
    if oauth_handler is not None:
        async def oauth(request: Request) -> Response:
            return await oauth_handler.handle(request)

        routes.append(Route("/slack/install", oauth, methods=["GET"]))
        routes.append(Route("/slack/oauth_redirect", oauth, methods=["GET"]))
    if slack_handler is not None:
        from slack_bolt.adapter.starlette.async_handler import to_starlette_response
        from slack_bolt.async_app import AsyncBoltRequest

        bolt = slack_handler.app
        signing = state.runtime.settings.slack_signing_secret
        if signing is None:
            raise ValueError("HTTP mode needs SLACK_SIGNING_SECRET to verify requests from Slack")
        signing_secret = signing.get_secret_value()

        async def slack_events(request: Request) -> Response:
            """Verified before Bolt sees a byte: headers, capped body, signature, then parsing.

            Bolt's own check (same secret, same bytes) still runs inside `async_dispatch`.
            """
            if state.shutting_down:
                # Slack retries; a 503 during shutdown sends the retry to another replica.
                return Response("shutting down", status_code=503)
            reason = slack_timestamp_reason(request.headers, time.time())
            if reason is not None:
                return state.reject(Door.SLACK, reason)
            body = await _read_body(state, request, Door.SLACK, MAX_SLACK_BODY)
            if isinstance(body, Response):
                return body
            if not slack_signature_ok(signing_secret, request.headers, body):
                return state.reject(Door.SLACK, Reason.SIGNATURE)
            try:
                bolt_request = AsyncBoltRequest(
                    body=body.decode("utf-8"), query=request.url.query,
                    headers=dict(request.headers),
                )
            except Exception:  # signed, but not JSON / form data in the shape Slack sends
                return state.reject(Door.SLACK, Reason.BAD_BODY)
            if not slack_envelope_ok(bolt_request.body):
                return state.reject(Door.SLACK, Reason.BAD_BODY)
            return to_starlette_response(await bolt.async_dispatch(bolt_request))

        routes.append(Route("/slack/events", slack_events, methods=["POST"]))
    return Starlette(routes=routes)
