"""bench/tenancy_bench.py and bench/sandboxes.py: what the multi-workspace benchmark relies on.

Each workspace has its own Debitura sandbox partner (bench/sandboxes.py routes the partner API by
XApiKey, the control API by a `/p<i>` prefix), its timed chats go to its own cases, and Redis is
reported by kind of key."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _load(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"caseroom_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_small_workspace_samples_its_own_cases() -> None:
    case_ids = {f"T{i}": [f"case-{i}-{j}" for j in range(5 if i else 1)] for i in range(4)}
    plan = _load("tenancy_bench").sample_plan(case_ids, ["T1", "T2", "T3"])
    assert sorted(plan) == ["T1", "T2", "T3"]  # workspace 0 floods, the others are timed
    for team, sampled in plan.items():
        assert len(sampled) == 3 == len(set(sampled)) and set(sampled) <= set(case_ids[team])


def test_redis_keys_are_reported_by_kind() -> None:
    kind = _load("tenancy_bench").key_kind
    prefix = "caseroom-bench-mw:1"
    assert kind(f"{prefix}:{{T0W0003}}:case:0f1e2d3c-aaaa-bbbb-cccc-123456789abc:state", prefix) == \
        "{ws}:case:*:state"
    assert kind(f"{prefix}:{{T0W0003}}:att:owner:ida.jensen@example.com", prefix) == "{ws}:att:owner:*"
    assert kind(f"{prefix}:{{T0W0001}}:webhook:seen:flood-17", prefix) == "{ws}:webhook:seen:*"
    assert kind(f"{prefix}:{{T0W0001}}:att:owner:-", prefix) == "{ws}:att:owner:-"
    assert kind(f"{prefix}:workspaces", prefix) == "workspaces"


async def test_each_key_reaches_its_own_sandbox_partner() -> None:
    from bot.sandbox.app import Sandbox

    sandboxes = [Sandbox(seed=100 + i, n_cases=5) for i in range(2)]
    router = _load("sandboxes").Partners(sandboxes)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=router), base_url="http://sb") as http:
        partners = []
        for sb in sandboxes:
            me = await http.get("/me", headers={"XApiKey": sb.api_keys[0]})
            assert me.status_code == 200
            partners.append(me.json()["id"])
        assert partners[0] != partners[1]
        assert (await http.get("/me", headers={"XApiKey": "not-a-key"})).status_code == 401
        for i, sb in enumerate(sandboxes):  # the control API of instance i under /p<i>
            info = (await http.get(f"/p{i}/_sandbox/info")).json()
            assert info["apiKeys"] == sb.api_keys
