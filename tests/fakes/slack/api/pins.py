"""pins.add: pin a message to the channel it is in.

Slack's rules (the method reference and its error list): `channel` missing or unknown is
`channel_not_found` (a private channel without the bot too), `timestamp` missing is
`no_item_specified` and malformed `bad_timestamp`; the bot must be in the channel (`not_in_channel`)
and the channel not archived (`is_archived`); the message must exist in that channel
(`message_not_found`; an ephemeral one never does), a join message is `not_pinnable`, and a message is
pinned once (`already_pinned`). Scope `pins:write` (tests/fakes/slack/scopes.py); Tier 2.
"""

from __future__ import annotations

import re
from typing import Any

from tests.fakes.slack.api import Context, method
from tests.fakes.slack.errors import SlackError

TS = re.compile(r"^\d{1,12}\.\d{1,6}$")
NOT_PINNABLE = {"channel_join", "group_join", "channel_leave", "group_leave"}


@method("pins.add")
async def add(ctx: Context) -> dict[str, Any]:
    channel_arg = ctx.args.string("channel")
    if not channel_arg:
        raise SlackError("channel_not_found")
    ts = ctx.args.string("timestamp")
    if not ts:
        raise SlackError("no_item_specified")
    if not TS.match(ts):
        raise SlackError("bad_timestamp")
    channel = ctx.ws.channel(channel_arg)
    if ctx.ws.BOT_USER_ID not in channel.members:
        raise SlackError("not_in_channel")
    if channel.is_archived:
        raise SlackError("is_archived")
    message = channel.find(ts)
    if message is None or message.visible_to is not None:
        raise SlackError("message_not_found")
    if message.subtype in NOT_PINNABLE:
        raise SlackError("not_pinnable")
    if channel.id in message.pinned_to:
        raise SlackError("already_pinned")
    message.pinned_to.append(channel.id)
    return {}
