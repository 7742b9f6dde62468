"""chat.postMessage, chat.postEphemeral, chat.update, chat.getPermalink."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.fakes.slack.api import Context, method
from tests.fakes.slack.errors import SlackError
from tests.fakes.slack.journal import Ephemeral
from tests.fakes.slack.validation import MAX_MESSAGE_TEXT, validate_message
from tests.fakes.slack.workspace import Channel, Workspace


@dataclass
class Content:
    text: str
    blocks: list[Any] | None
    attachments: list[Any] | None
    metadata: dict[str, Any] | None
    given: set[str]


def parse_content(ctx: Context) -> Content:
    """text/blocks/attachments/metadata with Slack's rules: `invalid_blocks_format` for blocks that
    are not a JSON array, `invalid_blocks` (with json-pointer messages) for bad Block Kit, `no_text`
    when there is nothing to show, text truncated at 40,000 characters."""
    args = ctx.args
    text = args.string("text") or ""
    blocks = args.decoded("blocks", "invalid_blocks_format")
    if blocks is not None and not isinstance(blocks, list):
        raise SlackError("invalid_blocks_format")
    attachments = args.decoded("attachments", "invalid_attachments")
    if attachments is not None and not isinstance(attachments, list):
        raise SlackError("invalid_attachments")
    errors = validate_message({"blocks": blocks, "attachments": attachments})
    if errors:
        raise SlackError("invalid_blocks", messages=errors)
    if not text and not blocks and not attachments:
        raise SlackError("no_text")
    metadata = args.decoded("metadata", "invalid_metadata_format")
    if metadata is not None:
        if (
            not isinstance(metadata, dict)
            or not isinstance(metadata.get("event_type"), str)
            or not metadata["event_type"]
            or not isinstance(metadata.get("event_payload"), dict)
        ):
            raise SlackError("invalid_metadata_format")
        metadata = {"event_type": metadata["event_type"], "event_payload": metadata["event_payload"]}
    given = {k for k in ("text", "blocks", "attachments", "metadata") if args.raw.get(k) is not None}
    return Content(text[:MAX_MESSAGE_TEXT], blocks, attachments, metadata, given)


def writable_channel(ws: Workspace, channel_arg: str | None) -> Channel:
    """The channel the bot posts into: it must exist, be visible, not archived, and have the bot."""
    if channel_arg and channel_arg.startswith("#"):
        found = ws.channel_by_name(channel_arg[1:])
        channel_arg = found.id if found else None
    channel = ws.channel(channel_arg)
    if channel.is_im:
        # A DM (a D id, or a user id: Slack posts in the app's Messages tab): the other person must
        # still be someone the bot may write to (deactivated: `user_disabled`; a bot: `cannot_dm_bot`).
        from tests.fakes.slack.api.conversations import dm_refusal

        other = next((m for m in channel.members if m != ws.BOT_USER_ID), ws.BOT_USER_ID)
        error = dm_refusal(ws, other)
        if error:
            raise SlackError(error)
    if channel.is_archived:
        raise SlackError("is_archived")
    if ws.BOT_USER_ID not in channel.members:
        raise SlackError("not_in_channel")
    return channel


@method("chat.postMessage")
async def post_message(ctx: Context) -> dict[str, Any]:
    channel = writable_channel(ctx.ws, ctx.args.string("channel"))
    content = parse_content(ctx)
    thread_ts = ctx.args.string("thread_ts")
    message = ctx.ws.add_bot_message(
        channel,
        text=content.text,
        blocks=content.blocks,
        attachments=content.attachments,
        thread_ts=thread_ts,
        metadata=content.metadata,
    )
    return {"channel": channel.id, "ts": message.ts, "message": message.to_api()}


@method("chat.postEphemeral")
async def post_ephemeral(ctx: Context) -> dict[str, Any]:
    channel = writable_channel(ctx.ws, ctx.args.string("channel"))
    user = ctx.ws.user(ctx.args.string("user"))
    if user.id not in channel.members:
        raise SlackError("user_not_in_channel")
    content = parse_content(ctx)
    message = ctx.ws.add_ephemeral(channel.id, user.id, text=content.text, blocks=content.blocks)
    message.thread_ts = ctx.args.string("thread_ts")  # shown in that thread (Slack does not check it)
    ctx.fake.journal.record_ephemeral(
        Ephemeral(channel.id, user.id, content.text, content.blocks, message.ts, message.thread_ts)
    )
    return {"message_ts": message.ts}


@method("chat.update")
async def update(ctx: Context) -> dict[str, Any]:
    channel = ctx.ws.channel(ctx.args.string("channel"))
    ts = ctx.args.string("ts")
    if not ts:
        raise SlackError("message_not_found")
    message = channel.find(ts)
    if message is None:
        raise SlackError("message_not_found")
    if channel.is_archived:
        raise SlackError("is_archived")
    if message.bot_id != ctx.ws.BOT_ID:
        raise SlackError("cant_update_message")
    content = parse_content(ctx)
    message.text = content.text
    if "blocks" in content.given:
        message.blocks = content.blocks
    if "attachments" in content.given:
        message.attachments = content.attachments
    if "metadata" in content.given:
        message.metadata = content.metadata
    message.edited = {"user": ctx.ws.BOT_USER_ID, "ts": ctx.ws.new_ts()}
    return {"channel": channel.id, "ts": message.ts, "text": message.text, "message": message.to_api()}


@method("chat.getPermalink")
async def get_permalink(ctx: Context) -> dict[str, Any]:
    channel = ctx.ws.channel(ctx.args.string("channel"))
    ts = ctx.args.string("message_ts") or ""
    if channel.find(ts) is None:
        raise SlackError("message_not_found")
    message = channel.find(ts)
    link = f"https://{ctx.ws.TEAM_DOMAIN}.slack.com/archives/{channel.id}/p{ts.replace('.', '')}"
    if message is not None and message.thread_ts and message.thread_ts != message.ts:
        link += f"?thread_ts={message.thread_ts}&cid={channel.id}"
    return {"channel": channel.id, "permalink": link}
