"""What direct messages, reminders and digests keep in Redis (issue 13, part B). Every key is in keys.py.

* `notify_person` per Debitura email: the Slack DM target (user id, time zone) or why none may go
  (guest, Slack Connect, deactivated, no Slack account), cached NOTIFY_PERSON_TTL;
* `notify_refused` per email: Slack refused a DM (`cannot_dm_bot`, `user_disabled`...); while it is set
  no DM is tried (NOTIFY_REFUSED_TTL), so a refusal is recorded once, not retried forever;
* `notify_reminders` per case: one field per reminder fired (`<kind>:<threshold>:<anchor>`), set in the
  same Lua step that queues the reminder, so a threshold fires once whatever crashes or replicas do;
  the kind's fields go when its condition clears;
* `notify_digest` per person and local day: the digest went out (SET NX, NOTIFY_DIGEST_TTL);
* `notify_daily` per UTC day: the team's counts for the admins' digest (payments per currency, closes
  per close code, new cases), counted by the relay's fetch commit.

Outbound DMs themselves go through the relay's outboxes (`relay_outbox("dm:<email>")`, the `relay_ready`
set) and its exactly-once record (`relayed(case_id)`): nothing here delivers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, cast

import redis.asyncio as aioredis
from pydantic import BaseModel, ConfigDict

from bot.store.keys import (
    NOTIFY_DAILY_TTL,
    NOTIFY_DIGEST_TTL,
    NOTIFY_PERSON_TTL,
    NOTIFY_REFUSED_TTL,
    Keys,
)
from bot.store.reads import get, hgetall

DM_LANE_PREFIX = "dm:"
"""Outbox lanes of direct messages are `dm:<email>` (one lane per person: a held DM holds only theirs)."""


def dm_lane(email: str) -> str:
    return DM_LANE_PREFIX + email.strip().lower()


def lane_email(lane: str) -> str | None:
    return lane[len(DM_LANE_PREFIX):] if lane.startswith(DM_LANE_PREFIX) else None


class Person(BaseModel):
    """A Debitura email's Slack side, as DMs need it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    email: str
    user_id: str = ""
    tz: str = ""
    tz_offset: int = 0
    """Seconds east of UTC (Slack's `tz_offset`), used when `tz` is not a known zone name."""
    channel: str = ""
    """The bot's DM channel with them (conversations.open), once opened."""
    refusal: str = ""
    """Why no DM may go to this person ("" = one may): `guest`, `external`, `deactivated`, `bot`,
    `no_slack_account`."""
    fetched: float = 0.0


# KEYS[1] reminders hash, KEYS[2] reminded set, KEYS[3] ready zset, KEYS[4..] outboxes.
# ARGV case id, field, fired at (s), due (s), then (delivery JSON, lane) per outbox. Queues the
# reminder's DMs only if its field is new (no DM: only marks it).
_FIRE_ONCE = """
if redis.call('HSETNX', KEYS[1], ARGV[2], ARGV[3]) == 0 then return 0 end
redis.call('SADD', KEYS[2], ARGV[1])
for i = 4, #KEYS do
  local n = 5 + (i - 4) * 2
  redis.call('RPUSH', KEYS[i], ARGV[n])
  redis.call('ZADD', KEYS[3], 'NX', tonumber(ARGV[4]), ARGV[n + 1])
end
return 1
"""

# KEYS[1] reminders hash, KEYS[2] reminded set; ARGV case id, fields... Drops the fields (and the case
# from the set once none is left).
_CLEAR = """
redis.call('HDEL', KEYS[1], unpack(ARGV, 2))
if redis.call('HLEN', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], ARGV[1]) end
return 1
"""

# KEYS[1] digest marker, KEYS[2] outbox, KEYS[3] ready zset; ARGV ttl, delivery JSON, lane, due, at.
_DIGEST_ONCE = """
if not redis.call('SET', KEYS[1], ARGV[5], 'NX', 'EX', tonumber(ARGV[1])) then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[3], 'NX', tonumber(ARGV[4]), ARGV[3])
return 1
"""


