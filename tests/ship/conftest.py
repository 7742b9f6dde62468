"""Helpers for the shipping tests: a fake Slack on its own thread, and the real `caseroom` process.

The fake Slack (tests/fakes/slack) runs in a background thread with its own event loop, so these
tests can drive a subprocess synchronously. It answers auth.test with the `x-oauth-scopes` header a
real Slack sends, listing the scopes the test asks for.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from bot.check import REQUIRED_SCOPES
from tests.fakes.slack.server import FakeSlack
from tests.fixtures.redis import new_prefix, redis_url

REPO = Path(__file__).resolve().parents[2]


class ScopedFakeSlack(FakeSlack):
    """FakeSlack that reports granted scopes on every Web API answer, as Slack does."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scopes: list[str] = list(REQUIRED_SCOPES)

    async def _api(self, request: web.Request) -> web.Response:
        response = await super()._api(request)
        if self.scopes:
            response.headers["x-oauth-scopes"] = ",".join(self.scopes)
        return response


class ThreadedSlack:
    """A ScopedFakeSlack served from a daemon thread; `call(coro_fn)` runs on its loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="fake-slack")
        # No rate limits: this fake is shared by every test of the session (apps.connections.open is
        # tier 1, about one call a minute, in Slack and in the fake).
        self.fake = ScopedFakeSlack(rate_limits=False)

    def start(self) -> ThreadedSlack:
        self.thread.start()
        self.call(self.fake.start)
        return self

    def call(self, fn: Any, *args: Any) -> Any:
        fut: Future[Any] = asyncio.run_coroutine_threadsafe(fn(*args), self.loop)
        return fut.result(timeout=15)

    def stop(self) -> None:
        self.call(self.fake.stop)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()

    @property
    def api_url(self) -> str:
        return self.fake.api_url


@pytest.fixture(scope="session")
def threaded_slack() -> Iterator[ThreadedSlack]:
    slack = ThreadedSlack().start()
    yield slack
    slack.stop()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def unreachable_url() -> str:
    """An http URL on loopback where nothing listens."""
    return f"http://127.0.0.1:{free_port()}"


def base_env(slack: ThreadedSlack, **extra: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "PYTHONPATH": str(REPO),
        "SLACK_BOT_TOKEN": slack.fake.bot_token,
        "SLACK_SIGNING_SECRET": slack.fake.signing_secret,
        "SLACK_API_URL": slack.api_url,
        "DEBITURA_API_KEY": "sandbox-key-not-used",
        "DEBITURA_API_URL": unreachable_url(),
        "REDIS_URL": redis_url(),
        "CASEROOM_REDIS_PREFIX": new_prefix(),
    }
    env.update(extra)
    return env


@dataclass
class CaseroomProcess:
    """`python -m bot.cli ARGS` with its output in a file (no pipe to fill up)."""

    args: list[str]
    env: dict[str, str]
    cwd: Path
    port: int | None = None
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path = field(default_factory=lambda: Path("/dev/null"))

    def start(self) -> CaseroomProcess:
        self.log_path = self.cwd / f"caseroom-{uuid.uuid4().hex[:6]}.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", *self.args], env=self.env, cwd=self.cwd,
                stdout=log, stderr=subprocess.STDOUT,
            )
        return self

    @property
    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_ready(self, timeout: float = 30) -> None:
        """Poll /readyz until 200; fail with the process output if it exits or never gets ready."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"caseroom exited with {self.proc.returncode}:\n{self.output}")
            try:
                if httpx.get(self.url("/readyz"), timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        pytest.fail(f"caseroom never became ready:\n{self.output}")

    def wait_exit(self, timeout: float = 30) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"caseroom did not exit within {timeout} s:\n{self.output}")

    def terminate(self, timeout: float = 30) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.wait_exit(timeout)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def caseroom_proc(tmp_path: Path) -> Iterator[Any]:
    """Factory: `caseroom_proc(args, env, port=...)`; every process is killed at teardown."""
    started: list[CaseroomProcess] = []

    def make(args: list[str], env: dict[str, str], *, port: int | None = None) -> CaseroomProcess:
        proc = CaseroomProcess(args=args, env=env, cwd=tmp_path, port=port).start()
        started.append(proc)
        return proc

    yield make
    for proc in started:
        proc.kill()
