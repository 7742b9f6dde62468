"""`caseroom smoke` against the sandbox, beside a running `caseroom run` (its webhook door and relay, in
process), the fake Slack and Redis: it passes when everything holds, names the URL and what Debitura saw
when webhooks cannot reach Caseroom, and leaves no test case and no channel behind, whatever step it
was killed at (the next run's cleanup finds them). One run as a real `caseroom smoke` process, stopped
with SIGINT half way, proves the signal handling."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

import bot.smoke
from bot.check import WEBHOOK_EVENTS
from bot.config import Settings
from bot.runtime import Runtime, build_runtime
from bot.smoke import DEFAULT_TAG, Smoke
from bot.store.smoke import SmokeStore
from tests.fakes.slack.server import FakeSlack
from tests.fixtures.e2e import REPO, Caseroom
from tests.fixtures.sandbox import SandboxHandle

pytestmark = [pytest.mark.e2e, pytest.mark.sandbox, pytest.mark.slow]

TIMEOUT = 30.0


@dataclass
class Setup:
    caseroom: Caseroom
    sandbox: SandboxHandle
    fake: FakeSlack
    settings: Settings
    user_id: str
    subscription_id: str

    @property
    def door(self) -> str:
        return f"{self.caseroom.base_url}/debitura/webhooks"

    def point_webhooks_at(self, url: str) -> None:
        with self.sandbox.client() as http:
            resp = http.put(f"/webhooks/{self.subscription_id}", json={"url": url})
            assert resp.status_code == 200, resp.text


def step_of(line: str) -> str:
    """The step of an output line: `[ ok ]    0.1s  cleanup  ...` -> cleanup."""
    return line[6:].split()[1]


def free_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/debitura/webhooks"


@pytest.fixture(autouse=True)
def _quick_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    """The smoke's waits look every 0.05 s instead of 0.5 s: the same checks, seen sooner."""
    monkeypatch.setattr(bot.smoke, "POLL", 0.05)


@pytest.fixture
async def setup(caseroom_factory: Callable[..., Awaitable[Caseroom]], sandbox: SandboxHandle,
                fake_slack: FakeSlack) -> AsyncIterator[Setup]:
    # Debitura sends test cases' events only to test-mode subscriptions, each with its own secret.
    with sandbox.client() as http:
        resp = http.post("/webhooks", json={"url": free_url(), "events": list(WEBHOOK_EVENTS),
                                            "isTestMode": True})
        assert resp.status_code in (200, 201), resp.text
        sub = resp.json()
    member = fake_slack.workspace.add_user("admin", email=sandbox.user_email(), real_name="Smoke Admin")
    # In process, even for the test marked subprocess: only the smoke command is a process there.
    instance = await caseroom_factory("http", relay=True, process=False, env={
        "DEBITURA_WEBHOOK_SECRET": "bGl2ZS1zdWJzY3JpcHRpb24tc2VjcmV0LTAxMjM0NQ==",
        "DEBITURA_WEBHOOK_TEST_SECRET": sub["secret"],
        "CASEROOM_RELAY_LEASE": "3", "CASEROOM_RELAY_FIRST_SPREAD": "1", "CASEROOM_MAX_STALENESS": "3600",
        "CASEROOM_RATE_PER_DAY": "20000000", "CASEROOM_RATE_PER_HOUR": "1000000",
        "CASEROOM_ADMIN_USERS": member.id,
    })
    values = {k.lower(): v for k, v in instance.env.items() if k.isupper() and (
        k.startswith(("SLACK_", "DEBITURA_", "CASEROOM_")) or k == "REDIS_URL")}
    settings = Settings(_env_file=None, **values)
    s = Setup(instance, sandbox, fake_slack, settings, member.id, sub["id"])
    s.point_webhooks_at(s.door)
    yield s


async def smoke(setup: Setup, **options: Any) -> tuple[int, str]:
    runtime = await build_runtime(setup.settings)
    out = io.StringIO()
    try:
        code = await Smoke(runtime, user=setup.user_id, timeout=TIMEOUT, out=out, **options).run()
    finally:
        await close(runtime)
    return code, out.getvalue()


async def close(runtime: Runtime) -> None:
    await runtime.aclose()
    session = runtime.slack.session
    if session is not None and not session.closed:
        await session.close()


