"""The Slack Connect rule: debtor data is never posted into a channel shared with another organisation.

A channel counts as shared outside the workspace when `conversations.info` says `is_ext_shared`,
`is_shared` or `is_pending_ext_shared` (an invitation to another organisation not yet accepted).

- *Share in channel* checks the channel at every click (`require_internal`) and refuses, with words,
  a shared channel and a conversation Caseroom cannot see (a direct message, or a private channel
  without Caseroom): it cannot tell who is in those.
- The relay checks each target (case channels, CASEROOM_FEED_CHANNEL) before posting, with the answer
  cached in Redis for `CHANNEL_SHARING_TTL` (`Keys.slack_channel_sharing`), and refuses a shared one
  (`bot.relay.delivery`); `caseroom check` flags a shared feed channel. The cache costs no extra call
  where Slack already answered with the channel (`remember`: conversations.create / info of case
  channels), and the `channel_shared` / `channel_unshared` events update it at once
  (`bot.listeners.events`), so the TTL only bounds a missed event.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError

from bot.services.errors import Refused, slack_error_code
from bot.store.keys import CHANNEL_SHARING_TTL

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)

SHARED_FLAGS = ("is_ext_shared", "is_shared", "is_pending_ext_shared")
UNSEEN_ERRORS = frozenset({"channel_not_found", "not_in_channel", "method_not_supported_for_channel_type"})
"""conversations.info errors meaning Caseroom cannot see the conversation (so cannot tell who is in it).
`missing_scope` (a DM with the bot: no im:read) propagates: the relay must not take it for "unknown"."""

SHARED_REFUSAL = ("This channel is shared with another organisation (Slack Connect), so Caseroom does not "
                  "share case cards in it: debtor data stays inside your workspace. Share the card in one "
                  "of your own channels.")
UNSEEN_REFUSAL = ("Caseroom shares cards only where it can check that no other organisation is present, "
                  "and it cannot see this conversation (a direct message, or a private channel Caseroom is "
                  "not in). Add Caseroom to the channel (`/invite @Caseroom`), or share the card in a "
                  "channel Caseroom is in.")


class Sharing(StrEnum):
    INTERNAL = "internal"
    EXTERNAL = "external"
    UNKNOWN = "unknown"
    """Caseroom cannot see the conversation (DM, private channel without the bot, unknown id)."""


def shared_outside(channel: Mapping[str, Any]) -> bool:
    """True when a conversations.info channel object is shared (or being shared) outside the workspace."""
    return any(bool(channel.get(flag)) for flag in SHARED_FLAGS)


async def channel_sharing(runtime: Runtime, channel_id: str, *, cached: bool = True) -> Sharing:
    """Whether `channel_id` is shared with another organisation (conversations.info).

    `cached=True` uses (and fills) the Redis answer of the last CHANNEL_SHARING_TTL seconds. Slack
    errors other than "cannot see it" (429, 5xx, network) propagate: the caller retries or refuses.
    """
    if cached:
        known = await runtime.redis.get(runtime.keys.slack_channel_sharing(channel_id))
        if known in (Sharing.INTERNAL, Sharing.EXTERNAL):
            return Sharing(known)
    try:
        response = await runtime.slack.conversations_info(channel=channel_id)
    except SlackApiError as exc:
        if slack_error_code(exc) in UNSEEN_ERRORS:
            return Sharing.UNKNOWN
        raise
    channel = response.get("channel")
    if not isinstance(channel, dict):
        return Sharing.UNKNOWN
    await remember(runtime, channel_id, channel)
    return Sharing.EXTERNAL if shared_outside(channel) else Sharing.INTERNAL


async def remember(runtime: Runtime, channel_id: str, channel: Mapping[str, Any]) -> None:
    """Cache what a Slack answer carrying the channel object (create, info) says about sharing."""
    result = Sharing.EXTERNAL if shared_outside(channel) else Sharing.INTERNAL
    key = runtime.keys.slack_channel_sharing(channel_id)
    await runtime.redis.set(key, result.value, ex=CHANNEL_SHARING_TTL)


async def mark_shared(runtime: Runtime, channel_id: str) -> None:
    """Slack said the channel was shared with another organisation (the channel_shared event)."""
    await runtime.redis.set(runtime.keys.slack_channel_sharing(channel_id), Sharing.EXTERNAL.value,
                            ex=CHANNEL_SHARING_TTL)


async def forget(runtime: Runtime, channel_id: str) -> None:
    """Slack said an organisation left the channel (channel_unshared): ask conversations.info again."""
    await runtime.redis.delete(runtime.keys.slack_channel_sharing(channel_id))


async def require_internal(runtime: Runtime, channel_id: str | None) -> None:
    """Refused unless `channel_id` is a channel Caseroom can see and that no other organisation shares.
    Checked afresh (no cache): for a person's click on *Share in channel*."""
    if not channel_id:
        raise Refused(UNSEEN_REFUSAL)
    try:
        sharing = await channel_sharing(runtime, channel_id, cached=False)
    except SlackApiError as exc:
        if slack_error_code(exc) == "missing_scope":
            raise Refused(UNSEEN_REFUSAL) from None
        raise
    if sharing is Sharing.EXTERNAL:
        log.info("refused to share a card into a channel shared outside the workspace",
                 extra={"channel": channel_id})
        raise Refused(SHARED_REFUSAL)
    if sharing is Sharing.UNKNOWN:
        raise Refused(UNSEEN_REFUSAL)
