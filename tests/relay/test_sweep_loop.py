"""The sweep keeps the event loop free: a full sweep's Redis work goes in bounded round trips.

`caseroom run` serves Slack on the loop the relay runs on. The first full sweep of a big portfolio
sees thousands of cases at once; scheduling them in one pipeline held the loop for seconds
(bench/RESULTS.md, "Event loop").
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline

from bot.debitura.models import CasePage
from bot.relay.scheduler import policy_from_settings
from bot.relay.store import RelayStore
from bot.relay.sweep import SCAN_CHUNK, SCHEDULE_CHUNK, Sweeper
from bot.store.cases import Want
from bot.store.keys import Keys
from tests.relay.harness import relay_settings

NOW = 1_800_000_000.0


def iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat().replace("+00:00", "Z")


class Listing:
    """GET /cases sorted by dateUpdated, newest first, from a list of case ids."""

    def __init__(self, ids: list[str]) -> None:
        self.cases = [{"id": cid, "lifecycle": "Active", "dateUpdated": iso(NOW - 10 - i)}
                      for i, cid in enumerate(ids)]

    async def list_cases(self, *, page: int, page_size: int, sort: str, include_test_cases: bool = False
                         ) -> CasePage:
        chunk = self.cases[(page - 1) * page_size: page * page_size]
        total = max(1, (len(self.cases) + page_size - 1) // page_size)
        return CasePage.model_validate({"cases": chunk, "page": {"currentPage": page, "totalPages": total}})

    async def end_listing(self, end: object) -> None:
        """How the listing ended (bot.debitura.client.DebituraClient.end_listing); not looked at here."""


def sweeper(redis: aioredis.Redis, prefix: str, listing: Listing) -> Sweeper:
    fake = SimpleNamespace(bot_token="xoxb-1-2-test", signing_secret="s" * 32, api_url="http://127.0.0.1:9/api/")
    settings = relay_settings(fake, "http://127.0.0.1:9", "key", prefix)  # type: ignore[arg-type]
    runtime = SimpleNamespace(settings=settings, debitura_background=listing)
    policy = policy_from_settings(settings, cases=len(listing.cases))
    return Sweeper(runtime, RelayStore(redis, Keys(prefix)), lambda: policy,  # type: ignore[arg-type]
                   clock=lambda: NOW)


@pytest.fixture
def pipeline_sizes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many commands each Redis pipeline sent."""
    sizes: list[int] = []
    execute = Pipeline.execute

    async def recording(self: Pipeline, raise_on_error: bool = True) -> Any:
        sizes.append(len(self.command_stack))
        return await execute(self, raise_on_error)

    monkeypatch.setattr(Pipeline, "execute", recording)
    return sizes


async def test_a_first_full_sweep_schedules_every_new_case_in_bounded_pipelines(
    redis: aioredis.Redis, redis_prefix: str, pipeline_sizes: list[int]
) -> None:
    count = 3 * SCHEDULE_CHUNK + 17
    ids = [f"case-{i:05d}" for i in range(count)]
    sweep = sweeper(redis, redis_prefix, Listing(ids))
    await sweep.run("full")
    sizes = list(pipeline_sizes)

    keys = Keys(redis_prefix)
    assert sweep.stats.first_sight == count
    assert await redis.zcard(keys.schedule()) == count
    async with redis.pipeline(transaction=False) as pipe:
        for cid in ids:
            pipe.hget(keys.case_state(cid), "next")
        nexts = await pipe.execute()
    assert all(n is not None and float(n) >= NOW for n in nexts)
    # No single round trip carries the whole portfolio (it held the event loop for seconds).
    assert max(sizes) <= 2 * SCHEDULE_CHUNK


async def test_a_full_sweep_asks_for_watched_cases_missing_from_the_listing(
    redis: aioredis.Redis, redis_prefix: str
) -> None:
    keys = Keys(redis_prefix)
    watched = [f"w-{i:05d}" for i in range(SCAN_CHUNK + 200)]  # more than one ZSCAN chunk
    listed = watched[:SCAN_CHUNK + 100]
    followed = watched[SCAN_CHUNK + 100:SCAN_CHUNK + 110]  # fetched for their own reasons, not asked again
    later = NOW + 3600
    await redis.zadd(keys.schedule(), dict.fromkeys(watched, later))
    await redis.sadd(keys.followed(), *followed)
    sweep = sweeper(redis, redis_prefix, Listing(listed))
    await sweep.run("full")

    requested = set(await redis.zrangebyscore(keys.schedule(), "-inf", NOW))
    assert requested == set(watched[SCAN_CHUNK + 110:])
    state = await redis.hget(keys.case_state(watched[-1]), "want")
    assert state is not None and int(state) & int(Want.CASE)
    assert not await redis.exists(keys.case_state(followed[0]))


def test_changed_fields_sees_what_the_pinned_summary_shows_but_not_an_older_snapshot() -> None:
    from bot.relay.sweep import changed_fields
    from bot.store.cases import Want
    from bot.store.snapshots import CaseSnap

    now = CaseSnap(id="c", lifecycle="Active", principal="100", period_end=1_800_000_000.0, needs_info=True)
    assert changed_fields(now.model_copy(update={"needs_info": False}), now) == Want.CASE
    assert changed_fields(now.model_copy(update={"period_end": 1.0}), now) == Want.CASE
    assert changed_fields(now, now) == Want.NONE
    older_release = CaseSnap(id="c", lifecycle="Active")  # no summary fields stored yet
    assert changed_fields(older_release, now) == Want.NONE
