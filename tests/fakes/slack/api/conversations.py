"""conversations.create/info/invite/setTopic/archive/unarchive/rename/history/members/join."""

from __future__ import annotations

import base64
from typing import Any

from tests.fakes.slack.api import Context, method
from tests.fakes.slack.errors import SlackError
from tests.fakes.slack.workspace import TOPIC_MAX, Channel, Workspace, channel_name_error

MAX_INVITES = 100
"""Users per conversations.invite call (the current method reference; older docs said 1000)."""
HISTORY_MAX_LIMIT = 999


def _member_channel(ws: Workspace, channel_id: str | None, *, allow_archived: bool = False) -> Channel:
    channel = ws.channel(channel_id)
    if channel.is_archived and not allow_archived:
        raise SlackError("is_archived")
    if ws.BOT_USER_ID not in channel.members:
        raise SlackError("not_in_channel")
    return channel


def _check_name(ws: Workspace, name: Any, *, exclude: str | None = None) -> str:
    error = channel_name_error(name)
    if error:
        raise SlackError(error)
    existing = ws.channel_by_name(name)
    if existing is not None and existing.id != exclude:
        raise SlackError("name_taken")  # archived channels keep their names
    return str(name)


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        kind, _, value = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        if kind != "offset":
            raise ValueError(kind)
        return int(value)
    except ValueError:
        raise SlackError("invalid_cursor") from None


@method("conversations.create")
async def create(ctx: Context) -> dict[str, Any]:
    name = _check_name(ctx.ws, ctx.args.string("name"))
    channel = ctx.ws.add_channel(name, is_private=ctx.args.flag("is_private"), creator=ctx.ws.BOT_USER_ID)
    return {"channel": channel.to_api()}


@method("conversations.info")
async def info(ctx: Context) -> dict[str, Any]:
    channel = ctx.ws.channel(ctx.args.string("channel"))
    return {"channel": channel.to_api(include_num_members=ctx.args.flag("include_num_members"))}


@method("conversations.invite")
async def invite(ctx: Context) -> dict[str, Any]:
    channel = _member_channel(ctx.ws, ctx.args.string("channel"))
    users = ctx.args.items("users")
    if not users:
        raise SlackError("no_user")
    if len(users) > MAX_INVITES:
        raise SlackError("too_many_users")
    errors: list[dict[str, Any]] = []
    valid: list[str] = []
    for user_id in users:
        error = _invite_error(ctx.ws, channel, user_id)
        if error:
            errors.append({"user": user_id, "ok": False, "error": error})
        else:
            valid.append(user_id)
    if errors and not ctx.args.flag("force"):
        raise SlackError(errors[0]["error"], extra={"errors": errors})
    channel.members.update(valid)
    body: dict[str, Any] = {"channel": channel.to_api()}
    if errors:
        body["errors"] = errors
    return body


def _invite_error(ws: Workspace, channel: Channel, user_id: str) -> str | None:
    user = ws.users.get(user_id)
    if user is None or user.deleted:
        return "user_not_found"
    if user_id == ws.BOT_USER_ID:
        return "cant_invite_self"
    if user_id in channel.members:
        return "already_in_channel"
    if user.is_ultra_restricted and any(user_id in c.members for c in ws.channels.values() if not c.is_im):
        return "ura_max_channels"
    return None


@method("conversations.setTopic")
async def set_topic(ctx: Context) -> dict[str, Any]:
    channel = _member_channel(ctx.ws, ctx.args.string("channel"))
    topic = ctx.args.string("topic") or ""
    if len(topic) > TOPIC_MAX:
        raise SlackError("too_long")
    channel.topic = topic
    return {"channel": channel.to_api()}


@method("conversations.archive")
async def archive(ctx: Context) -> dict[str, Any]:
    channel = ctx.ws.channel(ctx.args.string("channel"))
    if channel.is_archived:
        raise SlackError("already_archived")
    if channel.is_general:
        raise SlackError("cant_archive_general")
    if ctx.ws.BOT_USER_ID not in channel.members:
        raise SlackError("not_in_channel")
    channel.is_archived = True
    return {}


@method("conversations.unarchive")
async def unarchive(ctx: Context) -> dict[str, Any]:
    channel = ctx.ws.channel(ctx.args.string("channel"))
    if not channel.is_archived:
        raise SlackError("not_archived")
    channel.is_archived = False
    return {}


@method("conversations.rename")
async def rename(ctx: Context) -> dict[str, Any]:
    channel = _member_channel(ctx.ws, ctx.args.string("channel"))
    channel.name = _check_name(ctx.ws, ctx.args.string("name"), exclude=channel.id)
    return {"channel": channel.to_api()}


def _ts(raw: str | None, default: float, error: str) -> float:
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError:
        raise SlackError(error) from None


@method("conversations.history")
async def history(ctx: Context) -> dict[str, Any]:
    channel = _member_channel(ctx.ws, ctx.args.string("channel"), allow_archived=True)
    limit = max(1, min(ctx.args.integer("limit", 100), HISTORY_MAX_LIMIT))
    oldest = _ts(ctx.args.string("oldest"), 0.0, "invalid_ts_oldest")
    latest = _ts(ctx.args.string("latest"), float("inf"), "invalid_ts_latest")
    inclusive = ctx.args.flag("inclusive")
    include_metadata = ctx.args.flag("include_all_metadata")

    def in_range(ts: float) -> bool:
        if inclusive:
            return oldest <= ts <= latest
        return oldest < ts < latest

    top_level = [
        m for m in channel.messages if (m.thread_ts is None or m.thread_ts == m.ts) and in_range(float(m.ts))
    ]
    newest_first = sorted(top_level, key=lambda m: float(m.ts), reverse=True)
    start = _offset(ctx.args.string("cursor"))
    page = newest_first[start : start + limit]
    has_more = start + limit < len(newest_first)
    return {
        "messages": [m.to_api(include_metadata=include_metadata) for m in page],
        "has_more": has_more,
        "pin_count": 0,
        "response_metadata": {"next_cursor": _cursor(start + limit) if has_more else ""},
    }