def tagged_cases(setup: Setup) -> list[dict[str, Any]]:
    """Our managed test cases still in the sandbox (the smoke's marker is their creditor reference)."""
    with setup.sandbox.client() as http:
        cases: list[dict[str, Any]] = http.get("/managed-cases", params={"PageSize": 100}).json()["cases"]
    return [c for c in cases if str(c.get("creditorReference") or "").startswith("caseroom-smoke-")]


def open_case_channels(setup: Setup) -> list[str]:
    return sorted(ch.name for ch in setup.fake.workspace.channels.values()
                  if ch.name.startswith("case-") and not ch.is_archived)


async def leftovers(setup: Setup) -> tuple[list[dict[str, Any]], list[str], int]:
    runtime = await build_runtime(setup.settings)
    try:
        runs = await SmokeStore(runtime.redis, runtime.keys).runs(DEFAULT_TAG)
    finally:
        await close(runtime)
    return tagged_cases(setup), open_case_channels(setup), len(runs)


async def test_smoke_passes_against_the_sandbox_and_leaves_nothing(setup: Setup) -> None:
    code, out = await smoke(setup)

    assert code == 0, out
    steps = [step_of(line) for line in out.splitlines() if line.startswith("[")]
    assert steps == ["cleanup", "relay", "webhooks", "user", "create", "follow", "activate", "chat", "note",
                     "chat.created", "payment", "payment.created", "close", "cleanup"], out
    assert all(line.startswith("[ ok ]") for line in out.splitlines() if line.startswith("[")), out
    assert f"Debitura calls {setup.door}" in out
    assert "taken in by the door" in out and "the relay posted the payment" in out
    assert await leftovers(setup) == ([], [], 0), out
    archived = [ch for ch in setup.fake.workspace.channels.values() if ch.name.startswith("case-")]
    assert len(archived) == 1 and archived[0].is_archived, out


async def test_smoke_keep_leaves_the_case_for_the_next_run(setup: Setup) -> None:
    code, out = await smoke(setup, keep=True)
    assert code == 0, out
    assert "left for a look" in out
    cases, _open, runs = await leftovers(setup)
    assert len(cases) == 1 and runs == 1, out
    # The channel is left too (the relay may have archived it on the close, as for any closed case).
    name = "case-" + cases[0]["reference"].lower()
    assert any(ch.name.startswith(name) for ch in setup.fake.workspace.channels.values()), out

    code, out = await smoke(setup, crash_after="cleanup")  # the next run starts with the cleanup
    assert "1 earlier run(s) cleaned up" in out, out
    assert await leftovers(setup) == ([], [], 0), out


async def test_smoke_fails_clearly_when_webhooks_cannot_reach_caseroom(setup: Setup) -> None:
    dead = free_url()
    setup.point_webhooks_at(dead)

    code, out = await smoke(setup)

    assert code == 1, out
    [failed] = [line for line in out.splitlines() if line.startswith("[FAIL]")]
    assert "chat.created" in failed, out
    assert f"webhook not reaching us: Debitura calls {dead} and saw" in failed, out
    assert "nothing answered" in failed, out
    assert out.rstrip().endswith("FAILED in " + out.rstrip().rsplit("FAILED in ", 1)[1]), out
    assert await leftovers(setup) == ([], [], 0), out  # cleaned up all the same


async def test_smoke_refuses_a_wrong_secret_with_the_reason(setup: Setup) -> None:
    # The door answers, but with another secret than the test-mode subscription's.
    with setup.sandbox.client() as http:
        resp = http.put(f"/webhooks/{setup.subscription_id}", json={"regenerateSecret": True})
        assert resp.status_code == 200, resp.text
    code, out = await smoke(setup)
    assert code == 1, out
    assert "HTTP 401" in out and "DEBITURA_WEBHOOK_TEST_SECRET" in out, out
    assert await leftovers(setup) == ([], [], 0), out


