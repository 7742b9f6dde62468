"""The relay's Redis operations: leases, claiming due work, outboxes, pacing. Atomic where it matters.

Work is shared between processes through two sorted sets, claimed with a lease per member:

* `schedule`: case id -> when it is next due for a fetch;
* `ready`: lane (a case id, or "feed") -> when its outbox may next be worked.

`claim()` takes the first due member whose lease it can set (`SET NX PX`, a random token) and pushes
its score past the lease, so nobody else looks at it meanwhile. A process that dies holding a lease
loses it when the lease expires; the member is due again by then and another process takes it.
Leases are renewed and released by Lua scripts that compare the token first, so a process that
lost its lease can never extend or delete someone else's.
"""

from __future__ import annotations

import json
import math
import secrets
import time
from collections.abc import Sequence
from typing import Any, cast

import redis.asyncio as aioredis

from bot.relay.model import Delivery
from bot.relay.scheduler import EXTRA_MIN_COVER, EXTRA_SLOTS
from bot.store.cases import URGENT_OFFSET, CaseStateStore
from bot.store.keys import RELAY_DEAD_MAXLEN, Keys
from bot.store.reads import hgetall, zmembers

EXTRA_SINCE = "since"
"""Field of keys.relay_extra(): when counting began (the first count after the hash was empty)."""

# KEYS[1] zset, KEYS[2] lease; ARGV member, now (s), lease ms, token. A member whose lease is held is
# put back for when the lease runs out; a requested fetch (scored URGENT_OFFSET in the past) stays
# among the requested ones, behind those asked for before it, and never becomes a paced poll.
_TRY_CLAIM = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) > tonumber(ARGV[2]) then return 0 end
if redis.call('SET', KEYS[2], ARGV[4], 'NX', 'PX', tonumber(ARGV[3])) then
  redis.call('ZADD', KEYS[1], tonumber(ARGV[2]) + tonumber(ARGV[3]) / 1000, ARGV[1])
  return 1
end
local left = redis.call('PTTL', KEYS[2])
if left < 0 then left = 1000 end
local at = tonumber(ARGV[2]) + left / 1000
if tonumber(score) <= tonumber(ARGV[2]) - URGENT_OFFSET / 2 then at = at - URGENT_OFFSET end
redis.call('ZADD', KEYS[1], at, ARGV[1])
return 0
""".replace("URGENT_OFFSET", repr(URGENT_OFFSET))

# KEYS[1] zset, KEYS[2] lease; ARGV member, score, lease ms, token. A requested fetch put off: scored
# `score` (among the requested ones) and its lease kept `lease ms` more, if still ours.
_PUT_OFF = """
if redis.call('GET', KEYS[2]) ~= ARGV[4] then return 0 end
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[3]))
redis.call('ZADD', KEYS[1], tonumber(ARGV[2]), ARGV[1])
return 1
"""

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# KEYS[1] lease, KEYS[2] outbox, KEYS[3] relayed hash, KEYS[4] feed outbox, KEYS[5] ready zset.
# ARGV token, item id, record field, record value, feed json, now, feed lane name.
_COMPLETE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local head = redis.call('LINDEX', KEYS[2], 0)
if head then
  local ok, item = pcall(cjson.decode, head)
  if (not ok) or item['id'] == ARGV[2] then redis.call('LPOP', KEYS[2]) end
end
if ARGV[3] ~= '' then redis.call('HSET', KEYS[3], ARGV[3], ARGV[4]) end
if ARGV[5] ~= '' then
  redis.call('RPUSH', KEYS[4], ARGV[5])
  redis.call('ZADD', KEYS[5], 'NX', tonumber(ARGV[6]), ARGV[7])
end
return 1
"""

# KEYS[1] lease, KEYS[2] outbox, KEYS[3] ready; ARGV token, lane, next (s) or ''. Ends a lane's turn.
_FINISH = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if redis.call('LLEN', KEYS[2]) == 0 then
  redis.call('ZREM', KEYS[3], ARGV[2])
elseif ARGV[3] ~= '' then
  redis.call('ZADD', KEYS[3], tonumber(ARGV[3]), ARGV[2])
end
redis.call('DEL', KEYS[1])
return 1
"""

def new_token() -> str:
    return secrets.token_hex(8)


# KEYS[1] bucket hash; ARGV now (s), rate (tokens per s), burst (tokens), ttl (s).
# Takes one token when there is one ("0"), else answers the seconds until there will be (as text:
# Redis would truncate a Lua number to an integer).
_POLL_SLOT = """
local now = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local v = redis.call('HMGET', KEYS[1], 't', 'ts')
local tokens = tonumber(v[1]) or burst
local ts = tonumber(v[2]) or now
if now > ts then
  tokens = math.min(burst, tokens + (now - ts) * rate)
  ts = now
end
local answer = '0'
if tokens >= 1 then
  tokens = tokens - 1
else
  answer = tostring((1 - tokens) / rate)
