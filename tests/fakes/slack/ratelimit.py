"""Slack's Web API rate limits: per method tier, and chat.postMessage per channel.

Token buckets on the fake's clock, one set per workspace (Slack counts per app per workspace: a
team exhausting a method's budget leaves every other team's untouched). Tier budgets are per minute
per method (tier 1/2/3/4 = 1/20/50/100, with a burst floor of 3 since Slack documents them as "1+",
"20+"...); chat.postMessage allows about 1 message per second per channel with a short burst.
`scale` multiplies every rate and burst (tests use a small scale to hit limits quickly, or a large
one to stay clear of them); `enabled=False` turns limiting off.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tests.fakes.slack.clock import FakeClock

TIER_PER_MINUTE = {1: 1, 2: 20, 3: 50, 4: 100}
BURST_FLOOR = 3

METHOD_TIERS: dict[str, int] = {
    "auth.test": 4,
    "auth.revoke": 3,
    "chat.postEphemeral": 4,
    "chat.update": 3,
    "chat.getPermalink": 4,
    "conversations.create": 2,
    "conversations.info": 3,
    "conversations.invite": 3,
    "conversations.setTopic": 2,
    "conversations.archive": 2,
    "conversations.unarchive": 2,
    "conversations.rename": 2,
    "conversations.history": 3,
    "conversations.members": 4,
    "conversations.join": 3,
    "conversations.replies": 3,
    "reactions.add": 3,
    "conversations.open": 3,
    "views.open": 4,
    "views.update": 4,
    "views.push": 4,
    "views.publish": 4,
    "users.info": 4,
    "users.lookupByEmail": 3,
    "usergroups.users.list": 2,
    "bookmarks.add": 2,
    "files.getUploadURLExternal": 4,
    "files.completeUploadExternal": 4,
    "files.info": 4,
    "apps.connections.open": 1,
    "pins.add": 2,
}
"""chat.postMessage is Slack's special tier and is handled per channel."""


@dataclass
class _Bucket:
    capacity: float
    per_second: float
    tokens: float
    updated: float

    def take(self, now: float) -> float:
        """0 when a token was taken, else seconds until one is available."""
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.per_second)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.per_second


@dataclass
class RateLimits:
    clock: FakeClock
    scale: float = 1.0
    enabled: bool = True
    post_message_per_second: float = 1.0
    post_message_burst: int = 5
    tiers: dict[str, int] = field(default_factory=lambda: dict(METHOD_TIERS))
    _buckets: dict[tuple[str, str, str], _Bucket] = field(default_factory=dict)

    def reset(self) -> None:
        self._buckets.clear()

    def _bucket(self, key: tuple[str, str, str], capacity: float, per_second: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(capacity, per_second, capacity, self.clock.time())
            self._buckets[key] = bucket
        return bucket

    def check(self, method: str, channel: str | None = None, team: str = "") -> int | None:
        """None when the call may proceed, else the Retry-After seconds (at least 1). `team`: the
        workspace of the calling token (budgets are per workspace; "" for app-level tokens)."""
        if not self.enabled:
            return None
        now = self.clock.time()
        if method == "chat.postMessage":
            if not channel:
                return None
            capacity = max(1.0, self.post_message_burst * self.scale)
            per_second = self.post_message_per_second * self.scale
            wait = self._bucket((team, method, channel), capacity, per_second).take(now)
        else:
            tier = self.tiers.get(method)
            if tier is None:
                return None
            per_minute = TIER_PER_MINUTE[tier] * self.scale
            capacity = max(1.0, max(TIER_PER_MINUTE[tier], BURST_FLOOR) * self.scale)
            wait = self._bucket((team, method, ""), capacity, per_minute / 60).take(now)
        return None if wait == 0 else max(1, math.ceil(wait))
