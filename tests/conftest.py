"""Shared fixtures. Each area keeps its fixtures in tests/fixtures/<area>.py, registered here.

Two guarantees for every test, whatever the developer's machine holds:

- A developer's `.env` (README Quickstart) is never read: settings built in a test come only from
  what the test gives them and the environment (`_no_dotenv`); processes the tests start run in a
  temporary directory.
- Redis is TEST_REDIS_URL only. When pytest runs without it, the session starts a private
  redis-server (scripts/ensure_redis.py) for itself and its xdist workers, and removes it at the end.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from bot import config as bot_config

pytest_plugins = [
    "tests.fixtures.redis",
    "tests.fixtures.fakeslack",
    "tests.fixtures.e2e",
    "tests.fixtures.sandbox",
    "tests.fixtures.cluster",
]

REPO = Path(__file__).resolve().parents[1]
DOTENV_SETTINGS = (bot_config.Settings, bot_config._TransportProbe)
"""Every settings class that would read `.env` from the working directory."""
_PRIVATE_REDIS = pytest.StashKey[Any]()


@pytest.fixture(autouse=True)
def _no_dotenv(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings built in a test never read a `.env` file from the working directory."""
    for cls in DOTENV_SETTINGS:
        monkeypatch.setitem(cls.model_config, "env_file", None)


def _ensure_redis_module() -> Any:
    path = REPO / "scripts" / "ensure_redis.py"
    spec = importlib.util.spec_from_file_location("caseroom_ensure_redis", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("TEST_REDIS_URL", "").strip() or hasattr(config, "workerinput"):
        return  # named by the developer or scripts/test; an xdist worker inherits its controller's
    binary = shutil.which("redis-server")
    if binary is None:
        return  # the `redis` fixture fails with how to install it
    server = _ensure_redis_module().PrivateRedis(binary)
    os.environ["TEST_REDIS_URL"] = server.start()
    config.stash[_PRIVATE_REDIS] = server


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked slow (crash loops, storms: 10-70 s each) run first. With pytest-xdist the last
    test a worker takes bounds the run: a 70 s test started last kept one core busy alone while the
    other had finished. The order is otherwise kept (a stable sort), the same in every worker."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def pytest_unconfigure(config: pytest.Config) -> None:
    server = config.stash.get(_PRIVATE_REDIS, None)
    if server is not None:
        server.stop()
        os.environ.pop("TEST_REDIS_URL", None)
