"""Which Slack channel belongs to which case: keys `case_channel` (a hash per case: `id`, `name`,
`base` the name it was created under, `archived` "1"/"0", `assignee` the invited assignee's email,
`topic` the last topic set, `pin` the ts of the pinned case summary and `summary` the digest of what
it shows), `channel_case` (channel id -> case id) and `channel_by_name`
(base name -> channel id). The channel id is what is kept (names change on archive)."""

from __future__ import annotations

from typing import Protocol

import redis.asyncio as aioredis

from bot.store.keys import Keys
from bot.store.reads import get, hget, hgetall


class Channels(Protocol):
    async def record(self, case_id: str) -> dict[str, str]: ...

    async def case_for_channel(self, channel_id: str) -> str | None: ...

    async def channel_named(self, base: str) -> str | None: ...

    async def save(self, case_id: str, channel_id: str, *, name: str, base: str, archived: bool) -> None: ...

    async def forget(self, case_id: str, channel_id: str) -> None: ...

    async def field(self, case_id: str, name: str) -> str | None: ...

    async def update(self, case_id: str, **fields: str) -> None: ...


class ChannelStore:
    def __init__(self, redis: aioredis.Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def record(self, case_id: str) -> dict[str, str]:
        """The case's channel hash ({} when it has none)."""
        return await hgetall(self.redis, self.keys.case_channel(case_id))

    async def case_for_channel(self, channel_id: str) -> str | None:
        return await get(self.redis, self.keys.channel_case(channel_id))

    async def channel_named(self, base: str) -> str | None:
        """The channel Caseroom created under the name `base`, if any."""
        return await get(self.redis, self.keys.channel_by_name(base))

    async def save(self, case_id: str, channel_id: str, *, name: str, base: str, archived: bool) -> None:
        """Record the case's channel, both ways, and the name it was created under (one transaction)."""
        keys = self.keys
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.case_channel(case_id), mapping={"id": channel_id, "name": name, "base": base,
                                                           "archived": "1" if archived else "0"})
            pipe.set(keys.channel_case(channel_id), case_id)
            pipe.set(keys.channel_by_name(base), channel_id)
            await pipe.execute()

    async def forget(self, case_id: str, channel_id: str) -> None:
        """The channel is gone: drop the mapping both ways (the name record stays)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.keys.case_channel(case_id))
            pipe.delete(self.keys.channel_case(channel_id))
            await pipe.execute()

    async def field(self, case_id: str, name: str) -> str | None:
        """One field of the case's channel hash (`assignee`, `topic`...)."""
        return await hget(self.redis, self.keys.case_channel(case_id), name)

    async def update(self, case_id: str, **fields: str) -> None:
        """Set fields of the case's channel hash (`archived="1"`, `name=...`, `topic=...`, `assignee=...`)."""
        await self.redis.hset(self.keys.case_channel(case_id), mapping=fields)  # type: ignore[arg-type]


class MemoryChannels:
    """An in-memory `Channels` for tests of the gateway and the services."""

    def __init__(self) -> None:
        self.by_case: dict[str, dict[str, str]] = {}
        self.by_channel: dict[str, str] = {}
        self.by_name: dict[str, str] = {}

    async def record(self, case_id: str) -> dict[str, str]:
        return dict(self.by_case.get(case_id, {}))

    async def case_for_channel(self, channel_id: str) -> str | None:
        return self.by_channel.get(channel_id)

    async def channel_named(self, base: str) -> str | None:
        return self.by_name.get(base)

    async def save(self, case_id: str, channel_id: str, *, name: str, base: str, archived: bool) -> None:
        self.by_case.setdefault(case_id, {}).update(
            {"id": channel_id, "name": name, "base": base, "archived": "1" if archived else "0"})
        self.by_channel[channel_id] = case_id
        self.by_name[base] = channel_id

    async def forget(self, case_id: str, channel_id: str) -> None:
        self.by_case.pop(case_id, None)
        self.by_channel.pop(channel_id, None)

    async def field(self, case_id: str, name: str) -> str | None:
        return self.by_case.get(case_id, {}).get(name)

    async def update(self, case_id: str, **fields: str) -> None:
        self.by_case.setdefault(case_id, {}).update(fields)
