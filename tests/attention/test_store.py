"""The attention store (bot/store/attention.py) and its in-memory twin agree, call for call."""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis.asyncio as aioredis
from pydantic import ValidationError

from bot.store.attention import AttentionStore, DmKind, MemoryAttention, Prefs, ReminderKind, index_commands
from bot.store.cases import CaseState, MemoryCaseStates
from bot.store.keys import Keys
from bot.store.snapshots import CaseMarks, CaseSnap
from tests.services.helpers import make_settings

DEFAULTS = Prefs()


def state(case_id: str, email: str, **marks: Any) -> dict[str, str]:
    case = CaseSnap(id=case_id, reference=case_id.upper(), lifecycle="Active", assignee_email=email)
    return CaseState(first_seen=10.0, case=case, marks=CaseMarks.model_validate(marks)).to_hash()


async def put(where: Any, case_id: str, fields: dict[str, str]) -> None:
    if isinstance(where, MemoryCaseStates):
        where.state[case_id] = dict(fields)
    else:
        redis, keys = where
        await redis.hset(keys.case_state(case_id), mapping=fields)


async def exercise(store: Any, cases: Any) -> list[Any]:
    out: list[Any] = []
    # preferences: defaults, changes merged, bad input refused and nothing stored
    out.append(await store.prefs("U1", DEFAULTS) == DEFAULTS)
    await store.change_prefs("U1", quiet_hours="", dms={DmKind.assigned})
    await store.change_prefs("U1", digest=False)
    prefs = await store.prefs("U1", DEFAULTS)
    out.append(
        (prefs.quiet_span(), sorted(prefs.dms), prefs.digest, prefs.wants_reminder(ReminderKind.reply))
    )
    for bad in ({"nope": 1}, {"digest": "maybe"}):
        try:
            await store.change_prefs("U2", **bad)
        except (ValueError, ValidationError) as exc:
            out.append(type(exc).__name__)
    out.append(sorted(await store.all_prefs(DEFAULTS)))
    # defaults move with the settings for whoever did not change them
    later = Prefs(quiet_hours="20:00-07:00")
    out.append(((await store.prefs("U1", later)).quiet_hours, (await store.prefs("U9", later)).quiet_hours))
    # mutes
    out += [
        await store.mute("U1", "c1"),
        await store.mute("U1", "c1"),
        sorted(await store.mutes("U1")),
        await store.unmute("U1", "c1"),
        await store.unmute("U1", "c1"),
        sorted(await store.mutes("U1")),
    ]
    # the index: a superset, readers keep what the stored case says
    await put(cases, "c1", state("c1", "ana@x.test", waiting_since=5.0))
    await put(cases, "c2", state("c2", "Ana@X.test"))
    await put(cases, "c3", state("c3", "bo@x.test"))
    await put(cases, "c4", state("c4", ""))
    await put(cases, "c5", {**state("c5", "ana@x.test"), "gone": "1"})
    closed = CaseSnap(id="c6", reference="C6", lifecycle="Closed", assignee_email="ana@x.test")
    long_ago = time.time() - 200 * 86400
    await put(
        cases, "c6", CaseState(first_seen=1.0, case=closed, marks=CaseMarks(closed_at=long_ago)).to_hash()
    )
    recent = closed.model_copy(update={"id": "c7", "reference": "C7"})
    await put(
        cases,
        "c7",
        CaseState(first_seen=1.0, case=recent, marks=CaseMarks(closed_at=time.time() - 86400)).to_hash(),
    )
    for case_id, email in (
        ("c6", "ana@x.test"),
        ("c7", "ana@x.test"),
        ("c1", "ana@x.test"),
        ("c2", "ana@x.test"),
        ("c3", "ana@x.test"),
        ("c4", ""),
        ("c5", "ana@x.test"),
        ("c9", "ana@x.test"),
    ):
        await store.index(case_id, None, email)
    await store.index("c3", "ana@x.test", "bo@x.test")
    out.append(await store.owners())
    mine = await store.tracked_for("ANA@x.test")
    out.append([(t.case.id, t.marks.waiting_since, t.first_seen) for t in mine])
    everyone = await store.tracked_all()
    out.append({email: [t.case.id for t in cases] for email, cases in everyone.items()})
    # the stale members are gone from the index: c2's assignee changes back and it is re-added by index()
    await store.index("c2", "ana@x.test", "bo@x.test")
    out.append([t.case.id for t in await store.tracked_for("bo@x.test")])  # c2's stored case still says ana
    # Slack accounts of assignee emails
    await store.save_account("Ana@X.test", "UANA", 100.0)
    await store.save_account("ghost@x.test", "", 101.0)
    out.append(await store.accounts(["ana@x.test", "GHOST@x.test", "new@x.test", ""]))
    out += [await store.team_view()]
    await store.save_team_view('{"a": 1}')
    out.append(await store.team_view())
    return out


