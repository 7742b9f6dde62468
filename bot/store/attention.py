"""People's attention state (issue 13): notification preferences, per-case mutes, which Slack account
each assignee email is, and the index from an assignee to their cases.

Keys (bot/store/keys.py): `attention_prefs` (hash user -> JSON of the preferences a person changed),
`attention_mutes(user)` (set of case ids), `attention_accounts` (hash email -> "<user id>|<checked>"),
`attention_owner(email)` (set of case ids; "-" unassigned) with `attention_owners` (the emails), and
`attention_team` (the admins' team view, cached ATTENTION_TEAM_TTL).

The queue of a person is read from the index, not by scanning every case: `tracked_for(email)` reads
the member ids' case states (fields `fs`, `case`, `att`) in one round trip per TRACKED_CHUNK cases and
keeps those whose stored assignee is still `email` (the index is a superset: the relay adds a case to
its assignee's set in its fetch commit, and removes it from the previous one; the sweep re-adds every
listed open case it knows; readers drop and clean what no longer matches, and closed cases CLOSED_KEPT
after their close).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Any, Protocol

import redis.asyncio as aioredis
from pydantic import BaseModel, ConfigDict, ValidationError

from bot.config import Settings, parse_clock, parse_span
from bot.store.cases import CaseState, MemoryCaseStates
from bot.store.keys import ATTENTION_TEAM_TTL, Keys
from bot.store.pieces import WHOLE_LUA
from bot.store.reads import get, hget, hgetall
from bot.store.snapshots import TrackedCase

UNASSIGNED = ""
"""The owner email of cases with no assignee (stored as "-" in keys and sets)."""
TRACKED_CHUNK = 150
"""Case states read per round trip (then the loop gets a turn: a chunk of new states parses in ~10 ms)."""
PARSED_KEPT = 50_000
"""Parsed case states kept per process (by case id, with the stored text they came from): a state whose
text did not change since the last read is not parsed again (a pass over 10,000 unchanged cases parses
none). Past this many, the memo starts over."""


class DmKind(StrEnum):
    """Direct messages a person may turn off (Home > Notification settings)."""

    assigned = "assigned"
    creditor_chat = "creditor_chat"
    needs_info = "needs_info"
    payment = "payment"
    closed = "closed"


class ReminderKind(StrEnum):
    exclusive = "exclusive"
    """The exclusive period ends in CASEROOM_EXCLUSIVE_REMINDERS days."""
    reply = "reply"
    """A creditor chat unanswered after CASEROOM_REPLY_SLA hours."""
    activation = "activation"
    """Waiting for activation after CASEROOM_ACTIVATION_REMINDER hours."""


class Prefs(BaseModel):
    """One person's notification preferences (defaults from Settings; only changes are stored)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    dms: frozenset[DmKind] = frozenset(DmKind)
    reminders: frozenset[ReminderKind] = frozenset(ReminderKind)
    channel_only: bool = False
    """Creditor chats only in the case channel when the person is a member of it (no DM)."""
    quiet_hours: str = "18:00-08:00"
    """HH:MM-HH:MM in the person's time zone, "" for none."""
    digest: bool = True
    digest_time: str = "08:00"
    weekends: bool = False
    """Digests (and reminders held by quiet hours) on Saturday and Sunday too."""

    @classmethod
    def defaults(cls, settings: Settings) -> Prefs:
        return cls(quiet_hours=settings.caseroom_quiet_hours, digest=settings.caseroom_digest,
                   digest_time=settings.caseroom_digest_time, weekends=settings.caseroom_digest_weekends)

    def wants_dm(self, kind: DmKind) -> bool:
        return kind in self.dms

    def wants_reminder(self, kind: ReminderKind) -> bool:
        return kind in self.reminders

    def quiet_span(self) -> tuple[int, int] | None:
        """(start, end) minutes after midnight, or None when the person has no quiet hours."""
        return parse_span(self.quiet_hours) if self.quiet_hours else None

    def digest_minute(self) -> int:
        return parse_clock(self.digest_time) or 8 * 60


