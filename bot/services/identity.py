"""Who is asking: Slack users, their Debitura team member, and admin rights.

- `check_user()` refuses people from another organisation (Slack Connect: their team is not the
  bot's team, nor in the bot's Enterprise Grid org), guests (`is_restricted` /
  `is_ultra_restricted`), bots and deactivated accounts. Profiles come from `users.info` and are
  cached (`runtime.stores.identity`, bot/store/identity.py) for reads; a write
  (`check_user(..., write=True)`, and `team_member()`) re-reads the profile when the cached one is
  older than `WRITE_MAX_AGE`, and a `user_change` event drops it (`forget_user`), so a member turned
  guest, moved to another organisation or deactivated is refused at their next write.
- `team_member()` maps a Slack user to a Debitura team member by email (`GET /users`), cached in
  one hash of the identity store refreshed at most once a minute on a miss, so a newly added
  team member is found without waiting for the cache to expire, and re-read when older than
  `WRITE_MAX_AGE` (a write by someone removed from the team is refused within that time).
- `is_admin()` / `require_admin()`: CASEROOM_ADMIN_USERS ids, or members of CASEROOM_ADMIN_GROUP
  (`usergroups.users.list`, cached 5 minutes). Closed by default: when neither is set nobody is an
  admin (the refusal names the settings, and `caseroom check` fails); `CASEROOM_ADMIN_USERS=*`
  makes everyone an admin.
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from blocks.text import esc
from bot.config import ADMIN_EVERYONE
from bot.services.errors import Refused

if TYPE_CHECKING:
    from bot.debitura.models import User
    from bot.runtime import Runtime

log = logging.getLogger(__name__)

MIN_REFRESH_INTERVAL = 60.0
WRITE_MAX_AGE = 5 * 60.0
"""Seconds: before a write, a cached Slack profile or Debitura team list older than this is re-read
(users.info is Tier 4; GET /users then costs at most one listing per 5 minutes for all processes)."""


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
    fetched: float = 0.0
    """Unix time of the users.info answer this came from (0: unknown, treated as old)."""

    @property
    def is_guest(self) -> bool:
        return self.is_restricted or self.is_ultra_restricted

    @classmethod
    def from_api(cls, user: dict[str, Any], *, fetched: float = 0.0) -> SlackUser:
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
            fetched=fetched,
        )


class BotTeam(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    team_id: str
    enterprise_id: str | None = None


async def slack_user(runtime: Runtime, user_id: str, *, max_age: float | None = None) -> SlackUser:
    """The Slack profile of `user_id`, from the Redis cache or `users.info`.

    `max_age` (seconds): a cached profile read longer ago than this is read again.
    """
    cache = runtime.stores.identity
    cached = await cache.slack_user(user_id)
    if cached:
        try:
            found = SlackUser.model_validate_json(cached)
        except ValueError:
            log.warning("ignoring a malformed cached Slack profile for %s", user_id)
        else:
            if max_age is None or time.time() - found.fetched <= max_age:
                return found
    response = await runtime.slack.users_info(user=user_id)
    user = SlackUser.from_api(dict(response.get("user") or {}), fetched=time.time())
    await cache.save_slack_user(user_id, user.model_dump_json())
    return user


async def forget_user(runtime: Runtime, user_id: str, email: str = "") -> None:
    """Drop the cached profile (Slack said it changed): the next check reads users.info again. The
    direct messages' cache of the person (their Slack account by Debitura email, kept an hour) goes too,
    so a person turned guest or deactivated gets no DM from the next event on."""
    await runtime.stores.identity.forget_slack_user(user_id)
    await runtime.stores.attention.forget_person(user_id, email)


async def bot_team(runtime: Runtime) -> BotTeam:
    """The bot's own team (auth.test), cached in Redis."""
    cached = await runtime.stores.identity.bot_team()
    if cached:
        try:
            return BotTeam.model_validate_json(cached)
        except ValueError:
            log.warning("ignoring a malformed cached bot team")
    response = await runtime.slack.auth_test()
    team = BotTeam(team_id=str(response.get("team_id") or ""),
                   enterprise_id=response.get("enterprise_id") or None)
    await runtime.stores.identity.save_bot_team(team.model_dump_json())
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


