"""How late the event loop runs: one small task that sleeps and measures how far it overslept.

`caseroom run` serves Slack and runs the relay on one event loop, so any long synchronous stretch
(a big page parsed, thousands of Redis replies decoded) delays every ack. The watch sleeps
`interval` seconds over and over; whatever it wakes up later than asked is time the loop spent on
something else without yielding. Each measure goes into `caseroom_event_loop_lag_seconds` (a
histogram), and the longest seen since the process started into `caseroom_event_loop_lag_max_seconds`.

    watch = LoopWatch(runtime.metrics)
    watch.start()
    ...
    await watch.stop()

With asyncio debug on (`PYTHONASYNCIODEBUG=1`, for benchmarks: it slows everything) the loop also
logs each callback slower than `SLOW_CALLBACK` ("Executing <Task ...> took 0.120 seconds"), which
names the stretch.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Callable

from bot.metrics import Metrics

log = logging.getLogger(__name__)

INTERVAL = 0.1
"""Seconds between two measures (the watch itself costs one timer wake-up each)."""
SLOW_CALLBACK = 0.05
"""With asyncio debug on, callbacks longer than this are logged (asyncio's default is 0.1 s)."""
WARN_LAG = 0.5
"""A lag this long is logged as a warning (at most once per WARN_EVERY seconds)."""
WARN_EVERY = 60.0


def freeze_startup_objects() -> None:
    """Leave what start-up made (modules, the Bolt app, pydantic schemas: most of the process's objects)
    out of the garbage collector's full collections from now on.

    A full (generation 2) collection walks every tracked object, holding the GIL: in `caseroom run`
    during a first sweep, one every few seconds took 260-370 ms, a stall of the event loop each
    (bench/RESULTS.md, "Event loop"). Objects made at start-up live as long as the process; after
    `gc.freeze()` the collections only walk what was made since. (No `gc.collect()` first: at that
    point it found about 10 unreachable objects, for 100 ms of start-up.)
    """
    gc.freeze()


class LoopWatch:
    def __init__(self, metrics: Metrics, *, interval: float = INTERVAL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.metrics = metrics
        self.interval = interval
        self.clock = clock
        self.max_lag = 0.0
        self.samples = 0
        self._task: asyncio.Task[None] | None = None
        self._last_warning = float("-inf")

    def start(self) -> None:
        if self._task is not None and not self._task.done():
            return
        loop = asyncio.get_running_loop()
        if loop.get_debug():
            loop.slow_callback_duration = SLOW_CALLBACK
        self._task = loop.create_task(self._run(), name="loop-watch")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    def record(self, lag: float) -> None:
        lag = max(0.0, lag)
        self.samples += 1
        self.metrics.loop_lag.observe(lag)
        if lag > self.max_lag:
            self.max_lag = lag
            self.metrics.loop_lag_max.set(lag)
        if lag >= WARN_LAG:
            now = self.clock()
            if now - self._last_warning >= WARN_EVERY:
                self._last_warning = now
                log.warning("the event loop stalled for %.0f ms (a long synchronous stretch)", lag * 1000)

    async def _run(self) -> None:
        while True:
            asked = self.clock()
            await asyncio.sleep(self.interval)
            self.record(self.clock() - asked - self.interval)
