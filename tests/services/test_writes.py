"""The once-only guard of writes started from modals (real Redis) and derived idempotency keys."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
import redis.asyncio as aioredis

from bot.services.writes import (
    PENDING_PREFIX,
    StillRunning,
    WriteResult,
    derive_key,
    run_once,
)
from bot.store.keys import Keys
from bot.store.stores import Stores


@dataclass
class GuardRuntime:
    """The parts of Runtime that run_once uses."""

    redis: aioredis.Redis
    keys: Keys
    process_id: str = "test-process"

    @property
    def stores(self) -> Stores:
        return Stores.in_redis(self.redis, self.keys)


async def no_sleep(_: float) -> None:
    await asyncio.sleep(0)


def test_derive_key_is_stable_and_short() -> None:
    values = {"amount": "250.00", "date": "2026-11-20"}
    key = derive_key("payment", "V123", "case-1", values)
    assert key == derive_key("payment", "V123", "case-1", dict(values))
    assert key.startswith("caseroom-payment-")
    assert len(key) <= 255
    assert key != derive_key("payment", "V124", "case-1", values)
    assert key != derive_key("payment", "V123", "case-1", {**values, "amount": "250.01"})
    with pytest.raises(ValueError):
        derive_key("payment", "", "case-1", values)


async def test_run_once_runs_then_replays(redis: aioredis.Redis, keys: Keys) -> None:
    runtime = GuardRuntime(redis, keys)
    calls = 0

    async def op() -> WriteResult:
        nonlocal calls
        calls += 1
        return WriteResult(
            ok=True, text="Payment recorded", warnings=("zero to creditor",), data={"id": "p1"}
        )

    first = await run_once(runtime, "k1", op)  # type: ignore[arg-type]
    second = await run_once(runtime, "k1", op)  # type: ignore[arg-type]
    assert calls == 1
    assert first.replayed is False and second.replayed is True
    assert (second.text, tuple(second.warnings), dict(second.data)) == (
        "Payment recorded",
        ("zero to creditor",),
        {"id": "p1"},
    )
    assert 0 < await redis.ttl(keys.write_outcome("k1")) <= 24 * 3600


async def test_run_once_concurrent_submissions_call_once(redis: aioredis.Redis, keys: Keys) -> None:
    runtime = GuardRuntime(redis, keys)
    calls = 0
    release = asyncio.Event()

    async def op() -> WriteResult:
        nonlocal calls
        calls += 1
        await release.wait()
        return WriteResult(ok=True, text="done")

    first = asyncio.create_task(run_once(runtime, "k2", op, poll=0.01))  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    second = asyncio.create_task(run_once(runtime, "k2", op, poll=0.01))  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    assert not second.done()
    release.set()
    a, b = await asyncio.gather(first, second)
    assert calls == 1
    assert a.text == b.text == "done"
    assert sorted([a.replayed, b.replayed]) == [False, True]


async def test_run_once_failed_result_releases_the_key(redis: aioredis.Redis, keys: Keys) -> None:
    runtime = GuardRuntime(redis, keys)
    results = [WriteResult(ok=False, text="refused"), WriteResult(ok=True, text="ok")]

    async def op() -> WriteResult:
        return results.pop(0)

    assert (await run_once(runtime, "k3", op)).ok is False  # type: ignore[arg-type]
    assert await redis.get(keys.write_outcome("k3")) is None
    assert (await run_once(runtime, "k3", op)).text == "ok"  # type: ignore[arg-type]


async def test_run_once_exception_releases_and_propagates(redis: aioredis.Redis, keys: Keys) -> None:
    runtime = GuardRuntime(redis, keys)

    async def op() -> WriteResult:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await run_once(runtime, "k4", op)  # type: ignore[arg-type]
    assert await redis.get(keys.write_outcome("k4")) is None


async def test_run_once_gives_up_waiting_for_a_stuck_holder(redis: aioredis.Redis, keys: Keys) -> None:
    runtime = GuardRuntime(redis, keys)
    await redis.set(keys.write_outcome("k5"), PENDING_PREFIX + "other-process", ex=60)

    async def op() -> WriteResult:
        raise AssertionError("must not run while another submission holds the key")

    with pytest.raises(StillRunning):
        await run_once(runtime, "k5", op, wait=0.05, poll=0.01, sleep=no_sleep)  # type: ignore[arg-type]


async def test_run_once_takes_over_when_the_holder_fails(redis: aioredis.Redis, keys: Keys) -> None:
    runtime = GuardRuntime(redis, keys)
    key = keys.write_outcome("k6")
    await redis.set(key, PENDING_PREFIX + "other", ex=60)
    polls = 0

    async def sleep(_: float) -> None:
        nonlocal polls
        polls += 1
        if polls == 2:
            await redis.delete(key)  # the other submission failed and released the key

    async def op() -> WriteResult:
        return WriteResult(ok=True, text="second try")

    result = await run_once(runtime, "k6", op, sleep=sleep)  # type: ignore[arg-type]
    assert result.text == "second try" and result.replayed is False


async def test_run_once_ignores_a_malformed_stored_outcome(redis: aioredis.Redis, keys: Keys) -> None:
    runtime = GuardRuntime(redis, keys)
    await redis.set(keys.write_outcome("k7"), "{not json", ex=60)

    async def op() -> WriteResult:
        return WriteResult(ok=True, text="fresh")

    assert (await run_once(runtime, "k7", op)).text == "fresh"  # type: ignore[arg-type]


def test_write_result_json_round_trip() -> None:
    result = WriteResult(ok=True, text="t", warnings=["w"], details=["d"], data={"a": "b"})
    back = WriteResult.from_json(result.to_json(), replayed=True)
    assert (back.ok, back.text, list(back.warnings), list(back.details), dict(back.data), back.replayed) == (
        True,
        "t",
        ["w"],
        ["d"],
        {"a": "b"},
        True,
    )
