"""auth.test, auth.revoke, users.info, users.lookupByEmail, usergroups.users.list, apps.connections.open."""

from __future__ import annotations

from typing import Any

from tests.fakes.slack.api import Context, method
from tests.fakes.slack.errors import SlackError


@method("auth.test")
async def auth_test(ctx: Context) -> dict[str, Any]:
    ws = ctx.ws
    return {
        "url": f"https://{ws.TEAM_DOMAIN}.slack.com/",
        "team": "Caseroom Fake",
        "user": "caseroom",
        "team_id": ws.TEAM_ID,
        "user_id": ws.BOT_USER_ID,
        "bot_id": ws.BOT_ID,
        "is_enterprise_install": False,
        **({"enterprise_id": ws.ENTERPRISE_ID} if ws.ENTERPRISE_ID else {}),
    }


@method("auth.revoke")
async def auth_revoke(ctx: Context) -> dict[str, Any]:
    """Revokes the presented token (`test=true`: only says it would not); the app stays installed
    for the workspace's other tokens, as with Slack."""
    if ctx.args.string("test") in ("1", "true"):
        return {"revoked": False}
    ctx.fake.oauth.tokens[ctx.token].revoked = True
    return {"revoked": True}


@method("users.info")
async def users_info(ctx: Context) -> dict[str, Any]:
    user = ctx.ws.user(ctx.args.string("user"))
    return {"user": user.to_api(ctx.ws.TEAM_ID)}


@method("users.lookupByEmail")
async def lookup_by_email(ctx: Context) -> dict[str, Any]:
    email = (ctx.args.string("email") or "").strip().lower()
    for user in ctx.ws.users.values():
        if user.email and user.email.lower() == email and not user.deleted and user.team_id == ctx.ws.TEAM_ID:
            return {"user": user.to_api(ctx.ws.TEAM_ID)}
    raise SlackError("users_not_found")


@method("usergroups.users.list")
async def usergroup_users(ctx: Context) -> dict[str, Any]:
    group = ctx.ws.groups.get(ctx.args.string("usergroup") or "")
    if group is None:
        raise SlackError("no_such_subteam")
    return {"users": list(group.users)}


@method("apps.connections.open", token="app")
async def connections_open(ctx: Context) -> dict[str, Any]:
    return {"url": ctx.fake.socket.issue_url()}
