"""The case state a Caseroom keeps per Debitura case, and the one store that writes it.

Two Redis hashes per case (keys `case_state` and `relay_seen`, see bot/store/keys.py):

* the *state* hash: `fs` first sight, `case` the last CaseSnap (JSON), `topic`, `base` (streams with a
  baseline), `act` last activity, `want` the Want bits asked for, `src` what asked (`webhook`), `err`
  consecutive fetch errors, `gone` the case no longer answers, `next` a sweep's first due time,
  `chk` the last full check, `wf` the last fetch a webhook asked for, `rq` how many fetches were asked
  for (a fetch that sees it change before its commit leaves the case asked for),
  `att` the attention marks (CaseMarks JSON: lifecycle since, newest chat, creditor waiting, last
  payment, closed; absent in states written before them); `case`, `att` and `topic` are stored in
  pieces of at most 60 bytes (`case.1`, `case.2`, ...: bot/store/pieces.py) so the hash keeps Redis'
  compact encoding;
* the *seen* hash, one short field per item ever accounted for: `c<hash(chat id)>` ->
  "<version>|<posted 0/1>", `t<hash(fingerprint)>` -> "", `p<hash(payment id)>` -> "amount|currency".

`CaseState` reads and writes the state hash's display fields; `CaseStateStore` holds the operations
other parts need (ask for a fetch, first sight, a chat written from Slack); the relay's fetch writes
the rest in its own transaction, with the field names from here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntFlag
from typing import Protocol

import redis.asyncio as aioredis

from bot.store.keys import Keys
from bot.store.pieces import WHOLE_LUA, spread_all, whole
from bot.store.reads import hgetall
from bot.store.snapshots import CaseMarks, CaseSnap, TrackedCase, short_hash

PIECED = ("case", "att", "topic")
"""State fields that may be longer than a listpack value: written with `state_fields`, read with `whole`."""

URGENT_OFFSET = 1e9
"""Requested fetches (webhooks, sweep-detected changes) are scored this far in the past, so they are
claimed before every overdue poll, first come first served among themselves."""


class Want(IntFlag):
    """What a fetch of one case reads. Webhooks and the sweep OR these into the case's state."""

    NONE = 0
    CHATS = 1
    TIMELINE = 2
    CASE = 4
    PAYMENTS = 8
    POLL = CHATS | TIMELINE


@dataclass
class CaseState:
    first_seen: float = 0.0
    case: CaseSnap | None = None
    topic: str = ""
    baselined: set[str] = field(default_factory=set)
    last_activity: float = 0.0
    marks: CaseMarks = field(default_factory=CaseMarks)

    @classmethod
    def from_hash(cls, raw: Mapping[str, str]) -> CaseState:
        snap, marks = whole(raw, "case"), whole(raw, "att")
        case = CaseSnap.model_validate_json(snap) if snap else None
        return cls(
            first_seen=float(raw.get("fs") or 0),
            case=case,
            topic=whole(raw, "topic") or "",
            baselined={s for s in (raw.get("base") or "").split(",") if s},
            last_activity=float(raw.get("act") or 0),
            marks=CaseMarks.model_validate_json(marks) if marks else CaseMarks(),
        )

    def to_hash(self) -> dict[str, str]:
        out = {
            "fs": f"{self.first_seen:.3f}",
            "topic": self.topic,
            "base": ",".join(sorted(self.baselined)),
            "act": f"{self.last_activity:.3f}",
        }
        if self.case is not None:
            out["case"] = self.case.model_dump_json(exclude_defaults=True)
        if self.marks != CaseMarks():
            out["att"] = self.marks.model_dump_json(exclude_defaults=True)
        return out

    def to_fields(self) -> tuple[dict[str, str], list[str]]:
        """`to_hash` as stored: the fields to set (long values in pieces) and the stale pieces to delete."""
        return state_fields(self.to_hash())

    def tracked(self) -> TrackedCase | None:
        """The case as the attention queues see it (None: no snapshot yet)."""
        if self.case is None:
            return None
        return TrackedCase(case=self.case, marks=self.marks, first_seen=self.first_seen)