PREF_FIELDS = frozenset(Prefs.model_fields)


def _prefs(defaults: Prefs, raw: str | None) -> Prefs:
    if not raw:
        return defaults
    try:
        changes = {k: v for k, v in json.loads(raw).items() if k in PREF_FIELDS}
        return Prefs.model_validate({**defaults.model_dump(), **changes})
    except (ValueError, TypeError, AttributeError, ValidationError):
        return defaults  # a stored value we cannot read: the defaults, never an error on Home


def _change_json(current: str | None, changes: dict[str, Any]) -> str:
    """The stored JSON of a person's changes after `changes` (validated first)."""
    unknown = set(changes) - PREF_FIELDS
    if unknown:
        raise ValueError(f"unknown preference(s): {', '.join(sorted(unknown))}")
    Prefs.model_validate(changes)  # raises ValidationError on a bad value
    try:
        stored = json.loads(current) if current else {}
    except ValueError:
        stored = {}
    if not isinstance(stored, dict):
        stored = {}
    for key, value in changes.items():
        stored[key] = sorted(value) if isinstance(value, set | frozenset) else value
    return json.dumps(stored, sort_keys=True)


def owner_member(email: str) -> str:
    return email.strip().lower() or "-"


def _email(member: str) -> str:
    return "" if member == "-" else member


def _account(raw: str | None) -> tuple[str, float] | None:
    if raw is None:
        return None
    user, _, at = raw.partition("|")
    try:
        return user, float(at or 0)
    except ValueError:
        return user, 0.0


CLOSED_KEPT = 90 * 86400.0
"""A closed case stays in its assignee's index this long after it closed (CASEROOM_RECENT_DAYS is at most
90); then readers drop it, and the sweep does not add closed cases back, so years of closed cases do not
weigh on a person's Home."""


def _belongs(tracked: TrackedCase, email: str) -> bool:
    if tracked.case.assignee_email.strip().lower() != email:
        return False
    if tracked.case.closed:
        closed = tracked.marks.closed_at
        return bool(closed) and time.time() - closed <= CLOSED_KEPT
    return True


class Attention(Protocol):
    """What Home, the DMs, reminders and digests need of people's attention state."""

    async def prefs(self, user_id: str, defaults: Prefs) -> Prefs: ...

    async def change_prefs(self, user_id: str, **changes: Any) -> None: ...

    async def all_prefs(self, defaults: Prefs) -> dict[str, Prefs]: ...

    async def mute(self, user_id: str, case_id: str) -> bool: ...

    async def unmute(self, user_id: str, case_id: str) -> bool: ...

    async def mutes(self, user_id: str) -> set[str]: ...

    async def index(self, case_id: str, old_email: str | None, new_email: str) -> None: ...

    async def owners(self) -> list[str]: ...

    async def tracked_for(self, email: str) -> list[TrackedCase]: ...

    async def tracked_all(self) -> dict[str, list[TrackedCase]]: ...

    async def accounts(self, emails: Iterable[str]) -> dict[str, tuple[str, float] | None]: ...

    async def save_account(self, email: str, user_id: str, at: float) -> None: ...

    async def team_view(self) -> str | None: ...

    async def save_team_view(self, view_json: str, ttl: int = ATTENTION_TEAM_TTL) -> None: ...

    async def note_home_opened(self, at: float) -> None: ...

    async def home_opened_at(self) -> float: ...

    async def forget_person(self, user_id: str, email: str = "") -> list[str]: ...


# KEYS[1] accounts hash; ARGV user id. The emails whose account is that user (a small reply, filtered
# in Redis: the hash holds every assignee).
_EMAILS_OF = """
local out = {}
local all = redis.call('HGETALL', KEYS[1])
local prefix = ARGV[1] .. '|'
for i = 1, #all, 2 do
  if string.sub(all[i + 1], 1, #prefix) == prefix then out[#out + 1] = all[i] end
end
return out
"""


