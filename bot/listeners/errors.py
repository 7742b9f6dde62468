"""The global error handler: the backstop for any exception a listener lets escape.

Listeners catch their own errors after the ack and answer with words and an error id
(`bot.services.errors.report`). Whatever still escapes lands here: it is logged with a fresh error
id, and, when the request has a response_url (commands, message buttons, shortcuts), the person is
told what happened with that id. Nothing is ever shown as a traceback.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from bot.services.errors import report

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp, AsyncRespond

    from bot.runtime import Runtime

log = logging.getLogger(__name__)


def describe_request(body: dict[str, Any]) -> str:
    """`command /case`, `block_actions case_show_card`... (ids only, never user text)."""
    if "command" in body and "type" not in body:
        return f"command {body.get('command')}"
    kind = str(body.get("type") or "request")
    actions = body.get("actions") or []
    if actions and isinstance(actions[0], dict):
        return f"{kind} {actions[0].get('action_id')}"
    view = body.get("view") or {}
    if isinstance(view, dict) and view.get("callback_id"):
        return f"{kind} {view.get('callback_id')}"
    if body.get("callback_id"):
        return f"{kind} {body.get('callback_id')}"
    return kind


def register(app: AsyncApp, runtime: Runtime) -> None:
    @app.error
    async def _on_error(error: Exception, body: dict[str, Any], respond: AsyncRespond | None = None) -> None:
        where = f"unhandled in {describe_request(body or {})}"
        text = report(error, where=where, logger=log)
        response_url = (body or {}).get("response_url") or _first_response_url(body or {})
        if respond is None or not response_url:
            return
        try:
            await respond(text=text, response_type="ephemeral", replace_original=False)
        except Exception:
            log.exception("could not tell the user about an error")


def _first_response_url(body: dict[str, Any]) -> str | None:
    urls = body.get("response_urls") or []
    if urls and isinstance(urls[0], dict):
        url = urls[0].get("response_url")
        return str(url) if url else None
    return None
