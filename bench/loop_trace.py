"""`caseroom` with every event loop callback timed: `python -m bench.loop_trace run --mode http ...`.

For bench/loop_bench.py (`--trace`): on a shared, loaded machine the loop lag measured from outside
mixes our own long stretches with the time the OS gave the CPU to other processes. This times each
callback the loop runs twice: wall time, and the CPU time of the loop's thread (`time.thread_time`,
which leaves out waiting for the CPU or the GIL). Callbacks over TRACE_MS (wall or CPU) are written
to stderr as one line each: `loop-trace wall=<ms> cpu=<ms> <what ran>`. A stretch whose CPU time is
long is our code; one whose wall time alone is long waited for the machine.
"""

from __future__ import annotations

import asyncio.events
import gc
import os
import sys
import time
from typing import Any

TRACE_MS = float(os.environ.get("LOOP_TRACE_MS", "20"))


def describe(handle: asyncio.events.Handle) -> str:
    callback: Any = getattr(handle, "_callback", None)
    task = getattr(callback, "__self__", None)
    if isinstance(task, asyncio.Task):
        coro: Any = task.get_coro()
        frames = []
        while coro is not None:
            frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
            if frame is None:
                break
            frames.append(f"{frame.f_code.co_qualname}:{frame.f_lineno}")
            coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
        return f"[{task.get_name()} at " + " > ".join(frames[-4:]) + "]"
    return repr(callback)[:160]


def install() -> None:
    original = asyncio.events.Handle._run
    limit = TRACE_MS / 1000
    started = time.perf_counter()
    collecting: list[float] = []

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collecting[:] = [time.perf_counter()]
        elif collecting:
            took = time.perf_counter() - collecting[0]
            if took >= limit / 4:
                sys.stderr.write(f"loop-trace gc t={collecting[0] - started:.1f} "
                                 f"generation={info['generation']} took={took * 1000:.1f} "
                                 f"collected={info['collected']}\n")

    gc.callbacks.append(on_gc)

    def timed(self: asyncio.events.Handle) -> None:
        before = describe(self)
        wall, cpu = time.perf_counter(), time.thread_time()
        original(self)
        wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
        if wall >= limit or cpu >= limit:
            sys.stderr.write(f"loop-trace wall={wall * 1000:.1f} cpu={cpu * 1000:.1f} "
                             f"t={time.perf_counter() - started:.1f} {before} "
                             f"-> {describe(self)}\n")

    asyncio.events.Handle._run = timed  # type: ignore[method-assign]


if __name__ == "__main__":
    install()
    from bot.cli import main

    sys.argv[0] = "caseroom"
    sys.exit(main())
