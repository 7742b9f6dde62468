"""Write modals: note, payment (create, edit, delete), chat, upload, close, activate, fees.

First version: the contract D1's `/case <kind> <ref>` calls (`open_write_modal`) and `register`.
The forms are filled in by the following commits.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.runtime import Runtime

log = logging.getLogger(__name__)

WRITE_KINDS = ("note", "pay", "chat", "close", "activate", "fees", "upload")


async def open_write_modal(
    runtime: Runtime,
    client: AsyncWebClient,
    *,
    kind: str,
    case_ref: str | None,
    trigger_id: str,
    user_id: str,
    channel_id: str | None,
) -> None:
    """Open the modal for `kind` on the case `case_ref` (or the channel's case when None).

    Opens a loading view at once with `trigger_id` (valid 3 s, single use), then fills it with
    `views.update` once the case (and whatever else the form needs) is loaded.
    """
    if kind not in WRITE_KINDS:
        raise ValueError(f"unknown write modal kind {kind!r}; expected one of {', '.join(WRITE_KINDS)}")
    raise NotImplementedError("write modals land in the next commit")


def register(app: AsyncApp, runtime: Runtime) -> None:
    """Registers the write-side actions, view submissions, the message shortcut and view_closed."""
