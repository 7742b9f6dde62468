"""`caseroom run --demo`: Caseroom against the sandbox, served inside the same process.

The sandbox (bot/sandbox) is seeded (200 cases; the first is README's Q8OAXF3W), listens on
127.0.0.1:8080 (or a free port when 8080 is taken) so `caseroom sandbox ctl` can play the creditor,
keeps its state in the data directory, and delivers signed webhooks to this process's
/debitura/webhooks. Caseroom's settings are pointed at it (URL, key, webhook secret), its Redis keys
get their own prefix, and every case card says "Demo data". Only Slack's tokens are needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import uvicorn
from pydantic import AnyHttpUrl, SecretStr

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.sandbox.app import Sandbox

log = logging.getLogger("caseroom.demo")

DEMO_API_KEY = "demo-key"
DEMO_PORT = 8080
DEMO_CASES = 200
DEMO_PREFIX = "caseroom-demo:v1"
"""Redis key prefix of the demo (unless CASEROOM_REDIS_PREFIX is set): never mixed with real cases."""
STATE_FILE = "demo-sandbox.json"


class _QuietServer(uvicorn.Server):
    """The sandbox's uvicorn: the process (caseroom run) owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _bind(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        if port == 0:
            sock.close()
            raise
        sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


class DemoSandbox:
    """The in-process sandbox of `caseroom run --demo`. `await start(port)`, then `settings_for()`."""

    def __init__(self, settings: Settings, *, port: int = DEMO_PORT, cases: int = DEMO_CASES) -> None:
        self.data_dir = settings.data_dir
        self.port = port
        self.cases = cases
        self.sandbox: Sandbox | None = None
        self.url = ""
        self.secret = ""
        self._server: _QuietServer | None = None
        self._task: asyncio.Task[None] | None = None
        self._sock: socket.socket | None = None

    async def start(self, caseroom_port: int) -> None:
        """Seed (or load) the sandbox, subscribe this process's webhook endpoint, serve on loopback."""
        from bot.sandbox.app import Sandbox, build_app
        from bot.sandbox.enums import WEBHOOK_EVENTS
        from bot.sandbox.webhooks import new_secret

        state_file = None
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            state_file = self.data_dir / STATE_FILE
        except OSError as exc:
            log.warning("demo: cannot use %s (%s); the demo's cases start afresh on every run",
                        self.data_dir, exc.strerror)
        sandbox = Sandbox(seed=1, n_cases=self.cases, api_key=DEMO_API_KEY, state_file=state_file)
        webhook_url = f"http://127.0.0.1:{caseroom_port}/debitura/webhooks"
        self.secret = new_secret()
        sandbox.webhooks.subs.clear()  # a saved subscription points at an earlier run's port and secret
        sandbox.webhooks.create(webhook_url, list(WEBHOOK_EVENTS), secret=self.secret)
        sandbox.initial_webhook = (webhook_url, self.secret)
        sock = _bind(self.port)
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        sandbox.base_url = self.url
        config = uvicorn.Config(build_app(sandbox), log_config=None, lifespan="on", access_log=False,
                                server_header=False)
        self._server = _QuietServer(config)
        self._sock = sock
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="demo-sandbox")
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises what stopped it
                raise RuntimeError("the demo sandbox stopped at start")
            await asyncio.sleep(0.01)
        self._sock = sock
        self.sandbox = sandbox

    def settings_for(self, settings: Settings) -> Settings:
        """`settings` pointed at this sandbox, in demo mode, with the demo's own Redis prefix."""
        update: dict[str, Any] = {
            "debitura_api_url": AnyHttpUrl(self.url),
            "debitura_api_key": SecretStr(DEMO_API_KEY),
            "debitura_webhook_secret": SecretStr(self.secret),
            "caseroom_demo": True,
        }
        if "caseroom_redis_prefix" not in settings.model_fields_set:
            update["caseroom_redis_prefix"] = DEMO_PREFIX
        return settings.model_copy(update=update)

    async def stop(self) -> None:
        """Stop serving; the sandbox saves its state on the way out."""
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, 10)
        self._server = self._task = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
