"""Rate limits: the limiter's windows on a fake clock, and the 429 the server sends."""

from __future__ import annotations

import httpx
import pytest

from bot.sandbox.ratelimit import Limits, RateLimiter
from tests.fixtures.sandbox import SandboxHandle


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_minute_window_slides_in_ten_second_segments() -> None:
    clock = Clock(1_000_000.0)  # a multiple of 10 and of 3600
    rl = RateLimiter(Limits(per_minute=3, per_hour=0, per_day=0), clock)
    for dt in (0, 5, 15):
        clock.t = 1_000_000 + dt
        assert rl.hit("k") is None
    clock.t = 1_000_020
    assert rl.hit("k") == pytest.approx(40.0)  # the first segment leaves the window at +60
    clock.t = 1_000_059.9
    assert rl.hit("k") is not None
    clock.t = 1_000_060
    assert rl.hit("k") is None  # segment [0, 10) with two requests slid out
    assert rl.hit("k") is None
    assert rl.hit("k") is not None
    assert rl.hit("other") is None  # keys are independent


def test_rejected_requests_consume_nothing() -> None:
    clock = Clock(2_000_000.0)
    rl = RateLimiter(Limits(per_minute=1, per_hour=0, per_day=0), clock)
    assert rl.hit("k") is None
    for _ in range(10):
        assert rl.hit("k") is not None
    clock.t += 60
    assert rl.hit("k") is None


def test_hour_window_is_fixed_to_the_top_of_the_hour() -> None:
    clock = Clock(3600 * 500 + 3000)
    rl = RateLimiter(Limits(per_minute=0, per_hour=2, per_day=0), clock)
    assert rl.hit("k") is None and rl.hit("k") is None
    assert rl.hit("k") == pytest.approx(600.0)
    clock.t = 3600 * 501
    assert rl.hit("k") is None


def test_day_window_is_anchored_to_the_first_request() -> None:
    start = 5_000_123.0
    clock = Clock(start)
    rl = RateLimiter(Limits(per_minute=0, per_hour=0, per_day=2), clock)
    assert rl.hit("k") is None
    clock.t = start + 50_000
    assert rl.hit("k") is None
    clock.t = start + 86_000
    assert rl.hit("k") == pytest.approx(400.0)
    clock.t = start + 86_400
    assert rl.hit("k") is None  # next 24 h chunk from the anchor, not midnight


@pytest.mark.sandbox
def test_server_429_body_and_no_retry_after_header(sandbox: SandboxHandle) -> None:
    sandbox.control.set_rate_limits(per_minute=5)
    with sandbox.client() as api:
        for _ in range(5):
            assert api.get("/me").status_code == 200
        r = api.get("/me")
        assert r.status_code == 429
        body = r.json()
        assert body["error"] == "rate_limit_exceeded" and body["message"]
        assert isinstance(body["retryAfter"], float) and 0 < body["retryAfter"] <= 60
        assert "retry-after" not in r.headers
        # requests without a valid key have their own partition
        assert httpx.get(f"{sandbox.url}/me").status_code == 401
    sandbox.control.reset()
    with sandbox.client() as api:
        assert api.get("/me").status_code == 200


@pytest.mark.sandbox
def test_server_hourly_and_daily_limits(sandbox: SandboxHandle) -> None:
    sandbox.control.set_rate_limits(per_minute=0, per_hour=2, per_day=0)
    with sandbox.client() as api:
        assert api.get("/me").status_code == 200 and api.get("/users").status_code == 200
        r = api.get("/me")
        assert r.status_code == 429 and 0 < r.json()["retryAfter"] <= 3600
    sandbox.control.set_rate_limits(per_minute=0, per_hour=0, per_day=1)
    with sandbox.client() as api:
        assert api.get("/me").status_code == 200
        r = api.get("/me")
        assert r.status_code == 429 and 86_000 < r.json()["retryAfter"] <= 86_400


@pytest.mark.sandbox
def test_unauthenticated_requests_share_one_partition(sandbox: SandboxHandle) -> None:
    sandbox.control.set_rate_limits(per_minute=2)
    assert httpx.get(f"{sandbox.url}/me").status_code == 401
    assert httpx.get(f"{sandbox.url}/me", headers={"XApiKey": "bad"}).status_code == 401
    assert httpx.get(f"{sandbox.url}/me", headers={"XApiKey": "other-bad"}).status_code == 429
    with sandbox.client() as api:
        assert api.get("/me").status_code == 200
