"""Write outcomes: one key per Idempotency-Key of a submitted form, holding either a pending claim
(`pending:<process>:<uuid>`, short TTL) or the successful result's JSON (long TTL). `run_once` in
bot/services/writes.py decides what to do with them; this store only owns the key."""

from __future__ import annotations

from typing import Protocol

import redis.asyncio as aioredis

from bot.store.keys import Keys

_RELEASE_IF_OURS = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class WriteOutcomes(Protocol):
    async def claim(self, key: str, token: str, ttl: int) -> bool:
        """Take the key for a write about to run (only when nobody holds it)."""
        ...

    async def current(self, key: str) -> str | None:
        """What the key holds: a claim token, a stored result, or None."""
        ...

    async def record(self, key: str, result_json: str, ttl: int) -> None:
        """Store a successful result (replaces the claim)."""
        ...

    async def release(self, key: str, token: str) -> None:
        """Give the key up, only if it still holds our claim."""
        ...

    async def forget(self, key: str) -> None:
        """Drop whatever the key holds (a malformed stored result)."""
        ...


class WriteOutcomeStore:
    def __init__(self, redis: aioredis.Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def claim(self, key: str, token: str, ttl: int) -> bool:
        return bool(await self.redis.set(self.keys.write_outcome(key), token, nx=True, ex=ttl))

    async def current(self, key: str) -> str | None:
        raw = await self.redis.get(self.keys.write_outcome(key))
        return raw.decode() if isinstance(raw, bytes) else raw

    async def record(self, key: str, result_json: str, ttl: int) -> None:
        await self.redis.set(self.keys.write_outcome(key), result_json, ex=ttl)

    async def release(self, key: str, token: str) -> None:
        await self.redis.eval(_RELEASE_IF_OURS, 1, self.keys.write_outcome(key), token)

    async def forget(self, key: str) -> None:
        await self.redis.delete(self.keys.write_outcome(key))


class MemoryWriteOutcomes:
    """An in-memory `WriteOutcomes` for service tests (TTLs are not kept)."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    async def claim(self, key: str, token: str, ttl: int) -> bool:
        if key in self.values:
            return False
        self.values[key] = token
        return True

    async def current(self, key: str) -> str | None:
        return self.values.get(key)

    async def record(self, key: str, result_json: str, ttl: int) -> None:
        self.values[key] = result_json

    async def release(self, key: str, token: str) -> None:
        if self.values.get(key) == token:
            del self.values[key]

    async def forget(self, key: str) -> None:
        self.values.pop(key, None)
