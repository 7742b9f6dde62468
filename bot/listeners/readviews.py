"""Read-only modals: the "Debtor and claim" view (the card's button and `/case debtor <ref>`).

A modal is seen only by the person who opened it, which is why the debtor's contact details are
shown there and nowhere else. The loading view opens at once with the trigger_id (valid 3 s), then
the case is looked up and the view filled in (`bot.listeners.writes.views.fill`), an error becoming
an error view with an error id. Nothing here logs the case's content.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from blocks.debtor import build_debtor_view
from bot.listeners.writes.views import fill, open_loading
from bot.services import identity
from bot.services.lookup import resolve_case

if TYPE_CHECKING:
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.listeners.writes.flow import View
    from bot.runtime import Runtime

TITLE = "Debtor and claim"


async def open_debtor_view(runtime: Runtime, client: AsyncWebClient, *, case_ref: str | None,
                           trigger_id: str, user_id: str, channel_id: str | None,
                           case_id: str | None = None) -> None:
    """Open the modal for `user_id`: the case by id (a card's button) or as typed (`case_ref`)."""
    view_id, view_hash = await open_loading(client, trigger_id, TITLE)

    async def build() -> View:
        await identity.check_user(runtime, user_id)
        if case_id:
            case = await runtime.debitura.get_case(case_id)
        else:
            case = await resolve_case(runtime, case_ref, channel_id=channel_id)
        return build_debtor_view(case)

    await fill(client, view_id, view_hash, TITLE, build, where="debtor view")
