"""Who is asking: Slack users, their Debitura team member, and admin rights.

- `check_user()` refuses people from another organisation (Slack Connect: their team is not the
  bot's team, nor in the bot's Enterprise Grid org), guests (`is_restricted` /
  `is_ultra_restricted`), bots and deactivated accounts. Profiles come from `users.info` and are
  cached in Redis (`Keys.slack_user`, `USER_CACHE_TTL`).
- `team_member()` maps a Slack user to a Debitura team member by email (`GET /users`), cached in
  one Redis hash (`Keys.debitura_users`) refreshed at most once a minute on a miss, so a newly added
  team member is found without waiting for the cache to expire.
- `is_admin()` / `require_admin()`: CASEROOM_ADMIN_USERS ids, or members of CASEROOM_ADMIN_GROUP
  (`usergroups.users.list`, cached 5 minutes); when neither is set, everyone is an admin (and
  `caseroom check` warns about it).
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from blocks.text import esc
from bot.services.errors import Refused
from bot.store.keys import SLACK_TEAM_TTL, USER_CACHE_TTL, USERGROUP_CACHE_TTL

if TYPE_CHECKING:
    from bot.debitura.models import User
    from bot.runtime import Runtime

log = logging.getLogger(__name__)

REFRESHED_FIELD = "\x00refreshed"
"""Field of the Debitura users hash holding the unix time of the last refresh (not an email)."""
MIN_REFRESH_INTERVAL = 60.0


class SlackUser(BaseModel):
    """The parts of a `users.info` user that decide what someone may do."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    team_id: str = ""
    enterprise_id: str | None = None
    name: str = ""
    email: str | None = None
    is_bot: bool = False
    deleted: bool = False
    is_restricted: bool = False
    is_ultra_restricted: bool = False
    is_stranger: bool = False

    @property
    def is_guest(self) -> bool:
        return self.is_restricted or self.is_ultra_restricted

    @classmethod
    def from_api(cls, user: dict[str, Any]) -> SlackUser:
        profile = user.get("profile") or {}
        enterprise = user.get("enterprise_user") or {}
        return cls(
            id=str(user.get("id") or ""),
            team_id=str(user.get("team_id") or ""),
            enterprise_id=enterprise.get("enterprise_id") or None,
            name=str(profile.get("display_name") or profile.get("real_name") or user.get("real_name")
                     or user.get("name") or ""),
            email=(profile.get("email") or None),
            is_bot=bool(user.get("is_bot")),
            deleted=bool(user.get("deleted")),
            is_restricted=bool(user.get("is_restricted")),
            is_ultra_restricted=bool(user.get("is_ultra_restricted")),
            is_stranger=bool(user.get("is_stranger")),
        )


