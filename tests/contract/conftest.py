"""Contract tests: the real DebituraClient against the running sandbox (tests/fixtures/sandbox.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.debitura.client import DebituraClient, RetryPolicy
from tests.fixtures.sandbox import SandboxHandle


async def _no_sleep(seconds: float) -> None:
    return None


@pytest.fixture
async def dc(sandbox: SandboxHandle) -> AsyncIterator[DebituraClient]:
    """The client under test, pointed at the sandbox (its retries do not really sleep)."""
    client = DebituraClient(
        sandbox.url, sandbox.api_key, sleep=_no_sleep, retry_policy=RetryPolicy(max_retries=2)
    )
    yield client
    await client.aclose()