def state_fields(mapping: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """State fields as stored: `mapping` with its long values in pieces, and the pieces to delete in the
    same transaction (HDEL after HSET)."""
    return spread_all(mapping, PIECED)


def chat_field(chat_id: str) -> str:
    return "c" + short_hash(chat_id)


def timeline_field(fingerprint: str) -> str:
    return "t" + fingerprint[:12]


def payment_field(payment_id: str) -> str:
    return "p" + short_hash(payment_id)


# KEYS[1] state hash, KEYS[2] schedule; ARGV bits, due (s), case id, source ('' or 'webhook').
# ORs the wanted bits into the state and pulls the due time in (never pushes it out).
_REQUEST_FETCH = """
local want = tonumber(redis.call('HGET', KEYS[1], 'want') or '0')
redis.call('HSET', KEYS[1], 'want', bit.bor(want, tonumber(ARGV[1])))
redis.call('HINCRBY', KEYS[1], 'rq', 1)
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'src', ARGV[4]) end
redis.call('ZADD', KEYS[2], 'LT', tonumber(ARGV[2]), ARGV[3])
return 1
"""

# KEYS: case-state hashes; ARGV[1] field. One round trip for a listed page (false where absent).
_HGET_EACH = WHOLE_LUA + """
local out = {}
for i, key in ipairs(KEYS) do out[i] = whole(key, ARGV[1]) end
return out
"""

# KEYS[1] state hash; ARGV[1] first sight (s), then the fields and values of a case snapshot's pieces.
# A case first seen in a listing: `fs` and the listed snapshot, each only if not stored yet (a fetch may
# have stored a fuller one). EVAL in the sweep's transaction (a pipelined script needs no load).
FIRST_SIGHT_LUA = """
redis.call('HSETNX', KEYS[1], 'fs', ARGV[1])
if redis.call('HEXISTS', KEYS[1], 'case') == 1 then return 0 end
for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
return 1
"""


class CaseStates(Protocol):
    """What services and the gateway need of the case state (Redis, or `MemoryCaseStates` in tests)."""

    async def request_fetch(self, case_id: str, bits: int, now: float, source: str = "") -> None: ...

    async def first_seen(self, case_id: str, now: float) -> None: ...

    async def load(self, case_id: str) -> CaseState: ...

    async def mark_chat_sent(self, case_id: str, chat_id: str, version: str = "") -> None: ...


class CaseStateStore:
    """The case state and seen hashes in Redis; the only writer outside the relay's fetch transaction."""

    def __init__(self, redis: aioredis.Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._request_fetch = redis.register_script(_REQUEST_FETCH)
        self._hget_each = redis.register_script(_HGET_EACH)

    async def request_fetch(self, case_id: str, bits: int, now: float, source: str = "") -> None:
        """Ask for a fetch of `case_id` reading `bits` as soon as possible (ahead of polls; watches it)."""
        await self._request_fetch(keys=[self.keys.case_state(case_id), self.keys.schedule()],
                                  args=[int(bits), now - URGENT_OFFSET, case_id, source])

    async def first_seen(self, case_id: str, now: float) -> None:
        """Note when Caseroom first watched the case (kept if already set): later items get posted."""
        await self.redis.hsetnx(self.keys.case_state(case_id), "fs", f"{now:.3f}")

    async def raw(self, case_id: str) -> dict[str, str]:
        return await hgetall(self.redis, self.keys.case_state(case_id))

    async def load(self, case_id: str) -> CaseState:
        return CaseState.from_hash(await self.raw(case_id))

    async def stored_cases(self, case_ids: Sequence[str]) -> list[str | None]:
        """The case snapshot stored in each case's state (None: never seen), in one round trip."""
        if not case_ids:
            return []
        answer = await self._hget_each(keys=[self.keys.case_state(c) for c in case_ids], args=["case"])
        return [None if v is None else str(v) for v in answer]  # Lua's false arrives as None

    async def pending(self, case_id: str) -> tuple[int, str]:
        """The fetch asked for and not yet done: its Want bits and what asked ("webhook" or "")."""
        want, src = await self.redis.hmget(self.keys.case_state(case_id), ["want", "src"])
        return int(want or 0), str(src or "")

    async def mark_chat_sent(self, case_id: str, chat_id: str, version: str = "") -> None:
        """A chat written from Slack (the chat modal): the relay must not post it back to the channel.

        `version` is what the relay compares for edits (unix seconds of dateUpdated or dateCreated with
        three decimals, see ChatSnap.version); leave it empty if unknown, an edit then updates nothing.
        """
        await self.redis.hsetnx(self.keys.relay_seen(case_id), chat_field(chat_id), f"{version}|0")


class MemoryCaseStates:
    """An in-memory `CaseStates` for service tests: the same fields, no Redis."""

    def __init__(self) -> None:
        self.state: dict[str, dict[str, str]] = {}
        self.seen: dict[str, dict[str, str]] = {}
        self.fetches: list[tuple[str, int, str]] = []

    async def request_fetch(self, case_id: str, bits: int, now: float, source: str = "") -> None:
        rec = self.state.setdefault(case_id, {})
        rec["want"] = str(int(rec.get("want") or 0) | int(bits))
        rec["rq"] = str(int(rec.get("rq") or 0) + 1)
        if source:
            rec["src"] = source
        self.fetches.append((case_id, int(bits), source))

    async def first_seen(self, case_id: str, now: float) -> None:
        self.state.setdefault(case_id, {}).setdefault("fs", f"{now:.3f}")

    async def load(self, case_id: str) -> CaseState:
        return CaseState.from_hash(self.state.get(case_id, {}))

    async def mark_chat_sent(self, case_id: str, chat_id: str, version: str = "") -> None:
        self.seen.setdefault(case_id, {}).setdefault(chat_field(chat_id), f"{version}|0")
