"""Opening a write form on a case: `/case <kind>`, the card's buttons and the relayed messages' buttons.

Lives beside the flows (not in `bot.listeners.modals`) so the command and relay-button listeners can
open a form without importing another listener module (tests/test_layers.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.listeners.writes import BY_KIND, CASE_KINDS, WriteKind
from bot.listeners.writes.flow import Opener, View, WriteFlow, allowed
from bot.listeners.writes.views import fill, open_loading
from bot.services import lookup

if TYPE_CHECKING:
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.runtime import Runtime


# --- opening a form on a case --------------------------------------------------------------------

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
    `views.update` once the case (and whatever else the form needs) is loaded. Errors (unknown
    case, refused user...) are shown in the modal with an error id.
    """
    await _open_write_modal(runtime, client, kind=kind, case_ref=case_ref, trigger_id=trigger_id,
                            user_id=user_id, channel_id=channel_id)


def case_flow(kind: str) -> WriteFlow[Any]:
    """The flow `/case <kind>` and the case buttons open (ValueError for any other kind)."""
    if kind not in CASE_KINDS:
        raise ValueError(f"unknown write modal kind {kind!r}; expected one of {', '.join(CASE_KINDS)}")
    return BY_KIND[WriteKind(kind)]


async def _open_write_modal(runtime: Runtime, client: AsyncWebClient, *, kind: str, case_ref: str | None,
                            trigger_id: str, user_id: str, channel_id: str | None, push: bool = False
                            ) -> None:
    flow = case_flow(kind)
    view_id, view_hash = await open_loading(client, trigger_id, flow.title, push=push)

    async def build() -> View:
        await allowed(runtime, user_id, flow)
        case = await lookup.resolve_case(runtime, case_ref, channel_id=channel_id)
        flow.precondition(case)
        return await flow.form(runtime, case, Opener(user_id=user_id, channel_id=channel_id))

    await fill(client, view_id, view_hash, flow.title, build, where=f"open {kind} modal")
