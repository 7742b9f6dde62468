"""The sandbox application: state, limits, faults, webhooks and the ASGI app around them.

Request path for the partner API: rate limit (per key; the 429 body carries `retryAfter`, no
Retry-After header) -> fault injection -> `XApiKey` check (401 ProblemDetails) -> route.
`/_sandbox/...` (control API, file downloads) skips all three; when a control token is set, the
control API wants it in `X-Sandbox-Token`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from bot.sandbox import api, control
from bot.sandbox.faults import FaultRule, Faults
from bot.sandbox.http import api_error, problem
from bot.sandbox.ingestion import IngestionJobs
from bot.sandbox.model import CaseRec, FileRec
from bot.sandbox.ratelimit import Limits, RateLimiter
from bot.sandbox.rules import Idempotency
from bot.sandbox.state import State, write_snapshot
from bot.sandbox.webhooks import LOG_LAG, WebhookHub

log = logging.getLogger("caseroom.sandbox")

FILE_URL_TTL = 3600


class Sandbox:
    """Everything the sandbox knows; one per server."""

    def __init__(
        self,
        *,
        seed: int,
        n_cases: int,
        api_key: str | None = None,
        limits: Limits | None = None,
        state_file: Path | None = None,
        webhook_retry_base: float = 1.0,
        control_token: str | None = None,
        webhook_log_lag: float = LOG_LAG,
    ) -> None:
        self.state = State(seed, n_cases, api_key)
        self.default_limits = limits or Limits()
        self.limits = Limits(**vars(self.default_limits))
        self.ratelimiter = RateLimiter(Limits(**vars(self.limits)))
        self.faults = Faults()
        self.idempotency = Idempotency()
        self.base_url = "http://127.0.0.1"
        self.webhooks = WebhookHub(
            lambda: self.base_url, retry_base=webhook_retry_base, log_lag=webhook_log_lag
        )
        self.ingestion = IngestionJobs()
        self.state.listeners.append(self.webhooks.publish)
        self.state_file = state_file
        self.control_token = control_token
        self.file_secret = secrets.token_bytes(32)
        self.started_at = time.time()
        self.initial_webhook: tuple[str, str] | None = None
        self.initial_faults: list[dict[str, Any]] = []  # from --fault; a reset brings them back
        if state_file is not None and state_file.exists():
            data = self.state.load(state_file)
            self.webhooks.restore(data.get("webhooks", []))
        # A reset re-seeds but keeps the key clients were given, and goes back to these defaults.
        self.state.fixed_api_key = self.state.api_keys[0]
        self.default_seed, self.default_cases = self.state.seed, self.state.n_cases

    @property
    def api_keys(self) -> list[str]:
        return self.state.api_keys

    def add_initial_fault(self, rule: FaultRule) -> None:
        spec = {k: v for k, v in rule.to_json().items() if k not in ("id", "hits")}
        self.initial_faults.append(spec)
        self.faults.rules.append(FaultRule.from_json(spec))

    def mark_dirty(self) -> None:
        self.state.dirty = True

    def reset(self, seed: int | None = None, n_cases: int | None = None) -> None:
        self.state.load_world(
            self.default_seed if seed is None else seed, self.default_cases if n_cases is None else n_cases
        )
        self.limits = Limits(**vars(self.default_limits))
        self.ratelimiter.reset(Limits(**vars(self.limits)))
        self.faults.rules = [FaultRule.from_json(spec) for spec in self.initial_faults]
        self.idempotency.reset()
        self.webhooks.reset()
        self.ingestion.reset()
        if self.initial_webhook is not None:
            url, secret = self.initial_webhook
            self.webhooks.create(url, list(control.ALL_EVENTS), secret=secret)

    def save(self) -> None:
        if self.state_file is not None:
            self.state.save(self.state_file, {"webhooks": self.webhooks.snapshot()})

    async def save_in_background(self) -> None:
        """Copy the state on the event loop (consistent), serialize and write it in a thread, so a
        save of 10,000 cases does not hold up requests. A failed write leaves the state dirty."""
        if self.state_file is None:
            return
        snapshot = self.state.take_snapshot({"webhooks": self.webhooks.snapshot()})
        try:
            await asyncio.to_thread(write_snapshot, self.state_file, snapshot)
        except BaseException:
            self.state.dirty = True
            raise

    # ---------- files ----------
    def _file_sig(self, file_id: str, expires: int) -> str:
        return hmac.new(self.file_secret, f"{file_id}:{expires}".encode(), hashlib.sha256).hexdigest()[:32]

    def file_url(self, request: Request, case: CaseRec, f: FileRec) -> str:
        expires = int(time.time()) + FILE_URL_TTL
        base = str(request.base_url).rstrip("/")
        return f"{base}/_sandbox/files/{f.id}?expires={expires}&sig={self._file_sig(f.id, expires)}"

    def file_sig_ok(self, file_id: str, expires: str, sig: str) -> bool:
        if not expires.isdigit() or int(expires) < time.time():
            return False
        return hmac.compare_digest(self._file_sig(file_id, int(expires)), sig)

    def hold_seconds(self, request: Request) -> float:
        rules = request.scope.get("sandbox_faults") or []
        return max((r.hold_ms for r in rules), default=0.0) / 1000


class Gate:
    """ASGI middleware: rate limit, faults and API key for the partner API paths."""

    def __init__(self, app: ASGIApp, sandbox: Sandbox) -> None:
        self.app = app
        self.sb = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sandbox/"):
            await self.app(scope, receive, send)
            return
        sb = self.sb
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        key = headers.get("xapikey", "")
        valid = key in sb.api_keys
        wait = sb.ratelimiter.hit(key if valid else "")
        if wait is not None:
            await _send_json(
                send,
                429,
                {
                    "error": "rate_limit_exceeded",
                    "message": f"Too many requests. Retry after {wait} seconds.",
                    "retryAfter": wait,
                },
            )
            return
        rules = sb.faults.match(scope["method"], scope["path"])
        if rules:
            for rule in rules:
                rule.hits += 1
            delay = sum(r.delay() for r in rules)
            if delay:
                await asyncio.sleep(delay)
            for rule in rules:
                if rule.drop_rate and rule.draw() < rule.drop_rate:
                    await _drop(send)
                    return
                if rule.error_rate and rule.draw() < rule.error_rate:
                    resp = api_error(500, "InternalServerError", "Injected fault: internal server error.")
                    await resp(scope, receive, send)
                    return
                if rule.rate_limit_rate and rule.draw() < rule.rate_limit_rate:
                    await _send_json(
                        send,
                        429,
                        {
                            "error": "rate_limit_exceeded",
                            "message": "Too many requests (injected).",
                            "retryAfter": rule.retry_after,
                        },
                    )
                    return
            scope["sandbox_faults"] = rules
        if not valid:
            resp = problem(
                401,
                "Unauthorized",
                "A valid API key is required in the XApiKey header."
                if key
                else "The XApiKey header is missing.",
                scope["path"],
            )
            await resp(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    raw = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": raw})


async def _drop(send: Send) -> None:
    """Close the TCP connection without an answer (uvicorn: through its transport)."""
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is not None:
        transport.abort()
        return
    # No transport reachable: promise a body and never finish it, so the client sees a broken answer.
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"100")]})
    raise ConnectionAbortedError("injected dropped connection")


async def not_found_route(request: Request, exc: Exception) -> Response:
    return api_error(404, "NotFound", f"No route for {request.method} {request.url.path}.")


async def method_not_allowed(request: Request, exc: Exception) -> Response:
    return api_error(405, "MethodNotAllowed", f"{request.method} is not allowed on {request.url.path}.")


def build_app(sandbox: Sandbox) -> ASGIApp:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        saver = asyncio.create_task(_autosave(sandbox)) if sandbox.state_file else None
        try:
            yield
        finally:
            if saver is not None:
                saver.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await saver
            await sandbox.webhooks.aclose()
            await sandbox.ingestion.aclose()
            if sandbox.state_file is not None:
                sandbox.save()

    routes: list[Route] = [*api.routes(), *control.routes()]
    app = Starlette(
        routes=routes, lifespan=lifespan, exception_handlers={404: not_found_route, 405: method_not_allowed}
    )
    app.state.sandbox = sandbox
    return Gate(app, sandbox)


async def _autosave(sandbox: Sandbox) -> None:
    while True:
        await asyncio.sleep(1.0)
        if sandbox.state.dirty:
            try:
                await sandbox.save_in_background()
            except OSError as exc:
                log.error("could not save sandbox state to %s: %s", sandbox.state_file, exc)
