"""The relay's sweep does not follow a runaway `totalPages`, and `caseroom check` says when the last
listing of a kind was cut short (a marker in Redis written through the client's on_listing_end)."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from bot.check import Checker, Mark
from bot.config import Settings
from bot.debitura.client import DebituraClient, ListingEnd, RetryPolicy, Truncated
from bot.metrics import Metrics
from bot.relay.scheduler import policy_from_settings
from bot.relay.store import RelayStore
from bot.relay.sweep import Sweeper
from bot.store.keys import Keys
from bot.store.listings import record_listing_end, truncated_listings
from tests.fixtures.redis import redis_url

NOW = 1_800_000_000.0
RUNAWAY = 10**9
GIVE_UP = 60


def settings_for(prefix: str) -> Settings:
    return Settings(
        _env_file=None, slack_bot_token="xoxb-test", slack_signing_secret="secret",
        slack_api_url="http://127.0.0.1:9/api/", debitura_api_key="key", debitura_api_url="http://127.0.0.1:9",
        redis_url=redis_url(), caseroom_redis_prefix=prefix, caseroom_admin_users=["U0ADMIN01"],
    )


def iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat().replace("+00:00", "Z")


class RunawayCases:
    """GET /cases claiming 10^9 pages; `same=True` ignores Page and answers page 1 every time."""

    def __init__(self, *, same: bool) -> None:
        self.same = same
        self.pages: list[int] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.pages.append(int(request.url.params["Page"]))
        if len(self.pages) > GIVE_UP:
            raise AssertionError(f"the sweep is still listing after {GIVE_UP} pages")
        page = 1 if self.same else self.pages[-1]
        cases = [{"id": f"00000000-0000-4000-8000-{page:06d}{i:06d}", "lifecycle": "Active",
                  "dateUpdated": iso(NOW - page * 100 - i)} for i in range(3)]
        envelope = {"currentPage": page, "totalPages": RUNAWAY, "pageSize": 100, "responseCount": 3}
        return httpx.Response(200, json={"page": envelope, "cases": cases})


async def sweep(redis: aioredis.Redis, keys: Keys, api: RunawayCases, *, kind: str,
                max_pages: int | None = None) -> tuple[Sweeper, Metrics]:
    settings = settings_for(keys.prefix)
    metrics = Metrics()
    client = DebituraClient(
        "http://debitura.test", "key", transport=httpx.MockTransport(api), metrics=metrics,
        retry_policy=RetryPolicy(max_retries=0),
        on_listing_end=lambda end: record_listing_end(redis, keys, end, clock=lambda: NOW),
    )
    runtime = SimpleNamespace(settings=settings, debitura_background=client)
    policy = policy_from_settings(settings, cases=10)
    sweeper = Sweeper(runtime, RelayStore(redis, keys), lambda: policy, clock=lambda: NOW)  # type: ignore[arg-type]
    if max_pages is not None:
        sweeper.max_pages = max_pages
    try:
        await sweeper.run(kind)
    finally:
        await client.aclose()
    return sweeper, metrics


def truncated(metrics: Metrics, listing: str, reason: str) -> float:
    value = metrics.registry.get_sample_value(
        "caseroom_debitura_listing_truncated_total", {"listing": listing, "reason": reason})
    return value or 0.0


async def test_full_sweep_stops_when_the_api_repeats_a_page(redis: aioredis.Redis, keys: Keys) -> None:
    api = RunawayCases(same=True)
    sweeper, metrics = await sweep(redis, keys, api, kind="full")
    assert api.pages == [1, 2]
    assert sweeper.stats.first_sight == 3
    assert truncated(metrics, "relay_full_sweep", "repeated_page") == 1
    [cut] = await truncated_listings(redis, keys)
    assert (cut.listing, cut.reason, cut.pages, cut.at) == ("relay_full_sweep", "repeated_page", 2, NOW)


async def test_full_sweep_stops_at_max_pages_and_does_not_unwatch_the_rest(
    redis: aioredis.Redis, keys: Keys
) -> None:
    # A case watched but not listed before the cut must not be taken for gone (no fetch asked).
    await redis.zadd(keys.schedule(), {"ffffffff-0000-4000-8000-000000000000": NOW + 3600})
    api = RunawayCases(same=False)
    _, metrics = await sweep(redis, keys, api, kind="full", max_pages=5)
    assert api.pages == [1, 2, 3, 4, 5]
    assert truncated(metrics, "relay_full_sweep", "max_pages") == 1
    assert await redis.zscore(keys.schedule(), "ffffffff-0000-4000-8000-000000000000") == NOW + 3600
    assert await redis.hget(keys.case_state("ffffffff-0000-4000-8000-000000000000"), "want") is None
    [cut] = await truncated_listings(redis, keys)
    assert (cut.listing, cut.reason, cut.pages) == ("relay_full_sweep", "max_pages", 5)


async def test_incremental_sweep_stops_when_the_api_repeats_a_page(redis: aioredis.Redis, keys: Keys) -> None:
    # watermark below every listed case, so only the repeated page can end the sweep
    await redis.hset(keys.relay_sweep(), mapping={"wm": "1", "inc": "1", "full": f"{NOW:.3f}"})
    api = RunawayCases(same=True)
    _, metrics = await sweep(redis, keys, api, kind="incremental")
    assert api.pages == [1, 2]
    assert truncated(metrics, "relay_sweep", "repeated_page") == 1


async def test_a_listing_that_ends_normally_clears_its_marker(redis: aioredis.Redis, keys: Keys) -> None:
    await record_listing_end(redis, keys, ListingEnd("users", 2000, Truncated.MAX_PAGES), clock=lambda: NOW)
    await record_listing_end(redis, keys, ListingEnd("cases", 2, Truncated.REPEATED_PAGE), clock=lambda: NOW)
    assert [t.listing for t in await truncated_listings(redis, keys)] == ["cases", "users"]
    await record_listing_end(redis, keys, ListingEnd("users", 3, None))
    assert [t.listing for t in await truncated_listings(redis, keys)] == ["cases"]


@pytest.mark.parametrize("cut", [True, False])
async def test_check_reports_a_truncated_listing(redis: aioredis.Redis, keys: Keys, cut: bool) -> None:
    if cut:
        await record_listing_end(redis, keys, ListingEnd("relay_full_sweep", 2000, Truncated.MAX_PAGES),
                                 clock=lambda: NOW)
    checker = Checker(settings_for(keys.prefix), slack=Any, debitura=Any, redis=redis)  # type: ignore[arg-type]
    checker.redis_ok = True
    await checker.check_listings()
    [line] = checker.report.lines
    assert line.name == "listings"
    if cut:
        assert line.mark is Mark.WARN
        expected = "the last relay_full_sweep listing stopped after 2000 page(s) (stopped at 2000 pages"
        assert expected in line.detail
        assert "totalPages" in line.fix
    else:
        assert line.mark is Mark.OK
