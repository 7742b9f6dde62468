"""`caseroom run` and `caseroom relay`: one process, one event loop, one ASGI server.

Start-up order: logging (with every secret masked), the runtime, Redis PING, Slack auth.test (a
rejected token or an unreachable Slack is a clear one-line error and exit code 1, never a traceback),
the Bolt app, the HTTP listener, the Socket Mode websocket, the relay.

Shutdown on SIGTERM or SIGINT, in reverse: stop taking work (readyz turns 503, the websocket is
closed, /slack/events answers 503 so Slack retries elsewhere), let in-flight HTTP requests finish,
stop the relay gracefully (it finishes the deliveries it started), then close the runtime's clients.
A second signal skips the waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Coroutine, Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import anyio.lowlevel
import uvicorn
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.check import UNKNOWN, redact_url
from bot.config import Settings, secret_values
from bot.demo import DemoSandbox
from bot.embedded import EmbeddedRedis, EmbeddedRedisError, local_redis_answers
from bot.logs import setup_logging
from bot.loopwatch import LoopWatch, freeze_startup_objects
from bot.relay import Relay
from bot.relay.fleet import RelayFleet
from bot.relay.webhooks import handle_webhook
from bot.runtime import Runtime, build_runtime
from bot.slack.errors import slack_error
from bot.store.budget import RedisRateLimiter
from bot.store.secrets import SecretBox
from bot.tenancy import MultiWorkspaceConfigError, TenantRegistry, WorkspaceRuntime, check_multi_workspace
from bot.web import WebState, build_web_app

log = logging.getLogger("caseroom.server")

EXIT_OK = 0
EXIT_STARTUP = 1
EXIT_CONFIG = 2

GRACEFUL_HTTP_SECONDS = 10
"""How long in-flight HTTP requests get to finish on shutdown."""
REDIS_START_ATTEMPTS = 3


class StartupError(Exception):
    """The process cannot start; `str()` says why and what to do. Exit code in `.code`."""

    def __init__(self, message: str, code: int = EXIT_STARTUP) -> None:
        super().__init__(message)
        self.code = code


def resolve_mode(settings: Settings, requested: str | None) -> str:
    """socket or http. Raises StartupError (exit 2) when the mode's credential is missing."""
    mode = requested or ("socket" if settings.slack_app_token is not None else "http")
    if mode not in ("socket", "http"):
        raise StartupError(f"unknown mode {mode!r}: use --mode socket or --mode http", EXIT_CONFIG)
    if mode == "socket" and settings.slack_app_token is None:
        raise StartupError(
            "Socket Mode needs SLACK_APP_TOKEN (an app-level token, xapp-..., with connections:write). "
            "Set it, or run with --mode http and SLACK_SIGNING_SECRET.",
            EXIT_CONFIG,
        )
    if mode == "http" and settings.slack_signing_secret is None:
        raise StartupError(
            "HTTP mode needs SLACK_SIGNING_SECRET (Slack app > Basic Information > Signing Secret) "
            "to verify requests from Slack. Set it, or run with --mode socket and SLACK_APP_TOKEN.",
            EXIT_CONFIG,
        )
    return mode


def multi_workspace_problem(settings: Settings) -> str | None:
    """Why multi-workspace mode cannot start (CASEROOM_SECRET_KEY missing or malformed), or None."""
    if not settings.multi_workspace:
        return None
    try:
        check_multi_workspace(settings)
    except MultiWorkspaceConfigError as exc:
        return str(exc)
    return None


