"""The README's "Try it with the sandbox", command for command: the sandbox delivering webhooks to
`caseroom run`, `caseroom sandbox ctl chat` playing the creditor, the message in the case channel."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis as sync_redis

from bot.store.keys import Keys
from tests.fixtures.redis import redis_url
from tests.ship.conftest import REPO, ThreadedSlack, base_env, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.sandbox]

README = (REPO / "README.md").read_text(encoding="utf-8")


def wait(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen within {timeout} s")


@pytest.fixture
def sandbox_for_readme(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int, int, Path]]:
    """`caseroom sandbox --api-key sandbox-key --webhook-url <caseroom>/debitura/webhooks`, as in README."""
    command = "./scripts/run sandbox --api-key sandbox-key --webhook-url http://127.0.0.1:3000/debitura/webhooks"
    assert command in README
    port, run_port = free_port(), free_port()
    err = tmp_path / "sandbox.err"
    with open(err, "w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "sandbox", "--api-key", "sandbox-key", "--port", str(port),
             "--cases", "30", "--webhook-url", f"http://127.0.0.1:{run_port}/debitura/webhooks",
             "--webhook-retry-base", "0.2"],
            cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)},
            stdout=subprocess.PIPE, stderr=stderr, text=True,
        )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert f"Sandbox listening on http://127.0.0.1:{port}  api key: sandbox-key" in line, line
        (err.parent / "sandbox.secret").write_text(proc.stdout.readline())
        yield proc, port, run_port, err
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        if proc.stdout is not None:
            proc.stdout.close()


def test_readme_sandbox_flow_relays_a_creditor_chat(
    sandbox_for_readme: tuple[subprocess.Popen[str], int, int, Path],
    threaded_slack: ThreadedSlack, caseroom_proc: Any,
) -> None:
    _, port, run_port, err = sandbox_for_readme
    # the line after "Sandbox listening on ...", as README shows
    secret_file = err.parent / "sandbox.secret"
    found = wait(lambda: re.search(r"webhook secret for \S+: (\S+)", secret_file.read_text()), 10,
                 "the secret line")
    secret = found.group(1)
    sandbox_url = f"http://127.0.0.1:{port}"
    env = base_env(
        threaded_slack, DEBITURA_API_URL=sandbox_url, DEBITURA_API_KEY="sandbox-key",
        DEBITURA_WEBHOOK_SECRET=secret, CASEROOM_RELAY_FIRST_SPREAD="1",
    )
    proc = caseroom_proc(["run", "--mode", "http", "--host", "127.0.0.1", "--port", str(run_port)], env,
                         port=run_port)
    proc.wait_ready()
    cases = httpx.get(f"{sandbox_url}/cases", params={"Statuses": "Active", "PageSize": "5"},
                      headers={"XApiKey": "sandbox-key"}).json()["cases"]
    case = cases[0]
    keys = Keys(env["CASEROOM_REDIS_PREFIX"])
    r = sync_redis.Redis.from_url(redis_url(), decode_responses=True)
    try:
        def baselined() -> bool:
            base = r.hget(keys.case_state(case["id"]), "base") or ""
            return {"chats", "timeline"} <= set(str(base).split(","))

        wait(baselined, 40, "the relay's first look at the case")
        text = "Any news on the payment plan?"
        assert './scripts/run sandbox ctl chat <ref or case id> "Any news on the payment plan?"' in README
        ctl = subprocess.run(
            [sys.executable, "-m", "bot.cli", "sandbox", "ctl", "--url", sandbox_url, "chat",
             case["reference"], text],
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
            timeout=30, check=False,
        )
        assert ctl.returncode == 0, ctl.stderr

        def posted() -> bool:
            return any(text in json.dumps(call.args)
                       for call in threaded_slack.fake.journal.calls("chat.postMessage"))

        wait(posted, 30, "the creditor's chat in the case channel")
    finally:
        for key in r.scan_iter(match=f"{env['CASEROOM_REDIS_PREFIX']}:*"):
            r.delete(key)
        r.close()
    assert proc.terminate() == 0
