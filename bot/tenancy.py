"""Many workspaces on one deployment: a runtime per workspace, and the proxy listeners hold.

Multi-workspace mode (SLACK_CLIENT_ID, SLACK_CLIENT_SECRET and CASEROOM_SECRET_KEY set) keeps every
layer above unchanged by scoping below it:

- Each installed workspace gets its own `Runtime` (`TenantRegistry.runtime`): its Keys
  (`Keys.for_workspace`: `<prefix>:{T123}:...`, one cluster slot per workspace), so every store,
  the relay's store and the rate budget built over it are that workspace's; its Slack client (its
  bot token, rotated before expiry); its Debitura clients (its key) with its own rate limiter; its
  settings (admins, relay lifecycles, webhook secret) from App Home.
- Listeners are registered once with a `WorkspaceRuntime`: a Runtime whose every attribute is read
  from the runtime of the workspace of the request being handled (`current_runtime`, a contextvar
  set by the Bolt app from the verified request: `bot.app.CaseroomApp`). A handler running with no
  workspace resolved gets `NoWorkspace` instead of anyone's data. Only `settings` (the deployment's,
  for the slash command's name and such) and `metrics` answer without one.
- Webhooks arrive at `/debitura/webhooks/{workspace}` and are verified with that workspace's secret.

The registry keeps built runtimes and rebuilds one when its installation or settings change (the
settings hash carries a version counter, read on each use: one HGET).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from pydantic import SecretStr
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import DEFAULT_RELAY_LIFECYCLES, MULTI_WORKSPACE_STAND_INS, Settings
from bot.logs import add_secrets
from bot.metrics import Metrics
from bot.runtime import Runtime, assemble_runtime, build_redis
from bot.store.installations import RedisInstallationStore, RedisOAuthStateStore
from bot.store.keys import WORKSPACE_ID, Keys
from bot.store.secrets import SecretBox, SecretKeyError
from bot.store.workspaces import WorkspaceConfig, WorkspaceHandle, WorkspaceStore, forget_workspace

log = logging.getLogger(__name__)

current_runtime: contextvars.ContextVar[Runtime | None] = contextvars.ContextVar(
    "caseroom_workspace_runtime", default=None
)
"""The runtime of the workspace whose request is being handled (set from the verified request)."""

FORGET_AGAIN_AFTER = 15.0
"""Seconds after an uninstall when its keys are deleted once more (other replicas' relays stopped)."""
ROTATE_MINUTES_BEFORE = 120
"""Refresh a rotating bot token this long before it expires (Bolt's default too)."""


class NoWorkspace(RuntimeError):
    """Workspace state was asked for while no workspace was resolved from a verified request."""


class MultiWorkspaceConfigError(ValueError):
    """Multi-workspace mode cannot start; the message names the setting."""


def check_multi_workspace(settings: Settings) -> SecretBox:
    """The secret box of multi-workspace mode, or MultiWorkspaceConfigError naming what is missing."""
    if settings.caseroom_secret_key is None or not settings.caseroom_secret_key.get_secret_value().strip():
        raise MultiWorkspaceConfigError(
            "CASEROOM_SECRET_KEY is not set: multi-workspace mode (SLACK_CLIENT_ID and SLACK_CLIENT_SECRET "
            "are set) keeps every workspace's tokens and Debitura key encrypted with it. Make one with: "
            "python -c \"from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())\""
        )
    try:
        return SecretBox(settings.caseroom_secret_key.get_secret_value())
    except SecretKeyError as exc:
        raise MultiWorkspaceConfigError(str(exc)) from None


@dataclass
class Tenant:
    id: str
    runtime: Runtime
    config: WorkspaceConfig
    installation: Installation
    checked: float = 0.0


Changed = Callable[[str], Awaitable[None]]


def slack_oauth_client(settings: Settings) -> AsyncWebClient:
    """A token-less Web API client for oauth.v2.access (install and token rotation)."""
    return AsyncWebClient(base_url=str(settings.slack_api_url), timeout=15)


class TenantRegistry:
    """Runtimes of the installed workspaces, built on first use and rebuilt when their settings change."""

    CONFIG_RECHECK = 1.0
    """Seconds a built runtime is used before its settings version is read again."""

    def __init__(self, settings: Settings, *, redis: aioredis.Redis | None = None,
                 metrics: Metrics | None = None, box: SecretBox | None = None) -> None:
        self.settings = settings
        self.box = box or check_multi_workspace(settings)
        self.redis = redis if redis is not None else build_redis(settings)
        self.metrics = metrics or Metrics()
        self.keys = Keys(settings.caseroom_redis_prefix)
        self.installations = RedisInstallationStore(self.redis, self.keys, self.box, on_saved=self._saved)
        self.states = RedisOAuthStateStore(self.redis, self.keys)
        self._tenants: dict[str, Tenant] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._retired: list[Runtime] = []
        self._second_passes: dict[asyncio.Task[None], str] = {}
        """Uninstalled workspaces whose second cleanup is due FORGET_AGAIN_AFTER after the first."""
        self.on_change: list[Changed] = []
        """Called with a workspace id when it is installed, set up, changed or removed (the relay fleet)."""
        secret = settings.slack_client_secret
        self._rotator = AsyncTokenRotator(
            client_id=settings.slack_client_id or "",
            client_secret=secret.get_secret_value() if secret is not None else "",
            client=slack_oauth_client(settings),
        )
        # The deployment's own runtime: settings and metrics for listeners at registration time, the
        # Redis client for health checks. Its stand-in tokens are never used (see WorkspaceRuntime).
        self.base = assemble_runtime(settings, self.redis, self.keys, self.metrics, owns_redis=redis is None)

    # --- lookups ------------------------------------------------------------------------------------
    def workspace_keys(self, workspace: str) -> Keys:
        return self.keys.for_workspace(workspace)

    def workspace_store(self, workspace: str) -> WorkspaceStore:
        return WorkspaceStore(self.redis, self.workspace_keys(workspace), self.box)

    async def installed(self) -> list[str]:
        return await self.installations.installed()

    async def runtime(self, workspace: str | None) -> Runtime | None:
        """The runtime of an installed workspace (its token fresh), or None."""
        tenant = await self.tenant(workspace)
        return tenant.runtime if tenant is not None else None

    async def tenant(self, workspace: str | None) -> Tenant | None:
        if not workspace or not WORKSPACE_ID.fullmatch(workspace):
            return None
        tenant = self._tenants.get(workspace)
        now = time.monotonic()
        if tenant is not None and now - tenant.checked < self.CONFIG_RECHECK and not self._expiring(tenant):
            return tenant
        lock = self._locks.setdefault(workspace, asyncio.Lock())
        async with lock:
            tenant = self._tenants.get(workspace)
            if tenant is not None and time.monotonic() - tenant.checked < self.CONFIG_RECHECK \
                    and not self._expiring(tenant):
                return tenant
            version = await self.workspace_store(workspace).version()
            if tenant is not None and tenant.config.version == version and not self._expiring(tenant):
                tenant.checked = time.monotonic()
                return tenant
            return await self._build(workspace, tenant)

    def _expiring(self, tenant: Tenant) -> bool:
        expires = tenant.installation.bot_token_expires_at
        return expires is not None and expires - time.time() < ROTATE_MINUTES_BEFORE * 60

    async def _build(self, workspace: str, old: Tenant | None) -> Tenant | None:
        installation = await self.installations.load(workspace)
        if installation is None or not installation.bot_token:
            await self._drop(workspace)
            return None
        if installation.bot_refresh_token and installation.bot_token_expires_at is not None:
            rotated = await self._rotator.perform_token_rotation(
                installation=installation, minutes_before_expiration=ROTATE_MINUTES_BEFORE)
            if rotated is not None:
                await self.installations.write(rotated)
                installation = rotated
        config = await self.workspace_store(workspace).load()
        if old is not None and old.config.version == config.version \
                and old.installation.bot_token == installation.bot_token:
            old.installation = installation
            old.checked = time.monotonic()
            return old
        runtime = self._assemble(workspace, installation, config)
        tenant = Tenant(workspace, runtime, config, installation, time.monotonic())
        self._tenants[workspace] = tenant
        if old is not None:
            self._retired.append(old.runtime)  # requests and relay workers in flight may still hold it
        return tenant

    def _assemble(self, workspace: str, installation: Installation, config: WorkspaceConfig) -> Runtime:
        keys = self.workspace_keys(workspace)
        installer = [installation.user_id] if installation.user_id else []
        admins = list(dict.fromkeys([*installer, *config.admins]))
        secrets = [s for s in (installation.bot_token, config.api_key, config.webhook_secret,
                               installation.bot_refresh_token) if s]
        add_secrets(secrets)
        update: dict[str, Any] = {
            "slack_bot_token": SecretStr(installation.bot_token or ""),
            "debitura_api_key": SecretStr(config.api_key or MULTI_WORKSPACE_STAND_INS["debitura_api_key"]),
            "debitura_webhook_secret": SecretStr(config.webhook_secret) if config.webhook_secret else None,
            "debitura_webhook_test_secret": None,  # the deployment's is no workspace's
            "caseroom_admin_users": admins,
            "caseroom_admin_group": None,
            "caseroom_relay_lifecycles": config.lifecycles or list(DEFAULT_RELAY_LIFECYCLES),
            "caseroom_redis_prefix": keys.prefix,
        }
        settings = self.settings.model_copy(update=update)
        runtime = assemble_runtime(settings, self.redis, keys, self.metrics, owns_redis=False,
                                   workspace_id=workspace)

        async def changed() -> None:
            await self.changed(workspace)

        runtime.workspace = WorkspaceHandle(workspace, self.workspace_store(workspace), config,
                                            installation.user_id, changed)
        return runtime

    async def config(self, workspace: str) -> WorkspaceConfig | None:
        tenant = await self.tenant(workspace)
        return tenant.config if tenant is not None else None

    async def installation(self, workspace: str) -> Installation | None:
        tenant = await self.tenant(workspace)
        return tenant.installation if tenant is not None else None

    # --- changes ------------------------------------------------------------------------------------
    async def _saved(self, workspace: str, installation: Installation) -> None:
        """An install (or Bolt's token rotation) saved an installation: the next use builds a runtime
        with its token (the old one is closed at shutdown: requests in flight may still use it)."""
        tenant = self._tenants.get(workspace)
        if tenant is not None and tenant.installation.bot_token != installation.bot_token:
            self._tenants.pop(workspace, None)
            self._retired.append(tenant.runtime)
        await self.changed(workspace)

    async def changed(self, workspace: str) -> None:
        """A workspace's installation or settings changed: rebuild its runtime at next use, tell others."""
        tenant = self._tenants.get(workspace)
        if tenant is not None:
            tenant.checked = 0.0
        for callback in list(self.on_change):
            try:
                await callback(workspace)
            except Exception:
                log.exception("a workspace change listener failed")

    async def uninstall(self, workspace: str) -> int:
        """app_uninstalled / tokens_revoked: forget the installation, the Debitura key and every key of
        the workspace (its Slack channels are left as they are). Returns the number of keys deleted."""
        if not WORKSPACE_ID.fullmatch(workspace):
            return 0
        await self.installations.delete(workspace)
        await self.changed(workspace)  # this process's relay for it stops before the data goes
        await self._drop(workspace)
        deleted = await forget_workspace(self.redis, self.workspace_keys(workspace))
        # Other replicas stop their relay for it within their next sync (RelayFleet, 5 s); whatever one
        # wrote meanwhile is removed by a second pass.
        task = asyncio.create_task(self._forget_again(workspace), name=f"forget-again-{workspace}")
        self._second_passes[task] = workspace
        task.add_done_callback(self._second_passes.pop)
        log.info("workspace %s removed: installation, Debitura settings and %d keys deleted",
                 workspace, deleted)
        return deleted

    async def _forget_again(self, workspace: str) -> None:
        await asyncio.sleep(FORGET_AGAIN_AFTER)
        await self._sweep_up(workspace)

    async def _sweep_up(self, workspace: str) -> None:
        try:
            if await self.installations.load(workspace) is None:
                await forget_workspace(self.redis, self.workspace_keys(workspace))
        except Exception as exc:  # the first pass did the work; this one is a sweep-up
            log.info("second cleanup of workspace %s failed: %s", workspace, type(exc).__name__)

    async def _drop(self, workspace: str) -> None:
        tenant = self._tenants.pop(workspace, None)
        if tenant is not None:
            await tenant.runtime.aclose()

    async def second_passes_now(self) -> None:
        """At shutdown: the second cleanups still waiting run now (early, rather than never). They are
        timers, not work in flight: the shutdown's drain of running tasks must not wait 15 s for them
        (it gave up after 10 s, and the second pass was lost)."""
        due = dict(self._second_passes)
        for task in due:
            task.cancel()
        for workspace in sorted(set(due.values())):
            await self._sweep_up(workspace)

    async def aclose(self) -> None:
        await self.second_passes_now()
        for workspace in list(self._tenants):
            await self._drop(workspace)
        for runtime in self._retired:
            await runtime.aclose()
        self._retired.clear()
        await self.base.aclose()


class WorkspaceRuntime(Runtime):
    """The runtime listeners hold in multi-workspace mode: every attribute is read from the runtime of
    the workspace whose verified request is being handled (`current_runtime`). Without one, only the
    deployment's `settings` and `metrics` answer; anything else raises NoWorkspace."""

    _SHARED = frozenset({"settings", "metrics"})

    def __init__(self, registry: TenantRegistry) -> None:  # no super().__init__: nothing of its own
        object.__setattr__(self, "_registry", registry)

    def __getattribute__(self, name: str) -> Any:
        if name in ("_registry", "__class__", "__dict__", "__repr__", "__eq__", "__hash__"):
            return object.__getattribute__(self, name)
        runtime = current_runtime.get()
        if runtime is None:
            if name in WorkspaceRuntime._SHARED:
                registry: TenantRegistry = object.__getattribute__(self, "_registry")
                return getattr(registry.base, name)
            raise NoWorkspace(f"runtime.{name} used outside a request of an installed workspace")
        return getattr(runtime, name)

    def __setattr__(self, name: str, value: Any) -> None:
        runtime = current_runtime.get()
        if runtime is None:
            raise NoWorkspace(f"runtime.{name} set outside a request of an installed workspace")
        setattr(runtime, name, value)

    def __repr__(self) -> str:
        runtime = current_runtime.get()
        return f"WorkspaceRuntime({runtime.workspace_id if runtime is not None else None})"

    __hash__ = object.__hash__

    def __eq__(self, other: object) -> bool:
        return self is other
