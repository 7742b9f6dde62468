"""Long case-state values in pieces (bot/store/pieces.py): the hash keeps Redis' compact encoding, and a
reader never joins a stale or missing piece."""

from __future__ import annotations

import redis.asyncio as aioredis

from bot.store.cases import FIRST_SIGHT_LUA, CaseState, CaseStateStore
from bot.store.keys import Keys
from bot.store.pieces import MAX_PIECES, PIECE_BYTES, gather, spread, whole
from bot.store.reads import hgetall
from bot.store.snapshots import CaseMarks, CaseSnap


def snap(debtor: str) -> CaseSnap:
    return CaseSnap(id="c1", reference="Q8OAXF3W", lifecycle="Active", lifecycle_display="Active",
                    debtor=debtor, outstanding="1234.56", currency="EUR", assignee_email="ann@agency.test",
                    assignee_name="Ann Agent", date_updated=1764800000.123, created=1764000000.0)


def test_pieces_fit_a_listpack_value_and_join_back() -> None:
    value = "Müller & Søn ApS — Łódź 🚚 " * 20  # multi-byte characters across piece boundaries
    fields, stale = spread("case", value)
    assert len(fields) > 1 and all(len(v.encode()) <= PIECE_BYTES for v in fields.values())
    assert list(fields) == ["case"] + [f"case.{i}" for i in range(1, len(fields))]
    assert stale == [f"case.{i}" for i in range(len(fields), MAX_PIECES)]
    assert whole(fields, "case") == value
    assert gather({**fields, "fs": "1"}, ["case"]) == {"case": value, "fs": "1"}
    assert spread("case", "short") == ({"case": "short"}, [f"case.{i}" for i in range(1, MAX_PIECES)])
    huge = "x" * (PIECE_BYTES * MAX_PIECES + 1)  # too many pieces: stored whole, still correct
    assert spread("case", huge)[0] == {"case": huge}
    assert whole({"case": "legacy whole JSON"}, "case") == "legacy whole JSON"
    assert whole({}, "case") is None


async def test_a_case_state_is_a_listpack_and_a_shorter_rewrite_leaves_no_stale_piece(
        redis: aioredis.Redis, keys: Keys) -> None:
    key = keys.case_state("c1")
    marks = CaseMarks(lc="Active", lc_since=1764000000.5, chat_role=1, chat_at=1764800000.25,
                      waiting_since=1764800000.25)
    long_state = CaseState(first_seen=1.0, case=snap("Debtor " + "Ø" * 200), topic="t" * 90,
                           baselined={"chats", "timeline"}, marks=marks)
    for state in (long_state, CaseState(first_seen=1.0, case=snap("Bo"), baselined={"chats"},
                                                   marks=CaseMarks(lc="Closed"))):
        fields, stale = state.to_fields()
        async with redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=fields)  # type: ignore[arg-type]  # redis-py's mapping type is invariant
            pipe.hdel(key, *stale)
            await pipe.execute()
        raw = await hgetall(redis, key)
        assert CaseState.from_hash(raw) == state
        assert set(raw) == set(fields)  # nothing of the longer value left behind
        assert await redis.object("encoding", key) == "listpack"
        store = CaseStateStore(redis, keys)
        stored = state.case.model_dump_json(exclude_defaults=True) if state.case else None
        assert await store.stored_cases(["c1", "nobody"]) == [stored, None]


async def test_first_sight_keeps_a_stored_snapshot_and_stores_a_listed_one_in_pieces(
        redis: aioredis.Redis, keys: Keys) -> None:
    listed = snap("Listed " + "é" * 100).model_dump_json(exclude_defaults=True)
    pieces, _ = spread("case", listed)
    args = [x for item in pieces.items() for x in item]
    assert await redis.eval(FIRST_SIGHT_LUA, 1, keys.case_state("new"), "7.000", *args) == 1
    stored = CaseState.from_hash(await hgetall(redis, keys.case_state("new"))).case
    assert stored == CaseSnap.model_validate_json(listed)
    fetched = snap("Fetched").model_dump_json(exclude_defaults=True)
    await redis.hset(keys.case_state("known"), mapping={"fs": "3.000", "case": fetched})
    assert await redis.eval(FIRST_SIGHT_LUA, 1, keys.case_state("known"), "7.000", *args) == 0
    assert await hgetall(redis, keys.case_state("known")) == {"fs": "3.000", "case": fetched}
