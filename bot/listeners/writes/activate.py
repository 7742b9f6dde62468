"""Activate a case pending verification (admins), as the user's Debitura team member."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from blocks import forms
from blocks.forms import Fees, TeamMember
from blocks.ids import Action, Callback
from blocks.parse import ActivateForm, FormErrors, parse_activate_form
from blocks.text import esc
from bot.debitura.models import Lifecycle
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
from bot.services import activation, identity
from bot.services.errors import BadInput

if TYPE_CHECKING:
    from bot.debitura.models import Case
    from bot.runtime import Runtime
    from bot.services.writes import WriteResult


class ActivateFlow(WriteFlow[ActivateForm]):
    kind = WriteKind.ACTIVATE
    callback = Callback.ACTIVATE
    title = "Activate case"
    where = "submit activate"
    key_kind = "activate"
    admin_only = "activate cases"
    open_action = Action.OPEN_ACTIVATE

    def precondition(self, case: Case) -> None:
        if case.lifecycle is None or case.lifecycle.name is not Lifecycle.PendingVerification:
            shown = case.lifecycle.display if case.lifecycle is not None else "unknown"
            raise BadInput(f"Only cases pending verification can be activated; "
                           f"*{esc(case.reference or case.id)}* is {esc(shown)}.")

    async def form(self, runtime: Runtime, case: Case, opener: Opener) -> View:
        member = await identity.team_member(runtime, opener.user_id)
        team = await runtime.debitura.all_users()
        ctx = context_for(self.kind, case, user_id=opener.user_id, channel_id=opener.channel_id)
        return forms.build_activate_view(
            ctx, summary_of(case), actor=member.name or member.email or "you",
            team=[TeamMember(email=u.email, name=u.name) for u in team if u.email],
            fees=Fees(interest=case.interest_fees, reminder=case.reminder_fees,
                      collection=case.collection_fees))

    async def parse(self, runtime: Runtime, sub: Submission) -> ActivateForm | FormErrors:
        return parse_activate_form(sub.values)

    async def actor(self, runtime: Runtime, user_id: str) -> Actor:
        await allowed(runtime, user_id, self)
        return Actor(user_id, email=await team_email(runtime, user_id))

    def key_fields(self, form: ActivateForm, sub: Submission) -> Mapping[str, str]:
        return {"welcome": form.welcome_message, "ref": form.partner_reference or "",
                "assignee": form.assigned_user_email or ""}

    async def call(self, runtime: Runtime, write: Write[ActivateForm]) -> WriteResult:
        return await activation.activate_case(runtime, case=write.case, form=write.form,
                                              actor_email=write.actor.email, user_id=write.actor.user_id)


ACTIVATE = ActivateFlow()