async def test_attention_store_and_its_twin_agree(redis: aioredis.Redis, keys: Keys) -> None:
    got = await exercise(AttentionStore(redis, keys), (redis, keys))
    memory = MemoryAttention()
    assert got == await exercise(memory, memory.cases)
    assert got[1] == (None, ["assigned"], False, True)
    assert got[2:4] == ["ValueError", "ValidationError"] and got[4] == ["U1"]
    assert got[5] == ("", "20:00-07:00")
    assert got[6:12] == [True, False, ["c1"], True, False, []]
    assert got[12] == ["", "ana@x.test", "bo@x.test"]
    # c6 closed 200 days ago: dropped (and out of the index); c7 closed yesterday: kept
    assert got[13] == [("c1", 5.0, 10.0), ("c2", 0.0, 10.0), ("c7", 0.0, 1.0)]
    assert got[14] == {"": ["c4"], "ana@x.test": ["c1", "c2", "c7"], "bo@x.test": ["c3"]}
    assert got[15] == ["c3"]
    assert got[16] == {"ana@x.test": ("UANA", 100.0), "ghost@x.test": ("", 101.0), "new@x.test": None}
    assert got[17:] == [None, '{"a": 1}']
    # stale and gone members were dropped from Redis too
    assert await redis.smembers(keys.attention_owner("ana@x.test")) == {"c1", "c7"}  # c2 re-indexed to bo
    assert await redis.ttl(keys.attention_team()) > 0


async def test_index_commands_run_in_a_callers_transaction(redis: aioredis.Redis, keys: Keys) -> None:
    async with redis.pipeline(transaction=True) as pipe:
        index_commands(pipe, keys, "c1", None, "A@x.test")
        index_commands(pipe, keys, "c1", "a@x.test", "")
        await pipe.execute()
    assert await redis.smembers(keys.attention_owner("a@x.test")) == set()
    assert await redis.smembers(keys.attention_owner("")) == {"c1"}
    assert await redis.smembers(keys.attention_owners()) == {"a@x.test", "-"}


def test_defaults_come_from_the_settings() -> None:
    settings = make_settings(
        caseroom_quiet_hours="19:30-07:15",
        caseroom_digest="false",
        caseroom_digest_time="07:45",
        caseroom_digest_weekends="true",
    )
    prefs = Prefs.defaults(settings)
    assert (prefs.quiet_span(), prefs.digest, prefs.digest_minute(), prefs.weekends) == (
        (19 * 60 + 30, 7 * 60 + 15),
        False,
        7 * 60 + 45,
        True,
    )
    with pytest.raises(ValueError, match="HH:MM-HH:MM"):
        make_settings(caseroom_quiet_hours="late")
    with pytest.raises(ValueError, match="days"):
        make_settings(caseroom_exclusive_reminders="soon")
    assert make_settings(caseroom_exclusive_reminders="1,14,7").caseroom_exclusive_reminders == [14, 7, 1]
