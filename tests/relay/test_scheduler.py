"""The polling policy: the bound 2N/B, quiet vs active intervals, even spreading when out of reach."""

from __future__ import annotations

import dataclasses
import itertools
import random

import pytest

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
    # polled a margin inside the max staleness, so jitter and a busy worker never carry a gap past it
    assert p.quiet_poll_interval == 3600 * 0.95
    assert 60 <= p.active_interval < p.quiet_poll_interval
    now = 1_000_000.0
    assert p.interval_for(now - 30, now) == p.active_interval
    assert p.interval_for(0, now) == p.quiet_poll_interval
    assert p.interval_for(now - 2 * DAY, now) == p.quiet_poll_interval
    # quieter -> slower, but never beyond the quiet interval
    assert p.interval_for(now - 1800, now) >= p.interval_for(now - 60, now)
    assert p.interval_for(now - 20 * 3600, now) == p.quiet_poll_interval


def test_active_polling_fits_the_budget() -> None:
    for active_cases in (1, 50, 200, 1000):
        p = policy(1000, active=active_cases)
        quiet = 2 * (1000 - active_cases) * DAY / p.quiet_poll_interval
        active = 2 * active_cases * DAY / p.active_interval
        assert quiet + active <= p.poll_budget_per_day * 1.0001


def test_first_due_spread_within_quiet_interval() -> None:
    p = policy(10_000)
    rng = random.Random(1)
    dues = [p.first_due(0.0, rng) for _ in range(1000)]
    assert min(dues) >= 0 and max(dues) <= p.quiet_interval
    assert max(dues) > 0.9 * p.quiet_interval and min(dues) < 0.1 * p.quiet_interval
    # within reach the first checks also land inside the max staleness (less the margin)
    small = policy(1000)
    assert max(small.first_due(0.0, rng) for _ in range(1000)) <= small.quiet_poll_interval


def test_jitter_is_small_and_unbiased() -> None:
    p = policy(10)
    rng = random.Random(2)
    values = [p.jitter(100, rng) for _ in range(2000)]
    assert all(99 <= v <= 101 for v in values)
    assert abs(sum(values) / len(values) - 100) < 0.2, "no bias: on average the budgeted interval"


def plan_total(p: Policy) -> float:
    """Requests a day the plan spends: every case polled once per quiet poll interval, sweeps, extras."""
    return 2 * p.cases * p.day / p.quiet_poll_interval + p.sweep_cost_per_day + p.extra_per_day


def test_measured_sweep_pages_are_paid_for_out_of_the_poll_budget() -> None:
    """Incremental sweeps that read 2.5 pages each leave fewer polls: the plan stays inside the budget."""
    one = policy(10_000)
    measured = Policy(cases=10_000, active=0, daily_budget=60_000, max_staleness=3600, min_interval=60,
                      sweep_interval=120, incremental_pages=2.5)
    assert measured.sweep_cost_per_day > one.sweep_cost_per_day
    assert measured.bound > one.bound
    # the whole plan (sweeps + every case polled once per bound) fits the daily budget exactly
    assert abs(plan_total(measured) - 60_000) < 1e-6
    assert abs(plan_total(one) - 60_000) < 1e-6
    # fewer than one page is never assumed
    low = Policy(cases=10, active=0, daily_budget=60_000, max_staleness=3600, min_interval=60,
                 sweep_interval=120, incremental_pages=0.2)
    assert low.sweep_cost_per_day == policy(10).sweep_cost_per_day


def test_requests_outside_the_plan_are_paid_for_out_of_the_poll_budget() -> None:
    """Webhook- and sweep-triggered fetches and payment baselines of the last day shrink the polls."""
    base = policy(10_000)
    busy = Policy(cases=10_000, active=0, daily_budget=60_000, max_staleness=3600, min_interval=60,
                  sweep_interval=120, extra_per_day=3_000)
    assert busy.bound > base.bound
    assert abs(plan_total(busy) - 60_000) < 1e-6
    # more extras than budget: the plan degrades (one request a day for polls), never goes negative
    swamped = Policy(cases=10_000, active=0, daily_budget=60_000, max_staleness=3600, min_interval=60,
                     sweep_interval=120, extra_per_day=90_000)
    assert swamped.poll_budget_per_day == 1.0 and swamped.out_of_reach
    # within reach the spare shrinks first: active cases are polled less eagerly, quiet ones unchanged
    small = Policy(cases=1000, active=50, daily_budget=60_000, max_staleness=3600, min_interval=60,
                   sweep_interval=120)
    small_busy = Policy(cases=1000, active=50, daily_budget=60_000, max_staleness=3600, min_interval=60,
                        sweep_interval=120, extra_per_day=10_000)
    assert small_busy.quiet_interval == small.quiet_interval == 3600
    assert small_busy.active_interval > small.active_interval


