"""Small hooks other parts call so the relay knows what people did in Slack."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from bot.relay.diff import chat_field
from bot.relay.model import Want
from bot.relay.store import RelayStore

if TYPE_CHECKING:
    from bot.runtime import Runtime


async def follow_case(runtime: Runtime, case_id: str) -> None:
    """Someone followed the case: relay it whatever its lifecycle, starting now."""
    now = time.time()
    await runtime.redis.sadd(runtime.keys.followed(), case_id)
    await runtime.redis.hsetnx(runtime.keys.case_state(case_id), "fs", f"{now:.3f}")
    await RelayStore(runtime.redis, runtime.keys).request_fetch(case_id, int(Want.CASE | Want.POLL), now)


async def unfollow_case(runtime: Runtime, case_id: str) -> None:
    """Stop relaying a followed case unless its lifecycle is relayed anyway (decided at its next fetch)."""
    await runtime.redis.srem(runtime.keys.followed(), case_id)


async def mark_chat_sent(runtime: Runtime, case_id: str, chat_id: str, version: str = "") -> None:
    """A chat written from Slack (the chat modal): the relay must not post it back to the channel.

    `version` is what the relay compares for edits (unix seconds of dateUpdated or dateCreated with
    three decimals, see ChatSnap.version); leave it empty if unknown, an edit then updates nothing.
    """
    await runtime.redis.hsetnx(runtime.keys.relay_seen(case_id), chat_field(chat_id), f"{version}|0")
