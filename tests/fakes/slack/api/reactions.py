"""reactions.add: the bot adds an emoji reaction to a message in a conversation it can see."""

from __future__ import annotations

import re
from typing import Any

from tests.fakes.slack.api import Context, method
from tests.fakes.slack.errors import SlackError

NAME = re.compile(r"^[a-z0-9_+'\-]{1,100}$")
MAX_REACTIONS_PER_MESSAGE = 50
"""Distinct reactions a message may carry (`too_many_reactions` beyond)."""


@method("reactions.add")
async def add(ctx: Context) -> dict[str, Any]:
    channel = ctx.ws.channel(ctx.args.string("channel"))
    name = (ctx.args.string("name") or "").strip(":")
    if not name or not NAME.match(name):
        raise SlackError("invalid_name")
    ts = ctx.args.string("timestamp")
    if not ts:
        raise SlackError("no_item_specified")
    if channel.is_archived:
        raise SlackError("is_archived")
    if ctx.ws.BOT_USER_ID not in channel.members:
        raise SlackError("not_in_channel")
    message = channel.find(ts)
    if message is None:
        raise SlackError("message_not_found")
    known = any(r["name"] == name for r in message.reactions)
    if not known and len(message.reactions) >= MAX_REACTIONS_PER_MESSAGE:
        raise SlackError("too_many_reactions")
    if not ctx.ws.react(message, ctx.ws.BOT_USER_ID, name):
        raise SlackError("already_reacted")
    return {}
