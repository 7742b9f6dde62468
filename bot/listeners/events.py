"""Events API listeners about people and channels (manifest.yml subscribes to each).

- `user_change` (needs `users:read`): Slack sends the whole user object whenever a profile changes,
  including a member turned guest, moved to another organisation or deactivated. The cached profile
  is dropped, so the next check reads `users.info` again (`bot.services.identity`), and so is the
  direct messages' cached Slack account of the person (by their user id and emails), so the next DM
  looks them up again and a guest or deactivated account gets none.
- `channel_shared` / `channel_unshared` (need `channels:read` / `groups:read`): a channel Caseroom is
  in was shared with another organisation, or one left it. The relay's cached answer
  (`bot.slack.sharing`) is set to shared at once, or dropped so conversations.info is asked again.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from bot.services import identity
from bot.slack import sharing

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

    from bot.runtime import Runtime

log = logging.getLogger(__name__)


def changed_user_id(event: dict[str, Any]) -> str | None:
    """The user id of a `user_change` event (None when the event carries none)."""
    user = event.get("user")
    user_id = user.get("id") if isinstance(user, dict) else None
    return user_id if isinstance(user_id, str) and user_id else None


def changed_user_email(event: dict[str, Any]) -> str:
    """The profile email of a `user_change` event ("" without `users:read.email` or a profile)."""
    user = event.get("user")
    profile = user.get("profile") if isinstance(user, dict) else None
    email = profile.get("email") if isinstance(profile, dict) else None
    return email if isinstance(email, str) else ""


def register(app: AsyncApp, runtime: Runtime) -> None:
    @app.event("user_change")
    async def _user_change(event: dict[str, Any]) -> None:
        user_id = changed_user_id(event)
        if user_id is None:
            log.info("user_change event without a user id ignored")
            return
        # a few DELs: profile edits and status changes are frequent
        await identity.forget_user(runtime, user_id, changed_user_email(event))
        log.debug("Slack profile of %s changed: cached profile dropped", user_id)

    @app.event("channel_shared")
    async def _channel_shared(event: dict[str, Any]) -> None:
        channel_id = event.get("channel")
        if isinstance(channel_id, str) and channel_id:
            await sharing.mark_shared(runtime, channel_id)
            log.warning("channel %s was shared with another organisation (%s): Caseroom posts no case data "
                        "there any more", channel_id, event.get("connected_team_id"))

    @app.event("channel_unshared")
    async def _channel_unshared(event: dict[str, Any]) -> None:
        channel_id = event.get("channel")
        if isinstance(channel_id, str) and channel_id:
            await sharing.forget(runtime, channel_id)
            log.info("an organisation left channel %s; its sharing is checked again", channel_id)