class BotTeam(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    team_id: str
    enterprise_id: str | None = None


async def slack_user(runtime: Runtime, user_id: str) -> SlackUser:
    """The Slack profile of `user_id`, from the Redis cache or `users.info`."""
    key = runtime.keys.slack_user(user_id)
    cached = await runtime.redis.get(key)
    if cached:
        try:
            return SlackUser.model_validate_json(cached)
        except ValueError:
            log.warning("ignoring a malformed cached Slack profile for %s", user_id)
    response = await runtime.slack.users_info(user=user_id)
    user = SlackUser.from_api(dict(response.get("user") or {}))
    await runtime.redis.set(key, user.model_dump_json(), ex=USER_CACHE_TTL)
    return user


async def bot_team(runtime: Runtime) -> BotTeam:
    """The bot's own team (auth.test), cached in Redis."""
    key = runtime.keys.slack_bot_team()
    cached = await runtime.redis.get(key)
    if cached:
        try:
            return BotTeam.model_validate_json(cached)
        except ValueError:
            log.warning("ignoring a malformed cached bot team")
    response = await runtime.slack.auth_test()
    team = BotTeam(team_id=str(response.get("team_id") or ""),
                   enterprise_id=response.get("enterprise_id") or None)
    await runtime.redis.set(key, team.model_dump_json(), ex=SLACK_TEAM_TTL)
    return team


def refusal(user: SlackUser, team: BotTeam) -> str | None:
    """Why `user` may not use Caseroom, or None. Pure (tested on its own)."""
    if user.deleted:
        return "Your Slack account is deactivated."
    if user.is_bot:
        return "Bots cannot use Caseroom."
    same_org = (
        user.team_id == team.team_id
        or (team.enterprise_id is not None and user.enterprise_id == team.enterprise_id)
    )
    if user.is_stranger or not same_org:
        return ("Caseroom is only for members of this workspace; people from other organisations "
                "(Slack Connect) cannot use it.")
    if user.is_guest:
        return "Guests cannot use Caseroom. Ask a workspace admin if you need access."
    return None


async def check_user(runtime: Runtime, user_id: str) -> SlackUser:
    """The user's profile, or Refused when they may not use Caseroom at all."""
    user = await slack_user(runtime, user_id)
    why = refusal(user, await bot_team(runtime))
    if why is not None:
        raise Refused(why)
    return user


# --- Debitura team members ------------------------------------------------------------------------

async def refresh_team_members(runtime: Runtime) -> dict[str, User]:
    """Reload `GET /users` into the Redis hash; returns email(lower) -> User."""
    users = await runtime.debitura.all_users()
    by_email: dict[str, User] = {}
    for user in users:
        email = (user.email or "").strip().lower()
        if email:
            by_email[email] = user
    key = runtime.keys.debitura_users()
    mapping: dict[Any, str] = {
        email: u.model_dump_json(by_alias=True) for email, u in by_email.items()
    }
    mapping[REFRESHED_FIELD] = str(time.time())
    async with runtime.redis.pipeline(transaction=True) as pipe:
        pipe.delete(key)
        pipe.hset(key, mapping=mapping)
        pipe.expire(key, USER_CACHE_TTL)
        await pipe.execute()
    return by_email


async def find_team_member(runtime: Runtime, email: str) -> User | None:
    """The Debitura team member with this email (case-insensitive), or None."""
    from bot.debitura.models import User

    wanted = email.strip().lower()
    if not wanted:
        return None
    key = runtime.keys.debitura_users()
    cached, refreshed = await runtime.redis.hmget(key, [wanted, REFRESHED_FIELD])
    if cached:
        try:
            return User.model_validate_json(cached)
        except ValueError:
            log.warning("ignoring a malformed cached Debitura user")
    try:
        last = float(refreshed) if refreshed else 0.0
    except ValueError:
        last = 0.0
    if refreshed and time.time() - last < MIN_REFRESH_INTERVAL:
        return None
    return (await refresh_team_members(runtime)).get(wanted)


async def team_member(runtime: Runtime, user_id: str) -> User:
    """The Debitura team member for a Slack user, or Refused saying why there is none."""
    user = await check_user(runtime, user_id)
    if not user.email:
        raise Refused("Caseroom cannot see your Slack email address, so it cannot tell who you are in "
                      "Debitura. Nothing was sent.")
    member = await find_team_member(runtime, user.email)
    if member is None:
        raise Refused(f"Your Slack email ({esc(user.email)}) does not match any member of your Debitura "
                      "team, so this cannot be sent in your name. Nothing was sent. Ask a Debitura admin to "
                      "add you, or use the same email in Slack.")
    return member


# --- admins ---------------------------------------------------------------------------------------

def admins_configured(runtime: Runtime) -> bool:
    return bool(runtime.settings.caseroom_admin_users or runtime.settings.caseroom_admin_group)


async def usergroup_members(runtime: Runtime, group_id: str) -> frozenset[str]:
    key = runtime.keys.slack_usergroup_members(group_id)
    cached = await runtime.redis.get(key)
    if cached:
        try:
            members = json.loads(cached)
            if isinstance(members, list):
                return frozenset(str(m) for m in members)
        except ValueError:
            log.warning("ignoring a malformed cached user group %s", group_id)
    response = await runtime.slack.usergroups_users_list(usergroup=group_id)
    users = [str(u) for u in (response.get("users") or [])]
    await runtime.redis.set(key, json.dumps(users), ex=USERGROUP_CACHE_TTL)
    return frozenset(users)


async def is_admin(runtime: Runtime, user_id: str) -> bool:
    settings = runtime.settings
    if not admins_configured(runtime):
        return True
    if user_id in settings.caseroom_admin_users:
        return True
    if settings.caseroom_admin_group:
        return user_id in await usergroup_members(runtime, settings.caseroom_admin_group)
    return False


async def require_admin(runtime: Runtime, user_id: str, what: str) -> None:
    """Raise Refused unless `user_id` is an admin. `what` completes "Only Caseroom admins can ..."."""
    if not await is_admin(runtime, user_id):
        raise Refused(f"Only Caseroom admins can {what}. Ask one of them, or ask to be added to the admin "
                      "group.")