end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'ts', tostring(ts))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
return answer
"""

# KEYS[1] bucket hash; ARGV burst. One token back, never above the burst.
_POLL_REFUND = """
local tokens = tonumber(redis.call('HGET', KEYS[1], 't') or ARGV[1])
redis.call('HSET', KEYS[1], 't', tostring(math.min(tonumber(ARGV[1]), tokens + 1)))
return 1
"""

class RelayStore:
    """Intent-named Redis operations for the relay; all keys come from `Keys`; the case state through
    `self.cases` (bot/store/cases.py)."""

    def __init__(self, redis: aioredis.Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._try_claim = redis.register_script(_TRY_CLAIM)
        self._put_off = redis.register_script(_PUT_OFF)
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)
        self._complete = redis.register_script(_COMPLETE)
        self._finish = redis.register_script(_FINISH)
        self._poll_slot = redis.register_script(_POLL_SLOT)
        self._poll_refund = redis.register_script(_POLL_REFUND)
        self.cases = CaseStateStore(redis, keys)

    # --- leases ------------------------------------------------------------------------------------
    async def acquire_lease(self, name: str, token: str, ttl_ms: int) -> bool:
        return bool(await self.redis.set(self.keys.lease(name), token, nx=True, px=ttl_ms))

    async def renew_lease(self, name: str, token: str, ttl_ms: int) -> bool:
        return bool(await self._renew(keys=[self.keys.lease(name)], args=[token, ttl_ms]))

    async def release_lease(self, name: str, token: str) -> bool:
        return bool(await self._release(keys=[self.keys.lease(name)], args=[token]))

    async def claim(self, zset: str, lease_prefix: str, token: str, ttl_ms: int, now: float,
                    scan: int = 16, upto: float | None = None, above: float | None = None) -> str | None:
        """The first due member of `zset` (scored between `above` and `upto`, default: any score up to
        now) whose lease `<lease_prefix><member>` we could take."""
        low: float | str = "-inf" if above is None else above
        candidates = await zmembers(self.redis, zset, low, now if upto is None else upto, scan)
        for member in candidates:
            got = await self._try_claim(keys=[zset, self.keys.lease(lease_prefix + member)],
                                        args=[member, now, ttl_ms, token])
            if got:
                return member
        return None

    async def put_off(self, case_id: str, token: str, score: float, lease_ms: int) -> bool:
        """Put a requested fetch of `case_id` off: scored `score`, its lease (ours) kept `lease_ms`
        more; False when the lease is no longer ours (nothing changed)."""
        return bool(await self._put_off(keys=[self.keys.schedule(), self.keys.lease("fetch:" + case_id)],
                                        args=[case_id, repr(score), lease_ms, token]))

    async def next_due(self, zset: str, now: float) -> float | None:
        """The earliest due time of a scheduled poll (requested fetches, scored urgent, left out)."""
        first = await self.redis.zrangebyscore(zset, now - URGENT_OFFSET / 2, "+inf", start=0, num=1,
                                               withscores=True)
        return float(first[0][1]) if first else None

    async def take_poll_slot(self, now: float, rate: float, burst: float, ttl: float) -> float:
        """One scheduled poll may start: 0.0 when a slot was taken, else seconds until one frees.
        A token bucket shared by every process, refilled at `rate` a second up to `burst`."""
        answer = await self._poll_slot(keys=[self.keys.relay_poll_pace()],
                                       args=[f"{now:.6f}", repr(max(rate, 1e-9)), repr(max(1.0, burst)),
                                             max(1, math.ceil(ttl))])
        return float(answer)

    async def return_poll_slot(self, burst: float) -> None:
        """Give back a slot taken for a poll that did not happen (another worker claimed the case)."""
        await self._poll_refund(keys=[self.keys.relay_poll_pace()], args=[repr(max(1.0, burst))])

    async def stored_cases(self, case_ids: Sequence[str]) -> list[str | None]:
        """The case snapshot stored in each case's state (None: never seen), in one round trip."""
        return await self.cases.stored_cases(case_ids)

    # --- fetch scheduling --------------------------------------------------------------------------
    async def request_fetch(self, case_id: str, bits: int, now: float, source: str = "") -> None:
        """Ask for a fetch of `case_id` reading `bits` as soon as possible (ahead of polls; watches it)."""
        await self.cases.request_fetch(case_id, bits, now, source)

    async def forget_snapshot(self, case_id: str) -> None:
        """Drop the case as a sweep listed it: the next fetch GETs it (an event says it changed since)."""
        await self.redis.delete(self.keys.relay_snapshot(case_id))

    async def watch(self, case_ids: Sequence[str], due: Sequence[float]) -> int:
        """Put cases on the schedule if they are not there yet; returns how many were added."""
        if not case_ids:
            return 0
        mapping = dict(zip(case_ids, due, strict=True))
        return int(await self.redis.zadd(self.keys.schedule(), mapping, nx=True))  # type: ignore[arg-type]

    # --- outboxes ----------------------------------------------------------------------------------
    async def head(self, lane: str) -> Delivery | None:
        raw = await self.redis.lindex(self.keys.relay_outbox(lane), 0)
        if raw is None:
            return None
        return Delivery.model_validate_json(raw)

    async def replace_head(self, lane: str, token: str, item: Delivery) -> bool:
        """Rewrite the head (its attempt count) while we hold the lane."""
        if await self.redis.get(self.keys.lease("lane:" + lane)) != token:
            return False
        await self.redis.lset(self.keys.relay_outbox(lane), 0, item.model_dump_json())
        return True

    async def complete(self, lane: str, token: str, item: Delivery, record: tuple[str, str] | None,
                       feed: Delivery | None, now: float) -> bool:
        """Atomically: drop the head item, write its record, queue its feed line. False if lease lost."""
        field, value = record if record is not None else ("", "")
        got = await self._complete(
            keys=[self.keys.lease("lane:" + lane), self.keys.relay_outbox(lane),
                  self.keys.relayed(item.case_id), self.keys.relay_outbox("feed"), self.keys.relay_ready()],
            args=[token, item.id, field, value, feed.model_dump_json() if feed is not None else "", now,
                  "feed"],
        )
        return bool(got)

    async def finish_lane(self, lane: str, token: str, next_at: float | None) -> bool:
        got = await self._finish(
            keys=[self.keys.lease("lane:" + lane), self.keys.relay_outbox(lane), self.keys.relay_ready()],
            args=[token, lane, "" if next_at is None else next_at],
        )
        return bool(got)

    async def dead_letter(self, item: Delivery, reason: str) -> None:
        entry = json.dumps({"reason": reason, "at": time.time(), "item": item.model_dump(mode="json")})
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.lpush(self.keys.relay_dead(), entry)
            pipe.ltrim(self.keys.relay_dead(), 0, RELAY_DEAD_MAXLEN - 1)
            await pipe.execute()

    async def relayed(self, case_id: str, item_id: str) -> str | None:
        """The delivery record of one item ("<channel>|<ts>|<version>", or a pending mark), or None."""
        return cast("str | None", await self.redis.hget(self.keys.relayed(case_id), item_id))

    async def busy_with(self, case_id: str) -> bool:
        """A fetch of the case is under way, or deliveries for it wait in its outbox."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.exists(self.keys.lease("fetch:" + case_id))
            pipe.llen(self.keys.relay_outbox(case_id))
            pipe.exists(self.keys.lease("lane:" + case_id))
            leased, queued, delivering = await pipe.execute()
        return bool(leased) or bool(queued) or bool(delivering)

    async def next_lane_at(self, now: float) -> float | None:
        """When the soonest lane that is not due yet (paced after a post, or backing off) becomes due."""
        rows = await self.redis.zrangebyscore(self.keys.relay_ready(), f"({now}", "+inf", start=0, num=1,
                                              withscores=True)
        return float(rows[0][1]) if rows else None

    async def queue_depth(self) -> int:
        lanes = cast(list[str], await self.redis.zrange(self.keys.relay_ready(), 0, -1))
        if not lanes:
            return 0
        async with self.redis.pipeline(transaction=False) as pipe:
            for lane in lanes:
                pipe.llen(self.keys.relay_outbox(lane))
            counts: list[Any] = await pipe.execute()
        return sum(int(c) for c in counts)

    # --- requests outside the polling plan (webhook/sweep-triggered fetches, baselines) ----------
    async def record_extra(self, requests: int, now: float, day: float) -> None:
        """Count `requests` made outside the plan in the current slot (1/24 of a day); the first
        count also records since when counting (EXTRA_SINCE)."""
        if requests <= 0:
            return
        slot = int(now // (day / EXTRA_SLOTS))
        key = self.keys.relay_extra()
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hincrby(key, str(slot), requests)
            pipe.hsetnx(key, EXTRA_SINCE, f"{now:.3f}")
            pipe.expire(key, max(1, math.ceil(2 * day)))
            await pipe.execute()

    async def extra_requests(self, now: float, day: float) -> int:
        """Requests outside the plan a day: the count of the last day (the current slot and the 23
        before it; older slots are dropped). While less than a day has been recorded, the count so far
        as a rate over the time it covers, at least EXTRA_MIN_COVER of a day."""
        key = self.keys.relay_extra()
        current = int(now // (day / EXTRA_SLOTS))
        raw = await hgetall(self.redis, key)
        total = 0
        stale: list[str] = []
        since = now - day
        for field, value in raw.items():
            if field == EXTRA_SINCE:
                try:
                    since = float(value)
                except ValueError:
                    stale.append(field)
                continue
            try:
                slot, count = int(field), int(value)
            except ValueError:
                stale.append(field)
                continue
            if slot > current - EXTRA_SLOTS:
                total += max(0, count)
            else:
                stale.append(field)
        if stale:
            await self.redis.hdel(key, *stale)
        covered = now - since
        if covered >= day:
            return total
        return math.ceil(total * day / max(covered, EXTRA_MIN_COVER * day))
