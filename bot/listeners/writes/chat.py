"""Send a chat message to the creditor, as the user's Debitura team member."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from blocks import forms
from blocks.ids import Action, Callback
from blocks.parse import ChatForm, FormErrors, parse_chat_form
from bot.listeners.writes.flow import (
    Actor,
    Opener,
    Submission,
    View,
    Write,
    WriteFlow,
    WriteKind,
    context_for,
    summary_of,
    team_email,
)
from bot.services import chats, identity

if TYPE_CHECKING:
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

    async def call(self, runtime: Runtime, write: Write[ChatForm]) -> WriteResult:
        return await chats.send_chat(runtime, case=write.case, form=write.form,
                                     sender_email=write.actor.email, idempotency_key=write.key,
                                     user_id=write.actor.user_id)


CHAT = ChatFlow()
