"""The `caseroom` command line: help, and configuration errors that name what is wrong (no traceback)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def caseroom(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
             timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run `caseroom ARGS` as a user would, with exactly `env` (plus PATH/HOME) and no .env file."""
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd or REPO),
            "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args], env={**base, **(env or {})}, cwd=cwd or REPO,
        capture_output=True, text=True, timeout=timeout, check=False,
    )


@pytest.fixture
def empty_dir(tmp_path: Path) -> Path:
    """A working directory without a .env file."""
    return tmp_path


def test_cli_help_lists_every_subcommand() -> None:
    out = caseroom("--help")
    assert out.returncode == 0
    for sub in ("run", "check", "sandbox", "relay"):
        assert f"    {sub}" in out.stdout, out.stdout


def test_cli_run_help_documents_mode_and_port() -> None:
    out = caseroom("run", "--help")
    assert out.returncode == 0
    assert "--mode {socket,http}" in out.stdout
    assert "--port" in out.stdout
    assert "--no-relay" in out.stdout


def test_cli_without_subcommand_prints_help_and_fails() -> None:
    out = caseroom()
    assert out.returncode == 2
    assert "run" in out.stdout and "check" in out.stdout


def test_cli_run_with_empty_environment_names_every_missing_variable(empty_dir: Path) -> None:
    out = caseroom("run", cwd=empty_dir)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert "SLACK_BOT_TOKEN is missing" in out.stderr
    assert "DEBITURA_API_KEY is missing" in out.stderr
    assert "SLACK_SIGNING_SECRET" in out.stderr and "SLACK_APP_TOKEN" in out.stderr
    assert out.stdout == ""


def test_cli_run_with_malformed_values_says_what_they_should_look_like(empty_dir: Path) -> None:
    env = {
        "SLACK_BOT_TOKEN": "xoxp-user-token",
        "DEBITURA_API_KEY": "key",
        "DEBITURA_API_URL": "not a url",
        "SLACK_APP_TOKEN": "abc",
        "REDIS_URL": "localhost:6379",
        "CASEROOM_LOG_LEVEL": "chatty",
    }
    out = caseroom("run", env=env, cwd=empty_dir)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    err = out.stderr
    assert "SLACK_BOT_TOKEN must be a bot token starting with xoxb-" in err
    assert "SLACK_APP_TOKEN must be an app-level token starting with xapp-" in err
    assert "DEBITURA_API_URL" in err and "https://collectionpartner-api.debitura.com" in err
    assert "REDIS_URL must be a redis://" in err
    assert "CASEROOM_LOG_LEVEL must be one of DEBUG" in err
    # the bad values are secrets or may be: never echoed back
    assert "xoxp-user-token" not in err


def test_cli_run_reads_dotenv_in_the_working_directory(empty_dir: Path) -> None:
    (empty_dir / ".env").write_text("SLACK_BOT_TOKEN=xoxb-from-dotenv\nSLACK_SIGNING_SECRET=s3cret\n")
    out = caseroom("run", cwd=empty_dir)
    assert out.returncode == 2
    assert "SLACK_BOT_TOKEN" not in out.stderr
    assert "DEBITURA_API_KEY is missing" in out.stderr
    assert "SLACK_SIGNING_SECRET (HTTP mode) or" not in out.stderr


@pytest.mark.parametrize(
    ("mode", "env", "needed"),
    [
        ("socket", {"SLACK_SIGNING_SECRET": "s3cret"}, "SLACK_APP_TOKEN"),
        ("http", {"SLACK_APP_TOKEN": "xapp-1-A1-1-abc"}, "SLACK_SIGNING_SECRET"),
    ],
)
def test_cli_run_mode_without_its_credential_is_a_config_error(
    empty_dir: Path, mode: str, env: dict[str, str], needed: str
) -> None:
    base = {"SLACK_BOT_TOKEN": "xoxb-1-2-abc", "DEBITURA_API_KEY": "key", **env}
    out = caseroom("run", "--mode", mode, env=base, cwd=empty_dir)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert f"needs {needed}" in out.stderr


def test_cli_relay_with_empty_environment_is_a_config_error(empty_dir: Path) -> None:
    out = caseroom("relay", cwd=empty_dir)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert "SLACK_BOT_TOKEN is missing" in out.stderr


@pytest.mark.parametrize("port", ["70000", "-1", "http"])
def test_cli_run_rejects_a_bad_port(empty_dir: Path, port: str) -> None:
    out = caseroom("run", "--port", port, cwd=empty_dir)
    assert out.returncode == 2
    assert "is not a port number" in out.stderr
    assert "Traceback" not in out.stderr
