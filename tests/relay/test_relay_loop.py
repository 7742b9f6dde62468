"""The relay's worker loop: Redis that cannot serve for a while (unreachable, or a cluster slot without
a master during a failover) is retried with one warning line, never a traceback, and never kills it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
from redis.exceptions import ClusterDownError, ConnectionError, SlotNotCoveredError, TryAgainError

from bot.relay.service import Relay
from bot.runtime import Runtime
from tests.fakes.slack.server import FakeSlack
from tests.relay import harness


@pytest.fixture
async def runtime(fake_slack: FakeSlack, redis_prefix: str) -> AsyncIterator[Runtime]:
    rt = await harness.build_test_runtime(harness.relay_settings(fake_slack, "http://127.0.0.1:9", "key",
                                                                 redis_prefix))
    yield rt
    await harness.close_runtime(rt)


async def test_a_cluster_failing_over_is_redis_unavailable_not_a_failed_step(
    runtime: Runtime, caplog: pytest.LogCaptureFixture,
) -> None:
    relay = Relay(runtime, harness.test_options())
    errors = [ConnectionError("Error 111"), ClusterDownError("The cluster is down"),
              TryAgainError("Multiple keys request during rehashing of slot"), SlotNotCoveredError("slot 1")]
    seen: list[bool] = []

    async def step(_token: str) -> float:
        seen.append(relay.redis_ok)
        relay._fetch_wake.set()  # no backoff wait in the test
        if errors:
            raise errors.pop(0)
        relay._stopping.set()
        return 0.0

    with caplog.at_level(logging.WARNING, logger="bot.relay.service"):
        await relay._loop("fetch-0", step)
    assert seen == [True, False, False, False, False]  # every error counted as Redis unavailable
    records = [r for r in caplog.records if r.name == "bot.relay.service"]
    assert [r.levelno for r in records] == [logging.WARNING]  # the first only: one line, not four
    assert "Redis unavailable (ConnectionError)" in records[0].getMessage()
    assert all(r.exc_info is None for r in records)
    assert relay.last_error == "fetch-0: SlotNotCoveredError"
