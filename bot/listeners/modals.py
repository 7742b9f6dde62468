"""Write modals: the listeners that open and submit every write flow (`bot.listeners.writes`).

How every modal runs (docs/slack/PLATFORM.md, section 1):
- Opening: ack the button/command/shortcut, `views.open` a loading view with the trigger_id at once
  (it is valid 3 s), then load what the form needs (the case, its payments, the team...) and
  `views.update` the form in, with the view's hash. A slow Debitura never expires the trigger_id.
- Submitting: the form is parsed (`blocks.parse`) inside the ack; bad input goes back as
  `response_action: errors`. A valid form is acked with `response_action: update` to a "Sending…"
  view, the write runs after the ack, and `views.update` shows the result, Debitura's warnings, or
  the error in words with its error id.
- Who: guests and Slack Connect users are refused for every write; close, activate, fees and
  editing/deleting payments need an admin; chat and activate are sent as the user's Debitura team
  member (email match), and refused when there is none.
- Once: every write runs under `bot.services.writes.run_once` with a key derived from the view id,
  the case and the form values; payments and chats also send it as the Idempotency-Key.

What differs between writes (title, who, precondition, form, parser, key fields, service call) is
in each flow of `bot.listeners.writes`; nothing here names a write kind.
`open_write_modal()` is what `/case note|pay|chat|close|activate|fees|upload <ref>` calls.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from blocks import forms
from blocks.ids import Action, Callback, Shortcut
from blocks.metadata import CaseRef, MetadataError, ModalContext
from blocks.parse import FormErrors
from bot.listeners.writes import BY_CALLBACK, BY_KIND, OPEN_ACTIONS, PAYMENT_FLOWS, WriteKind
from bot.listeners.writes.flow import (
    STALE,
    Reply,
    Submission,
    View,
    Write,
    WriteFlow,
    action_value,
    channel_id_of,
    pending_of,
    user_id_of,
    with_pending,
)
from bot.listeners.writes.note import note_text_from_message, open_note_from_message, plain_words
from bot.listeners.writes.opening import _open_write_modal, open_write_modal
from bot.listeners.writes.payment import PaymentChangeFlow, open_payment_change, refresh_payment_view
from bot.listeners.writes.views import (
    ack_errors,
    ack_working,
    guarded,
    open_loading,
    opening,
    result_view,
    run_after_ack,
    show,
)
from bot.services.errors import CaseroomError, report
from bot.services.writes import WriteResult, derive_key

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncAck, AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.runtime import Runtime

__all__ = ["OPEN_ACTIONS", "WriteKind", "note_text_from_message", "open_write_modal", "pending_of",
           "plain_words", "register", "with_pending"]

log = logging.getLogger(__name__)


# --- submitting ----------------------------------------------------------------------------------

async def submit(flow: WriteFlow[Any], runtime: Runtime, client: AsyncWebClient, ack: AsyncAck,
                 sub: Submission) -> None:
    """Parse inside the ack, then write after it under the once-only guard, and show the outcome."""
    form = await flow.parse(runtime, sub)
    if isinstance(form, FormErrors):
        return await ack_errors(ack, form)
    if isinstance(form, Reply):
        await ack(response_action="update", view=form.view)
        return
    ref = flow.case_ref(sub)
    await ack_working(ack, flow.title, sub)

    async def work() -> View:
        actor = await flow.actor(runtime, sub.user_id)
        case = await flow.load(runtime, form, ref)
        key = (flow.fixed_key(sub)
               or derive_key(flow.key_kind, sub.view_id, case.id, flow.key_fields(form, sub)))
        ready = await flow.ready(runtime, case, form)
        if isinstance(ready, Reply):
            return ready.view
        write = Write(case=case, form=ready, sub=sub, key=key, actor=actor)
        next_step: list[Reply] = []

        async def call() -> WriteResult:
            done = await flow.call(runtime, write)
            if isinstance(done, Reply):  # a next step, nothing written: the key is released
                next_step.append(done)
                return WriteResult(ok=False, text="")
            return done

        result = await guarded(runtime, key, call)
        return next_step[0].view if next_step else result_view(flow.title, result)

    await run_after_ack(client, sub, flow.title, work, where=flow.where, subject=flow.subject)


# --- registration --------------------------------------------------------------------------------

def register(app: AsyncApp, runtime: Runtime) -> None:
    """Registers the write-side actions, view submissions, the message shortcut and view_closed."""
    for action_id, kind in OPEN_ACTIONS.items():
        _register_open(app, runtime, action_id, kind)
    for payment_flow in PAYMENT_FLOWS:
        _register_payment_change(app, runtime, payment_flow.payment_action, payment_flow)

    @app.action(Action.PAYMENT_AMOUNT_CHANGED)
    async def _amount_changed(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await refresh_payment_view(client, body)

    @app.action(Action.RECIPIENT_CHANGED)
    async def _recipient_changed(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await refresh_payment_view(client, body)

    @app.shortcut(Shortcut.NOTE_FROM_MESSAGE)
    async def _note_from_message(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await opening(body, "shortcut note from message",
                      lambda: open_note_from_message(runtime, client, body))

    for callback_id, flow in BY_CALLBACK.items():
        _register_submit(app, runtime, callback_id, flow)

    closed_ids = re.compile("^(" + "|".join(re.escape(str(c)) for c in Callback) + ")$")

    @app.view_closed(closed_ids)
    async def _closed(ack: AsyncAck, body: dict[str, Any]) -> None:
        """Confirmation views ask to be told when closed: nothing was changed; say so in the log."""
        await ack()
        view = body.get("view") or {}
        try:
            ctx = ModalContext.decode(view.get("private_metadata"))
        except MetadataError:
            ctx = None
        case = ctx.case.id if ctx is not None and ctx.case is not None else None
        log.info("modal %s closed without confirming by %s (case %s): nothing was changed",
                 view.get("callback_id"), user_id_of(body), case)


def _register_open(app: AsyncApp, runtime: Runtime, action_id: Action, kind: WriteKind) -> None:
    @app.action(action_id)
    async def _open(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        trigger_id = str(body.get("trigger_id") or "")

        async def work() -> None:
            try:
                ref = CaseRef.decode(action_value(body))
            except MetadataError:
                title = BY_KIND[kind].title
                view_id, _ = await open_loading(client, trigger_id, title)
                await show(client, view_id, forms.build_error_view(title, STALE))
                return
            await _open_write_modal(runtime, client, kind=kind, case_ref=ref.id, trigger_id=trigger_id,
                                    user_id=user_id_of(body), channel_id=channel_id_of(body) or ref.ch,
                                    push=bool(body.get("view")))

        await opening(body, f"open {kind} modal", work)


def _register_payment_change(app: AsyncApp, runtime: Runtime, action_id: Action, flow: PaymentChangeFlow[Any]
                             ) -> None:
    @app.action(action_id)
    async def _open(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await opening(body, f"open {flow.kind} modal",
                      lambda: open_payment_change(runtime, client, body, flow))


def _register_submit(app: AsyncApp, runtime: Runtime, callback_id: Callback, flow: WriteFlow[Any]) -> None:
    @app.view_submission(callback_id)
    async def _submit(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        try:
            await submit(flow, runtime, client, ack, Submission(body))
        except CaseroomError as exc:
            # Raised before the ack (stale metadata...): answer in the modal, under the write's title.
            await ack(response_action="update",
                      view=forms.build_error_view(flow.title, report(exc, where=f"submit {callback_id}")))
