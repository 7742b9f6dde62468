"""The event loop watch: a stretch that blocks the loop shows up as lag in /metrics."""

from __future__ import annotations

import asyncio
import gc
import logging
import time

import pytest

from bot.loopwatch import WARN_LAG, LoopWatch, freeze_startup_objects
from bot.metrics import Metrics


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels or None)
    assert value is not None, name
    return value


async def test_a_blocking_stretch_is_recorded_as_lag() -> None:
    metrics = Metrics()
    watch = LoopWatch(metrics, interval=0.01)
    watch.start()
    await asyncio.sleep(0.05)  # a few measures of a quiet loop
    quiet = watch.samples
    assert quiet >= 1

    time.sleep(0.2)  # a synchronous stretch: nothing else runs meanwhile
    await asyncio.sleep(0.03)
    await watch.stop()

    # The watch was due at most one interval after the stretch began: it woke at least 0.19 s late.
    assert watch.max_lag >= 0.15
    assert sample(metrics, "caseroom_event_loop_lag_max_seconds") == watch.max_lag
    count = sample(metrics, "caseroom_event_loop_lag_seconds_count")
    assert count == watch.samples > quiet
    # The stalled measure is above the 0.1 s bucket; the quiet ones are not all there.
    assert sample(metrics, "caseroom_event_loop_lag_seconds_bucket", le="0.1") < count
    assert sample(metrics, "caseroom_event_loop_lag_seconds_sum") >= 0.15


async def test_the_max_gauge_keeps_the_longest_lag() -> None:
    metrics = Metrics()
    watch = LoopWatch(metrics)
    for lag in (0.002, 0.3, 0.01, -0.001):
        watch.record(lag)
    assert watch.max_lag == 0.3
    assert sample(metrics, "caseroom_event_loop_lag_max_seconds") == 0.3
    assert sample(metrics, "caseroom_event_loop_lag_seconds_count") == 4
    assert sample(metrics, "caseroom_event_loop_lag_seconds_bucket", le="0.001") == 1  # the negative one: 0


async def test_a_long_stall_is_logged_once_a_minute(caplog: pytest.LogCaptureFixture) -> None:
    now = [1000.0]
    watch = LoopWatch(Metrics(), clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="bot.loopwatch"):
        watch.record(WARN_LAG + 0.1)
        watch.record(WARN_LAG + 0.2)  # the same minute: not logged again
        now[0] += 61
        watch.record(WARN_LAG)
        watch.record(WARN_LAG / 2)  # below the threshold
    stalls = [r for r in caplog.records if "event loop stalled" in r.getMessage()]
    assert [r.getMessage() for r in stalls] == [
        f"the event loop stalled for {(WARN_LAG + 0.1) * 1000:.0f} ms (a long synchronous stretch)",
        f"the event loop stalled for {WARN_LAG * 1000:.0f} ms (a long synchronous stretch)",
    ]


async def test_stop_ends_the_task_and_start_is_idempotent() -> None:
    watch = LoopWatch(Metrics(), interval=0.01)
    watch.start()
    task = watch._task
    watch.start()
    assert watch._task is task
    await watch.stop()
    assert task is not None and task.cancelled()
    await watch.stop()  # a second stop is harmless


async def test_with_asyncio_debug_slow_callbacks_are_reported_from_50_ms() -> None:
    loop = asyncio.get_running_loop()
    was_debug, was_slow = loop.get_debug(), loop.slow_callback_duration
    loop.set_debug(True)
    try:
        watch = LoopWatch(Metrics(), interval=0.01)
        watch.start()
        assert loop.slow_callback_duration == 0.05
        await watch.stop()
    finally:
        loop.set_debug(was_debug)
        loop.slow_callback_duration = was_slow


def test_start_up_objects_are_frozen_out_of_full_collections() -> None:
    assert gc.get_freeze_count() == 0
    try:
        freeze_startup_objects()
        assert gc.get_freeze_count() > 1000  # the modules and objects of this process so far
    finally:
        gc.unfreeze()
