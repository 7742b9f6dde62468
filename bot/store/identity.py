"""The identity caches (raw JSON; bot.services.identity parses them):

* `slack_user` per Slack user (a profile, USER_CACHE_TTL), `slack_bot_team` (auth.test, SLACK_TEAM_TTL);
* `debitura_users`: one hash, email (lower case) -> Debitura user JSON, and REFRESHED_FIELD -> when
  the list was read (USER_CACHE_TTL);
* `slack_usergroup_members` per user group (a JSON list of user ids, USERGROUP_CACHE_TTL).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, cast

import redis.asyncio as aioredis

from bot.store.keys import SLACK_TEAM_TTL, TEAM_LOAD_TTL, USER_CACHE_TTL, USERGROUP_CACHE_TTL, Keys
from bot.store.reads import get

REFRESHED_FIELD = "\x00refreshed"
"""Field of the team hash: when the team list was read (unix seconds); no email can equal it."""


class IdentityCache(Protocol):
    async def slack_user(self, user_id: str) -> str | None: ...

    async def save_slack_user(self, user_id: str, profile: str) -> None: ...

    async def forget_slack_user(self, user_id: str) -> None: ...

    async def bot_team(self) -> str | None: ...

    async def save_bot_team(self, team: str) -> None: ...

    async def team_member(self, email: str) -> tuple[str | None, str | None]: ...

    async def replace_team(self, by_email: Mapping[str, str], refreshed: float) -> None: ...

    async def usergroup(self, group_id: str) -> str | None: ...

    async def save_usergroup(self, group_id: str, members: str) -> None: ...

    async def claim_team_load(self) -> bool: ...


class IdentityStore:
    def __init__(self, redis: aioredis.Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def slack_user(self, user_id: str) -> str | None:
        return await get(self.redis, self.keys.slack_user(user_id))

    async def save_slack_user(self, user_id: str, profile: str) -> None:
        await self.redis.set(self.keys.slack_user(user_id), profile, ex=USER_CACHE_TTL)

    async def forget_slack_user(self, user_id: str) -> None:
        await self.redis.delete(self.keys.slack_user(user_id))

    async def bot_team(self) -> str | None:
        return await get(self.redis, self.keys.slack_bot_team())

    async def save_bot_team(self, team: str) -> None:
        await self.redis.set(self.keys.slack_bot_team(), team, ex=SLACK_TEAM_TTL)

    async def team_member(self, email: str) -> tuple[str | None, str | None]:
        """(the member's JSON or None, when the list was read or None), in one round trip."""
        cached, refreshed = await self.redis.hmget(self.keys.debitura_users(), [email, REFRESHED_FIELD])
        return cast("str | None", cached), cast("str | None", refreshed)

    async def replace_team(self, by_email: Mapping[str, str], refreshed: float) -> None:
        """The whole team list at once (members gone from Debitura disappear)."""
        key = self.keys.debitura_users()
        mapping: dict[Any, str] = dict(by_email)
        mapping[REFRESHED_FIELD] = str(refreshed)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.hset(key, mapping=mapping)
            pipe.expire(key, USER_CACHE_TTL)
            await pipe.execute()

    async def usergroup(self, group_id: str) -> str | None:
        return await get(self.redis, self.keys.slack_usergroup_members(group_id))

    async def save_usergroup(self, group_id: str, members: str) -> None:
        await self.redis.set(self.keys.slack_usergroup_members(group_id), members, ex=USERGROUP_CACHE_TTL)

    async def claim_team_load(self) -> bool:
        """One process at a time loads the team list for App Home (SET NX, TEAM_LOAD_TTL)."""
        return bool(await self.redis.set(self.keys.debitura_users_loading(), "1", nx=True, ex=TEAM_LOAD_TTL))


class MemoryIdentity:
    """An in-memory `IdentityCache` for tests (no expiry)."""

    def __init__(self) -> None:
        self.users: dict[str, str] = {}
        self.team: str | None = None
        self.members: dict[str, str] = {}
        self.refreshed: str | None = None
        self.groups: dict[str, str] = {}
        self.loading = False

    async def slack_user(self, user_id: str) -> str | None:
        return self.users.get(user_id)

    async def save_slack_user(self, user_id: str, profile: str) -> None:
        self.users[user_id] = profile

    async def forget_slack_user(self, user_id: str) -> None:
        self.users.pop(user_id, None)

    async def bot_team(self) -> str | None:
        return self.team

    async def save_bot_team(self, team: str) -> None:
        self.team = team

    async def team_member(self, email: str) -> tuple[str | None, str | None]:
        return self.members.get(email), self.refreshed

    async def replace_team(self, by_email: Mapping[str, str], refreshed: float) -> None:
        self.members = dict(by_email)
        self.refreshed = str(refreshed)

    async def usergroup(self, group_id: str) -> str | None:
        return self.groups.get(group_id)

    async def save_usergroup(self, group_id: str, members: str) -> None:
        self.groups[group_id] = members

    async def claim_team_load(self) -> bool:
        if self.loading:
            return False
        self.loading = True
        return True
