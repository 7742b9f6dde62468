"""Direct messages from real `caseroom relay` processes: SIGKILL mid-delivery, and two replicas at once.

Each assignment is one DM to the assignee, whatever dies: every DM carries its item id in its
metadata, so a duplicate is two messages with one id (the pattern of test_relay_processes.py).
"""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from bot.store.cases import CaseStateStore, Want
from bot.store.keys import Keys
from tests.e2e.test_relay_processes import Procs, kill_mid_post, procs_dir, relay_env  # noqa: F401 (fixture)
from tests.fakes.slack.server import FakeSlack
from tests.fixtures.sandbox import SandboxHandle
from tests.relay.harness import wait_until
from tests.relay.notify_helpers import dm_ids, slack_user_for

pytestmark = [pytest.mark.e2e, pytest.mark.sandbox, pytest.mark.subprocess]


def notify_env(fake: FakeSlack, sandbox: SandboxHandle, prefix: str) -> dict[str, str]:
    env = relay_env(fake, sandbox, prefix)
    env.update({"CASEROOM_QUIET_HOURS": "", "CASEROOM_ATTENTION_INTERVAL": "3600"})
    return env


async def assign(sandbox: SandboxHandle, store: CaseStateStore, email: str) -> str:
    """A new case assigned to `email`, and the webhook's fetch asked for (what /debitura/webhooks does)."""
    case = sandbox.control.assign_new_case(assignee_email=email)
    await store.request_fetch(case["id"], int(Want.CASE | Want.POLL), time.time(), "webhook")
    return str(case["id"])


async def every_dm_once(fake: FakeSlack, user_id: str, cases: list[str], procs: Procs) -> None:
    async def all_there() -> bool:
        ids = dm_ids(fake, user_id, "dm:assigned:")
        return len(ids) >= len(cases)

    try:
        await wait_until(all_there, 120, "one assignment DM per case")
    except AssertionError:
        raise AssertionError(procs.logs()) from None
    await asyncio.sleep(1.0)  # anything late would show up now
    ids = dm_ids(fake, user_id, "dm:assigned:")
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    assert not duplicates, f"DMed more than once: {duplicates}"
    assert len(ids) == len(cases)


@pytest.mark.slow
@pytest.mark.timeout(300)  # a fresh interpreter per kill: 1.5-2 s of imports quiet, 10 s at load 10
async def test_assignment_dms_once_across_sigkills_mid_delivery(
    sandbox: SandboxHandle, fake_slack: FakeSlack, redis: aioredis.Redis, redis_prefix: str, procs_dir: Path,  # noqa: F811
) -> None:
    email = sandbox.user_email()
    alice = slack_user_for(fake_slack, email)
    store = CaseStateStore(redis, Keys(redis_prefix))
    # slow posts keep DMs in flight, so the kills land during them (each once a DM is in flight: 5 such
    # kills; 8 timed 1-3 s from the spawn hit the relay at work about 4 times)
    posts = fake_slack.faults.add("chat.postMessage", latency=0.15, times=None)
    procs = Procs(notify_env(fake_slack, sandbox, redis_prefix), procs_dir)
    rng = random.Random(20261203)
    cases: list[str] = []
    try:
        for _ in range(5):
            before = posts.hits
            proc = procs.start()
            for _ in range(rng.randint(1, 2)):
                cases.append(await assign(sandbox, store, email))
            await kill_mid_post(procs, proc, posts, before, rng)
        final = procs.start()
        await every_dm_once(fake_slack, alice.id, cases, procs)
        assert final.poll() is None, procs.logs()
    finally:
        procs.stop_all()


@pytest.mark.slow
async def test_two_relay_replicas_dm_once(
    sandbox: SandboxHandle, fake_slack: FakeSlack, redis: aioredis.Redis, redis_prefix: str, procs_dir: Path,  # noqa: F811
) -> None:
    email = sandbox.user_email()
    alice = slack_user_for(fake_slack, email)
    store = CaseStateStore(redis, Keys(redis_prefix))
    procs = Procs(notify_env(fake_slack, sandbox, redis_prefix), procs_dir)
    try:
        running = [procs.start(), procs.start()]
        cases = [await assign(sandbox, store, email) for _ in range(6)]
        await every_dm_once(fake_slack, alice.id, cases, procs)
        assert all(p.poll() is None for p in running), procs.logs()
        assert len(fake_slack.journal.calls("conversations.open", ok=True)) <= 2, "the DM channel is cached"
    finally:
        procs.stop_all()
