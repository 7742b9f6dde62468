"""Dockerfile, docker-compose.yml and .dockerignore: no Docker engine here, so check what can be checked.

They parse; every command they start is a real `caseroom` subcommand with valid arguments; the
healthcheck command, run as written, passes against a running Caseroom and fails without one; the
image installs from the lock file and runs as an unprivileged user.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from typing import Any

import pytest
import yaml

from bot.cli import build_parser
from tests.ship.conftest import REPO, ThreadedSlack, base_env, free_port

Instruction = tuple[str, str]


def dockerfile() -> list[Instruction]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    lines: list[Instruction] = []
    pending = ""
    for raw in (REPO / "Dockerfile").read_text().splitlines():
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = pending + stripped
        pending = ""
        word, _, rest = full.partition(" ")
        lines.append((word.upper(), rest.strip()))
    assert not pending, "Dockerfile ends inside a continued line"
    return lines


def stages(instructions: list[Instruction]) -> list[list[Instruction]]:
    out: list[list[Instruction]] = []
    for ins in instructions:
        if ins[0] == "FROM":
            out.append([])
        assert out, "Dockerfile must start with FROM"
        out[-1].append(ins)
    return out


def compose() -> dict[str, Any]:
    data = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def assert_caseroom_command(argv: list[str]) -> None:
    """`argv` is `caseroom <subcommand> ...` that the CLI accepts."""
    assert argv[0] == "caseroom", argv
    sub = argv[1]
    if sub == "sandbox":
        from bot.sandbox.cli import build_parser as sandbox_parser

        sandbox_parser().parse_args(argv[2:])
        return
    args = build_parser().parse_args(argv[1:])
    assert args.command == sub


def test_dockerfile_is_multi_stage_slim_and_locked() -> None:
    parts = stages(dockerfile())
    assert len(parts) >= 2
    for stage in parts:
        assert stage[0][1].startswith("python:3.11-slim"), stage[0]
    build = " ".join(args for word, args in parts[0] if word == "RUN")
    assert "-c requirements-lock.txt" in build
    final = parts[-1]
    assert any(word == "COPY" and args.startswith("--from=") for word, args in final)
    assert not any(word == "RUN" and "pip install" in args for word, args in final), "install in build"


def test_dockerfile_runs_as_non_root_and_exposes_the_port() -> None:
    final = stages(dockerfile())[-1]
    users = [args for word, args in final if word == "USER"]
    assert users, "final stage must switch user"
    assert users[-1].split(":")[0] not in ("root", "0")
    assert ("EXPOSE", "3000") in final


def test_dockerfile_copies_only_existing_paths_not_excluded_by_dockerignore() -> None:
    ignored = {line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    for word, args in dockerfile():
        if word != "COPY" or args.startswith("--from="):
            continue
        sources = shlex.split(args)[:-1]
        for src in sources:
            assert (REPO / src).exists(), f"COPY source {src} does not exist"
            assert src not in ignored, f"COPY source {src} is excluded by .dockerignore"


def test_dockerignore_keeps_secrets_and_local_state_out() -> None:
    ignored = (REPO / ".dockerignore").read_text().splitlines()
    for entry in (".env", ".git", ".venv"):
        assert entry in ignored


def test_dockerfile_cmd_is_caseroom_run() -> None:
    final = stages(dockerfile())[-1]
    cmd = [args for word, args in final if word == "CMD"][-1]
    argv = json.loads(cmd)
    assert argv == ["caseroom", "run"]
    assert_caseroom_command(argv)


def healthcheck_argv() -> list[str]:
    final = stages(dockerfile())[-1]
    health = [args for word, args in final if word == "HEALTHCHECK"][-1]
    _, _, exec_form = health.partition("CMD ")
    argv = json.loads(exec_form)
    assert argv[0] == "python"
    return [sys.executable, *argv[1:]]


def test_dockerfile_healthcheck_passes_against_a_running_caseroom_and_fails_without(
    threaded_slack: ThreadedSlack, caseroom_proc: Any
) -> None:
    argv = healthcheck_argv()
    assert "/healthz" in " ".join(argv)
    port = free_port()
    env = {"PATH": os.environ.get("PATH", ""), "CASEROOM_PORT": str(port)}
    down = subprocess.run(argv, env=env, capture_output=True, timeout=30, check=False)
    assert down.returncode != 0
    proc = caseroom_proc(["run", "--mode", "http", "--host", "127.0.0.1", "--no-relay"],
                         base_env(threaded_slack, CASEROOM_PORT=str(port)), port=port)
    proc.wait_ready()
    up = subprocess.run(argv, env=env, capture_output=True, timeout=30, check=False)
    assert up.returncode == 0, up.stderr


def test_compose_redis_persists_and_caseroom_waits_for_it() -> None:
    services = compose()["services"]
    redis = services["redis"]
    assert "--appendonly" in redis["command"] and "yes" in redis["command"]
    assert any(str(v).endswith(":/data") for v in redis["volumes"])
    app = services["caseroom"]
    assert app["depends_on"]["redis"]["condition"] == "service_healthy"
    assert app["environment"]["REDIS_URL"].startswith("redis://redis:")


def test_compose_redis_is_reachable_from_the_host_on_loopback_only() -> None:
    # README's Quickstart: `docker compose up -d redis`, then ./scripts/run outside Compose uses
    # REDIS_URL=redis://localhost:6379/0; the port must be published, and only on loopback.
    ports = [str(p) for p in compose()["services"]["redis"].get("ports", [])]
    assert ports == ["127.0.0.1:6379:6379"]


@pytest.mark.parametrize("service", ["caseroom", "sandbox"])
def test_compose_commands_exist_in_the_cli(service: str) -> None:
    assert_caseroom_command(compose()["services"][service]["command"])


def test_compose_sandbox_is_behind_a_profile() -> None:
    services = compose()["services"]
    assert services["sandbox"]["profiles"] == ["sandbox"]
    assert "profiles" not in services["caseroom"] and "profiles" not in services["redis"]


def test_compose_healthcheck_uses_the_served_path() -> None:
    test = compose()["services"]["caseroom"]["healthcheck"]["test"]
    assert test[:2] == ["CMD", "python"]
    assert "http://127.0.0.1:3000/healthz" in test[-1]
    assert compose()["services"]["caseroom"]["environment"]["CASEROOM_PORT"] == "3000"
