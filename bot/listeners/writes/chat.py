"""Send a chat message to the creditor, as the user's Debitura team member."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from blocks import forms
from blocks.ids import Action, Callback
from blocks.parse import SLACK_INPUT_MAX, ChatForm, FormErrors, parse_chat_form
from bot.debitura.models import CHAT_MAX
from bot.listeners.writes.flow import (
    Actor,
    Opener,
    Submission,
    View,
    Write,
    WriteFlow,
    WriteKind,
    allowed,
    context_for,
    summary_of,
    team_email,
)
from bot.listeners.writes.views import fill, open_loading
from bot.services import chats, identity, threads
from bot.services.errors import BadInput

if TYPE_CHECKING:
    from slack_sdk.web.async_client import AsyncWebClient

    from blocks.metadata import ModalContext, ThreadReply
    from bot.debitura.models import Case
    from bot.runtime import Runtime
    from bot.services.writes import WriteResult


class ChatFlow(WriteFlow[ChatForm]):
    kind = WriteKind.CHAT
    callback = Callback.CHAT
    title = "Send chat"
    where = "submit chat"
    key_kind = "chat"
    open_action = Action.OPEN_CHAT

    async def form(self, runtime: Runtime, case: Case, opener: Opener) -> View:
        member = await identity.team_member(runtime, opener.user_id)
        ctx = context_for(self.kind, case, user_id=opener.user_id, channel_id=opener.channel_id)
        return forms.build_chat_view(ctx, summary_of(case), sender=member.name or member.email or "you")

    async def parse(self, runtime: Runtime, sub: Submission) -> ChatForm | FormErrors:
        return parse_chat_form(sub.values)

    async def actor(self, runtime: Runtime, user_id: str) -> Actor:
        return Actor(user_id, email=await team_email(runtime, user_id))  # also refuses guests / Slack Connect

    def key_fields(self, form: ChatForm, sub: Submission) -> Mapping[str, str]:
        return {"text": form.text}

    def fixed_key(self, sub: Submission) -> str | None:
        reply = reply_of(sub.ctx)
        return threads.reply_key(reply[0], reply[1]) if reply is not None else None

    async def call(self, runtime: Runtime, write: Write[ChatForm]) -> WriteResult:
        reply = reply_of(write.sub.ctx)
        if reply is not None:  # opened with Edit under a thread reply: one chat per reply, then the mark
            return await threads.send_edited_reply(runtime, case=write.case, form=write.form,
                                                   sender_email=write.actor.email, key=write.key,
                                                   user_id=write.actor.user_id, channel_id=reply[0],
                                                   ts=reply[1])
        return await chats.send_chat(runtime, case=write.case, form=write.form,
                                     sender_email=write.actor.email, idempotency_key=write.key,
                                     user_id=write.actor.user_id)


REPLY_CHANNEL = "tch"
REPLY_TS = "tts"


def reply_of(ctx: ModalContext) -> tuple[str, str] | None:
    """(channel, ts) of the thread reply a chat modal was opened for with Edit, else None."""
    channel, ts = ctx.extra.get(REPLY_CHANNEL), ctx.extra.get(REPLY_TS)
    return (channel, ts) if channel and ts else None


async def open_chat_for_reply(runtime: Runtime, client: AsyncWebClient, *, reply: ThreadReply,
                              trigger_id: str, user_id: str) -> None:
    """Edit under a thread reply: the chat modal filled with the reply as it reads now."""
    view_id, view_hash = await open_loading(client, trigger_id, CHAT.title)

    async def build() -> View:
        await allowed(runtime, user_id, CHAT)
        member = await identity.team_member(runtime, user_id)
        text = await threads.reply_text(runtime, reply, user_id=user_id)
        if len(text) > SLACK_INPUT_MAX:  # the form would cut it: say so instead of losing the end
            raise BadInput(f"Your reply is {len(text):,} characters; a Slack form holds "
                           f"{SLACK_INPUT_MAX:,}, so it cannot be edited here. Edit it in the thread and "
                           f"click Send (Debitura takes up to {CHAT_MAX:,}).")
        case = await runtime.debitura.get_case(reply.id)
        ctx = context_for(CHAT.kind, case, user_id=user_id, channel_id=reply.ch,
                          **{REPLY_CHANNEL: reply.ch, REPLY_TS: reply.ts})
        return forms.build_chat_view(ctx, summary_of(case), sender=member.name or member.email or "you",
                                     initial_text=text)

    await fill(client, view_id, view_hash, CHAT.title, build, where="open chat from a thread reply")


CHAT = ChatFlow()
