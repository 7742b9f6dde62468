"""Slack's OAuth v2 over Redis: the installation store and the OAuth state store Bolt asks for
(slack-sdk ships file, SQL and cloud ones, none for Redis).

An installation is kept per workspace (a team, or an Enterprise Grid org for an org-wide install) at
`Keys.for_workspace(id).slack_installation()`, its JSON encrypted with CASEROOM_SECRET_KEY (the bot
token and the refresh token are secrets at rest). Bot token rotation: Bolt's authorize refreshes a
token about to expire and saves it here (`async_save_bot`, into the stored installation); `on_saved`
tells the tenancy registry so its clients use the new token at once. The set `Keys.workspaces()`
lists the installed workspaces.

OAuth state: `async_issue` stores a random state for OAUTH_STATE_TTL; `async_consume` takes it with
GETDEL, so a state works once, and a forged or expired one is refused.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from logging import Logger
from typing import Any

import redis.asyncio as aioredis
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.installation_store.models.bot import Bot
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore

from bot.store.keys import OAUTH_STATE_TTL, WORKSPACE_ID, Keys
from bot.store.secrets import SecretBox

log = logging.getLogger(__name__)


def workspace_id(
    enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None
) -> str | None:
    """The id a workspace's keys carry: the org for an org-wide install, else the team. None when
    neither is a Slack id."""
    candidate = enterprise_id if is_enterprise_install else (team_id or None)
    if candidate and WORKSPACE_ID.fullmatch(candidate):
        return candidate
    return None


def installation_to_json(installation: Installation) -> str:
    data: dict[str, Any] = {
        name: getattr(installation, name)
        for name in (
            "app_id", "enterprise_id", "enterprise_name", "enterprise_url", "team_id", "team_name",
            "bot_token", "bot_id", "bot_user_id", "bot_refresh_token", "bot_token_expires_at", "user_id",
            "user_token", "user_refresh_token", "user_token_expires_at", "is_enterprise_install",
            "token_type", "installed_at",
        )
    }
    data["bot_scopes"] = ",".join(installation.bot_scopes or [])
    data["user_scopes"] = ",".join(installation.user_scopes or [])
    return json.dumps(data)


def installation_from_json(text: str) -> Installation:
    data = json.loads(text)
    return Installation(**data)


Saved = Callable[[str, Installation], Awaitable[None]]


class RedisInstallationStore(AsyncInstallationStore):
    """Bolt's `AsyncInstallationStore` over Redis, one installation (the latest) per workspace."""

    def __init__(
        self, redis: aioredis.Redis, keys: Keys, box: SecretBox, *, on_saved: Saved | None = None
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.box = box
        self.on_saved = on_saved
        self._logger = log

    @property
    def logger(self) -> Logger:
        return self._logger

    async def async_save(self, installation: Installation) -> None:
        workspace = await self.write(installation)
        if self.on_saved is not None:
            await self.on_saved(workspace, installation)

    async def write(self, installation: Installation) -> str:
        """Store an installation (no `on_saved`); returns its workspace id."""
        workspace = workspace_id(installation.enterprise_id, installation.team_id,
                                 installation.is_enterprise_install)
        if workspace is None:
            raise ValueError("an installation without a team or enterprise id")
        await self.redis.set(self.keys.for_workspace(workspace).slack_installation(),
                             self.box.encrypt(installation_to_json(installation)))
        await self.redis.sadd(self.keys.workspaces(), workspace)
        return workspace

    async def async_save_bot(self, bot: Bot) -> None:
        """Bolt's bot-only authorize rotated a bot token: write the new token, refresh token and expiry
        into the stored installation (kept whole) and tell the registry, as `async_save` does."""
        workspace = workspace_id(bot.enterprise_id, bot.team_id, bot.is_enterprise_install)
        if workspace is None:
            raise ValueError("a bot without a team or enterprise id")
        installation = await self.load(workspace)
        if installation is None:  # uninstalled meanwhile: nothing to refresh
            return
        installation.bot_token = bot.bot_token
        installation.bot_refresh_token = bot.bot_refresh_token
        installation.bot_token_expires_at = bot.bot_token_expires_at
        installation.bot_scopes = bot.bot_scopes
        await self.async_save(installation)

    async def load(self, workspace: str) -> Installation | None:
        raw = await self.redis.get(self.keys.for_workspace(workspace).slack_installation())
        if raw is None:
            return None
        token = str(raw)
        installation = installation_from_json(self.box.decrypt(token))
        if self.box.needs_rotation(token):  # CASEROOM_SECRET_KEY rotated: re-encrypt with the newest key
            await self.redis.set(self.keys.for_workspace(workspace).slack_installation(),
                                 self.box.rotate(token))
        return installation

    async def async_find_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        workspace = workspace_id(enterprise_id, team_id, is_enterprise_install)
        if workspace is None:
            return None
        installation = await self.load(workspace)
        if installation is None:
            return None
        if user_id is not None and installation.user_id != user_id:
            # Only the bot is kept: a user token of another user is not ours to hand out.
            return Installation(**{**json.loads(installation_to_json(installation)),
                                   "user_id": user_id, "user_token": None, "user_refresh_token": None,
                                   "user_token_expires_at": None, "user_scopes": ""})
        return installation

    async def async_find_bot(
        self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        installation = await self.async_find_installation(
            enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=is_enterprise_install)
        if installation is None or installation.bot_token is None:
            return None
        return installation.to_bot()

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self.async_delete_installation(enterprise_id=enterprise_id, team_id=team_id)

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None,
    ) -> None:
        workspace = workspace_id(enterprise_id, team_id, False) or workspace_id(enterprise_id, team_id, True)
        if workspace is None or user_id is not None:
            return
        await self.delete(workspace)

    async def delete(self, workspace: str) -> None:
        await self.redis.delete(self.keys.for_workspace(workspace).slack_installation())
        await self.redis.srem(self.keys.workspaces(), workspace)

    async def installed(self) -> list[str]:
        return sorted(str(w) for w in await self.redis.smembers(self.keys.workspaces()))


class RedisOAuthStateStore(AsyncOAuthStateStore):
    """OAuth `state` values: issued for OAUTH_STATE_TTL, each consumed at most once (GETDEL)."""

    def __init__(self, redis: aioredis.Redis, keys: Keys, expiration_seconds: int = OAUTH_STATE_TTL) -> None:
        self.redis = redis
        self.keys = keys
        self.expiration_seconds = expiration_seconds
        self._logger = log

    @property
    def logger(self) -> Logger:
        return self._logger

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        state = secrets.token_urlsafe(24)
        await self.redis.set(self.keys.oauth_state(state), "1", ex=self.expiration_seconds)
        return state

    async def async_consume(self, state: str) -> bool:
        if not state or len(state) > 128:
            return False
        found = await self.redis.getdel(self.keys.oauth_state(state))
        if found is None:
            log.warning("OAuth redirect with an unknown, used or expired state refused")
            return False
        return True