def _secret_box(settings: Settings) -> SecretBox:
    try:
        return check_multi_workspace(settings)
    except MultiWorkspaceConfigError as exc:
        raise StartupError(str(exc), EXIT_CONFIG) from None


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind the listening socket ourselves, so a busy port is a clear error (and port 0 works)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror} (check --host)") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise StartupError(
            f"cannot listen on {host}:{port}: {exc.strerror}. Another process may use the port; "
            "choose another with --port or CASEROOM_PORT."
        ) from None
    sock.set_inheritable(True)
    return sock


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the process owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def check_redis(runtime: Runtime) -> None:
    last: Exception | None = None
    for attempt in range(REDIS_START_ATTEMPTS):
        try:
            await asyncio.wait_for(runtime.redis.ping(), 5)
            return
        except Exception as exc:
            last = exc
            if attempt + 1 < REDIS_START_ATTEMPTS:
                await asyncio.sleep(1)
    settings = runtime.settings
    if settings.cluster_url is not None:
        # The error names the node that did not answer: on a cluster, a master that is down and whose
        # slots no replica has taken over (yet: a failover takes cluster-node-timeout and a moment).
        variable = "REDIS_CLUSTER_URL" if settings.redis_cluster_url else "REDIS_URL"
        raise StartupError(
            f"cannot reach the Redis Cluster at {redact_url(settings.cluster_url)} ({variable}): "
            f"{type(last).__name__}: {last}. Check its nodes (redis-cli -c -u URL cluster nodes): a master "
            f"that is down needs a replica to take its slots over; or fix {variable}."
        )
    raise StartupError(
        f"cannot reach Redis at {redact_url(settings.redis_url)} (REDIS_URL): "
        f"{type(last).__name__}: {last}. Start Redis or fix REDIS_URL."
    )


async def check_slack(runtime: Runtime) -> AsyncSlackResponse:
    """auth.test with the bot token. Returns its answer; raises StartupError."""
    url = str(runtime.settings.slack_api_url)
    try:
        resp = await runtime.slack.auth_test()
    except SlackApiError as exc:
        error = slack_error(exc, UNKNOWN)
        raise StartupError(
            f"Slack rejected SLACK_BOT_TOKEN ({error}). Copy the Bot User OAuth Token (xoxb-...) from the "
            "Slack app's OAuth & Permissions page, and reinstall the app if it was revoked."
        ) from None
    except Exception as exc:
        raise StartupError(
            f"cannot reach Slack at {url} (SLACK_API_URL): {type(exc).__name__}: {exc}"
        ) from None
    data = dict(resp.data) if isinstance(resp.data, dict) else {}
    if not data.get("bot_id"):
        raise StartupError(
            "SLACK_BOT_TOKEN is not a bot token (auth.test returned no bot_id). Use the Bot User OAuth "
            "Token (xoxb-...)."
        )
    return resp


@dataclass
class _Signals:
    stop: asyncio.Event
    again: asyncio.Event
    """Set by a second signal: stop waiting for work in flight."""
    count: int = 0


@contextlib.contextmanager
def _signal_handlers(loop: asyncio.AbstractEventLoop, on_signal: Callable[[int], None]) -> Iterator[None]:
    installed: list[signal.Signals] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, on_signal, sig)
            installed.append(sig)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - not the main thread
            pass
    try:
        yield
    finally:
        for done in installed:
            loop.remove_signal_handler(done)


