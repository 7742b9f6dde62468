"""Settings: required values, shapes, lists, secrets kept out of reprs, the README table source."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, LogFormat, Settings, load_settings, settings_table

REQUIRED = {"slack_bot_token": "xoxb-1-2-abcdef", "debitura_api_key": "dk-secret-key",
            "slack_signing_secret": "sign-secret-value"}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No variable from the developer's shell and no .env file leak into these tests."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)


def test_config_minimal_settings_have_documented_defaults() -> None:
    s = load_settings(**REQUIRED)
    assert s.caseroom_port == 3000
    assert s.caseroom_command == "/case"
    assert s.redis_url == "redis://localhost:6379/0"
    assert s.caseroom_log_format is LogFormat.text
    assert not s.socket_mode


def test_config_secrets_never_show_in_repr_or_str() -> None:
    s = load_settings(**REQUIRED, slack_app_token="xapp-1-secret-app", debitura_webhook_secret="whsec")
    for text in (repr(s), str(s), str(s.model_dump())):
        for secret in ("xoxb-1-2-abcdef", "dk-secret-key", "sign-secret-value", "xapp-1-secret-app", "whsec"):
            assert secret not in text


def test_config_lists_split_on_commas_and_semicolons(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASEROOM_ADMIN_USERS", "U1, U2;U3,,")
    monkeypatch.setenv("CASEROOM_RELAY_LIFECYCLES", "Active")
    s = load_settings(**REQUIRED)
    assert s.caseroom_admin_users == ["U1", "U2", "U3"]
    assert s.caseroom_relay_lifecycles == ["Active"]


def test_config_admin_users_take_ids_or_a_lone_star(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASEROOM_ADMIN_USERS", " * ")
    assert load_settings(**REQUIRED).caseroom_admin_users == ["*"]
    for bad, words in (("*, U012ABCDEF", "not both"), ("jane.doe", "Slack user ids")):
        monkeypatch.setenv("CASEROOM_ADMIN_USERS", bad)
        with pytest.raises(ConfigError, match="CASEROOM_ADMIN_USERS") as info:
            load_settings(**REQUIRED)
        assert words in str(info.value)


def test_config_app_token_selects_socket_mode_and_empty_values_count_as_unset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-1-A-1-x")
    monkeypatch.setenv("DEBITURA_WEBHOOK_SECRET", "   ")
    s = load_settings(slack_bot_token="xoxb-1", debitura_api_key="k")
    assert s.socket_mode
    assert s.debitura_webhook_secret is None


def test_config_error_names_every_bad_variable_once() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(
            slack_bot_token="nope", caseroom_port=0, caseroom_command="case", caseroom_log_level="loud"
        )
    text = str(info.value)
    assert "SLACK_BOT_TOKEN must be a bot token starting with xoxb-" in text
    assert "DEBITURA_API_KEY is missing" in text
    assert "CASEROOM_PORT" in text
    assert "CASEROOM_COMMAND must start with /" in text
    assert "CASEROOM_LOG_LEVEL must be one of" in text
    assert text.count("SLACK_SIGNING_SECRET (HTTP mode) or SLACK_APP_TOKEN") == 1
    assert "nope" not in text


def test_config_transport_alone_missing_is_named() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(slack_bot_token="xoxb-1", debitura_api_key="k")
    assert "SLACK_SIGNING_SECRET (HTTP mode) or SLACK_APP_TOKEN" in str(info.value)


def test_config_transport_given_is_not_reported_when_other_fields_fail() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(slack_signing_secret="s")
    assert "SLACK_SIGNING_SECRET (HTTP mode)" not in str(info.value)
    assert "SLACK_BOT_TOKEN is missing" in str(info.value)


def test_config_log_level_is_normalised() -> None:
    assert load_settings(**REQUIRED, caseroom_log_level="debug").caseroom_log_level == "DEBUG"


def test_config_settings_table_covers_every_field_with_a_description() -> None:
    rows = settings_table()
    assert [r[0] for r in rows] == [name.upper() for name in Settings.model_fields]
    assert all(description for _, _, description in rows)
    table = {name: default for name, default, _ in rows}
    assert table["SLACK_BOT_TOKEN"] == "(required)"
    assert table["CASEROOM_PORT"] == "3000"
    assert table["CASEROOM_RELAY_LIFECYCLES"] == "Active,Paused,NeedsAdditionalDetails,PendingVerification"
    assert table["SLACK_APP_TOKEN"] == ""
