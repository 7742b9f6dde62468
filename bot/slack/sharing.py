"""The Slack Connect rule's Slack side: is a channel shared with another organisation?
(The refusal for people, `require_internal`, is `bot.services.sharing`'s.)

A channel counts as shared outside the workspace when `conversations.info` says `is_ext_shared`,
`is_shared` or `is_pending_ext_shared` (an invitation to another organisation not yet accepted).

- *Share in channel* checks the channel at every click (`require_internal`) and refuses, with words,
  a shared channel and a conversation Caseroom cannot see (a direct message, or a private channel
  without Caseroom): it cannot tell who is in those.
- The relay checks each target (case channels, CASEROOM_FEED_CHANNEL) before posting, with the answer
  cached for `CHANNEL_SHARING_TTL` (`runtime.stores.sharing`, bot/store/sharing.py), and refuses a shared one
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

from bot.slack.errors import slack_error

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)

SHARED_FLAGS = ("is_ext_shared", "is_shared", "is_pending_ext_shared")
UNSEEN_ERRORS = frozenset({"channel_not_found", "not_in_channel", "method_not_supported_for_channel_type"})
"""conversations.info errors meaning Caseroom cannot see the conversation (so cannot tell who is in it).
`missing_scope` (a DM with the bot: no im:read) propagates: the relay must not take it for "unknown"."""

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

    `cached=True` uses (and fills) the cached answer of the last CHANNEL_SHARING_TTL seconds. Slack
    errors other than "cannot see it" (429, 5xx, network) propagate: the caller retries or refuses.
    """
    if cached:
        known = await runtime.stores.sharing.known(channel_id)
        if known in (Sharing.INTERNAL, Sharing.EXTERNAL):
            return Sharing(known)
    try:
        response = await runtime.slack.conversations_info(channel=channel_id)
    except SlackApiError as exc:
        if slack_error(exc) in UNSEEN_ERRORS:
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
    await runtime.stores.sharing.remember(channel_id, result.value)


async def mark_shared(runtime: Runtime, channel_id: str) -> None:
    """Slack said the channel was shared with another organisation (the channel_shared event)."""
    await runtime.stores.sharing.remember(channel_id, Sharing.EXTERNAL.value)


async def forget(runtime: Runtime, channel_id: str) -> None:
    """Slack said an organisation left the channel (channel_unshared): ask conversations.info again."""
    await runtime.stores.sharing.forget(channel_id)
