"""Helpers for the fake Slack's own tests: every call goes through slack_sdk's AsyncWebClient."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_slack_response import AsyncSlackResponse

T = TypeVar("T")


async def slack_error(call: Awaitable[AsyncSlackResponse]) -> SlackApiError:
    """Await a Web API call that must fail; return the SDK's error (code in .response['error'])."""
    with pytest.raises(SlackApiError) as info:
        await call
    return info.value


async def error_code(call: Awaitable[AsyncSlackResponse]) -> str:
    return str((await slack_error(call)).response["error"])


def messages(exc: SlackApiError) -> list[str]:
    metadata: dict[str, Any] = exc.response.get("response_metadata") or {}
    return list(metadata.get("messages") or [])


def present(value: T | None) -> T:
    """`value`, failing the test if it is None (a view or home that must be there)."""
    assert value is not None
    return value
