"""Logging: text and JSON formats, secrets masked everywhere (messages, arguments, tracebacks)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from bot.config import load_settings, secret_values
from bot.logs import MASK, setup_logging

SECRETS = {
    "slack_bot_token": "xoxb-111-222-bottokenvalue",
    "slack_signing_secret": "signing-secret-value-42",
    "slack_app_token": "xapp-1-A111-222-apptokenvalue",
    "debitura_api_key": "debitura-key-value-99",
    "debitura_webhook_secret": "d2ViaG9vay1zZWNyZXQtdmFsdWU=",
    "redis_url": "redis://:redis-password-77@127.0.0.1:6379/0",
}
RAW = [
    "xoxb-111-222-bottokenvalue", "signing-secret-value-42", "xapp-1-A111-222-apptokenvalue",
    "debitura-key-value-99", "d2ViaG9vay1zZWNyZXQtdmFsdWU=", "redis-password-77",
]


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)


def _emit_everything() -> None:
    log = logging.getLogger("caseroom.test")
    joined = " ".join(RAW)
    log.info("settings loaded: %s", joined)
    log.warning("plain message with secrets " + joined)
    try:
        raise RuntimeError(f"request failed with token {RAW[0]} and key {RAW[3]}")
    except RuntimeError:
        log.exception("failed", extra={"error_id": "E-ABC123"})


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_logs_mask_every_configured_secret(fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    settings = load_settings(**SECRETS, caseroom_log_format=fmt)
    setup_logging(settings.caseroom_log_format.value, "INFO", secrets=secret_values(settings))
    _emit_everything()
    err = capsys.readouterr().err
    assert err.count(MASK) >= len(RAW)
    for secret in RAW:
        assert secret not in err, f"{secret} leaked in {fmt} logs"
    assert "RuntimeError" in err  # the traceback is kept, only masked


def test_logs_secret_values_cover_every_secret_setting() -> None:
    settings = load_settings(**SECRETS)
    assert sorted(secret_values(settings)) == sorted(RAW)


def test_logs_json_lines_carry_level_logger_and_extras(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("json", "INFO", secrets=[])
    _emit_everything()
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert [line["level"] for line in lines] == ["INFO", "WARNING", "ERROR"]
    error = lines[-1]
    assert error["logger"] == "caseroom.test"
    assert error["error_id"] == "E-ABC123"
    assert "Traceback" in error["exc"]


def test_logs_slack_shaped_tokens_are_masked_even_when_not_configured(
    capsys: pytest.CaptureFixture[str],
) -> None:
    setup_logging("text", "INFO", secrets=[])
    logging.getLogger("x").error("token xoxb-999-888-unknowntoken and xapp-1-B-2-otherapp")
    err = capsys.readouterr().err
    assert "unknowntoken" not in err and "otherapp" not in err


def test_logs_level_filters_debug(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("text", "INFO", secrets=[])
    logging.getLogger("x").debug("hidden detail")
    logging.getLogger("x").info("shown")
    err = capsys.readouterr().err
    assert "hidden detail" not in err and "shown" in err
