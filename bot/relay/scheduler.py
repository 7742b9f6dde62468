"""When to poll each case: spend the budget where activity is, and say what staleness we can hold.

A poll of one case costs two requests (chats + timeline). With N watched cases and a relay budget of
B requests a day, of which the sweeps take S and requests outside the plan took E over the last day
(fetches triggered by webhooks and sweeps, payment baselines, case reads: measured, see
`RelayStore.record_extra`), every case can be checked every

    bound = 2 x N / (B - S - E) days

and no faster on average. The quiet interval (the staleness held, reported) is
max(CASEROOM_MAX_STALENESS, bound): when the bound is within reach, quiet cases are polled a little
inside CASEROOM_MAX_STALENESS (5 %, for jitter and the wait for a worker) and the budget left over
goes to recently active cases (polled down to CASEROOM_RELAY_MIN_INTERVAL); when it is out of reach,
every case is polled at the bound, spread evenly, and the bound is what `/metrics` and `caseroom check`
report. Full sweeps (every page of GET /cases) run once per quiet interval: more often would only
re-read what the polls re-read anyway, at the polls' expense.

"A day" is `Policy.day`: 86,400 s, divided by CASEROOM_TIME_SCALE in benchmarks.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.store.budget import background_limit

if TYPE_CHECKING:
    from bot.config import Settings

DAY = 86400.0
REQUESTS_PER_POLL = 2
LIST_PAGE_SIZE = 100
SWEEP_PAGES_FIELD = "ipg"
"""Field of keys.relay_sweep(): moving average of the pages an incremental sweep reads."""
FULL_PAGES_FIELD = "fpg"
"""Field of keys.relay_sweep(): pages the last full sweep read (it lists every case of ours, not only
the watched ones)."""
SWEEP_PAGES_WEIGHT = 0.2
"""Weight of the newest incremental sweep in that average."""
STALENESS_MARGIN = 0.05
"""Within reach, quiet cases are polled this much inside CASEROOM_MAX_STALENESS."""
JITTER = 0.02
"""Total width of the jitter on each interval (+-1 %)."""
EXTRA_SLOTS = 24
"""Requests outside the plan are counted per 1/24 of a day; the last 24 slots make "the last day"."""
EXTRA_MIN_COVER = 0.25
"""While less than a day of requests outside the plan is recorded, the count so far is taken as a rate
over the time covered, but over at least this share of a day (one busy first hour is not a day)."""
PACER_HEADROOM = 0.05
"""The poll pacer lets polls through this much faster than the plan: the schedule sets the average
(every case once per interval); a pacer at exactly that rate would be a queue served exactly as fast as
it is fed, where any stall or burst becomes lateness that never drains."""


@dataclass(frozen=True, slots=True)
class Policy:
    cases: int
    active: int
    daily_budget: int
    max_staleness: float
    min_interval: float
    sweep_interval: float
    first_spread: float | None = None
    """Spread of first polls of newly watched cases; None = the quiet interval (tests shorten it)."""
    incremental_pages: float = 1.0
    """Pages an incremental sweep reads, on average, as measured (`SWEEP_PAGES_FIELD`); at least 1."""
    full_pages: float = 0.0
    """Pages the last full sweep read (`FULL_PAGES_FIELD`); 0 = not measured yet."""
    extra_per_day: float = 0.0
    """Requests outside the plan over the last day, as measured (`RelayStore.extra_requests`)."""
    day: float = DAY
    """Seconds in the budget's day (86,400; shorter under CASEROOM_TIME_SCALE)."""

    @property
    def full_sweep_pages(self) -> int:
        """A full listing: every page of GET /cases, at least the watched cases' worth (the listing also
        holds cases in lifecycles we do not relay, as measured by the last one)."""
        return max(1, math.ceil(self.cases / LIST_PAGE_SIZE), math.ceil(self.full_pages))

    @property
    def incremental_sweep_cost_per_day(self) -> float:
        """Incremental sweeps, their measured pages each (never fewer than one)."""
        return self.day / self.sweep_interval * max(1.0, self.incremental_pages)

    @property
    def full_sweep_interval(self) -> float:
        """A full listing every quiet interval: CASEROOM_MAX_STALENESS, or the bound when that is out
        of reach (solved together: polls and full sweeps share what the fixed costs leave)."""
        available = self.daily_budget - self.incremental_sweep_cost_per_day - max(0.0, self.extra_per_day)
        polls_within_reach = available - self.full_sweep_pages * self.day / self.max_staleness
        if polls_within_reach > 0 and (
            REQUESTS_PER_POLL * self.cases * self.day / polls_within_reach <= self.max_staleness
        ):
            return self.max_staleness
        # Out of reach: I x (available) = (2N + pages) x day, i.e. polls and a full sweep once per I.
        return (REQUESTS_PER_POLL * self.cases + self.full_sweep_pages) * self.day / max(1.0, available)

    @property
    def sweep_cost_per_day(self) -> float:
        """Incremental sweeps plus a full listing every full_sweep_interval."""
        return (self.incremental_sweep_cost_per_day
                + self.day / self.full_sweep_interval * self.full_sweep_pages)

    @property
    def poll_budget_per_day(self) -> float:
        return max(1.0, self.daily_budget - self.sweep_cost_per_day - max(0.0, self.extra_per_day))

    @property
    def bound(self) -> float:
        """The shortest staleness the budget can hold for every case, in seconds."""
        return REQUESTS_PER_POLL * self.cases * self.day / self.poll_budget_per_day

    @property
    def quiet_interval(self) -> float:
        return max(self.max_staleness, self.bound)

    @property
    def out_of_reach(self) -> bool:
        return self.bound > self.max_staleness

    @property
    def poll_rate(self) -> float:
        """Scheduled polls a second the plan pays for (the schedule's average rate)."""
        return self.poll_budget_per_day / REQUESTS_PER_POLL / self.day

    @property
    def pacer_rate(self) -> float:
        """What the shared poll pacer lets through: the plan's rate plus PACER_HEADROOM, so polls that
        fell behind (a stall, first checks planned before costs were measured) catch up."""
        return self.poll_rate * (1 + PACER_HEADROOM)

    @property
    def poll_burst(self) -> float:
        """Polls the pacer lets through at once: one (budget) minute's worth, at least two."""
        return max(2.0, self.poll_rate * self.day / 1440)

    @property
    def eager_payment_baselines(self) -> bool:
        """Read a newly watched case's payments at its first check (so the deletion of a payment it
        already had can be itemized) only while the budget holds CASEROOM_MAX_STALENESS. Out of reach,
        every request shortens the bound: payments are first read when they change, and payments
        created since first sight are still recognised by their date."""
        return not self.out_of_reach

    @property
    def quiet_poll_interval(self) -> float:
        """What quiet cases are scheduled at. Within reach: CASEROOM_MAX_STALENESS less a margin (the
        jitter and the wait for a free worker must not carry a gap past it), never below the bound;
        out of reach: the bound."""
        if self.out_of_reach:
            return self.bound
        return max(self.bound, self.max_staleness * (1 - STALENESS_MARGIN))

    @property
    def active_interval(self) -> float:
        """Polling interval for recently active cases, paid from what quiet polling leaves over."""
        quiet = self.quiet_poll_interval
        if self.out_of_reach:
            return quiet
        quiet_cost = REQUESTS_PER_POLL * self.cases * self.day / quiet
        spare = self.poll_budget_per_day - quiet_cost
        if spare <= 0:
            return quiet
        # The active count is refreshed every few seconds: count at least the case asking.
        interval = REQUESTS_PER_POLL * max(1, self.active) * self.day / spare
        return min(quiet, max(self.min_interval, interval))

    def interval_for(self, last_activity: float, now: float) -> float:
        """Seconds until the next poll of a case last active at `last_activity` (0 = never)."""
        quiet = self.quiet_poll_interval
        if not last_activity or now - last_activity > self.active_window:
            return quiet
        age = max(0.0, now - last_activity)
        # The longer a case has been quiet, the slower it is polled, between the two intervals.
        return min(quiet, max(self.active_interval, age / 2))

    @property
    def active_window(self) -> float:
        """A case counts as active for a day after its last relayed event."""
        return self.day

    def first_due(self, now: float, rng: random.Random | None = None) -> float:
        """A newly watched case is first polled at a random point within the quiet poll interval, so
        the first cycle ends where the second begins (the pacer holds any excess evenly)."""
        r = rng or random
        spread = self.quiet_poll_interval
        if self.first_spread is not None:
            spread = min(self.first_spread, spread)
        return now + r.uniform(0, spread)

    @staticmethod
    def catch_up(late: float, interval: float) -> float:
        """How much earlier than one interval after a late poll the next one is due: the lateness, up
        to PACER_HEADROOM of the interval. A late poll keeps its place in the cycle, so the due times
        stay the planned even spread: rescheduled from when it ran, a backlog worked off at the
        pacer's pace would come due again at that pace in the next cycle, above the plan's rate, and
        be late again. Beyond the pacer's headroom (after an outage) cases move on from where they
        are."""
        return min(max(0.0, late), PACER_HEADROOM * interval)

    def jitter(self, interval: float, rng: random.Random | None = None) -> float:
        """+-1 % jitter, so cases checked together drift apart; on average exactly the interval
        (a one-sided jitter would poll more often than the budget allows)."""
        r = rng or random
        return interval * (1 + JITTER * (r.random() - 0.5))


