"""The Slack Connect rule for people: *Share in channel* refuses, with words, a channel shared with
another organisation and a conversation Caseroom cannot see. Whether a channel is shared is the Slack
gateway's question (`bot.slack.sharing`)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from slack_sdk.errors import SlackApiError

from bot.services.errors import Refused
from bot.slack.errors import slack_error
from bot.slack.sharing import Sharing, channel_sharing

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)

SHARED_REFUSAL = ("This channel is shared with another organisation (Slack Connect), so Caseroom does not "
                  "share case cards in it: debtor data stays inside your workspace. Share the card in one "
                  "of your own channels.")
UNSEEN_REFUSAL = ("Caseroom shares cards only where it can check that no other organisation is present, "
                  "and it cannot see this conversation (a direct message, or a private channel Caseroom is "
                  "not in). Add Caseroom to the channel (`/invite @Caseroom`), or share the card in a "
                  "channel Caseroom is in.")


async def require_internal(runtime: Runtime, channel_id: str | None) -> None:
    """Refused unless `channel_id` is a channel Caseroom can see and that no other organisation shares.
    Checked afresh (no cache): for a person's click on *Share in channel*."""
    if not channel_id:
        raise Refused(UNSEEN_REFUSAL)
    try:
        sharing = await channel_sharing(runtime, channel_id, cached=False)
    except SlackApiError as exc:
        if slack_error(exc) == "missing_scope":
            raise Refused(UNSEEN_REFUSAL) from None
        raise
    if sharing is Sharing.EXTERNAL:
        log.info("refused to share a card into a channel shared outside the workspace",
                 extra={"channel": channel_id})
        raise Refused(SHARED_REFUSAL)
    if sharing is Sharing.UNKNOWN:
        raise Refused(UNSEEN_REFUSAL)
