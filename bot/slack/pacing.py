"""Slack calls paced per channel and paused per method/channel after a 429 (the relay's delivery path).

Pacing and pauses are kept in Redis (`bot.store.pacing.PaceStore`) so every relay process respects
them together:

* `chat.postMessage` / `chat.update` to one channel: at most one call per `CHANNEL_INTERVAL`;
* a 429 pauses the method (and, for channel-scoped calls, the channel) for `Retry-After` seconds.

A call that would have to wait longer than `MAX_INLINE_WAIT` raises `RetryLater` instead: the lane
goes back to the ready set with that due time and nothing is dropped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from blocks.metadata import RELAY_EVENT, RelayStamp
from bot.metrics import Metrics
from bot.slack.errors import slack_error
from bot.store.pacing import PaceStore

CHANNEL_INTERVAL_MS = 1000
MAX_INLINE_WAIT = 2.0
DEFAULT_RETRY_AFTER = 5.0
HISTORY_PAGES = 5
METADATA_EVENT = RELAY_EVENT

# Errors that will not go away by retrying the same request.
PERMANENT_ERRORS = {
    "invalid_blocks", "invalid_blocks_format", "msg_too_long", "no_text", "invalid_metadata_format",
    "invalid_metadata_schema", "metadata_too_large", "too_many_attachments", "invalid_arguments",
    "cant_update_message", "message_not_found", "edit_window_closed", "missing_scope",
    "not_allowed_token_type", "restricted_action", "invalid_auth", "account_inactive", "token_revoked",
    "no_permission",
}
CHANNEL_GONE_ERRORS = {"channel_not_found", "is_archived", "not_in_channel"}
DM_REFUSED_ERRORS = {"user_not_found", "cannot_dm_bot", "user_disabled", "account_inactive",
                     "user_not_visible"}
"""A direct message Slack will never take for this person (deactivated, a bot, unknown): recorded once."""
PERMANENT_ERRORS |= DM_REFUSED_ERRORS
METHOD_INTERVAL_MS = {"users.lookupByEmail": 1300, "conversations.open": 1300, "users.info": 650}
"""Method-wide pacing (every process together) under the method's tier: Tier 3 (50+/min) and Tier 4
(100+/min), so a burst of DMs to many people reads their profiles and opens their DMs without 429s."""

class RetryLater(Exception):
    def __init__(self, after: float, reason: str) -> None:
        self.after = max(0.0, after)
        self.reason = reason
        super().__init__(f"retry in {self.after:.1f} s ({reason})")


class SlackRefused(Exception):
    """Slack refused the call for good (see PERMANENT_ERRORS)."""

    def __init__(self, error: str) -> None:
        self.error = error
        super().__init__(error)


class ChannelUnavailable(Exception):
    """The channel is archived, gone, or we are not in it: fix the channel, then retry."""

    def __init__(self, error: str) -> None:
        self.error = error
        super().__init__(error)


def retry_after_of(exc: SlackApiError) -> float:
    response = exc.response
    headers: Any = getattr(response, "headers", None) or {}
    raw = None
    for key in ("Retry-After", "retry-after"):
        value = headers.get(key) if hasattr(headers, "get") else None
        if value is not None:
            raw = value[0] if isinstance(value, list | tuple) else value
            break
    try:
        return max(1.0, float(raw)) if raw is not None else DEFAULT_RETRY_AFTER
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER


def status_of(exc: SlackApiError) -> int:
    return int(getattr(exc.response, "status_code", 0) or 0)


class SlackIO:
    def __init__(self, client: AsyncWebClient, store: PaceStore, metrics: Metrics | None = None, *,
                 clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.client = client
        self.store = store
        self.metrics = metrics
        self.clock = clock
        self.sleep = sleep
        self.calls = 0

    async def _gate(self, method: str, channel: str | None) -> None:
        interval = CHANNEL_INTERVAL_MS if channel else METHOD_INTERVAL_MS.get(method, 0)
        while True:
            wait_ms = await self.store.take_slot(method, channel, int(self.clock() * 1000), interval)
            if wait_ms <= 0:
                return
            if wait_ms / 1000 > MAX_INLINE_WAIT:
                raise RetryLater(wait_ms / 1000, f"{method} paced/paused")
            await self.sleep(wait_ms / 1000)

    async def _ratelimited(self, method: str, channel: str | None, after: float) -> None:
        until_ms = int((self.clock() + after) * 1000)
        ttl_ms = int(after * 1000) + 1000
        await self.store.pause(method, channel, until_ms, ttl_ms)
        if self.metrics is not None:
            self.metrics.slack_ratelimited.labels(method=method).inc()

    async def call(self, method: str, channel: str | None, fn: Callable[[], Awaitable[Any]]) -> Any:
        """Run one Slack call through the gate, turning its failures into the relay's three outcomes."""
        await self._gate(method, channel)
        self.calls += 1
        try:
            return await fn()
        except SlackApiError as exc:
            error = slack_error(exc)
            status = status_of(exc)
            if status == 429 or error == "ratelimited":
                after = retry_after_of(exc)
                await self._ratelimited(method, channel, after)
                raise RetryLater(after, f"{method} 429") from None
            if error in CHANNEL_GONE_ERRORS:
                raise ChannelUnavailable(error) from None
            if error in PERMANENT_ERRORS:
                raise SlackRefused(error) from None
            raise RetryLater(0, f"{method} {error or status}") from None
        except (TimeoutError, OSError) as exc:
            raise RetryLater(0, f"{method} {type(exc).__name__}") from None

    async def post(self, channel: str, *, text: str, blocks: list[dict[str, Any]], item_id: str,
                   case_id: str, role: int | None = None) -> str:
        metadata = RelayStamp(item_id=item_id, case_id=case_id, role=role).to_slack()
        resp = await self.call("chat.postMessage", channel, lambda: self.client.chat_postMessage(
            channel=channel, text=text, blocks=blocks or None, metadata=metadata, unfurl_links=False,
            unfurl_media=False))
        return str(resp["ts"])

    async def update(self, channel: str, ts: str, *, text: str, blocks: list[dict[str, Any]], item_id: str,
                     case_id: str, role: int | None = None) -> None:
        metadata = RelayStamp(item_id=item_id, case_id=case_id, role=role).to_slack()
        await self.call("chat.update", channel, lambda: self.client.chat_update(
            channel=channel, ts=ts, text=text, blocks=blocks or None, metadata=metadata))

    async def find_posted(self, channel: str, item_id: str, oldest: float) -> str | None:
        """The ts of a message in `channel` since `oldest` stamped with `item_id`, if any (repair path)."""
        cursor: str | None = None
        for _ in range(HISTORY_PAGES):
            kwargs: dict[str, Any] = {"channel": channel, "oldest": f"{max(0.0, oldest):.6f}",
                                      "include_all_metadata": True, "limit": 200, "inclusive": True}
            if cursor:
                kwargs["cursor"] = cursor
            resp = await self.call("conversations.history", None,
                                   lambda kw=kwargs: self.client.conversations_history(**kw))  # type: ignore[misc]
            for message in resp.get("messages") or []:
                meta = message.get("metadata") or {}
                payload = meta.get("event_payload") or {}
                if meta.get("event_type") == METADATA_EVENT and payload.get("item_id") == item_id:
                    return str(message["ts"])
            cursor = ((resp.get("response_metadata") or {}).get("next_cursor")) or None
            if not cursor:
                return None
        return None

    async def open_dm(self, user_id: str) -> str:
        """The bot's DM channel with `user_id` (conversations.open, paced per method); a refusal
        (`cannot_dm_bot`, `user_disabled`, `user_not_found`...) comes out as `SlackRefused`."""
        resp = await self.call("conversations.open", None,
                               lambda: self.client.conversations_open(users=user_id))
        return str((resp.get("channel") or {}).get("id") or "")

    async def user_by_email(self, email: str) -> dict[str, Any] | None:
        """users.lookupByEmail (paced per method): the user object, or None when no account has it."""
        try:
            resp = await self.call("users.lookupByEmail", None,
                                   lambda: self.client.users_lookupByEmail(email=email))
        except RetryLater as exc:
            if "users_not_found" in exc.reason:
                return None
            raise
        return dict(resp.get("user") or {})

    async def user_info(self, user_id: str) -> dict[str, Any] | None:
        """users.info (paced per method): the user object with `tz`/`tz_offset`; None when unknown."""
        try:
            resp = await self.call("users.info", None, lambda: self.client.users_info(user=user_id))
        except SlackRefused as exc:
            if exc.error == "user_not_found":
                return None
            raise
        return dict(resp.get("user") or {})