async def check_user(runtime: Runtime, user_id: str, *, write: bool = False) -> SlackUser:
    """The user's profile, or Refused when they may not use Caseroom at all.

    `write=True` before anything done in the user's name (a Debitura write, a card shared into a
    channel): the profile is re-read when the cached one is older than WRITE_MAX_AGE.
    """
    user = await slack_user(runtime, user_id, max_age=WRITE_MAX_AGE if write else None)
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
    await runtime.stores.identity.replace_team(
        {email: u.model_dump_json(by_alias=True) for email, u in by_email.items()}, time.time())
    return by_email


async def find_team_member(runtime: Runtime, email: str, *, max_age: float | None = None) -> User | None:
    """The Debitura team member with this email (case-insensitive), or None.

    `max_age` (seconds): a match from a team list older than this is checked against a fresh list.
    """
    from bot.debitura.models import User

    wanted = email.strip().lower()
    if not wanted:
        return None
    cached, refreshed = await runtime.stores.identity.team_member(wanted)
    try:
        age = time.time() - float(refreshed) if refreshed else None
    except ValueError:
        age = None
    if cached and (max_age is None or (age is not None and age <= max_age)):
        try:
            return User.model_validate_json(cached)
        except ValueError:
            log.warning("ignoring a malformed cached Debitura user")
    if not cached and age is not None and age < MIN_REFRESH_INTERVAL:
        return None
    return (await refresh_team_members(runtime)).get(wanted)


async def team_member(runtime: Runtime, user_id: str) -> User:
    """The Debitura team member for a Slack user, or Refused saying why there is none.

    For writes (chats and activations are sent as this member): the Slack profile and the team list
    are re-read when older than WRITE_MAX_AGE.
    """
    user = await check_user(runtime, user_id, write=True)
    if not user.email:
        raise Refused("Caseroom cannot see your Slack email address, so it cannot tell who you are in "
                      "Debitura. Nothing was sent.")
    member = await find_team_member(runtime, user.email, max_age=WRITE_MAX_AGE)
    if member is None:
        raise Refused(f"Your Slack email ({esc(user.email)}) does not match any member of your Debitura "
                      "team, so this cannot be sent in your name. Nothing was sent. Ask a Debitura admin to "
                      "add you, or use the same email in Slack.")
    return member


# --- admins ---------------------------------------------------------------------------------------

def admins_configured(runtime: Runtime) -> bool:
    """True when CASEROOM_ADMIN_USERS (ids or `*`) or CASEROOM_ADMIN_GROUP is set."""
    return bool(runtime.settings.caseroom_admin_users or runtime.settings.caseroom_admin_group)


def admins_open(runtime: Runtime) -> bool:
    """CASEROOM_ADMIN_USERS=* : everyone who may use Caseroom is an admin."""
    return ADMIN_EVERYONE in runtime.settings.caseroom_admin_users


async def usergroup_members(runtime: Runtime, group_id: str) -> frozenset[str]:
    cached = await runtime.stores.identity.usergroup(group_id)
    if cached:
        try:
            members = json.loads(cached)
            if isinstance(members, list):
                return frozenset(str(m) for m in members)
        except ValueError:
            log.warning("ignoring a malformed cached user group %s", group_id)
    response = await runtime.slack.usergroups_users_list(usergroup=group_id)
    users = [str(u) for u in (response.get("users") or [])]
    await runtime.stores.identity.save_usergroup(group_id, json.dumps(users))
    return frozenset(users)


async def is_admin(runtime: Runtime, user_id: str) -> bool:
    """Closed by default: False for everyone when no admin setting is set."""
    settings = runtime.settings
    if admins_open(runtime) or user_id in settings.caseroom_admin_users:
        return True
    if settings.caseroom_admin_group:
        return user_id in await usergroup_members(runtime, settings.caseroom_admin_group)
    return False


async def require_admin(runtime: Runtime, user_id: str, what: str) -> None:
    """Raise Refused unless `user_id` is an admin. `what` completes "Only Caseroom admins can ..."."""
    if not admins_configured(runtime):
        raise Refused(f"Only Caseroom admins can {what}, and none are set: ask your IT admin to set "
                      "CASEROOM_ADMIN_USERS or CASEROOM_ADMIN_GROUP. Nothing was changed.")
    if not await is_admin(runtime, user_id):
        raise Refused(f"Only Caseroom admins can {what}. Ask one of them, or ask to be added to the admin "
                      "group.")
