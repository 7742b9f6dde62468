"""Events API listeners about people.

`user_change` (manifest.yml subscribes to it; it needs `users:read`): Slack sends the whole user
object whenever a profile changes, including a member turned guest, moved to another organisation
or deactivated. The cached profile is dropped, so the next check reads `users.info` again
(`bot.services.identity`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from bot.services import identity

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

    from bot.runtime import Runtime

log = logging.getLogger(__name__)


def changed_user_id(event: dict[str, Any]) -> str | None:
    """The user id of a `user_change` event (None when the event carries none)."""
    user = event.get("user")
    user_id = user.get("id") if isinstance(user, dict) else None
    return user_id if isinstance(user_id, str) and user_id else None


def register(app: AsyncApp, runtime: Runtime) -> None:
    @app.event("user_change")
    async def _user_change(event: dict[str, Any]) -> None:
        user_id = changed_user_id(event)
        if user_id is None:
            log.info("user_change event without a user id ignored")
            return
        await identity.forget_user(runtime, user_id)
        log.info("Slack profile of %s changed: cached profile dropped", user_id)
