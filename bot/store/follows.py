"""Who follows which case: the `followed` set (relay it whatever its lifecycle) and the `unfollowed`
set (never relay it). `/case follow` and `/case unfollow` write them; the relay reads them."""

from __future__ import annotations

import time
from typing import Protocol

import redis.asyncio as aioredis

from bot.store.cases import CaseStates, CaseStateStore, MemoryCaseStates, Want
from bot.store.keys import Keys


class Follows(Protocol):
    async def follow(self, case_id: str) -> None: ...

    async def unfollow(self, case_id: str) -> bool: ...

    async def is_followed(self, case_id: str) -> bool: ...


class FollowStore:
    def __init__(self, redis: aioredis.Redis, keys: Keys, cases: CaseStates | None = None) -> None:
        self.redis = redis
        self.keys = keys
        self.cases = cases if cases is not None else CaseStateStore(redis, keys)

    async def follow(self, case_id: str) -> None:
        """Relay the case whatever its lifecycle, starting now: out of `unfollowed`, into `followed`,
        first sight noted, and a fetch asked for."""
        now = time.time()
        await self.redis.srem(self.keys.unfollowed(), case_id)
        await self.redis.sadd(self.keys.followed(), case_id)
        await self.cases.first_seen(case_id, now)
        await self.cases.request_fetch(case_id, int(Want.CASE | Want.POLL), now)

    async def unfollow(self, case_id: str) -> bool:
        """Stop relaying the case (into `unfollowed`, out of `followed`); True if it was followed or
        not yet unfollowed."""
        was_followed = bool(await self.redis.sismember(self.keys.followed(), case_id))
        added = await self.redis.sadd(self.keys.unfollowed(), case_id)
        await self.redis.srem(self.keys.followed(), case_id)
        return was_followed or bool(added)

    async def is_followed(self, case_id: str) -> bool:
        return bool(await self.redis.sismember(self.keys.followed(), case_id))

    async def followed_count(self) -> int:
        return int(await self.redis.scard(self.keys.followed()))


class MemoryFollows:
    """An in-memory `Follows` for service tests."""

    def __init__(self, cases: MemoryCaseStates | None = None) -> None:
        self.cases = cases if cases is not None else MemoryCaseStates()
        self.followed: set[str] = set()
        self.unfollowed: set[str] = set()

    async def follow(self, case_id: str) -> None:
        now = time.time()
        self.unfollowed.discard(case_id)
        self.followed.add(case_id)
        await self.cases.first_seen(case_id, now)
        await self.cases.request_fetch(case_id, int(Want.CASE | Want.POLL), now)

    async def unfollow(self, case_id: str) -> bool:
        was_followed = case_id in self.followed
        added = case_id not in self.unfollowed
        self.unfollowed.add(case_id)
        self.followed.discard(case_id)
        return was_followed or added

    async def is_followed(self, case_id: str) -> bool:
        return case_id in self.followed