class NotifyStore:
    def __init__(self, redis: aioredis.Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._fire_once = redis.register_script(_FIRE_ONCE)
        self._digest_once = redis.register_script(_DIGEST_ONCE)
        self._clear = redis.register_script(_CLEAR)

    # --- people ------------------------------------------------------------------------------------
    async def person(self, email: str) -> Person | None:
        raw = await get(self.redis, self.keys.notify_person(email))
        if not raw:
            return None
        try:
            return Person.model_validate_json(raw)
        except ValueError:
            return None

    async def people(self, emails: Sequence[str]) -> dict[str, Person]:
        """The cached people among `emails`, in one round trip."""
        if not emails:
            return {}
        raws = cast(list[str | None], await self.redis.mget([self.keys.notify_person(e) for e in emails]))
        out: dict[str, Person] = {}
        for email, raw in zip(emails, raws, strict=True):
            if raw:
                try:
                    out[email] = Person.model_validate_json(raw)
                except ValueError:
                    continue
        return out

    async def save_person(self, person: Person) -> None:
        await self.redis.set(self.keys.notify_person(person.email), person.model_dump_json(),
                             ex=NOTIFY_PERSON_TTL)

    async def forget_person(self, email: str) -> None:
        await self.redis.delete(self.keys.notify_person(email), self.keys.notify_refused(email))

    async def forget_person_only(self, email: str) -> None:
        await self.redis.delete(self.keys.notify_person(email))

    async def refused(self, email: str) -> str | None:
        return await get(self.redis, self.keys.notify_refused(email))

    async def mark_refused(self, email: str, error: str) -> None:
        await self.redis.set(self.keys.notify_refused(email), error, ex=NOTIFY_REFUSED_TTL)

    # --- reminders ---------------------------------------------------------------------------------
    async def fired(self, case_ids: Sequence[str]) -> list[dict[str, str]]:
        """Each case's fired reminders (field -> when), in one round trip."""
        if not case_ids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for case_id in case_ids:
                pipe.hgetall(self.keys.notify_reminders(case_id))
            return cast(list[dict[str, str]], await pipe.execute())

    async def reminded(self) -> list[str]:
        """The case ids with fired reminders."""
        return sorted(str(m) for m in await self.redis.smembers(self.keys.notify_reminded()))

    async def fire_once(self, case_id: str, field: str, at: float, items: Sequence[tuple[str, str]],
                        due: float) -> bool:
        """Queue a reminder's DMs (`(delivery JSON, lane)` each; none: only mark it) unless this case's
        `field` fired already, atomically."""
        keys = [self.keys.notify_reminders(case_id), self.keys.notify_reminded(), self.keys.relay_ready()]
        args: list[str] = [case_id, field, f"{at:.0f}", f"{due:.3f}"]
        for delivery_json, lane in items:
            keys.append(self.keys.relay_outbox(lane))
            args += [delivery_json, lane]
        return bool(await self._fire_once(keys=keys, args=args))

    async def clear_reminders(self, clear: Mapping[str, Sequence[str]]) -> None:
        """Forget fired reminders whose condition cleared (case id -> fields)."""
        for case_id, fields in clear.items():
            if fields:
                await self._clear(keys=[self.keys.notify_reminders(case_id), self.keys.notify_reminded()],
                                  args=[case_id, *fields])

    # --- digests -----------------------------------------------------------------------------------
    async def digest_once(self, who: str, day: str, delivery_json: str, lane: str, due: float,
                          at: float) -> bool:
        got = await self._digest_once(
            keys=[self.keys.notify_digest(who, day), self.keys.relay_outbox(lane), self.keys.relay_ready()],
            args=[NOTIFY_DIGEST_TTL, delivery_json, lane, f"{due:.3f}", f"{at:.0f}"])
        return bool(got)

    async def digest_sent(self, who: str, day: str) -> bool:
        return bool(await self.redis.exists(self.keys.notify_digest(who, day)))

    async def count_day(self, day: str, counts: Mapping[str, float]) -> None:
        if not counts:
            return
        key = self.keys.notify_daily(day)
        async with self.redis.pipeline(transaction=True) as pipe:
            for field, amount in counts.items():
                pipe.hincrbyfloat(key, field, amount)
            pipe.expire(key, NOTIFY_DAILY_TTL)
            await pipe.execute()

    async def day_counts(self, day: str) -> dict[str, float]:
        raw = await hgetall(self.redis, self.keys.notify_daily(day))
        out: dict[str, float] = {}
        for field, value in raw.items():
            try:
                out[field] = float(value)
            except ValueError:
                continue
        return out


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)
