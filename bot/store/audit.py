"""The audit stream (key `audit_stream`, capped at about AUDIT_STREAM_MAXLEN entries): one entry per
write made from Slack, newest last."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import redis.asyncio as aioredis

from bot.store.keys import AUDIT_STREAM_MAXLEN, Keys


class AuditLog(Protocol):
    async def append(self, entry: Mapping[str, str]) -> str: ...

    async def recent(self, count: int = 50) -> list[dict[str, str]]: ...


class AuditStore:
    def __init__(self, redis: aioredis.Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def append(self, entry: Mapping[str, str]) -> str:
        """Append one entry; returns its stream id."""
        return str(await self.redis.xadd(self.keys.audit_stream(), dict(entry),  # type: ignore[arg-type]
                                         maxlen=AUDIT_STREAM_MAXLEN, approximate=True))

    async def recent(self, count: int = 50) -> list[dict[str, str]]:
        """The newest entries, newest first, each with its stream `id`."""
        rows = await self.redis.xrevrange(self.keys.audit_stream(), count=count) or []
        return [
            {"id": str(entry_id), **{str(k): str(v) for k, v in (fields or {}).items()}}
            for entry_id, fields in rows
        ]


class MemoryAudit:
    """An in-memory `AuditLog` for service tests."""

    def __init__(self) -> None:
        self.entries: list[dict[str, str]] = []

    async def append(self, entry: Mapping[str, str]) -> str:
        entry_id = f"{len(self.entries) + 1}-0"
        self.entries.append({"id": entry_id, **entry})
        return entry_id

    async def recent(self, count: int = 50) -> list[dict[str, str]]:
        return [dict(e) for e in reversed(self.entries[-count:])] if count > 0 else []