async def serve(
    settings: Settings, *, mode: str, host: str, port: int, relay_enabled: bool, demo: bool = False,
    stop: asyncio.Event | None = None, hurry: asyncio.Event | None = None,
) -> int:
    """Run until SIGTERM/SIGINT. `mode` is "http", "socket" or "relay" (relay and health only).

    `demo`: serve the sandbox in this process first and point the settings at it (bot/demo.py).
    `stop` and `hurry` stand for the first and the second signal when set by the caller: the tests run
    this same function in a thread of their own process (no signal handlers there) and stop it so.
    """
    loop = asyncio.get_running_loop()
    signals = _Signals(stop=stop or asyncio.Event(), again=hurry or asyncio.Event())
    server: _Server | None = None

    def on_signal(sig: int) -> None:
        signals.count += 1
        name = signal.Signals(sig).name
        if signals.count == 1:
            log.info("%s received: shutting down gracefully", name)
        else:
            log.warning("%s received again: shutting down now", name)
            signals.again.set()
            if server is not None:
                server.force_exit = True
        signals.stop.set()

    sock: socket.socket | None = None
    runtime: Runtime | None = None
    socket_handler: Any = None
    relay: Relay | None = None
    state: WebState | None = None
    serve_task: asyncio.Task[None] | None = None
    demo_sandbox: DemoSandbox | None = None
    watch: LoopWatch | None = None
    registries: list[TenantRegistry] = []
    with _signal_handlers(loop, on_signal):
        try:
            sock = bind_socket(host, port)
            if demo:
                demo_sandbox = DemoSandbox(settings)
                await demo_sandbox.start(sock.getsockname()[1])
                settings = demo_sandbox.settings_for(settings)
                log.info(
                    "Demo: Debitura sandbox with %d seeded cases at %s (webhooks to this process); "
                    "every card says \"Demo data\". Try /case Q8OAXF3W in Slack; play the creditor with "
                    "caseroom sandbox ctl --url %s chat Q8OAXF3W \"Any news?\"",
                    demo_sandbox.cases, demo_sandbox.url, demo_sandbox.url,
                )
            registry: TenantRegistry | None = None
            auth: AsyncSlackResponse | None = None
            if settings.multi_workspace:
                registry = TenantRegistry(settings, box=_secret_box(settings))
                registries.append(registry)
                runtime = registry.base
                state = WebState(runtime=runtime, mode=mode, webhook_handler=handle_webhook,
                                 registry=registry)
                await check_redis(runtime)
                state.slack_ok = True  # no token of its own: each workspace's is checked as it is used
                installed = await registry.installed()
                log.info("Multi-workspace mode: %d workspace(s) installed; install more at /slack/install",
                         len(installed))
            else:
                runtime = await build_runtime(settings)
                state = WebState(runtime=runtime, mode=mode, webhook_handler=handle_webhook)
                if isinstance(runtime.limiter, RedisRateLimiter):
                    state.metric_refreshers.append(_budget_refresher(runtime.limiter))
                await check_redis(runtime)
                auth = await check_slack(runtime)
                state.slack_ok = True
                log.info(
                    "Slack: connected to team %s (%s) as bot user %s",
                    auth.get("team"), auth.get("team_id"), auth.get("user_id"),
                )
            slack_handler = None
            oauth_handler = None
            if mode in ("http", "socket"):
                from bot.app import build_app

                listener_runtime: Runtime = WorkspaceRuntime(registry) if registry is not None else runtime
                app = build_app(listener_runtime, socket_mode=mode == "socket", registry=registry)
                if auth is not None:
                    reuse_auth_test(app, auth)
                if registry is not None:
                    from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler

                    oauth_handler = AsyncSlackRequestHandler(app)
                if mode == "http":
                    from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler

                    slack_handler = AsyncSlackRequestHandler(app)
                else:
                    socket_handler = await _open_socket_mode(app, runtime)
                    state.socket_connected = socket_handler.client.is_connected
            # httpx's transport (anyio) imports its asyncio backend lazily, 21 modules and about 100 ms of
            # CPU at the first Debitura request, on the loop with Slack's requests waiting: do it now.
            await anyio.lowlevel.checkpoint()
            if relay_enabled and registry is not None:
                fleet = RelayFleet(registry)
                state.fleet = fleet
                await fleet.start()
            elif relay_enabled:
                relay = Relay(runtime)
                state.relay = relay  # set first: a failed start is still stopped on the way out
                await relay.start()
            web_app = build_web_app(state, slack_handler=slack_handler, oauth_handler=oauth_handler)
            config = uvicorn.Config(
                web_app, log_config=None, lifespan="off", access_log=False, proxy_headers=True,
                timeout_graceful_shutdown=GRACEFUL_HTTP_SECONDS, server_header=False,
            )
            server = _Server(config)
            freeze_startup_objects()
            serve_task = asyncio.create_task(server.serve(sockets=[sock]), name="uvicorn")
            # caseroom_event_loop_lag_seconds (bot/loopwatch.py), from when requests are served: the
            # start-up before (imports, the Bolt app) blocks the loop while nothing waits on it.
            watch = LoopWatch(runtime.metrics)
            watch.start()
            bound = sock.getsockname()
            log.info(
                "Caseroom %s listening on http://%s:%s (%s)",
                "relay" if mode == "relay" else f"in {'Socket Mode' if mode == 'socket' else 'HTTP mode'}",
                bound[0], bound[1],
                "relay on" if relay is not None else "relay off",
            )
            stop_wait = asyncio.create_task(signals.stop.wait())
            done, _ = await asyncio.wait({serve_task, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
            stop_wait.cancel()
            if serve_task in done and not signals.stop.is_set():
                exc = serve_task.exception()
                log.error("the HTTP server stopped unexpectedly: %r", exc)
                return EXIT_STARTUP
            return EXIT_OK
        except StartupError as exc:
            log.error("%s", exc)
            return exc.code
        except Exception:
            log.exception("Caseroom failed")
            return EXIT_STARTUP
        finally:
            if watch is not None:
                await watch.stop()  # before the drain, which waits for every task still running
            if state is not None and state.fleet is not None:
                try:
                    await state.fleet.stop(graceful=not signals.again.is_set())
                except Exception:
                    log.exception("stopping the relays failed")
            await _shutdown(state, server, serve_task, socket_handler, relay,
                            None if registries else runtime, signals.again, demo_sandbox, registries)
            for opened in registries:
                try:
                    await opened.aclose()
                except Exception as exc:
                    log.warning("closing clients failed: %s", exc)
            if sock is not None:
                sock.close()


def reuse_auth_test(app: Any, auth: AsyncSlackResponse) -> None:
    """Give Bolt's single-workspace authorization the auth.test answer start-up already has.

    Bolt otherwise calls auth.test at the first request it gets, before the ack (and each of a burst
    of first requests calls it): a Slack round trip in the acks of the first commands after every
    start (bench/RESULTS.md, "Event loop")."""
    from slack_bolt.middleware.authorization.async_single_team_authorization import (
        AsyncSingleTeamAuthorization,
    )

    for middleware in getattr(app, "_async_middleware_list", ()):
        if isinstance(middleware, AsyncSingleTeamAuthorization) and middleware.auth_test_result is None:
            middleware.auth_test_result = auth


def _budget_refresher(limiter: RedisRateLimiter) -> Callable[[], Awaitable[None]]:
    async def refresh() -> None:
        await limiter.usage()  # publishes the caseroom_budget_used gauges

    return refresh


async def _open_socket_mode(app: Any, runtime: Runtime) -> Any:
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    token = runtime.settings.slack_app_token
    assert token is not None  # resolve_mode checked it
    handler = AsyncSocketModeHandler(app, token.get_secret_value(), web_client=runtime.slack)
    # Ask for the websocket URL ourselves: a rejected app token is then a clear start-up error instead
    # of the client's endless "Failed to connect; Retrying..." loop.
    try:
        handler.client.wss_uri = await handler.client.issue_new_wss_url()
    except SlackApiError as exc:
        await handler.close_async()  # type: ignore[no-untyped-call]
        error = slack_error(exc, UNKNOWN)
        raise StartupError(
            f"Slack rejected SLACK_APP_TOKEN ({error}). Create an app-level token with the "
            "connections:write scope (Basic Information > App-Level Tokens) and enable Socket Mode."
        ) from None
    except Exception as exc:
        await handler.close_async()  # type: ignore[no-untyped-call]
        raise StartupError(f"cannot open a Socket Mode connection: {type(exc).__name__}: {exc}") from None
    await handler.connect_async()  # type: ignore[no-untyped-call]
    log.info("Socket Mode: connected")
    return handler


async def _shutdown(
    state: WebState | None, server: _Server | None, serve_task: asyncio.Task[None] | None,
    socket_handler: Any, relay: Relay | None, runtime: Runtime | None, hurry: asyncio.Event,
    demo_sandbox: DemoSandbox | None = None, registries: Sequence[TenantRegistry] = (),
) -> None:
    if state is not None:
        state.shutting_down = True
    if socket_handler is not None:
        try:
            await socket_handler.close_async()
        except Exception as exc:
            log.warning("closing the Socket Mode connection failed: %s", exc)
    if server is not None and serve_task is not None:
        server.should_exit = True
        try:
            await serve_task
        except BaseException as exc:  # uvicorn may sys.exit on a failed start
            log.warning("the HTTP server stopped with %r", exc)
    if relay is not None:
        try:
            await relay.stop(graceful=not hurry.is_set())
        except Exception:
            log.exception("stopping the relay failed")
    if demo_sandbox is not None:
        await demo_sandbox.stop()
    for registry in registries:  # its timers are no work in flight: the drain would wait on them
        try:
            await registry.second_passes_now()
        except Exception:
            log.exception("the second cleanup of uninstalled workspaces failed")
    await _drain_background_tasks(hurry=hurry)
    if runtime is not None:
        try:
            await runtime.aclose()
        except Exception as exc:
            log.warning("closing clients failed: %s", exc)
    log.info("Caseroom stopped")


async def _drain_background_tasks(
    grace: float = GRACEFUL_HTTP_SECONDS, hurry: asyncio.Event | None = None
) -> None:
    """Bolt runs listeners after the ack as tasks; give those that are running time to finish.

    Stops waiting after `grace` seconds, or at once when `hurry` is set (a second SIGTERM/SIGINT).
    """
    current = asyncio.current_task()
    pending = {t for t in asyncio.all_tasks() if t is not current and not t.done()}
    if pending:
        log.info("waiting up to %.0f s for %d task(s) in flight: %s", grace, len(pending),
                 _task_names(pending))
        waiters: set[asyncio.Future[Any]] = set(pending)
        hurry_task = asyncio.ensure_future(hurry.wait()) if hurry is not None else None
        if hurry_task is not None:
            waiters.add(hurry_task)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while pending and (hurry is None or not hurry.is_set()):
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            await asyncio.wait(waiters, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
            pending = {t for t in pending if not t.done()}
            waiters = {w for w in waiters if not w.done()}
        if hurry_task is not None:
            hurry_task.cancel()
    for task in pending:
        task.cancel()


def _task_names(tasks: set[asyncio.Task[Any]], most: int = 5) -> str:
    """What the tasks run (their coroutines' names, each once): which work a shutdown waits on."""
    names = sorted({getattr(t.get_coro(), "__qualname__", t.get_name()) for t in tasks})
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")


def _run(coro_factory: Callable[[], Coroutine[Any, Any, int]], settings: Settings) -> int:
    setup_logging(
        settings.caseroom_log_format.value, settings.caseroom_log_level, secrets=secret_values(settings)
    )
    try:
        return asyncio.run(coro_factory())
    except KeyboardInterrupt:  # pragma: no cover - signal arrived before handlers were installed
        return 130


def run(settings: Settings, *, mode: str | None, host: str, port: int | None, relay: bool,
        demo: bool = False) -> int:
    """`caseroom run`: the Slack listener (Socket Mode or HTTP), health endpoints and the relay.

    With no REDIS_URL and no Redis on localhost:6379, an embedded Redis (bot/embedded.py) serves this
    process. With `demo`, the Debitura sandbox runs inside it (bot/demo.py)."""
    try:
        resolved = resolve_mode(settings, mode)
    except StartupError as exc:
        print(f"Caseroom cannot start: {exc}", file=sys.stderr)
        return exc.code
    problem = multi_workspace_problem(settings)
    if problem is not None:
        print(f"Caseroom cannot start: {problem}", file=sys.stderr)
        return EXIT_CONFIG
    listen_port = settings.caseroom_port if port is None else port
    setup_logging(
        settings.caseroom_log_format.value, settings.caseroom_log_level, secrets=secret_values(settings)
    )
    embedded: EmbeddedRedis | None = None
    if not settings.redis_url_given and not local_redis_answers():
        embedded = EmbeddedRedis(settings.data_dir)
        try:
            embedded.start()
        except EmbeddedRedisError as exc:
            log.error("Caseroom cannot start: %s", exc)
            return EXIT_STARTUP
        settings = settings.model_copy(update={"redis_url": embedded.url})
        log.info(
            "Redis: REDIS_URL is not set and none answers on localhost:6379, so Caseroom %s an embedded "
            "Redis with its data in %s (fine for trying it; a production install wants its own Redis)",
            "shares the" if embedded.reused else "started", embedded.data_dir,
        )
    try:
        return _run(lambda: serve(settings, mode=resolved, host=host, port=listen_port,
                                  relay_enabled=relay, demo=demo), settings)
    finally:
        if embedded is not None:
            embedded.stop()


def run_relay(settings: Settings, *, host: str, port: int | None) -> int:
    """`caseroom relay`: the relay alone, with webhooks intake and health endpoints."""
    problem = multi_workspace_problem(settings)
    if problem is not None:
        print(f"Caseroom cannot start: {problem}", file=sys.stderr)
        return EXIT_CONFIG
    listen_port = settings.caseroom_port if port is None else port
    return _run(
        lambda: serve(settings, mode="relay", host=host, port=listen_port, relay_enabled=True), settings
    )
