"""Publishing a person's App Home (`views.publish`), paced like every other Slack call (bot/slack/pacing.py).

`views.publish` is Tier 4 (100+ a minute per workspace). A 429 pauses the method for every process
(the pause lives in Redis), and a publish that meets a pause waits up to `MAX_INLINE_WAIT` and then
gives up (`RetryLater`): the Home shows again the next time the person opens the tab. When Redis
itself cannot answer, the publish goes straight to Slack (the degraded Home must still be shown).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

from bot.runtime import without_rate_limit_retries
from bot.slack.pacing import SlackIO
from bot.store.pacing import PaceStore

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)


def _io(runtime: Runtime) -> SlackIO:
    cached = getattr(runtime, "_home_io", None)
    if isinstance(cached, SlackIO):
        return cached
    io = SlackIO(without_rate_limit_retries(runtime.slack), PaceStore(runtime.redis, runtime.keys),
                 runtime.metrics)
    object.__setattr__(runtime, "_home_io", io)
    return io


async def publish_home(runtime: Runtime, user_id: str, view: dict[str, Any]) -> None:
    """Publish `view` as `user_id`'s Home. Raises RetryLater / SlackRefused (bot.slack.pacing)."""
    io = _io(runtime)
    try:
        await io.call("views.publish", None, lambda: io.client.views_publish(user_id=user_id, view=view))
    except (RedisError, OSError) as exc:
        log.warning("Slack pacing unavailable (%s); publishing the Home directly", type(exc).__name__)
        await runtime.slack.views_publish(user_id=user_id, view=view)