@method("conversations.members")
async def members(ctx: Context) -> dict[str, Any]:
    channel = ctx.ws.channel(ctx.args.string("channel"))
    limit = max(1, min(ctx.args.integer("limit", 100), 1000))
    ids = sorted(channel.members)
    start = _offset(ctx.args.string("cursor"))
    has_more = start + limit < len(ids)
    return {
        "members": ids[start : start + limit],
        "response_metadata": {"next_cursor": _cursor(start + limit) if has_more else ""},
    }


@method("conversations.join")
async def join(ctx: Context) -> dict[str, Any]:
    channel = ctx.ws.channel(ctx.args.string("channel"))
    if channel.is_private or channel.is_im:
        raise SlackError("method_not_supported_for_channel_type")
    if channel.is_archived:
        raise SlackError("is_archived")
    body: dict[str, Any] = {"channel": channel.to_api()}
    if ctx.ws.BOT_USER_ID in channel.members:
        body["warning"] = "already_in_channel"
        body["response_metadata"] = {"warnings": ["already_in_channel"]}
    channel.members.add(ctx.ws.BOT_USER_ID)
    return body


MPIM_MAX_USERS = 8
"""conversations.open takes up to 8 users (a group DM); more is `too_many_users`."""


def dm_refusal(ws: Workspace, user_id: str) -> str | None:
    """Why the bot may not open (or post into) a DM with `user_id`, as Slack says it: an unknown id is
    `user_not_found`, a deactivated account `user_disabled`, a bot (ours included) `cannot_dm_bot`."""
    user = ws.users.get(user_id)
    if user is None:
        return "user_not_found"
    if user.deleted:
        return "user_disabled"
    if user.is_bot or user_id == ws.BOT_USER_ID:
        return "cannot_dm_bot"
    return None


@method("conversations.open")
async def open_conversation(ctx: Context) -> dict[str, Any]:
    """Open (or find) the bot's DM with one user: `users` (one id here; a comma list of 2-8 ids opens a
    group DM, which the fake does not model: `not_supported`), or `channel` to resume a known IM.
    `return_im` answers the full IM object, with `already_open` when it existed."""
    ws = ctx.ws
    channel_arg = ctx.args.string("channel")
    users = ctx.args.items("users")
    if channel_arg and users:
        raise SlackError("invalid_arguments", messages=["provide either channel or users, not both"])
    if channel_arg:
        channel = ws.channels.get(channel_arg)
        if channel is None or not channel.is_im or ws.BOT_USER_ID not in channel.members:
            raise SlackError("channel_not_found")
        return {"channel": {"id": channel.id}}
    if not users:
        raise SlackError("users_list_not_supplied")
    if len(users) > MPIM_MAX_USERS:
        raise SlackError("too_many_users")
    if len(users) > 1:
        raise SlackError("not_supported", messages=["the fake Slack does not model group DMs"])
    user_id = users[0]
    error = dm_refusal(ws, user_id)
    if error:
        raise SlackError(error)
    existed = any(c.is_im and c.members == {user_id, ws.BOT_USER_ID} for c in ws.channels.values())
    im = ws.open_im(user_id)
    if ctx.args.flag("return_im"):
        body: dict[str, Any] = {"channel": {**im.to_api(), "user": user_id, "is_open": True}}
        if existed:
            body["already_open"] = True
            body["no_op"] = True
        return body
    return {"channel": {"id": im.id}}


REPLIES_MAX_LIMIT = 1000


@method("conversations.replies")
async def replies(ctx: Context) -> dict[str, Any]:
    """A thread: the parent first, then its replies oldest first within oldest/latest (the parent is
    always included, as Slack does). `ts` may be the parent's or any reply's; a message that is not
    in a thread answers with itself alone. Unknown ts: `thread_not_found`."""
    channel = _member_channel(ctx.ws, ctx.args.string("channel"), allow_archived=True)
    ts = ctx.args.string("ts")
    if not ts:
        raise SlackError("invalid_arguments", messages=["missing required field: ts [json-pointer:/ts]"])
    found = channel.find(ts)
    if found is None:
        raise SlackError("thread_not_found")
    root_ts = found.thread_ts or found.ts
    root = channel.find(root_ts)
    if root is None:
        raise SlackError("thread_not_found")
    limit = max(1, min(ctx.args.integer("limit", 1000), REPLIES_MAX_LIMIT))
    oldest = _ts(ctx.args.string("oldest"), 0.0, "invalid_ts_oldest")
    latest = _ts(ctx.args.string("latest"), float("inf"), "invalid_ts_latest")
    inclusive = ctx.args.flag("inclusive")
    include_metadata = ctx.args.flag("include_all_metadata")

    def in_range(value: float) -> bool:
        return oldest <= value <= latest if inclusive else oldest < value < latest

    thread = sorted(
        (m for m in channel.messages if m.thread_ts == root_ts and m.ts != root_ts and in_range(float(m.ts))),
        key=lambda m: float(m.ts),
    )
    start = _offset(ctx.args.string("cursor"))
    page = thread[start : start + max(limit - 1, 1)]
    has_more = start + len(page) < len(thread)
    messages = [root, *page] if start == 0 else page
    return {
        "messages": [m.to_api(include_metadata=include_metadata) for m in messages],
        "has_more": has_more,
        "response_metadata": {"next_cursor": _cursor(start + len(page)) if has_more else ""},
    }