def test_full_sweeps_run_once_per_quiet_interval() -> None:
    """Within reach a full listing every CASEROOM_MAX_STALENESS; out of reach once per bound, solved
    together with the polls, and the two rules meet where the bound reaches the max staleness."""
    within = policy(1000)
    assert within.full_sweep_interval == 3600
    out = policy(10_000)
    assert out.out_of_reach and abs(out.full_sweep_interval - out.bound) < 1e-6
    # 10,000 cases: 2 N / B = 8.0 h; sweeps (one page every 2 min, 100 pages per 8 h) cost < 3 %
    assert out.bound <= 8 * 3600 * 1.03
    for cases in range(2000, 40_000, 250):
        p = policy(cases)
        assert abs(p.full_sweep_interval - p.quiet_interval) < 1e-6
        assert abs(plan_total(p) - 60_000) < 1e-3 or not p.out_of_reach
    # continuity across the switch: no jump in the bound as cases grow one at a time
    bounds = [policy(n).bound for n in range(1500, 2500)]
    assert all(b2 >= b1 and b2 - b1 < 60 for b1, b2 in itertools.pairwise(bounds))


def test_time_scale_shortens_the_day_and_every_interval_with_it() -> None:
    from bot.config import Settings
    from bot.relay.scheduler import policy_from_settings

    def settings(**kw: object) -> Settings:
        return Settings(_env_file=None, slack_bot_token="xoxb-t", slack_signing_secret="s",  # type: ignore[arg-type]
                        debitura_api_key="k", **kw)

    real = policy_from_settings(settings(caseroom_max_staleness=3600, caseroom_relay_sweep_interval=120),
                                cases=10_000)
    scaled = policy_from_settings(settings(caseroom_max_staleness=60, caseroom_relay_sweep_interval=2,
                                           caseroom_time_scale=60), cases=10_000)
    assert real.day == DAY and scaled.day == DAY / 60
    assert real.daily_budget == scaled.daily_budget == 60_000
    # a day of 24 minutes: the same budget holds every case 60 times more often
    assert abs(real.bound / scaled.bound - 60) < 1e-6
    assert scaled.active_window == DAY / 60


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


def _simulate_pacer(policy: Policy, rate: float, *, stall: float, cycles: int, seed: int = 3) -> list[float]:
    """Cases polled every quiet_poll_interval (jittered, a late poll keeping its place as the fetcher
    does: Policy.catch_up) from their poll's start, through a token bucket
    at `rate` with the plan's burst, after the whole relay stalled for `stall` seconds at the start of
    the second cycle; returns each cycle's worst lateness (poll start - due)."""
    import heapq

    rng = random.Random(seed)
    interval = policy.quiet_poll_interval
    due = [(policy.first_due(0.0, rng), i) for i in range(policy.cases)]
    heapq.heapify(due)
    tokens, t, refill_at = policy.poll_burst, 0.0, 0.0
    worst = [0.0] * cycles
    while due:
        when, case = heapq.heappop(due)
        t = max(t, when)
        if interval <= t < interval + stall:
            t = interval + stall
        tokens = min(policy.poll_burst, tokens + (t - refill_at) * rate)
        refill_at = t
        if tokens < 1:
            t += (1 - tokens) / rate
            tokens, refill_at = 1.0, t
        tokens -= 1
        cycle = int(t // interval)
        if cycle >= cycles:
            break
        worst[cycle] = max(worst[cycle], t - when)
        heapq.heappush(due, (t - policy.catch_up(t - when, interval) + policy.jitter(interval, rng), case))
    return worst


def test_pacer_headroom_lets_late_polls_catch_up() -> None:
    """The pacer lets polls through a little faster than the plan: after a stall the backlog drains
    within the cycle. At exactly the planned rate the queue is served as fast as it is fed and the
    lateness is carried into every later cycle, where it lengthens gaps between two checks again."""
    policy = Policy(cases=2_000, active=0, daily_budget=60_000, max_staleness=600, min_interval=60,
                    sweep_interval=120, day=14_400)
    assert policy.out_of_reach and policy.pacer_rate == pytest.approx(policy.poll_rate * 1.05)
    stall = 0.05 * policy.quiet_poll_interval
    exact = _simulate_pacer(policy, policy.poll_rate, stall=stall, cycles=6)
    paced = _simulate_pacer(policy, policy.pacer_rate, stall=stall, cycles=6)
    assert exact[1] >= stall * 0.9 and paced[1] >= stall * 0.9  # the stall itself, either way
    assert exact[2] > stall * 0.5  # carried into the next cycle's gaps
    assert max(paced[2:]) < stall * 0.1  # drained within the cycle of the stall
    assert max(paced[3:]) < max(exact[3:])  # and the jitter's own queueing smaller too


def test_full_sweep_cost_is_the_listing_measured() -> None:
    """A full sweep lists every case of ours, also those in lifecycles not relayed: the plan pays for
    the pages the last one read, never fewer than the watched cases fill."""
    watched_only = policy(10_000)
    measured = dataclasses.replace(watched_only, full_pages=160)
    assert watched_only.full_sweep_pages == 100 and measured.full_sweep_pages == 160
    assert dataclasses.replace(watched_only, full_pages=40).full_sweep_pages == 100
    assert measured.sweep_cost_per_day > watched_only.sweep_cost_per_day
    assert measured.bound > watched_only.bound
