"""The relay as real `caseroom relay` processes: SIGKILL at random moments, and three at once.

Exactly once is checked on the fake Slack: every relayed message carries its item id in its
metadata, so a duplicate is two messages with one id.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from bot.slack.channels import channel_for_case
from bot.store.keys import Keys
from bot.store.reads import hgetall
from tests.fakes.slack.faults import Fault
from tests.fakes.slack.server import FakeSlack
from tests.fixtures.e2e import free_port
from tests.fixtures.redis import redis_url
from tests.fixtures.sandbox import SandboxHandle
from tests.relay.harness import (
    build_test_runtime,
    close_runtime,
    relay_settings,
    relayed_items,
    start_relay,
    stop_relay,
    wait_until,
)

pytestmark = [pytest.mark.e2e, pytest.mark.sandbox]

REPO = Path(__file__).resolve().parents[2]


def python() -> str:
    venv = REPO / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def relay_env(fake: FakeSlack, sandbox: SandboxHandle, prefix: str,
              redis: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DEBITURA_", "CASEROOM_"))}
    env.update({
        "PYTHONPATH": str(REPO),  # run from a temporary directory: no developer .env is read
        "SLACK_BOT_TOKEN": fake.bot_token, "SLACK_SIGNING_SECRET": fake.signing_secret,
        "SLACK_API_URL": fake.api_url, "DEBITURA_API_KEY": sandbox.api_key, "DEBITURA_API_URL": sandbox.url,
        "REDIS_URL": redis or redis_url(), "CASEROOM_REDIS_PREFIX": prefix, "CASEROOM_MAX_STALENESS": "60",
        "CASEROOM_RELAY_SWEEP_INTERVAL": "1", "CASEROOM_RELAY_MIN_INTERVAL": "1", "CASEROOM_RELAY_LEASE": "2",
        "CASEROOM_RELAY_FETCH_WORKERS": "2", "CASEROOM_RELAY_DELIVERY_WORKERS": "3",
        "CASEROOM_RELAY_FIRST_SPREAD": "1", "CASEROOM_RATE_PER_MINUTE": "100000",
        "CASEROOM_RATE_PER_HOUR": "1000000", "CASEROOM_RATE_PER_DAY": "20000000",
        "CASEROOM_LOG_LEVEL": "WARNING",
    })
    return env


class Procs:
    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        n = len(self.procs)
        with open(self.log_dir / f"relay-{n}.log", "wb") as log:  # the child keeps its own descriptor
            proc = subprocess.Popen([python(), "-m", "bot.cli", "relay", "--host", "127.0.0.1", "--port",
                                     str(free_port())], cwd=self.log_dir, env=self.env, stdout=log,
                                    stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(self.log_dir.glob("*.log")))


async def kill_mid_post(procs: Procs, proc: subprocess.Popen[bytes], posts: Fault, before: int,
                        rng: random.Random) -> None:
    """SIGKILL `proc` once a post of its own is in flight: after the fake Slack took in a post beyond
    `before` (posts.hits when `proc` started; the only live relay), at a random 0-0.3 s into the post
    the fake holds for 0.15 s: before Slack's answer, or after it and before or after the relay
    recorded the delivery. A kill timed from the spawn instead (0.8-3 s) landed in the interpreter's
    start-up about half the time, where it tests nothing."""

    async def posting() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"the relay exited by itself:\n{procs.logs()}")
        return posts.hits > before

    await wait_until(posting, 90, "a post of the relay in flight")
    await asyncio.sleep(rng.uniform(0.0, 0.3))
    procs.kill(proc)


@pytest.fixture
def procs_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path


async def prime(fake: FakeSlack, sandbox: SandboxHandle, redis: aioredis.Redis, prefix: str,
                case_ids: list[str]) -> None:
    """Baseline the cases with an in-process relay first, so the processes start from a known state."""
    relay = await start_relay(relay_settings(fake, sandbox.url, sandbox.api_key, prefix))
    try:
        async def done() -> bool:
            for case_id in case_ids:
                state = await hgetall(redis, Keys(prefix).case_state(case_id))
                if not {"chats", "timeline"} <= set((state.get("base") or "").split(",")):
                    return False
            return True

        await wait_until(done, 60, "baseline of the cases")
    finally:
        await stop_relay(relay)


async def channel_items(fake: FakeSlack, sandbox: SandboxHandle, prefix: str, case_id: str) -> list[str]:
    runtime = await build_test_runtime(relay_settings(fake, sandbox.url, sandbox.api_key, prefix))
    try:
        ch = await channel_for_case(runtime, case_id)
    finally:
        await close_runtime(runtime)
    return [i for i, _ in relayed_items(fake, ch.id)] if ch is not None else []


KILLS = 10
"""Each lands in a post (kill_mid_post); 20 kills timed from the spawn hit the relay at work about 10
times."""


@pytest.mark.slow
@pytest.mark.timeout(300)  # a fresh interpreter per kill: 1.5-2 s of imports quiet, 10 s at load 10
async def test_relay_sigkill_during_delivery_every_event_once(
    sandbox: SandboxHandle, fake_slack: FakeSlack, redis: aioredis.Redis, redis_prefix: str, procs_dir: Path,
) -> None:
    case_id = sandbox.case("Active")["id"]
    await prime(fake_slack, sandbox, redis, redis_prefix, [case_id])
    # slow posts keep deliveries in flight, so the kills land during them
    posts = fake_slack.faults.add("chat.postMessage", latency=0.15, times=None)
    procs = Procs(relay_env(fake_slack, sandbox, redis_prefix), procs_dir)
    rng = random.Random(20260101)
    chats: list[str] = []
    kills = 0
    try:
        for _ in range(KILLS):
            before = posts.hits
            proc = procs.start()
            for _ in range(rng.randint(1, 3)):
                chats.append(sandbox.control.add_chat(case_id, f"chat {len(chats)}", role=1)["id"])
            await kill_mid_post(procs, proc, posts, before, rng)
            kills += 1
        assert kills == KILLS
        final = procs.start()
        expected = [f"chat:{c}" for c in chats]

        async def all_there() -> list[str] | None:
            ids = [i for i in await channel_items(fake_slack, sandbox, redis_prefix, case_id)
                   if i.startswith("chat:")]
            return ids if set(expected) <= set(ids) else None

        try:
            ids = await wait_until(all_there, 120, "every chat after the kills")
        except AssertionError:
            raise AssertionError(procs.logs()) from None
        assert final.poll() is None, procs.logs()
        all_ids = await channel_items(fake_slack, sandbox, redis_prefix, case_id)
        duplicates = sorted({i for i in all_ids if all_ids.count(i) > 1})
        assert not duplicates, f"posted more than once: {duplicates}"
        assert ids == expected, "one post per chat, in order"
    finally:
        procs.stop_all()


@pytest.mark.slow
async def test_relay_three_processes_share_work_and_take_over(
    sandbox: SandboxHandle, fake_slack: FakeSlack, redis: aioredis.Redis, redis_prefix: str, procs_dir: Path,
) -> None:
    cases = [c["id"] for c in sandbox.cases("Active")[:6]]
    await prime(fake_slack, sandbox, redis, redis_prefix, cases)
    procs = Procs(relay_env(fake_slack, sandbox, redis_prefix), procs_dir)
    try:
        running = [procs.start() for _ in range(3)]
        chats: dict[str, list[str]] = {c: [] for c in cases}
        for round_ in range(4):
            for case_id in cases:
                chats[case_id].append(sandbox.control.add_chat(case_id, f"round {round_}", role=1)["id"])
            if round_ == 1:
                await asyncio.sleep(1.0)
                procs.kill(running[0])  # one dies mid-run: the others take over its leases
            await asyncio.sleep(0.5)

        async def all_there() -> bool:
            for case_id, ids in chats.items():
                got = await channel_items(fake_slack, sandbox, redis_prefix, case_id)
                if not {f"chat:{c}" for c in ids} <= set(got):
                    return False
            return True

        try:
            await wait_until(all_there, 120, "every chat of every case")
        except AssertionError:
            raise AssertionError(procs.logs()) from None
        for case_id, ids in chats.items():
            got = await channel_items(fake_slack, sandbox, redis_prefix, case_id)
            assert len(got) == len(set(got)), f"duplicates in {case_id}: {got}"
            assert [i for i in got if i.startswith("chat:")] == [f"chat:{c}" for c in ids]
        assert running[1].poll() is None and running[2].poll() is None, procs.logs()
        # every watched case is on the schedule and was checked by someone after the kill
        keys = Keys(redis_prefix)
        for case_id in cases:
            assert await redis.zscore(keys.schedule(), case_id) is not None
    finally:
        procs.stop_all()
