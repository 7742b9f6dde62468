"""What Slack last said about a channel's sharing (key `slack_channel_sharing`, kept
CHANNEL_SHARING_TTL seconds): "internal" or "external" (Slack Connect)."""

from __future__ import annotations

from typing import Protocol

import redis.asyncio as aioredis

from bot.store.keys import CHANNEL_SHARING_TTL, Keys
from bot.store.reads import get


class SharingCache(Protocol):
    async def known(self, channel_id: str) -> str | None: ...

    async def remember(self, channel_id: str, answer: str) -> None: ...

    async def forget(self, channel_id: str) -> None: ...


class SharingStore:
    def __init__(self, redis: aioredis.Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def known(self, channel_id: str) -> str | None:
        return await get(self.redis, self.keys.slack_channel_sharing(channel_id))

    async def remember(self, channel_id: str, answer: str) -> None:
        await self.redis.set(self.keys.slack_channel_sharing(channel_id), answer, ex=CHANNEL_SHARING_TTL)

    async def forget(self, channel_id: str) -> None:
        await self.redis.delete(self.keys.slack_channel_sharing(channel_id))


class MemorySharing:
    """An in-memory `SharingCache` for tests (no expiry)."""

    def __init__(self) -> None:
        self.answers: dict[str, str] = {}

    async def known(self, channel_id: str) -> str | None:
        return self.answers.get(channel_id)

    async def remember(self, channel_id: str, answer: str) -> None:
        self.answers[channel_id] = answer

    async def forget(self, channel_id: str) -> None:
        self.answers.pop(channel_id, None)
