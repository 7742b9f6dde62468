"""bench/tenancy_bench.py's sample plan: each small workspace's timed chats go to cases of its own.

With one sandbox partner behind every key, a chat added for one workspace's sample is news to all of
them; a workspace sampling a case another one sampled first posted that backlog (one message a second
per channel) before its own chat, and the bench measured the backlog instead of the webhook path."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "tenancy_bench.py"


def _bench() -> Any:
    spec = importlib.util.spec_from_file_location("caseroom_tenancy_bench", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("workspaces", "cases"), [(20, 104), (10, 104), (50, 104), (3, 2), (2, 1)])
def test_every_small_workspace_samples_cases_no_other_one_samples(workspaces: int, cases: int) -> None:
    teams = [f"T{i:04d}" for i in range(workspaces)]
    case_ids = [f"case-{i}" for i in range(cases)]
    plan = _bench().sample_plan(teams, case_ids)
    assert sorted(plan) == teams[1:]  # workspace 0 floods, the others are timed
    sampled = [cid for cids in plan.values() for cid in cids]
    assert all(plan.values()) and set(sampled) <= set(case_ids)
    assert len(sampled) == len(set(sampled))  # no case sampled by two workspaces


def test_too_few_cases_for_the_workspaces_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot give"):
        _bench().sample_plan([f"T{i}" for i in range(5)], ["a", "b", "c"])
