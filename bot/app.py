"""The Bolt app: built once per process from a Runtime, nothing at import time.

`build_app(runtime, socket_mode=...)` creates the app (a `CaseroomApp`, which measures every request
from arrival to ack for /metrics), adds the Events API dedupe middleware, then registers the listener
modules in a fixed order (errors first, so the global error handler is in place before any listener
can fail), and the two app lifecycle events manifest.yml subscribes to.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt import BoltResponse
from slack_bolt.async_app import AsyncApp, AsyncBoltRequest

from blocks.ids import Action, Callback, Shortcut
from bot.listeners import (
    cards,
    commands,
    errors,
    events,
    home,
    modals,
    relay_actions,
    threads,
    workspace_setup,
)
from bot.metrics import Metrics
from bot.runtime import Runtime
from bot.services.workspace_setup import needs_setup
from bot.store.keys import SLACK_EVENT_DEDUPE_TTL
from bot.tenancy import TenantRegistry, current_runtime, slack_oauth_client

log = logging.getLogger(__name__)

NOT_SET_UP = ("Caseroom is installed in this workspace but not connected to Debitura yet: the person who "
              "installed it sets it up from Caseroom's App Home (Home tab).")

_KNOWN_IDS = {str(i) for i in (*Action, *Callback, *Shortcut)}

# Words that may appear as the `subcommand` label of caseroom_commands_total. Anything else (a case
# reference, a search term) is labelled "lookup" when present, so a metric label never carries
# user-typed text (cardinality, and personal data).
COMMAND_WORDS = frozenset({"help", "list", "find", *commands.CASE_KINDS})


# The `kind` label of caseroom_ack_seconds and caseroom_actions_total: the request types Slack sends.
# Any other `type` is "other" (a label never copies a value from a request body), none is "unknown".
REQUEST_KINDS = frozenset({
    "command", "block_actions", "block_suggestion", "view_submission", "view_closed", "shortcut",
    "message_action", "event_callback", "url_verification", "app_rate_limited", "interactive_message",
    "dialog_submission", "dialog_cancellation", "dialog_suggestion", "workflow_step_edit",
})


def request_kind(body: dict[str, Any]) -> str:
    """The kind of a Slack request: command, block_actions, view_submission, event_callback... or other."""
    if "command" in body and "type" not in body:
        return "command"
    kind = body.get("type")
    if kind is None or kind == "":
        return "unknown"
    return kind if isinstance(kind, str) and kind in REQUEST_KINDS else "other"


def command_label(body: dict[str, Any]) -> str:
    words = str(body.get("text") or "").split()
    if not words:
        return "help"
    first = words[0].lower()
    return first if first in COMMAND_WORDS else "lookup"


def action_label(body: dict[str, Any]) -> str:
    """The id of an interaction, bounded to our own ids (anything else is "other")."""
    kind = body.get("type")
    candidate: Any = None
    if kind == "block_actions":
        actions = body.get("actions") or []
        if actions and isinstance(actions[0], dict):
            candidate = actions[0].get("action_id")
    elif kind in ("view_submission", "view_closed"):
        view = body.get("view") or {}
        candidate = view.get("callback_id") if isinstance(view, dict) else None
    elif kind in ("shortcut", "message_action", "block_suggestion"):
        candidate = body.get("callback_id") or body.get("action_id")
    return str(candidate) if candidate is not None and str(candidate) in _KNOWN_IDS else "other"


def outcome_label(response: BoltResponse | None) -> str:
    if response is None:
        return "error"
    if response.status == 200:
        return "ok"
    if response.status == 404:
        return "unhandled"
    return "error"


def build_app(runtime: Runtime, *, socket_mode: bool, registry: TenantRegistry | None = None) -> CaseroomApp:
    """The Bolt app with middleware and every listener module registered.

    `registry` (multi-workspace mode): `runtime` is then a `WorkspaceRuntime`; requests are authorized
    per workspace from the installation store (OAuth v2, bot/oauth.py), and each is handled with its
    workspace's runtime (`CaseroomApp.async_dispatch`)."""
    settings = runtime.settings
    secret = settings.slack_signing_secret
    signing_secret = secret.get_secret_value() if secret is not None else None
    if not socket_mode and signing_secret is None:
        raise ValueError("HTTP mode needs SLACK_SIGNING_SECRET to verify requests from Slack")
    bolt_log = logging.getLogger("caseroom.bolt")
    # Bolt also reads SLACK_BOT_TOKEN from the environment and then warns that the client's token wins;
    # the client is built from the same setting, so that warning is noise.
    quiet = _DropMessage("`token` will be unused")
    bolt_log.addFilter(quiet)
    try:
        if registry is not None:
            app = _new_multi_workspace_app(runtime, registry, signing_secret, socket_mode, bolt_log)
        else:
            app = _new_app(runtime, signing_secret, socket_mode, bolt_log)
    finally:
        bolt_log.removeFilter(quiet)
    app.metrics = runtime.metrics
    app.registry = registry
    app.middleware(_dedupe_middleware(runtime))
    _register_listeners(app, runtime)
    if registry is not None:
        _register_workspace_events(app, registry)
    else:
        _register_app_events(app)
    return app


