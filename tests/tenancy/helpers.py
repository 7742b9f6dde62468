"""Shared by the tenancy tests: multi-workspace settings and installations."""

from __future__ import annotations

from typing import Any

from slack_sdk.oauth.installation_store.models.installation import Installation

from bot.config import Settings
from bot.store.secrets import generate_key

SECRET_KEY = generate_key()


def multi_settings(prefix: str, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "slack_client_id": "1234567890.0987654321",
        "slack_client_secret": "fake-client-secret-0123456789abcdef",
        "caseroom_secret_key": SECRET_KEY,
        "slack_signing_secret": "fake-signing-secret",
        "slack_api_url": "http://127.0.0.1:9/api/",
        "debitura_api_url": "http://127.0.0.1:9",
        "caseroom_redis_prefix": prefix,
        **extra,
    }
    return Settings(**values)


def installation(
    team: str, *, user: str = "U0INSTALL", token: str | None = None, **extra: Any
) -> Installation:
    return Installation(app_id="A0CASEROOM", team_id=team, team_name=team.lower(), user_id=user,
                        bot_token=token or f"xoxb-{team.lower()}-secret-token", bot_id="B0" + team[-4:],
                        bot_user_id="U0BOT" + team[-4:], bot_scopes="commands,chat:write", **extra)
