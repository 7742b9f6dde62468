"""Listings do not trust `totalPages`: a repeated page or MAX_PAGES ends them, and that is reported
(one log warning per listing, caseroom_debitura_listing_truncated_total, the on_listing_end hook)."""

from __future__ import annotations

import inspect
import logging
from typing import Any

import httpx
import pytest

from bot.debitura.client import MAX_PAGES, DebituraClient, ListingEnd, RetryPolicy, Truncated
from bot.metrics import Metrics
from tests.debitura import bodies
from tests.debitura.conftest import BASE_URL

RUNAWAY = 10**9
"""What a misbehaving API claims as totalPages."""
GIVE_UP = 50
"""Requests after which the fake API fails the test (main followed totalPages for ever)."""


class Endless:
    """An API whose every page claims 10^9 pages. `same=True` ignores Page (always page 1)."""

    def __init__(self, *, kind: str, same: bool) -> None:
        self.kind = kind
        self.same = same
        self.requests = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if self.requests > GIVE_UP:
            raise AssertionError(f"still listing after {GIVE_UP} requests")
        page = 1 if self.same else int(request.url.params["Page"])
        envelope = bodies.page(page, RUNAWAY, 1, 1, RUNAWAY)
        item_id = f"00000000-0000-4000-8000-{page:012d}"
        if self.kind == "users":
            return httpx.Response(200, json={"page": envelope,
                                             "users": [{"id": item_id, "name": "U", "email": "u@x.example"}]})
        return httpx.Response(200, json={"page": envelope, "cases": [bodies.case(id=item_id)]})


class Ends:
    def __init__(self) -> None:
        self.seen: list[ListingEnd] = []

    async def __call__(self, end: ListingEnd) -> None:
        self.seen.append(end)


def make_client(handler: Any, metrics: Metrics, ends: Ends) -> DebituraClient:
    return DebituraClient(BASE_URL, "k", transport=httpx.MockTransport(handler), metrics=metrics,
                          retry_policy=RetryPolicy(max_retries=0), on_listing_end=ends)


def truncated(metrics: Metrics, listing: str, reason: str) -> float:
    value = metrics.registry.get_sample_value(
        "caseroom_debitura_listing_truncated_total", {"listing": listing, "reason": reason})
    return value or 0.0


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    found = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    return [m for m in found if "listing" in m]


async def test_all_users_stops_when_the_api_repeats_a_page(caplog: pytest.LogCaptureFixture) -> None:
    api, metrics, ends = Endless(kind="users", same=True), Metrics(), Ends()
    client = make_client(api, metrics, ends)
    users = await client.all_users(page_size=1)
    await client.aclose()
    assert api.requests == 2
    assert [u.id for u in users] == ["00000000-0000-4000-8000-000000000001"]  # the repeat is not yielded
    assert ends.seen == [ListingEnd("users", 2, Truncated.REPEATED_PAGE)]
    assert truncated(metrics, "users", "repeated_page") == 1
    assert len(warnings(caplog)) == 1


async def test_all_users_stops_at_max_pages(caplog: pytest.LogCaptureFixture) -> None:
    api, metrics, ends = Endless(kind="users", same=False), Metrics(), Ends()
    client = make_client(api, metrics, ends)
    users = await client.all_users(page_size=1, max_pages=5)
    await client.aclose()
    assert api.requests == 5 == len(users)
    assert ends.seen == [ListingEnd("users", 5, Truncated.MAX_PAGES)]
    assert truncated(metrics, "users", "max_pages") == 1
    assert len(warnings(caplog)) == 1


def test_every_listing_is_capped_by_max_pages_by_default() -> None:
    # (Running 2,000 pages through MockTransport takes seconds; the cap itself is tested above.)
    for method in (DebituraClient.all_users, DebituraClient.iter_users, DebituraClient.iter_cases):
        assert inspect.signature(method).parameters["max_pages"].default == MAX_PAGES
    assert 1_000 <= MAX_PAGES <= 10_000


@pytest.mark.parametrize(("same", "requests", "reason"), [(True, 2, Truncated.REPEATED_PAGE),
                                                         (False, 7, Truncated.MAX_PAGES)])
async def test_iter_cases_stops_on_a_runaway_listing(same: bool, requests: int, reason: Truncated) -> None:
    api, metrics, ends = Endless(kind="cases", same=same), Metrics(), Ends()
    client = make_client(api, metrics, ends)
    cases = [c async for c in client.iter_cases(page_size=1, max_pages=7)]
    await client.aclose()
    assert api.requests == requests
    assert len({c.id for c in cases}) == len(cases) == (1 if same else 7)
    assert ends.seen == [ListingEnd("cases", requests, reason)]
    assert truncated(metrics, "cases", reason.value) == 1


async def test_a_listing_that_ends_normally_reports_no_truncation(caplog: pytest.LogCaptureFixture) -> None:
    pages = [bodies.USERS_PAGE_1, bodies.USERS_PAGE_2]
    metrics, ends = Metrics(), Ends()
    client = make_client(lambda r: httpx.Response(200, json=pages.pop(0)), metrics, ends)
    assert len(await client.all_users(page_size=2)) == 3
    await client.aclose()
    assert ends.seen == [ListingEnd("users", 2, None)]
    assert truncated(metrics, "users", "max_pages") == truncated(metrics, "users", "repeated_page") == 0
    assert warnings(caplog) == []


async def test_a_failing_hook_does_not_fail_the_listing(caplog: pytest.LogCaptureFixture) -> None:
    async def broken(end: ListingEnd) -> None:
        raise ConnectionError("redis is down")

    api = Endless(kind="users", same=True)
    client = DebituraClient(BASE_URL, "k", transport=httpx.MockTransport(api), on_listing_end=broken)
    assert len(await client.all_users(page_size=1)) == 1
    # with_priority views (the relay's) report to the same hook
    assert client.with_priority(client.priority).on_listing_end is broken
    await client.aclose()
    assert any("could not record" in m for m in warnings(caplog))


async def test_an_empty_page_ends_a_listing_whatever_total_pages_says(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Not reported as cut short: cases can leave a listing between two pages, and nothing is lost
    # by stopping where the API has nothing more to give.
    pages = [{"page": bodies.page(1, RUNAWAY, 1, 1, RUNAWAY), "users": [{"id": "u1"}]},
             {"page": bodies.page(2, RUNAWAY, 1, 0, RUNAWAY), "users": []}]
    metrics, ends = Metrics(), Ends()
    client = make_client(lambda r: httpx.Response(200, json=pages.pop(0)), metrics, ends)
    assert [u.id for u in await client.all_users(page_size=1)] == ["u1"]
    await client.aclose()
    assert pages == [] and ends.seen == [ListingEnd("users", 2, None)]
    assert warnings(caplog) == []