def _new_multi_workspace_app(
    runtime: Runtime, registry: TenantRegistry, signing_secret: str | None, socket_mode: bool,
    logger: logging.Logger,
) -> CaseroomApp:
    from bot.oauth import build_oauth

    flow, authorize = build_oauth(registry.settings, registry)
    return CaseroomApp(
        # token-less, at SLACK_API_URL: Bolt copies it with each workspace's token per request
        client=slack_oauth_client(registry.settings),
        signing_secret=signing_secret or "",
        request_verification_enabled=not socket_mode,
        process_before_response=False,
        ignoring_self_events_enabled=True,
        logger=logger,
        oauth_flow=flow,
        authorize=authorize,  # type: ignore[arg-type]  # an AsyncAuthorize: Bolt takes it as is
    )


def _register_workspace_events(app: AsyncApp, registry: TenantRegistry) -> None:
    """Multi-workspace mode: an uninstall or revoked bot token removes that workspace: its installation,
    its Debitura settings and all its data (its channels in Slack stay as they are)."""

    async def remove(body: dict[str, Any], why: str) -> None:
        workspace = workspace_of(body)
        if workspace is None:
            log.warning("%s without a workspace id ignored", why)
            return
        deleted = await registry.uninstall(workspace)
        log.warning("workspace %s: %s; its installation, Debitura key and %d keys of data were deleted",
                    workspace, why, deleted)

    @app.event("app_uninstalled")
    async def _uninstalled(body: dict[str, Any]) -> None:
        await remove(body, "Caseroom was uninstalled")

    @app.event("tokens_revoked")
    async def _revoked(body: dict[str, Any]) -> None:
        tokens = (body.get("event") or {}).get("tokens") or {}
        if not tokens.get("bot"):
            log.info("user tokens revoked in workspace %s; the bot's token is unaffected",
                     body.get("team_id"))
            return
        await remove(body, "Slack revoked Caseroom's bot token")


def workspace_of(body: dict[str, Any]) -> str | None:
    """The workspace a (verified) Slack request belongs to: its org for an org-wide install, else its
    team. Read the way Bolt reads it for authorization."""
    from slack_bolt.request.internals import (
        extract_enterprise_id,
        extract_is_enterprise_install,
        extract_team_id,
    )

    from bot.store.installations import workspace_id

    return workspace_id(extract_enterprise_id(body), extract_team_id(body),
                        extract_is_enterprise_install(body))


class _DropMessage(logging.Filter):
    def __init__(self, fragment: str) -> None:
        super().__init__()
        self.fragment = fragment

    def filter(self, record: logging.LogRecord) -> bool:
        return self.fragment not in record.getMessage()


def _new_app(
    runtime: Runtime, signing_secret: str | None, socket_mode: bool, logger: logging.Logger
) -> CaseroomApp:
    return CaseroomApp(
        client=runtime.slack,  # carries the bot token (Bolt reads it from the client)
        # Socket Mode envelopes arrive over an authenticated websocket and carry no signature.
        signing_secret=signing_secret or "",
        request_verification_enabled=not socket_mode,
        process_before_response=False,
        ignoring_self_events_enabled=True,
        logger=logger,
    )


def _register_app_events(app: AsyncApp) -> None:
    """Events about the app itself (manifest.yml subscribes to exactly these)."""

    @app.event("app_uninstalled")
    async def _uninstalled(body: dict[str, Any]) -> None:
        log.error(
            "Caseroom was uninstalled from Slack workspace %s: its tokens no longer work. "
            "Reinstall the app, update SLACK_BOT_TOKEN and restart.", body.get("team_id"),
        )

    @app.event("tokens_revoked")
    async def _revoked(body: dict[str, Any]) -> None:
        log.error(
            "Slack revoked tokens of Caseroom in workspace %s. Reinstall the app, update SLACK_BOT_TOKEN "
            "and restart.", body.get("team_id"),
        )


