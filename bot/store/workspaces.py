"""A workspace's own Debitura settings (multi-workspace mode), set from App Home by its admins.

Kept in `Keys.for_workspace(id).workspace_config()` (a hash). The Debitura API key and the webhook
secret are encrypted with CASEROOM_SECRET_KEY (bot/store/secrets.py) and decrypted only into the
workspace's runtime: never shown again, never logged. `forget_workspace` removes every key of a
workspace (uninstall): they all start with its prefix, so one SCAN finds them on any node.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import redis.asyncio as aioredis

from bot.store.keys import Keys
from bot.store.secrets import SecretBox, Undecryptable

KEY_OK = "ok"
KEY_INVALID = "invalid"
"""Debitura refused the key (401): the workspace's relay pauses and its Home says so."""


@dataclass
class WorkspaceConfig:
    api_key: str | None = None
    webhook_secret: str | None = None
    admins: list[str] = field(default_factory=list)
    lifecycles: list[str] = field(default_factory=list)
    partner_name: str = ""
    configured_by: str = ""
    configured_at: float = 0.0
    key_status: str = ""
    key_problem: str = ""
    version: int = 0

    @property
    def configured(self) -> bool:
        return bool(self.api_key)

    @property
    def usable(self) -> bool:
        """A key Debitura has not refused: the relay may run."""
        return self.configured and self.key_status != KEY_INVALID


class WorkspaceStore:
    def __init__(self, redis: aioredis.Redis, keys: Keys, box: SecretBox) -> None:
        """`keys`: the workspace's own keys (`Keys.for_workspace`)."""
        self.redis = redis
        self.keys = keys
        self.box = box

    async def load(self) -> WorkspaceConfig:
        raw = await self.redis.hgetall(self.keys.workspace_config())
        data = {str(k): str(v) for k, v in (raw or {}).items()}
        config = WorkspaceConfig(
            admins=[a for a in data.get("admins", "").split(",") if a],
            lifecycles=[a for a in data.get("lifecycles", "").split(",") if a],
            partner_name=data.get("partner", ""),
            configured_by=data.get("by", ""),
            configured_at=float(data.get("at") or 0),
            key_status=data.get("status", ""),
            key_problem=data.get("problem", ""),
            version=int(data.get("v") or 0),
        )
        for name, attr in (("key", "api_key"), ("whsecret", "webhook_secret")):
            token = data.get(name)
            if not token:
                continue
            try:
                setattr(config, attr, self.box.decrypt(token))
            except Undecryptable:
                config.key_status = KEY_INVALID
                config.key_problem = ("the stored key cannot be decrypted with CASEROOM_SECRET_KEY; set it "
                                      "again")
                continue
            if self.box.needs_rotation(token):
                await self.redis.hset(self.keys.workspace_config(), name, self.box.rotate(token))
        return config

    async def save_debitura(self, *, api_key: str, webhook_secret: str | None, admins: list[str],
                            lifecycles: list[str], partner_name: str, user_id: str) -> None:
        mapping: dict[str | bytes, bytes | str | int | float] = {
            "key": self.box.encrypt(api_key),
            "admins": ",".join(admins),
            "lifecycles": ",".join(lifecycles),
            "partner": partner_name,
            "by": user_id,
            "at": str(time.time()),
            "status": KEY_OK,
            "problem": "",
        }
        if webhook_secret:
            mapping["whsecret"] = self.box.encrypt(webhook_secret)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.workspace_config(), mapping=mapping)  # type: ignore[arg-type]
            pipe.hincrby(self.keys.workspace_config(), "v", 1)
            await pipe.execute()

    async def save_access(self, *, admins: list[str], lifecycles: list[str], webhook_secret: str | None,
                          user_id: str) -> None:
        """Change admins, lifecycles (and the webhook secret when given) and keep the stored key."""
        mapping: dict[str | bytes, bytes | str | int | float] = {
            "admins": ",".join(admins), "lifecycles": ",".join(lifecycles), "by": user_id,
                   "at": str(time.time())}
        if webhook_secret:
            mapping["whsecret"] = self.box.encrypt(webhook_secret)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.workspace_config(), mapping=mapping)  # type: ignore[arg-type]
            pipe.hincrby(self.keys.workspace_config(), "v", 1)
            await pipe.execute()

    async def mark_key(self, status: str, problem: str = "") -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.workspace_config(), mapping={"status": status, "problem": problem})
            pipe.hincrby(self.keys.workspace_config(), "v", 1)
            await pipe.execute()

    async def version(self) -> int:
        value = await self.redis.hget(self.keys.workspace_config(), "v")
        return int(value or 0)


async def forget_workspace(redis: aioredis.Redis, keys: Keys) -> int:
    """Delete every key of one workspace (`keys` = its `Keys.for_workspace`). Returns how many."""
    deleted = 0
    batch: list[str] = []
    async for key in redis.scan_iter(match=keys.workspace_pattern(), count=500):
        batch.append(str(key))
        if len(batch) >= 200:
            deleted += int(await redis.delete(*batch))
            batch = []
    if batch:
        deleted += int(await redis.delete(*batch))
    return deleted


@dataclass
class WorkspaceHandle:
    """What a workspace's runtime knows of its own setup (multi-workspace mode; None otherwise)."""

    id: str
    store: WorkspaceStore
    config: WorkspaceConfig
    installer: str | None
    changed: Callable[[], Awaitable[None]]
    """Tell the deployment the settings changed (its runtime is rebuilt, its relay started or paused)."""
