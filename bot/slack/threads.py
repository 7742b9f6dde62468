"""Reading and marking messages in case channels: thread parents, replies, reactions, ephemerals.

- `thread_parent(runtime, channel_id, thread_ts)`: the message a thread hangs off, with its metadata
  (the relay stamps every post with `caseroom_item` / `item_id` / `case_id`, and a chat with its
  author's `role`, bot.slack.pacing).
- `read_message(runtime, channel_id, ts, thread_ts=None)`: one message as Slack has it now (the
  current text after edits): a top-level message from conversations.history, a reply from
  conversations.replies. None when it is gone.
- `relayed_item(message)`: (item id, case id) of a message Caseroom's relay posted, else None;
  `relay_stamp(message)` the whole stamp (`blocks.metadata.RelayStamp`, with a chat's role).
- `add_reaction`, `post_ephemeral`, `permalink`: Slack's answers for people; failures are logged and
  return False/None (a missing check mark must not undo a sent chat).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError

from blocks.metadata import RelayStamp
from bot.slack.errors import slack_error

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)

SlackMessage = dict[str, Any]


def relayed_item(message: SlackMessage | None) -> tuple[str, str] | None:
    """(item id, case id) when `message` is one the relay posted (its metadata), else None."""
    stamp = relay_stamp(message)
    return (stamp.item_id, stamp.case_id) if stamp is not None else None


def relay_stamp(message: SlackMessage | None) -> RelayStamp | None:
    """The relay's stamp on `message` (item, case, and a chat's role when stamped), else None."""
    return RelayStamp.from_slack(message.get("metadata")) if message else None


async def thread_parent(runtime: Runtime, channel_id: str, thread_ts: str) -> SlackMessage | None:
    """The parent message of the thread `thread_ts`, metadata included (None when Slack has none)."""
    try:
        response = await runtime.slack.conversations_replies(
            channel=channel_id, ts=thread_ts, limit=1, include_all_metadata=True)
    except SlackApiError as exc:
        log.info("conversations.replies %s/%s failed: %s", channel_id, thread_ts, slack_error(exc))
        return None
    messages = response.get("messages") or []
    first = messages[0] if messages and isinstance(messages[0], dict) else None
    return first if first is not None and first.get("ts") == thread_ts else None


async def read_message(runtime: Runtime, channel_id: str, ts: str, thread_ts: str | None = None
                       ) -> SlackMessage | None:
    """The message `ts` as it is now (text after edits); None if it was deleted or cannot be read.

    A reply (thread_ts given and different) is read from its thread; otherwise the channel history is
    tried first and the thread of `ts` after it (a reaction names a message without saying whether it
    is a reply)."""
    try:
        if thread_ts and thread_ts != ts:
            response = await runtime.slack.conversations_replies(
                channel=channel_id, ts=thread_ts, oldest=ts, latest=ts, inclusive=True, limit=2)
            return _find(response.get("messages"), ts)
        response = await runtime.slack.conversations_history(
            channel=channel_id, oldest=ts, latest=ts, inclusive=True, limit=1)
        found = _find(response.get("messages"), ts)
        if found is not None:
            return found
        response = await runtime.slack.conversations_replies(channel=channel_id, ts=ts, limit=1000)
        return _find(response.get("messages"), ts)
    except SlackApiError as exc:
        error = slack_error(exc)
        if error not in ("thread_not_found", "message_not_found"):
            log.warning("reading message %s/%s failed: %s", channel_id, ts, error)
        return None


def _find(messages: Any, ts: str) -> SlackMessage | None:
    for message in messages or []:
        if isinstance(message, dict) and message.get("ts") == ts:
            return message
    return None


async def add_reaction(runtime: Runtime, channel_id: str, ts: str, name: str) -> bool:
    try:
        await runtime.slack.reactions_add(channel=channel_id, timestamp=ts, name=name)
    except SlackApiError as exc:
        error = slack_error(exc)
        if error == "already_reacted":
            return True
        log.warning("reactions.add %s on %s/%s failed: %s", name, channel_id, ts, error)
        return False
    return True


async def post_ephemeral(runtime: Runtime, channel_id: str, user_id: str, message: dict[str, Any], *,
                         thread_ts: str | None = None) -> bool:
    try:
        await runtime.slack.chat_postEphemeral(channel=channel_id, user=user_id, thread_ts=thread_ts,
                                               text=message["text"], blocks=message.get("blocks"))
    except SlackApiError as exc:
        log.warning("chat.postEphemeral to %s in %s failed: %s", user_id, channel_id, slack_error(exc))
        return False
    return True


async def permalink(runtime: Runtime, channel_id: str, ts: str) -> str | None:
    try:
        response = await runtime.slack.chat_getPermalink(channel=channel_id, message_ts=ts)
    except SlackApiError as exc:
        log.info("chat.getPermalink %s/%s failed: %s", channel_id, ts, slack_error(exc))
        return None
    link = response.get("permalink")
    return str(link) if link else None