async def test_smoke_refuses_to_touch_a_case_that_is_not_a_test_case(
    setup: Setup, monkeypatch: pytest.MonkeyPatch,
) -> None:
    production = setup.sandbox.case("Active")
    with setup.sandbox.client() as http:
        chats_before = http.get(f"/cases/{production['id']}/chats").json()
        timeline_before = http.get(f"/cases/{production['id']}/timeline").json()
    runtime = await build_runtime(setup.settings)
    real_get = runtime.debitura.get_case

    async def create(request: Any, *, idempotency_key: str | None = None) -> Any:
        return await real_get(production["id"])  # as if Debitura had made (or matched) a real case

    monkeypatch.setattr(runtime.debitura, "create_managed_case", create)
    out = io.StringIO()
    try:
        code = await Smoke(runtime, user=setup.user_id, timeout=TIMEOUT, out=out).run()
        followed = await runtime.stores.follows.is_followed(production["id"])
        skipped = bool(await runtime.redis.sismember(runtime.keys.unfollowed(), production["id"]))
    finally:
        await close(runtime)
    text = out.getvalue()
    assert code == 1, text
    [failed] = [line for line in text.splitlines() if line.startswith("[FAIL]")]
    assert step_of(failed) == "create" and "refusing to go on" in failed and "not" in failed, text
    with setup.sandbox.client() as http:
        assert http.get(f"/cases/{production['id']}/chats").json() == chats_before
        assert http.get(f"/cases/{production['id']}/timeline").json() == timeline_before
    assert not followed and not skipped, text  # the relay goes on relaying it as before
    assert not any(ch.name == "case-" + production["reference"].lower()
                   for ch in setup.fake.workspace.channels.values()), text
    assert (await leftovers(setup))[2] == 0, text


async def test_a_smoke_killed_at_any_step_is_cleaned_up_by_the_next(setup: Setup) -> None:
    # Killed after one step of each kind that leaves something behind: a case and no channel (create), a
    # case with its channel and the relay idle (follow; activate, chat, note and payment leave the same:
    # more data on a case the cleanup deletes with its tag whatever it holds), webhooks and relay work in
    # flight (chat.created; payment.created is the same wait for the relay to go idle), a closed case
    # whose channel the relay may be archiving itself (close). Before create nothing exists; the run
    # record is written before the case is asked for.
    steps = ["create", "follow", "chat.created", "close"]
    for step in steps:
        code, out = await smoke(setup, crash_after=step)  # as SIGKILL: no cleanup of its own
        assert code == 1 and step_of([ln for ln in out.splitlines() if ln.startswith("[")][-1]) == step, out
        cases, _channels, runs = await leftovers(setup)
        assert len(cases) == 1 and runs == 1, (step, out)

        code, out = await smoke(setup, crash_after="cleanup")
        assert "1 earlier run(s) cleaned up" in out, (step, out)
        assert await leftovers(setup) == ([], [], 0), (step, out)

    # Killed before Debitura's answer came back: the run knows no case id, only its marker.
    code, out = await smoke(setup, crash_after="create")
    runtime = await build_runtime(setup.settings)
    try:
        store = SmokeStore(runtime.redis, runtime.keys)
        [run] = await store.runs(DEFAULT_TAG)
        await store.save(type(run)(run_id=run.run_id, tag=run.tag, marker=run.marker, started=run.started))
    finally:
        await close(runtime)
    code, out = await smoke(setup, crash_after="cleanup")
    assert "1 earlier run(s) cleaned up" in out, out
    assert await leftovers(setup) == ([], [], 0), out


@pytest.mark.subprocess
async def test_the_smoke_command_cleans_up_when_interrupted(setup: Setup) -> None:
    env = {**setup.caseroom.env, "PYTHONPATH": str(REPO)}
    # Hold the step after `follow` (the advance to Active) so the signal lands mid-run, however fast
    # the steps are and however late this test reads the `follow` line.
    setup.sandbox.control.add_fault("/test/cases/*/advance", "POST", latency_ms=60_000, times=1)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "smoke", "--user", setup.user_id, "--timeout", str(TIMEOUT),
        env=env, cwd=os.path.dirname(__file__), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL)
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        while True:
            raw = await asyncio.wait_for(proc.stdout.readline(), 60)
            assert raw, "\n".join(lines)
            lines.append(raw.decode().rstrip())
            if " follow " in lines[-1]:
                assert lines[-1].startswith("[ ok ]"), "\n".join(lines)
                break
        proc.send_signal(signal.SIGINT)
        rest = (await asyncio.wait_for(proc.stdout.read(), 60)).decode()
        code = await asyncio.wait_for(proc.wait(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
    out = "\n".join(lines) + "\n" + rest
    assert code == 130, out
    assert "interrupted" in rest and "SIGINT" in rest, out
    assert any(line.startswith("[ ok ]") and " cleanup " in line for line in rest.splitlines()), out
    assert await leftovers(setup) == ([], [], 0), out
