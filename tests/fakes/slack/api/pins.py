"""pins.add: pin a message to the channel it is in.

Slack's rules: `channel` and `timestamp` are required (`no_item_specified`), the channel must be one
the bot can see (`channel_not_found`) and is in (`not_in_channel`), not archived (`is_archived`), the
message must exist in that channel (`message_not_found`; an ephemeral one is never found), a message
is pinned once (`already_pinned`), and a channel holds at most MAX_PINS pins (`too_many_pins`).
Scope `pins:write` (tests/fakes/slack/scopes.py); Tier 2.
"""

from __future__ import annotations

from typing import Any

from tests.fakes.slack.api import Context, method
from tests.fakes.slack.errors import SlackError

MAX_PINS = 100


@method("pins.add")
async def add(ctx: Context) -> dict[str, Any]:
    channel_arg = ctx.args.string("channel")
    ts = ctx.args.string("timestamp")
    if not channel_arg or not ts:
        raise SlackError("no_item_specified")
    channel = ctx.ws.channel(channel_arg)
    if ctx.ws.BOT_USER_ID not in channel.members:
        raise SlackError("not_in_channel")
    if channel.is_archived:
        raise SlackError("is_archived")
    message = channel.find(ts)
    if message is None or message.visible_to is not None:
        raise SlackError("message_not_found")
    if channel.id in message.pinned_to:
        raise SlackError("already_pinned")
    if sum(1 for m in channel.messages if channel.id in m.pinned_to) >= MAX_PINS:
        raise SlackError("too_many_pins")
    message.pinned_to.append(channel.id)
    return {}
