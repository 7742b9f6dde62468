"""Redis restarted mid-run (a private redis-server with AOF, free port): the relay resumes, loses nothing."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as syncredis

from bot.slack.channels import channel_for_case
from bot.store.keys import Keys
from bot.store.reads import hgetall
from tests.fakes.slack.server import FakeSlack
from tests.fixtures.e2e import free_port
from tests.fixtures.sandbox import SandboxHandle
from tests.relay.harness import relay_settings, relayed_items, start_relay, stop_relay, wait_until

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]


class PrivateRedis:
    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.workdir),
             "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--protected-mode", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        client = syncredis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except syncredis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        client.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: Redis flushes the AOF and exits
            self.proc.wait(timeout=10)
        self.proc = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


async def test_relay_survives_redis_restart(sandbox: SandboxHandle, fake_slack: FakeSlack,
                                            private_redis: PrivateRedis) -> None:
    prefix = "caseroom-restart"
    settings = relay_settings(fake_slack, sandbox.url, sandbox.api_key, prefix, redis=private_redis.url)
    case_id = sandbox.case("Active")["id"]
    relay = await start_relay(settings)
    keys = Keys(prefix)
    try:
        async def baselined() -> bool:
            state = await hgetall(relay.runtime.redis, keys.case_state(case_id))
            return {"chats", "timeline"} <= set((state.get("base") or "").split(","))

        await wait_until(baselined, 30, "baseline")
        chats = [sandbox.control.add_chat(case_id, f"before {n}", role=1)["id"] for n in range(3)]

        async def posted(count: int) -> list[str] | None:
            try:
                ch = await channel_for_case(relay.runtime, case_id)
            except syncredis.ConnectionError:  # the test's own read hit a connection Redis dropped
                return None
            if ch is None:
                return None
            ids = [i for i, _ in relayed_items(fake_slack, ch.id) if i.startswith("chat:")]
            return ids if len(set(ids)) >= count else None

        await wait_until(lambda: posted(3), 30, "first chats")
        chats += [sandbox.control.add_chat(case_id, f"around {n}", role=1)["id"] for n in range(3)]
        private_redis.stop()  # mid-run: fetches and deliveries of these chats are in progress
        chats += [sandbox.control.add_chat(case_id, f"while down {n}", role=1)["id"] for n in range(2)]
        await asyncio.sleep(2.0)
        private_redis.start()
        ids = await wait_until(lambda: posted(len(chats)), 90, "every chat after the restart")
        assert ids == [f"chat:{c}" for c in chats], "each chat once, in order"
        assert relay.health()["redis_ok"]
    finally:
        await stop_relay(relay)
