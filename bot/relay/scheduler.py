"""When to poll each case: spend the budget where activity is, and say what staleness we can hold.

A poll of one case costs two requests (chats + timeline). With N watched cases and a relay budget of
B requests a day, of which the sweeps take S, every case can be checked every

    bound = 2 x N / (B - S) days

and no faster on average. The quiet interval is max(CASEROOM_MAX_STALENESS, bound): when the bound
is within reach, quiet cases are polled every CASEROOM_MAX_STALENESS and the budget left over goes to
recently active cases (polled down to CASEROOM_RELAY_MIN_INTERVAL); when it is out of reach, every
case is polled at the bound, spread evenly, and the bound is what `/metrics` and `caseroom check`
report.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

DAY = 86400.0
REQUESTS_PER_POLL = 2
LIST_PAGE_SIZE = 100
SWEEP_PAGES_FIELD = "ipg"
"""Field of keys.relay_sweep(): moving average of the pages an incremental sweep reads."""
SWEEP_PAGES_WEIGHT = 0.2
"""Weight of the newest incremental sweep in that average."""
ACTIVE_WINDOW = 24 * 3600.0
"""A case counts as active (eligible for faster polling) for a day after its last relayed event."""


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

    @property
    def sweep_cost_per_day(self) -> float:
        """Incremental sweeps (their measured pages each) plus a full listing every max_staleness."""
        pages = max(1, math.ceil(self.cases / LIST_PAGE_SIZE))
        per_sweep = max(1.0, self.incremental_pages)
        return DAY / self.sweep_interval * per_sweep + (DAY / self.max_staleness) * pages

    @property
    def poll_budget_per_day(self) -> float:
        return max(1.0, self.daily_budget - self.sweep_cost_per_day)

    @property
    def bound(self) -> float:
        """The shortest staleness the budget can hold for every case, in seconds."""
        return REQUESTS_PER_POLL * self.cases * DAY / self.poll_budget_per_day

    @property
    def quiet_interval(self) -> float:
        return max(self.max_staleness, self.bound)

    @property
    def out_of_reach(self) -> bool:
        return self.bound > self.max_staleness

    @property
    def active_interval(self) -> float:
        """Polling interval for recently active cases, paid from what quiet polling leaves over."""
        if self.out_of_reach:
            return self.quiet_interval
        quiet_cost = REQUESTS_PER_POLL * self.cases * DAY / self.quiet_interval
        spare = self.poll_budget_per_day - quiet_cost
        if spare <= 0:
            return self.quiet_interval
        # The active count is refreshed every few seconds: count at least the case asking.
        interval = REQUESTS_PER_POLL * max(1, self.active) * DAY / spare
        return min(self.quiet_interval, max(self.min_interval, interval))

    def interval_for(self, last_activity: float, now: float) -> float:
        """Seconds until the next poll of a case last active at `last_activity` (0 = never)."""
        if not last_activity or now - last_activity > ACTIVE_WINDOW:
            return self.quiet_interval
        age = max(0.0, now - last_activity)
        # The longer a case has been quiet, the slower it is polled, between the two intervals.
        return min(self.quiet_interval, max(self.active_interval, age / 2))

    def first_due(self, now: float, rng: random.Random | None = None) -> float:
        """A newly watched case is first polled at a random point within the quiet interval (spread)."""
        r = rng or random
        spread = self.quiet_interval
        if self.first_spread is not None:
            spread = min(self.first_spread, spread)
        return now + r.uniform(0, spread)

    def jitter(self, interval: float, rng: random.Random | None = None) -> float:
        """+-2.5 % jitter, so cases checked together drift apart; on average exactly the interval
        (a one-sided jitter would poll more often than the budget allows)."""
        r = rng or random
        return interval * (1 + 0.05 * (r.random() - 0.5))


def next_pages_average(previous: str | None, pages: int) -> float:
    """The moving average of incremental sweep pages after one more sweep that read `pages`."""
    try:
        old = float(previous) if previous else None
    except ValueError:
        old = None
    if old is None or old <= 0:
        return float(pages)
    return (1 - SWEEP_PAGES_WEIGHT) * old + SWEEP_PAGES_WEIGHT * pages


def pages_average(raw: bytes | str | None) -> float:
    """The stored average (1 when none is recorded yet or it is unreadable)."""
    try:
        value = float(raw) if raw else 1.0
    except ValueError:
        return 1.0
    return max(1.0, value)