def next_pages_average(previous: str | None, pages: int) -> float:
    """The moving average of incremental sweep pages after one more sweep that read `pages`."""
    try:
        old = float(previous) if previous else None
    except ValueError:
        old = None
    if old is None or old <= 0:
        return float(pages)
    return (1 - SWEEP_PAGES_WEIGHT) * old + SWEEP_PAGES_WEIGHT * pages


def full_pages(raw: bytes | str | None) -> float:
    """The recorded page count of the last full sweep (0 when none is recorded or it is unreadable)."""
    try:
        return max(0.0, float(raw)) if raw else 0.0
    except ValueError:
        return 0.0


def pages_average(raw: bytes | str | None) -> float:
    """The stored average (1 when none is recorded yet or it is unreadable)."""
    try:
        value = float(raw) if raw else 1.0
    except ValueError:
        return 1.0
    return max(1.0, value)


def budget_day(settings: Settings) -> float:
    """Seconds in the budget's day: 86,400, divided by CASEROOM_TIME_SCALE (benchmarks)."""
    return DAY / settings.caseroom_time_scale


def policy_from_settings(settings: Settings, *, cases: int, active: int = 0, daily_budget: int | None = None,
                         incremental_pages: float = 1.0, extra_per_day: float = 0.0,
                         full_pages: float = 0.0, first_spread: float | None = None) -> Policy:
    """The one place a Policy is built from configuration (the relay, `/metrics`, `caseroom check`)."""
    budget = daily_budget if daily_budget is not None else background_limit(
        settings.caseroom_rate_per_day, settings.caseroom_relay_budget)
    return Policy(cases=cases, active=active, daily_budget=max(1, budget),
                  max_staleness=float(settings.caseroom_max_staleness),
                  min_interval=float(settings.caseroom_relay_min_interval),
                  sweep_interval=float(settings.caseroom_relay_sweep_interval),
                  first_spread=first_spread, incremental_pages=incremental_pages,
                  full_pages=full_pages, extra_per_day=extra_per_day, day=budget_day(settings))
