"""Read-side buttons of the case card, the case list and the views.

Open (a list row), Back to the case, Timeline, Payments, Files, Chats (and its Older / Newer), Debtor
and claim (a modal, `bot.listeners.readviews`), Follow, Share in channel, and the list's Previous /
Next. Each acks at once, then answers through the action's response_url:
- views and cards open as new ephemeral messages (the card stays where it was);
- Previous / Next replace the list message;
- Share in channel posts the card `in_channel`, for everyone, only because someone clicked it, and
  never into a channel shared with another organisation (`bot.services.sharing`).

The write buttons (OPEN_*, EDIT_PAYMENT, DELETE_PAYMENT) belong to `bot.listeners.modals`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError

from blocks.ids import Action
from blocks.metadata import ChatPage, ListPage, MetadataError
from bot.listeners._context import (
    STALE_BUTTON,
    action_value,
    answer,
    case_action,
    decode_case,
    send,
    user_and_channel,
)
from bot.listeners.readviews import open_debtor_view
from bot.services import identity, sharing
from bot.services.casework import follow_case, load_card, load_chats, load_list, load_view
from bot.services.errors import BadInput, report
from bot.slack.errors import slack_error

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

    from blocks.views import Message
    from bot.runtime import Runtime

log = logging.getLogger(__name__)

VIEW_ACTIONS = {
    Action.SHOW_TIMELINE: "timeline",
    Action.SHOW_PAYMENTS: "payments",
    Action.SHOW_FILES: "files",
}


def register(app: AsyncApp, runtime: Runtime) -> None:
    command = runtime.settings.caseroom_command

    @app.action(Action.SHOW_CARD)
    async def _show_card(ack: AsyncAck, respond: AsyncRespond, body: dict[str, Any]) -> None:
        await ack()

        async def work() -> Message:
            it = await case_action(runtime, body)
            return await load_card(runtime, it.case, channel_id=it.channel_id or it.ref.ch)

        await answer(respond, work, where="action show_card")

    for action_id, kind in VIEW_ACTIONS.items():
        _register_view(app, runtime, action_id, kind)

    @app.action(Action.FOLLOW)
    async def _follow(ack: AsyncAck, respond: AsyncRespond, body: dict[str, Any]) -> None:
        await ack()

        async def work() -> Message:
            it = await case_action(runtime, body, write=True)
            return await follow_case(runtime, it.case, user_id=it.user_id)

        await answer(respond, work, where="action follow")

    @app.action(Action.SHARE)
    async def _share(ack: AsyncAck, respond: AsyncRespond, body: dict[str, Any]) -> None:
        await ack()
        user_id, channel_id = user_and_channel(body)
        try:
            ref = decode_case(body)
            await identity.check_user(runtime, user_id, write=True)
            # Slack Connect rule: never into a channel another organisation shares (or one we cannot see).
            await sharing.require_internal(runtime, channel_id)
            case = await runtime.debitura.get_case(ref.id)
            card = await load_card(runtime, case, channel_id=channel_id, shared_by=user_id)
        except Exception as exc:
            text = report(exc, where="action share", logger=log)
            await respond(text=text, response_type="ephemeral", replace_original=False)
            return
        await send(respond, card, where="action share", response_type="in_channel")

    @app.action(Action.SHOW_CHATS)
    async def _show_chats(ack: AsyncAck, respond: AsyncRespond, body: dict[str, Any]) -> None:
        await ack()

        async def work() -> Message:
            it = await case_action(runtime, body)
            return await load_chats(runtime, it.case, page=1, channel_id=it.channel_id or it.ref.ch)

        await answer(respond, work, where="action chats")

    @app.action(Action.CHATS_PAGE)
    async def _chats_page(ack: AsyncAck, respond: AsyncRespond, body: dict[str, Any]) -> None:
        await ack()

        async def work() -> Message:
            user_id, channel_id = user_and_channel(body)
            try:
                request = ChatPage.decode(action_value(body))
            except MetadataError:
                raise BadInput(STALE_BUTTON) from None
            await identity.check_user(runtime, user_id)
            case = await runtime.debitura.get_case(request.id)
            return await load_chats(runtime, case, page=request.page, channel_id=channel_id or request.ch)

        # Older / Newer replace the page shown (like the list's Previous / Next).
        await answer(respond, work, where="action chats_page", replace_original=True)

    @app.action(Action.SHARE_CHATS)
    async def _share_chats(ack: AsyncAck, respond: AsyncRespond, body: dict[str, Any]) -> None:
        await ack()
        user_id, channel_id = user_and_channel(body)
        try:
            try:
                request = ChatPage.decode(action_value(body))
            except MetadataError:
                raise BadInput(STALE_BUTTON) from None
            await identity.check_user(runtime, user_id, write=True)
            # The same rule as the card: never into a channel another organisation shares.
            await sharing.require_internal(runtime, channel_id)
            case = await runtime.debitura.get_case(request.id)
            page = await load_chats(runtime, case, page=request.page, channel_id=channel_id,
                                    shared_by=user_id)
        except Exception as exc:
            text = report(exc, where="action share_chats", logger=log)
            await respond(text=text, response_type="ephemeral", replace_original=False)
            return
        await send(respond, page, where="action share_chats", response_type="in_channel")

    @app.action(Action.SHOW_DEBTOR)
    async def _show_debtor(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        user_id, channel_id = user_and_channel(body)
        try:
            ref = decode_case(body)
        except BadInput as exc:
            text = report(exc, where="action debtor", logger=log)
            try:
                await runtime.slack.chat_postEphemeral(channel=channel_id or user_id, user=user_id, text=text)
            except SlackApiError as inner:
                log.info("could not tell %s about a stale button: %s", user_id, slack_error(inner))
            return
        await open_debtor_view(runtime, runtime.slack, case_ref=None, case_id=ref.id,
                               trigger_id=str(body.get("trigger_id") or ""), user_id=user_id,
                               channel_id=channel_id or ref.ch)

    @app.action(Action.LIST_PAGE)
    async def _list_page(ack: AsyncAck, respond: AsyncRespond, body: dict[str, Any]) -> None:
        await ack()
        user_id, channel_id = user_and_channel(body)
        try:
            request = ListPage.decode(action_value(body))
        except MetadataError:
            await respond(text=report(BadInput(STALE_BUTTON), where="action list_page", logger=log),
                          response_type="ephemeral", replace_original=False)
            return
        try:
            user = await identity.check_user(runtime, user_id)
            page = await load_list(runtime, request, channel_id=channel_id, command=command, email=user.email)
        except Exception as exc:
            await respond(text=report(exc, where="action list_page", logger=log),
                          response_type="ephemeral", replace_original=False)
            return
        await send(respond, page, where="action list_page", replace_original=True)


def _register_view(app: AsyncApp, runtime: Runtime, action_id: Action, kind: str) -> None:
    @app.action(action_id)
    async def _show_view(ack: AsyncAck, respond: AsyncRespond, body: dict[str, Any]) -> None:
        await ack()

        async def work() -> Message:
            it = await case_action(runtime, body)
            channel_id = it.channel_id or it.ref.ch
            return await load_view(runtime, kind, it.case, user_id=it.user_id, channel_id=channel_id)

        await answer(respond, work, where=f"action {kind}")
