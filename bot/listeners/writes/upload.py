"""Upload a file the user attached in Slack to the case."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from blocks import forms
from blocks.ids import Action, Callback
from blocks.parse import FormErrors, UploadForm, parse_upload_form
from blocks.text import esc
from bot.debitura.models import Lifecycle
from bot.listeners.writes.flow import (
    Opener,
    Submission,
    View,
    Write,
    WriteFlow,
    WriteKind,
    context_for,
    summary_of,
)
from bot.services import uploads
from bot.services.errors import BadInput

if TYPE_CHECKING:
    from bot.debitura.models import Case
    from bot.runtime import Runtime
    from bot.services.writes import WriteResult


class UploadFlow(WriteFlow[UploadForm]):
    kind = WriteKind.UPLOAD
    callback = Callback.UPLOAD
    title = "Upload file"
    where = "submit upload"
    key_kind = "upload"
    open_action = Action.OPEN_UPLOAD

    def precondition(self, case: Case) -> None:
        if case.lifecycle is not None and case.lifecycle.name is Lifecycle.Merged:
            reference = esc(case.reference or case.id)
            raise BadInput(f"*{reference}* was merged into another case; it takes no files.")

    async def form(self, runtime: Runtime, case: Case, opener: Opener) -> View:
        ctx = context_for(self.kind, case, user_id=opener.user_id, channel_id=opener.channel_id)
        return forms.build_upload_view(ctx, summary_of(case))

    async def parse(self, runtime: Runtime, sub: Submission) -> UploadForm | FormErrors:
        return parse_upload_form(sub.values)

    def key_fields(self, form: UploadForm, sub: Submission) -> Mapping[str, str]:
        return {"file": form.file_id, "type": form.document_type or "", "description": form.description or ""}

    async def call(self, runtime: Runtime, write: Write[UploadForm]) -> WriteResult:
        return await uploads.upload_from_slack(runtime, case=write.case, form=write.form,
                                               user_id=write.actor.user_id)


UPLOAD = UploadFlow()
