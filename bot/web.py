"""The one ASGI app of a Caseroom process.

HTTP mode:   POST /slack/events, POST /debitura/webhooks, GET /healthz, /readyz, /metrics.
Socket Mode: the same, without /slack/events (Slack talks to us over the websocket).
`caseroom relay`: /debitura/webhooks and the three operational endpoints.

`/healthz` answers "is this process alive and able to work" (process, Redis, the websocket in Socket
Mode); a failing health check means "restart me". `/readyz` answers "send me traffic": the runtime is
built, Slack accepted our token at start, Redis answers and we are not shutting down.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.runtime import Runtime

if TYPE_CHECKING:
    from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler

    from bot.relay import Relay

log = logging.getLogger(__name__)

CHECK_TIMEOUT = 2.0
MAX_WEBHOOK_BODY = 1024 * 1024
"""Debitura webhook payloads are small JSON documents; anything larger is refused with 413."""

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
    if state.relay is None:
        return None
    if state.shutting_down:
        return True, "stopping"
    health = state.relay.health()
    alive, total = health.get("tasks_alive", 0), health.get("tasks_total", 0)
    ok = bool(health.get("running")) and alive == total
    detail = f"{alive}/{total} workers alive, {health.get('cases_watched', 0)} cases watched"
    if health.get("last_error"):
        detail += f"; last error: {health['last_error']}"
    return ok, detail


def _report(checks: dict[str, tuple[bool, str]]) -> JSONResponse:
    healthy = all(ok for ok, _ in checks.values())
    body = {
        "status": "ok" if healthy else "fail",
        "checks": {name: {"ok": ok, "detail": detail} for name, (ok, detail) in checks.items()},
    }
    return JSONResponse(body, status_code=200 if healthy else 503, headers={"Cache-Control": "no-store"})


def build_web_app(state: WebState, *, slack_handler: AsyncSlackRequestHandler | None = None) -> Starlette:
    """Starlette app over `state`. `slack_handler` is given in HTTP mode only."""

    async def healthz(request: Request) -> Response:
        checks = {"process": (True, state.mode), **await _connections(state)}
        relay = _relay_check(state)
        if relay is not None:
            checks["relay"] = relay
        return _report(checks)

    async def readyz(request: Request) -> Response:
        checks: dict[str, tuple[bool, str]] = {
            "accepting": (not state.shutting_down, "shutting down" if state.shutting_down else "ok"),
            "slack_auth": (state.slack_ok, "ok" if state.slack_ok else "auth.test not done"),
            **await _connections(state),
        }
        return _report(checks)

    async def metrics(request: Request) -> Response:
        for refresh in state.metric_refreshers:
            try:
                await asyncio.wait_for(refresh(), CHECK_TIMEOUT)
            except Exception as exc:  # stale gauges beat no metrics at all
                log.warning("metrics refresh failed: %s: %s", type(exc).__name__, exc)
        return Response(state.runtime.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    async def debitura_webhooks(request: Request) -> Response:
        if state.runtime.settings.debitura_webhook_secret is None:
            return JSONResponse(
                {"error": "webhooks_not_configured",
                 "message": "DEBITURA_WEBHOOK_SECRET is not set on this Caseroom, so deliveries "
                            "cannot be verified"},
                status_code=503,
            )
        if state.webhook_handler is None:
            return JSONResponse({"error": "webhooks_not_served"}, status_code=503)
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_WEBHOOK_BODY:
            return JSONResponse({"error": "too_large"}, status_code=413)
        body = await request.body()
        if len(body) > MAX_WEBHOOK_BODY:
            return JSONResponse({"error": "too_large"}, status_code=413)
        status, payload = await state.webhook_handler(state.runtime, state.relay, body, dict(request.headers))
        return JSONResponse(payload, status_code=status)

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/debitura/webhooks", debitura_webhooks, methods=["POST"]),
    ]
    if slack_handler is not None:
        handler = slack_handler

        async def slack_events(request: Request) -> Response:
            if state.shutting_down:
                # Slack retries; a 503 during shutdown sends the retry to another replica.
                return Response("shutting down", status_code=503)
            response = await handler.handle(request)
            if response.status_code == 401:
                # Bolt's own log line carries the request body; ours does not.
                log.warning(
                    "rejected a request to /slack/events: bad or missing Slack signature "
                    "(if every request is rejected, SLACK_SIGNING_SECRET is wrong)"
                )
            return response

        routes.append(Route("/slack/events", slack_events, methods=["POST"]))
    return Starlette(routes=routes)
