"""The polling policy: the bound 2N/B, quiet vs active intervals, even spreading when out of reach."""

from __future__ import annotations

import random

from bot.relay.scheduler import DAY, Policy


def policy(cases: int, active: int = 0, budget: int = 60_000, staleness: float = 3600) -> Policy:
    return Policy(cases=cases, active=active, daily_budget=budget, max_staleness=staleness, min_interval=60,
                  sweep_interval=120)


def test_bound_for_10000_cases_is_about_8_hours_within_10_percent() -> None:
    p = policy(10_000)
    assert 8 * 3600 <= p.bound <= 8 * 3600 * 1.10
    assert p.out_of_reach
    assert p.quiet_interval == p.bound
    # out of reach: every case polled at the bound, active ones get nothing extra
    assert p.active_interval == p.quiet_interval


def test_bound_formula() -> None:
    p = policy(1000)
    assert abs(p.bound - 2 * 1000 * DAY / p.poll_budget_per_day) < 1e-6
    assert p.bound < 3600 and not p.out_of_reach


def test_active_cases_polled_faster_with_spare_budget() -> None:
    p = policy(1000, active=50)
    assert p.quiet_interval == 3600
    assert 60 <= p.active_interval < 3600
    now = 1_000_000.0
    assert p.interval_for(now - 30, now) == p.active_interval
    assert p.interval_for(0, now) == 3600
    assert p.interval_for(now - 2 * DAY, now) == 3600
    # quieter -> slower, but never beyond the quiet interval
    assert p.interval_for(now - 1800, now) >= p.interval_for(now - 60, now)
    assert p.interval_for(now - 20 * 3600, now) == 3600


def test_active_polling_fits_the_budget() -> None:
    p = policy(1000, active=200)
    quiet = 2 * 1000 * DAY / p.quiet_interval
    active = 2 * 200 * DAY / p.active_interval
    assert quiet + active <= p.poll_budget_per_day * 1.0001


def test_first_due_spread_within_quiet_interval() -> None:
    p = policy(10_000)
    rng = random.Random(1)
    dues = [p.first_due(0.0, rng) for _ in range(1000)]
    assert min(dues) >= 0 and max(dues) <= p.quiet_interval
    assert max(dues) > 0.9 * p.quiet_interval and min(dues) < 0.1 * p.quiet_interval


def test_jitter_is_small_and_unbiased() -> None:
    p = policy(10)
    rng = random.Random(2)
    values = [p.jitter(100, rng) for _ in range(2000)]
    assert all(97.5 <= v <= 102.5 for v in values)
    assert abs(sum(values) / len(values) - 100) < 0.2, "no bias: on average the budgeted interval"
