"""The one exception a fake Web API method raises to answer `{"ok": false, "error": ...}`."""

from __future__ import annotations

from typing import Any


class SlackError(Exception):
    """A Web API error answer, in Slack's own shape.

    `error` is Slack's error code (`channel_not_found`, `invalid_blocks`...). `messages` go to
    `response_metadata.messages` (Slack's json-pointer validation messages, prefixed `[ERROR] `).
    `status` is the HTTP status (200 for ordinary errors, 429 for rate limits, 5xx for faults).
    """

    def __init__(
        self,
        error: str,
        *,
        status: int = 200,
        messages: list[str] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(error)
        self.error = error
        self.status = status
        self.messages = list(messages or [])
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error": self.error, **self.extra}
        if self.messages:
            body["response_metadata"] = {"messages": [f"[ERROR] {m}" for m in self.messages]}
        return body
