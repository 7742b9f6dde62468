"""Slack pacing state shared by every process: per-channel (or per-method) pacing slots (key
`slack_pace`) and the pauses a 429 sets per method and per channel (key `slack_pause`).
`bot.slack.pacing.SlackIO` decides what to pace; this store keeps the times, atomically."""

from __future__ import annotations

from collections.abc import Sequence

import redis.asyncio as aioredis

from bot.store.keys import Keys

# KEYS[1] pace key, KEYS[2..] pause keys; ARGV now ms, interval ms. 0 = go (slot taken), else ms to wait.
_PACE = """
local now = tonumber(ARGV[1])
local wait = 0
for i = 2, #KEYS do
  local until_ms = tonumber(redis.call('GET', KEYS[i]) or '0')
  if until_ms - now > wait then wait = until_ms - now end
end
if wait > 0 then return wait end
local nxt = tonumber(redis.call('GET', KEYS[1]) or '0')
if nxt > now then return nxt - now end
local interval = tonumber(ARGV[2])
if interval > 0 then redis.call('SET', KEYS[1], now + interval, 'PX', interval + 1000) end
return 0
"""

_EXTEND_PAUSE = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > current then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', tonumber(ARGV[2]))
end
return 1
"""


class PaceStore:
    """The pacing slots and 429 pauses in Redis (keys `slack_pace`, `slack_pause`), for every process."""

    def __init__(self, redis: aioredis.Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._pace = redis.register_script(_PACE)
        self._extend_pause = redis.register_script(_EXTEND_PAUSE)

    async def take_slot(self, method: str, channel: str | None, now_ms: int, interval_ms: int) -> int:
        """A call of `method` (to `channel`, if any) may go: 0 when its slot was taken, else the ms to wait
        (the method's and the channel's 429 pauses, then one call per `interval_ms` per channel)."""
        pauses = [self.keys.slack_pause(method)]
        if channel:
            pauses.append(self.keys.slack_pause("ch:" + channel))
        return await self.pace(self.keys.slack_pace(channel or ("m:" + method)), pauses, now_ms, interval_ms)

    async def pause(self, method: str, channel: str | None, until_ms: int, ttl_ms: int) -> None:
        """Slack answered 429: pause the method (and the channel) until `until_ms`, for every process."""
        await self.extend_pause(self.keys.slack_pause(method), until_ms, ttl_ms)
        if channel:
            await self.extend_pause(self.keys.slack_pause("ch:" + channel), until_ms, ttl_ms)

    async def pace(self, pace_key: str, pause_keys: Sequence[str], now_ms: int, interval_ms: int) -> int:
        """0 when the call may go now (its slot taken), else the milliseconds to wait."""
        return int(await self._pace(keys=[pace_key, *pause_keys], args=[now_ms, interval_ms]))

    async def extend_pause(self, key: str, until_ms: int, ttl_ms: int) -> None:
        """Pause until `until_ms` unless a longer pause is already set."""
        await self._extend_pause(keys=[key], args=[until_ms, ttl_ms])
