"""The error code of a failed Slack call, read one way everywhere."""

from __future__ import annotations

from collections.abc import Mapping

from slack_sdk.errors import SlackApiError


def slack_error(exc: SlackApiError, default: str = "") -> str:
    """Slack's error code (`"channel_not_found"`) of a failed call; `default` when the answer has none.

    Reads the parsed body (`response.data`) and falls back to `response.get`, so it works for the
    SDK's responses and for test doubles that only offer one of the two.
    """
    response = exc.response
    if response is None:
        return default
    data = getattr(response, "data", None)
    if isinstance(data, Mapping):
        code = data.get("error")
    else:
        try:
            code = response.get("error")
        except Exception:
            code = None
    return str(code) if code else default