Next = Callable[[], Awaitable[BoltResponse | None]]


class CaseroomApp(AsyncApp):
    """AsyncApp that measures every request from arrival to ack.

    A request refused by Bolt's signature check (401) is not measured: its body is not Slack's. (In
    HTTP mode bot/web.py refuses those before Bolt and counts them in caseroom_requests_rejected_total.)
    Both transports (the Starlette adapter and the Socket Mode handler) call `async_dispatch` and send
    back what it returns, which with process_before_response=False is the ack: the listener keeps
    running in the background. (Bolt's global middleware cannot measure this: its `next()` does not
    wrap the rest of the chain.)
    """

    metrics: Metrics | None = None
    registry: TenantRegistry | None = None

    async def async_dispatch(self, req: AsyncBoltRequest) -> BoltResponse:
        started = time.perf_counter()
        response: BoltResponse | None = None
        token: contextvars.Token[Runtime | None] | None = None
        try:
            if self.registry is not None:
                # The workspace comes from the verified request (the signature was checked before
                # this, or the request came over the authenticated websocket). The listener tasks Bolt
                # starts copy this context: every `runtime.x` in them is this workspace's.
                workspace = workspace_of(req.body)
                tenant = await self.registry.runtime(workspace)
                token = current_runtime.set(tenant)
                if tenant is not None and req.body.get("command") and needs_setup(tenant):
                    response = BoltResponse(status=200, body=NOT_SET_UP)
                    return response
            response = await super().async_dispatch(req)
            return response
        finally:
            if token is not None:
                current_runtime.reset(token)
            if self.metrics is not None and (response is None or response.status != 401):
                record_request(self.metrics, req.body, response, time.perf_counter() - started)


def record_request(
    metrics: Metrics, body: dict[str, Any], response: BoltResponse | None, seconds: float
) -> None:
    """One Slack request: ack latency by kind, and the command/action counters."""
    kind = request_kind(body)
    metrics.ack_latency.labels(kind=kind).observe(seconds)
    outcome = outcome_label(response)
    if kind == "command":
        metrics.commands.labels(subcommand=command_label(body), outcome=outcome).inc()
    elif kind not in ("event_callback", "url_verification", "app_rate_limited", "unknown", "other"):
        metrics.actions.labels(kind=kind, id=action_label(body), outcome=outcome).inc()


def _dedupe_middleware(
    runtime: Runtime,
) -> Callable[[AsyncBoltRequest, BoltResponse, Next], Awaitable[BoltResponse | None]]:
    """Events API: Slack retries an event it thinks we missed; handle each event_id once.

    The marker is set on receipt (SET NX EX): a retry that arrives while the first delivery is
    still running is acked and dropped. If Redis cannot answer, the event is handled (a rare
    duplicate beats a lost event).
    """

    async def dedupe(req: AsyncBoltRequest, resp: BoltResponse, next_: Next) -> BoltResponse | None:
        body = req.body
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if isinstance(event_id, str) and event_id:
            try:
                first = await runtime.redis.set(
                    runtime.keys.slack_event_seen(event_id), "1", nx=True, ex=SLACK_EVENT_DEDUPE_TTL
                )
            except Exception as exc:  # redis down: process rather than drop
                log.warning("event dedupe unavailable (%s); handling event %s", type(exc).__name__, event_id)
                first = True
            if not first:
                log.info("duplicate Slack event %s ignored", event_id)
                return BoltResponse(status=200, body="")
        # Bolt's next() only marks "continue"; the chain runs after this middleware returns.
        return await next_()

    return dedupe


def _register_listeners(app: AsyncApp, runtime: Runtime) -> None:
    """Errors first (the global handler), then commands, read-side, write modals, relay buttons, and
    the people events (user_change)."""
    errors.register(app, runtime)
    commands.register(app, runtime)
    cards.register(app, runtime)
    modals.register(app, runtime)
    relay_actions.register(app, runtime)
    workspace_setup.register(app, runtime)
    events.register(app, runtime)
    threads.register(app, runtime)
    home.register(app, runtime)
