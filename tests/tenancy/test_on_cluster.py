"""The Redis-backed stores, the relay's store (its Lua scripts and transactions) and the rate budget on
a real 3-master Redis Cluster, with one workspace's hash-tagged keys; and the tenancy registry there:
workspaces spread over the nodes, each one's keys in one slot, uninstall across nodes.

The store, budget and twin tests are the single-Redis ones (tests/relay/test_store.py,
tests/relay/test_budget.py, tests/services/test_stores.py) run again here: this module's `redis` and
`keys` fixtures are the cluster client and a workspace's keys.
"""

from __future__ import annotations

import asyncio
import inspect

import pytest
import redis.asyncio as aioredis
from redis.crc import key_slot

from bot.store.keys import Keys
from bot.tenancy import TenantRegistry
from tests.fixtures.redis import new_prefix
from tests.relay import test_budget, test_store
from tests.services import test_stores
from tests.tenancy.helpers import installation, multi_settings

REUSED = 0
for _module in (test_store, test_budget, test_stores):
    for _name, _test in vars(_module).items():
        if (_name.startswith("test_") and "redis" in inspect.signature(_test).parameters
                and "build_test_runtime" not in inspect.getsource(_test)):  # builds a single-Redis runtime
            globals()[f"{_name}_on_cluster"] = _test
            REUSED += 1


@pytest.fixture
def redis(cluster_redis: aioredis.Redis) -> aioredis.Redis:
    return cluster_redis


@pytest.fixture
def keys(cluster_keys: Keys) -> Keys:
    return cluster_keys


def test_the_single_redis_tests_are_reused_here() -> None:
    assert REUSED >= 25


async def test_workspaces_spread_over_the_nodes_each_in_one_slot() -> None:
    base = Keys("caseroom:v1")
    slots = {key_slot(base.for_workspace(f"T{i:06d}").case_state("c").encode()) for i in range(50)}
    per_node = 16384 // 3
    assert len({min(slot // per_node, 2) for slot in slots}) == 3  # 50 workspaces land on all 3 masters


async def test_registry_and_uninstall_on_the_cluster(cluster_redis: aioredis.Redis) -> None:
    prefix = new_prefix()
    registry = TenantRegistry(multi_settings(prefix), redis=cluster_redis)
    teams = [f"T0C{i:04d}" for i in range(6)]
    for team in teams:
        await registry.installations.async_save(installation(team))
    runtimes = [await registry.runtime(team) for team in teams]
    for runtime in runtimes:
        assert runtime is not None
        await runtime.stores.follows.follow("case-1")
        await runtime.stores.audit.append({"action": "note"})
        await runtime.stores.cases.request_fetch("case-1", 1, 100.0, "test")
    assert sorted(await registry.installed()) == teams
    await registry.uninstall(teams[0])
    gone = runtimes[0]
    assert gone is not None
    assert [k async for k in cluster_redis.scan_iter(match=gone.keys.workspace_pattern())] == []
    for runtime in runtimes[1:]:
        assert runtime is not None and await runtime.stores.follows.is_followed("case-1")
    await registry.aclose()


async def test_many_commands_at_once_on_one_node_get_a_connection_each(cluster_redis: aioredis.Redis,
                                                                        cluster_keys: Keys) -> None:
    """50 workspaces' relays in one process hold far more than redis-py's default 100 connections to a
    node at once (each workspace has its own workers); the client must not refuse them."""
    key = cluster_keys.relay_outbox("nothing")
    answers = await asyncio.gather(*(cluster_redis.blpop([key], timeout=0.3) for _ in range(150)))
    assert answers == [None] * 150
