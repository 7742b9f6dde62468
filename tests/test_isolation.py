"""The suite keeps to itself: a developer's `.env` is never read, and Redis is a private server or the
one named in TEST_REDIS_URL, never one merely found (REDIS_URL, 127.0.0.1:6379)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import redis as sync_redis

from bot.config import load_settings
from tests.fixtures.redis import redis_url

REPO = Path(__file__).resolve().parents[1]
ENSURE_REDIS = REPO / "scripts" / "ensure_redis.py"

QUICKSTART_ENV = """\
SLACK_BOT_TOKEN=xoxb-from-the-developers-env
SLACK_APP_TOKEN=xapp-from-the-developers-env
DEBITURA_API_KEY=key-from-the-developers-env
REDIS_URL=redis://localhost:6379/0
# who may close, activate, change fees, edit or delete payments (Slack user ids, comma-separated)
CASEROOM_ADMIN_USERS=U012ABCDEF
CASEROOM_PORT=not-a-port
"""


def test_a_developers_dotenv_in_the_working_directory_is_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text(QUICKSTART_ENV)
    monkeypatch.chdir(tmp_path)
    for name in ("SLACK_APP_TOKEN", "CASEROOM_ADMIN_USERS", "CASEROOM_PORT", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(slack_bot_token="xoxb-1-test", debitura_api_key="k", slack_signing_secret="s")
    assert settings.caseroom_admin_users == []
    assert settings.slack_app_token is None
    assert settings.caseroom_port == 3000


def test_the_tests_redis_is_test_redis_url_never_redis_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://production.example:6379/0")
    monkeypatch.setenv("TEST_REDIS_URL", "redis://127.0.0.1:1/9")
    assert redis_url() == "redis://127.0.0.1:1/9"
    monkeypatch.delenv("TEST_REDIS_URL")
    with pytest.raises(pytest.fail.Exception, match="TEST_REDIS_URL is not set"):
        redis_url()


def ensure_redis(env: dict[str, str], *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ENSURE_REDIS), *command], env=env, capture_output=True,
                          text=True, timeout=60, check=False)


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TEST_REDIS_URL", "REDIS_URL")}
    env.update(extra)
    return env


PRINT_URL = "import os; print('URL=' + os.environ['TEST_REDIS_URL'])"


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")
def test_without_test_redis_url_a_private_server_is_started_and_removed(tmp_path: Path) -> None:
    # A Redis that answers on REDIS_URL (the tests' own here) must not be taken because it is there.
    found = redis_url()
    script = (
        "import os, redis\n"
        "url = os.environ['TEST_REDIS_URL']\n"
        "client = redis.Redis.from_url(url)\n"
        "print('URL=' + url, 'DIR=' + client.config_get('dir')['dir'], 'KEYS=%d' % client.dbsize())\n"
        "raise SystemExit(7)\n"
    )
    out = ensure_redis(base_env(REDIS_URL=found), sys.executable, "-c", script)
    assert out.returncode == 7, out.stdout + out.stderr  # the command's exit code
    words = dict(w.split("=", 1) for w in out.stdout.split("\n")[-2].split())
    url, workdir = words["URL"], words["DIR"]
    assert url != found and ":6379/" not in url and url.startswith("redis://127.0.0.1:")
    assert words["KEYS"] == "0"
    assert "private redis-server" in out.stdout
    # stopped and its directory removed when the command ended
    client = sync_redis.Redis.from_url(url, socket_connect_timeout=1)
    with pytest.raises(sync_redis.ConnectionError):
        client.ping()
    client.close()
    assert not Path(workdir).exists()


def test_an_explicit_test_redis_url_is_used_as_given() -> None:
    url = redis_url()
    out = ensure_redis(base_env(TEST_REDIS_URL=url), sys.executable, "-c", PRINT_URL)
    assert out.returncode == 0, out.stderr
    assert f"URL={url}" in out.stdout.splitlines()


def test_an_explicit_test_redis_url_that_does_not_answer_stops_the_run() -> None:
    out = ensure_redis(base_env(TEST_REDIS_URL="redis://127.0.0.1:1/0"), sys.executable, "-c", PRINT_URL)
    assert out.returncode == 1
    assert "does not answer" in out.stderr and "URL=" not in out.stdout


def test_without_redis_server_it_says_how_to_install_it(tmp_path: Path) -> None:
    out = ensure_redis(base_env(PATH=str(tmp_path)), sys.executable, "-c", PRINT_URL)
    assert out.returncode == 1
    assert "apt-get install redis-server" in out.stderr and "TEST_REDIS_URL" in out.stderr
    assert "URL=" not in out.stdout