# KEYS: case-state hashes. Fields fs, case, att, gone of each (false where absent; case and att joined
# from their pieces, bot/store/pieces.py), one round trip, as
# one JSON text: a reply of 500 x 4 bulk strings costs redis-py's pure-Python RESP parser ~4x the time
# of one string and json.loads (bench/home_bench.py).
_STATES = WHOLE_LUA + """
local out = {}
for i, key in ipairs(KEYS) do
  out[i] = {redis.call('HGET', key, 'fs') or false, whole(key, 'case'), whole(key, 'att'),
            redis.call('HGET', key, 'gone') or false}
end
return cjson.encode(out)
"""


def index_commands(pipe: Any, keys: Keys, case_id: str, old_email: str | None, new_email: str) -> None:
    """Queue the index update of one case on a pipeline (the relay's fetch commit and the sweep use it,
    inside their own transactions): into `new_email`'s set, out of `old_email`'s when it changed."""
    new = owner_member(new_email)
    if old_email is not None and owner_member(old_email) != new:
        pipe.srem(keys.attention_owner(owner_member(old_email)), case_id)
    pipe.sadd(keys.attention_owner(new), case_id)
    pipe.sadd(keys.attention_owners(), new)


class AttentionStore:
    def __init__(self, redis: aioredis.Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._states = redis.register_script(_STATES)
        self._emails_of = redis.register_script(_EMAILS_OF)
        self._parsed: dict[str, tuple[str, str, str, TrackedCase]] = {}
        """case id -> (fs, case, att texts, what they parse to)."""

    async def prefs(self, user_id: str, defaults: Prefs) -> Prefs:
        return _prefs(defaults, await hget(self.redis, self.keys.attention_prefs(), user_id))

    async def change_prefs(self, user_id: str, **changes: Any) -> None:
        """Store a person's changed preferences (merged with earlier changes); ValueError/ValidationError
        on an unknown name or a bad value, nothing stored."""
        current = await hget(self.redis, self.keys.attention_prefs(), user_id)
        await self.redis.hset(self.keys.attention_prefs(), user_id, _change_json(current, changes))

    async def all_prefs(self, defaults: Prefs) -> dict[str, Prefs]:
        """Every person who changed something (the others have `defaults`)."""
        raw = await hgetall(self.redis, self.keys.attention_prefs())
        return {user: _prefs(defaults, value) for user, value in raw.items()}

    async def mute(self, user_id: str, case_id: str) -> bool:
        return bool(await self.redis.sadd(self.keys.attention_mutes(user_id), case_id))

    async def unmute(self, user_id: str, case_id: str) -> bool:
        return bool(await self.redis.srem(self.keys.attention_mutes(user_id), case_id))

    async def mutes(self, user_id: str) -> set[str]:
        return {str(m) for m in await self.redis.smembers(self.keys.attention_mutes(user_id))}

    async def index(self, case_id: str, old_email: str | None, new_email: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            index_commands(pipe, self.keys, case_id, old_email, new_email)
            await pipe.execute()

    async def owners(self) -> list[str]:
        """Every assignee email with indexed cases ("" for unassigned), sorted."""
        return sorted(_email(str(m)) for m in await self.redis.smembers(self.keys.attention_owners()))

    def _tracked(self, case_id: str, fs: str, case: str, att: str) -> TrackedCase | None:
        memo = self._parsed.get(case_id)
        if memo is not None and memo[1] == case and memo[2] == att and memo[0] == fs:
            return memo[3]
        raw = {"fs": fs or "0", "case": case}
        if att:
            raw["att"] = att
        tracked = CaseState.from_hash(raw).tracked()
        if tracked is not None:
            if len(self._parsed) >= PARSED_KEPT:
                self._parsed.clear()
            self._parsed[case_id] = (fs, case, att, tracked)
        return tracked

    async def _read(self, case_ids: Sequence[str]) -> list[TrackedCase]:
        out: list[TrackedCase] = []
        for start in range(0, len(case_ids), TRACKED_CHUNK):
            if start:
                await asyncio.sleep(0)  # a turn for the loop between chunks
            chunk = case_ids[start:start + TRACKED_CHUNK]
            answer = json.loads(str(await self._states(keys=[self.keys.case_state(c) for c in chunk])))
            for case_id, fields in zip(chunk, answer, strict=True):
                fs, case, att, gone = (v if isinstance(v, str) else "" for v in fields)
                if not case or gone == "1":
                    continue  # never seen, or no longer assigned to us
                tracked = self._tracked(case_id, fs, case, att)
                if tracked is not None:
                    out.append(tracked)
        return out

    async def tracked_for(self, email: str) -> list[TrackedCase]:
        """The cases whose stored assignee is `email` ("" unassigned); stale index members are removed."""
        email = email.strip().lower()
        key = self.keys.attention_owner(owner_member(email))
        ids = sorted(str(m) for m in await self.redis.smembers(key))
        found = await self._read(ids)
        mine = [t for t in found if _belongs(t, email)]
        stale = set(ids) - {t.case.id for t in mine}
        if stale:
            await self.redis.srem(key, *sorted(stale))
        return mine

    async def tracked_all(self) -> dict[str, list[TrackedCase]]:
        """Every indexed case by its stored assignee email ("" unassigned)."""
        out: dict[str, list[TrackedCase]] = {}
        for email in await self.owners():
            cases = await self.tracked_for(email)
            if cases:
                out[email] = cases
        return out

    async def accounts(self, emails: Iterable[str]) -> dict[str, tuple[str, float] | None]:
        """For each email: (Slack user id or "" for no account, when checked), or None never checked."""
        wanted = sorted({e.strip().lower() for e in emails if e.strip()})
        if not wanted:
            return {}
        values = await self.redis.hmget(self.keys.attention_accounts(), wanted)
        pairs = zip(wanted, values, strict=True)
        return {email: _account(None if v is None else str(v)) for email, v in pairs}

    async def save_account(self, email: str, user_id: str, at: float) -> None:
        """What Slack said of an assignee email: its user id, or "" for no account."""
        await self.redis.hset(self.keys.attention_accounts(), email.strip().lower(), f"{user_id}|{at:.0f}")

    async def team_view(self) -> str | None:
        return await get(self.redis, self.keys.attention_team())

    async def save_team_view(self, view_json: str, ttl: int = ATTENTION_TEAM_TTL) -> None:
        """Kept `ttl` seconds: ATTENTION_TEAM_TTL when a Home computed it, a few attention intervals when
        the relay's attention pass wrote it (App Home then only reads it)."""
        await self.redis.set(self.keys.attention_team(), view_json, ex=max(1, ttl))

    async def note_home_opened(self, at: float) -> None:
        """An `app_home_opened` event arrived (so the Home tab and its event are set up in Slack)."""
        await self.redis.set(self.keys.attention_home_opened(), f"{at:.0f}")

    async def home_opened_at(self) -> float:
        raw = await get(self.redis, self.keys.attention_home_opened())
        try:
            return float(raw or 0)
        except ValueError:
            return 0.0

    async def forget_person(self, user_id: str, email: str = "") -> list[str]:
        """Slack says a person changed (`user_change`: turned guest, deactivated, moved): drop what the
        DM path and the queues cached of them (`notify_person` of their emails and of their user id, and
        their `attention_accounts` entries), so the next DM or pass looks them up again. Returns the
        emails forgotten."""
        found = await self._emails_of(keys=[self.keys.attention_accounts()], args=[user_id])
        emails = sorted({str(e) for e in found} | ({email.strip().lower()} if email.strip() else set()))
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.keys.notify_person("id:" + user_id),
                        *[self.keys.notify_person(e) for e in emails])
            if emails:
                pipe.hdel(self.keys.attention_accounts(), *emails)
            await pipe.execute()
        return emails


class MemoryAttention:
    """An in-memory `Attention` for service tests; reads case states from a MemoryCaseStates."""

    def __init__(self, cases: MemoryCaseStates | None = None) -> None:
        self.cases = cases if cases is not None else MemoryCaseStates()
        self.stored_prefs: dict[str, str] = {}
        self.muted: dict[str, set[str]] = {}
        self.owner_sets: dict[str, set[str]] = {}
        self.account_map: dict[str, str] = {}
        self.team: str | None = None
        self.opened = 0.0

    async def prefs(self, user_id: str, defaults: Prefs) -> Prefs:
        return _prefs(defaults, self.stored_prefs.get(user_id))

    async def change_prefs(self, user_id: str, **changes: Any) -> None:
        self.stored_prefs[user_id] = _change_json(self.stored_prefs.get(user_id), changes)

    async def all_prefs(self, defaults: Prefs) -> dict[str, Prefs]:
        return {user: _prefs(defaults, value) for user, value in self.stored_prefs.items()}

    async def mute(self, user_id: str, case_id: str) -> bool:
        muted = self.muted.setdefault(user_id, set())
        added = case_id not in muted
        muted.add(case_id)
        return added

    async def unmute(self, user_id: str, case_id: str) -> bool:
        muted = self.muted.get(user_id, set())
        removed = case_id in muted
        muted.discard(case_id)
        return removed

    async def mutes(self, user_id: str) -> set[str]:
        return set(self.muted.get(user_id, set()))

    async def index(self, case_id: str, old_email: str | None, new_email: str) -> None:
        new = owner_member(new_email)
        if old_email is not None and owner_member(old_email) != new:
            self.owner_sets.get(owner_member(old_email), set()).discard(case_id)
        self.owner_sets.setdefault(new, set()).add(case_id)

    async def owners(self) -> list[str]:
        return sorted(_email(m) for m in self.owner_sets)

    async def tracked_for(self, email: str) -> list[TrackedCase]:
        email = email.strip().lower()
        ids = sorted(self.owner_sets.get(owner_member(email), set()))
        states = [self.cases.state.get(c, {}) for c in ids]
        found = [CaseState.from_hash(s).tracked() for s in states if s.get("gone") != "1"]
        mine = [t for t in found if t is not None and _belongs(t, email)]
        self.owner_sets.get(owner_member(email), set()).intersection_update({t.case.id for t in mine})
        return mine

    async def tracked_all(self) -> dict[str, list[TrackedCase]]:
        out: dict[str, list[TrackedCase]] = {}
        for email in await self.owners():
            cases = await self.tracked_for(email)
            if cases:
                out[email] = cases
        return out

    async def accounts(self, emails: Iterable[str]) -> dict[str, tuple[str, float] | None]:
        wanted = sorted({e.strip().lower() for e in emails if e.strip()})
        return {email: _account(self.account_map.get(email)) for email in wanted}

    async def save_account(self, email: str, user_id: str, at: float) -> None:
        self.account_map[email.strip().lower()] = f"{user_id}|{at:.0f}"

    async def team_view(self) -> str | None:
        return self.team

    async def save_team_view(self, view_json: str, ttl: int = ATTENTION_TEAM_TTL) -> None:
        self.team = view_json

    async def note_home_opened(self, at: float) -> None:
        self.opened = at

    async def home_opened_at(self) -> float:
        return self.opened

    async def forget_person(self, user_id: str, email: str = "") -> list[str]:
        emails = {e for e, v in self.account_map.items() if v.split("|", 1)[0] == user_id}
        if email.strip():
            emails.add(email.strip().lower())
        for e in emails:
            self.account_map.pop(e, None)
        return sorted(emails)
