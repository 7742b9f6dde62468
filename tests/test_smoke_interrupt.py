"""`caseroom smoke` stops at a signal even when a library drops the cancellation (redis-py's send under
`asyncio.wait_for` did on Python 3.11): the cancel is repeated until the run takes it in, and no step
starts after the signal. The steps are stand-ins here; tests/e2e/test_caseroom_smoke.py runs the real
ones (and a real SIGINT)."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import cast

import pytest
import redis.asyncio as aioredis

import bot.smoke
from bot.runtime import Runtime
from bot.smoke import EXIT_SIGINT, Smoke
from bot.store.keys import Keys

STEPS = ("clean_leftovers", "check_relay", "check_webhooks", "check_user", "create_case", "follow",
         "activate", "send_chat", "add_note", "add_payment", "close", "clean_this_run")


def stand_in(redis: aioredis.Redis, keys: Keys, activate: Callable[[Smoke], Awaitable[str]]) -> tuple[
        Smoke, list[str]]:
    smoke = Smoke(cast(Runtime, SimpleNamespace(redis=redis, keys=keys)), out=io.StringIO())
    ran: list[str] = []

    def step(name: str) -> Callable[[], Awaitable[str]]:
        async def action() -> str:
            ran.append(name)
            if name == "activate":
                return await activate(smoke)
            return f"{name} done"
        return action

    for name in STEPS:
        setattr(smoke, name, step(name))

    async def webhook(event: str, relayed: object) -> str:
        ran.append(event)
        return "relayed"

    smoke.webhook = webhook  # type: ignore[method-assign]
    return smoke, ran


async def run(smoke: Smoke) -> int:
    # A hang (the cancellation lost for good) fails here instead of holding the suite.
    return await asyncio.wait_for(smoke.run(), 30)


def output(smoke: Smoke) -> str:
    out = smoke.out
    assert isinstance(out, io.StringIO)
    return out.getvalue()


async def test_a_dropped_cancel_is_repeated_until_the_run_stops(
        redis: aioredis.Redis, keys: Keys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bot.smoke, "REAPPLY", 0.05)

    tasks: list[asyncio.Task[object] | None] = []

    async def activate(smoke: Smoke) -> str:
        tasks.append(asyncio.current_task())
        smoke.interrupt("SIGINT", tasks[0])
        with contextlib.suppress(asyncio.CancelledError):  # dropped, as Python 3.11's wait_for drops it
            await asyncio.sleep(60)
        await asyncio.sleep(60)  # the repeated cancel lands here
        return "activated"

    smoke, ran = stand_in(redis, keys, activate)
    code = await run(smoke)
    out = output(smoke)
    assert code == EXIT_SIGINT, out
    assert ran[-2:] == ["activate", "clean_this_run"], (ran, out)
    assert "SIGINT; cleaning up" in out and "smoke interrupted" in out, out
    assert not any(line.startswith("[ ok ]") and " activate " in line for line in out.splitlines()), out
    assert tasks[0] is not None and tasks[0].cancelling() == 0  # every repeated cancel taken back


async def test_no_step_starts_after_the_signal_even_when_its_cancel_was_dropped(
        redis: aioredis.Redis, keys: Keys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bot.smoke, "REAPPLY", 60.0)

    async def activate(smoke: Smoke) -> str:
        smoke.interrupt("SIGTERM", asyncio.current_task())
        with contextlib.suppress(asyncio.CancelledError):  # dropped; the step ends as if nothing happened
            await asyncio.sleep(60)
        return "activated"

    smoke, ran = stand_in(redis, keys, activate)
    code = await run(smoke)
    out = output(smoke)
    assert code == bot.smoke.EXIT_SIGTERM, out
    assert ran[-2:] == ["activate", "clean_this_run"], (ran, out)
    assert "SIGTERM; cleaning up" in out, out


async def test_a_signal_during_the_cleanup_of_a_failed_run_lets_the_cleanup_finish(
        redis: aioredis.Redis, keys: Keys) -> None:
    async def activate(smoke: Smoke) -> str:
        raise bot.smoke.StepFailed("the case did not become Active")

    smoke, ran = stand_in(redis, keys, activate)

    async def clean_this_run() -> str:
        smoke.interrupt("SIGINT", asyncio.current_task())
        await asyncio.sleep(0.05)
        ran.append("clean_this_run")
        return "cleaned"

    smoke.clean_this_run = clean_this_run  # type: ignore[method-assign]
    code = await run(smoke)
    out = output(smoke)
    assert code == EXIT_SIGINT, out
    assert ran[-2:] == ["activate", "clean_this_run"], (ran, out)
    assert any(line.startswith("[ ok ]") and " cleanup " in line for line in out.splitlines()), out
