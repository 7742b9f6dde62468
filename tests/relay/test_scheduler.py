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


def test_measured_sweep_pages_are_paid_for_out_of_the_poll_budget() -> None:
    """Incremental sweeps that read 2.5 pages each leave fewer polls: the plan stays inside the budget."""
    one = policy(10_000)
    measured = Policy(cases=10_000, active=0, daily_budget=60_000, max_staleness=3600, min_interval=60,
                      sweep_interval=120, incremental_pages=2.5)
    assert measured.sweep_cost_per_day - one.sweep_cost_per_day == DAY / 120 * 1.5
    assert measured.bound > one.bound
    # the whole plan (sweeps + every case polled once per bound) fits the daily budget exactly
    polls_per_day = 2 * 10_000 * DAY / measured.bound
    assert abs(polls_per_day + measured.sweep_cost_per_day - 60_000) < 1e-6
    # fewer than one page is never assumed
    low = Policy(cases=10, active=0, daily_budget=60_000, max_staleness=3600, min_interval=60,
                 sweep_interval=120, incremental_pages=0.2)
    assert low.sweep_cost_per_day == policy(10).sweep_cost_per_day


def test_sweep_pages_average_moves_towards_what_sweeps_read() -> None:
    from bot.relay.scheduler import next_pages_average, pages_average

    assert next_pages_average(None, 3) == 3.0
    assert next_pages_average("garbage", 2) == 2.0
    avg = next_pages_average("1.000", 3)
    assert 1.0 < avg < 3.0
    for _ in range(50):
        avg = next_pages_average(f"{avg:.3f}", 3)
    assert abs(avg - 3.0) < 0.01
    assert pages_average(None) == 1.0
    assert pages_average("0.5") == 1.0
    assert pages_average(b"2.75") == 2.75
    assert pages_average("nope") == 1.0
