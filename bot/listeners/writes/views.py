"""Showing a write's views in Slack: the loading view, the form, "Sending…", the result or the error.

(docs/slack/PLATFORM.md, section 1.) Opening: `views.open` a loading view with the trigger_id at once
(valid 3 s), load what the form needs, `views.update` it in with the view's hash. Submitting: ack
with `response_action: update` to a "Sending…" view tagged with an external_id, write, then
`views.update` the result onto that external_id.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError
from slack_sdk.webhook.async_client import AsyncWebhookClient

from blocks import forms
from bot.listeners.writes.flow import Submission, View
from bot.services.errors import report
from bot.services.writes import StillRunning, WriteResult, run_once

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncAck
    from slack_sdk.web.async_client import AsyncWebClient

    from blocks.parse import FormErrors
    from bot.runtime import Runtime

log = logging.getLogger(__name__)

ACK_APPLY_WAIT = 5.0
"""Longest wait (seconds) for Slack to put the "Sending…" view in place before showing a result."""
ACK_APPLY_FIRST_POLL = 0.05

GONE_VIEW_ERRORS = frozenset({"not_found", "view_not_found"})
"""views.update on a modal the person already closed."""

ViewBuilder = Callable[[], Awaitable[View]]


async def show(client: AsyncWebClient, view_id: str, view: View, view_hash: str | None = None) -> None:
    """views.update; on a hash conflict (someone else updated it) retry once without the hash."""
    try:
        await client.views_update(view_id=view_id, view=view, hash=view_hash)
    except SlackApiError as exc:
        if exc.response.get("error") == "hash_conflict" and view_hash is not None:
            await client.views_update(view_id=view_id, view=view)
            return
        raise


async def open_loading(client: AsyncWebClient, trigger_id: str, title: str, *, push: bool = False
                       ) -> tuple[str, str | None]:
    """Open (or push) the loading view with the trigger_id; returns (view id, hash)."""
    view = forms.build_loading_view(title)
    if push:
        response = await client.views_push(trigger_id=trigger_id, view=view)
    else:
        response = await client.views_open(trigger_id=trigger_id, view=view)
    opened = response.get("view") or {}
    return str(opened.get("id") or ""), (opened.get("hash") or None)


async def fill(client: AsyncWebClient, view_id: str, view_hash: str | None, title: str, build: ViewBuilder,
               *, where: str, subject: str = "Case") -> None:
    """Build the view (loading data), show it; any error becomes an error view with an error id."""
    try:
        view = await build()
    except Exception as exc:
        view = forms.build_error_view(title, report(exc, where=where, subject=subject, logger=log))
    try:
        await show(client, view_id, view, view_hash)
    except SlackApiError as exc:
        if exc.response.get("error") in GONE_VIEW_ERRORS:
            log.info("%s: the modal was closed before its content arrived", where)
            return
        report(exc, where=f"{where}: views.update", logger=log)


async def tell(body: dict[str, Any], text: str) -> None:
    """Answer a button or shortcut ephemerally through its response_url (when the modal cannot open)."""
    url = body.get("response_url")
    if not isinstance(url, str) or not url:
        return
    try:
        await AsyncWebhookClient(url).send(text=text, response_type="ephemeral", replace_original=False)
    except Exception:
        log.exception("could not answer on the response_url")


async def opening(body: dict[str, Any], where: str, work: Callable[[], Awaitable[None]]) -> None:
    """Run an opening flow; when Slack refuses to open the modal (expired trigger...) say so."""
    try:
        await work()
    except SlackApiError as exc:
        await tell(body, report(exc, where=where, logger=log))


def result_view(title: str, result: WriteResult) -> View:
    details = list(result.details)
    if result.replayed:
        details.append("This form was already submitted; this is the result of that submission.")
    return forms.build_result_view(title, result.text, warnings=result.warnings, details=details,
                                   success=result.ok)


async def guarded(runtime: Runtime, key: str, operation: Callable[[], Awaitable[WriteResult]]
                  ) -> WriteResult:
    try:
        return await run_once(runtime, key, operation)
    except StillRunning:
        return WriteResult(ok=False, text=("The same form is still being sent to Debitura. Check the case in "
                                           "a minute before you try again."))


async def ack_errors(ack: AsyncAck, errors: FormErrors) -> None:
    await ack(response_action="errors", errors=dict(errors))


async def ack_working(ack: AsyncAck, title: str, sub: Submission) -> None:
    """Ack with the "Sending…" view, tagged with a fresh external_id the result is shown on."""
    sub.external_id = f"caseroom-{sub.view_id}-{uuid.uuid4().hex[:12]}"
    await ack(response_action="update", view=forms.build_working_view(title, external_id=sub.external_id))


async def run_after_ack(client: AsyncWebClient, sub: Submission, title: str, work: ViewBuilder, *, where: str,
                        subject: str = "Case") -> None:
    """The part of a submission after the ack: do the write, show its result (or the error).

    The result goes to the "Sending…" view by its external_id, never by view id: Slack applies the
    ack's `response_action: update` when it receives our HTTP answer (or Socket Mode ack), which can
    be after a fast write finished. Updating by view id could then be overwritten by the "Sending…"
    view; by external_id the update can only land once that view is in place.
    """
    try:
        view = await work()
    except Exception as exc:
        view = forms.build_error_view(title, report(exc, where=where, subject=subject, logger=log))
    await show_on_working_view(client, sub, view, where=where)


async def show_on_working_view(client: AsyncWebClient, sub: Submission, view: View, *, where: str) -> None:
    if not sub.external_id:  # acked without a working view: update the submitted view itself
        try:
            await show(client, sub.view_id, view)
        except SlackApiError as exc:
            report(exc, where=f"{where}: views.update", logger=log)
        return
    delay, waited = ACK_APPLY_FIRST_POLL, 0.0
    while True:
        try:
            await client.views_update(external_id=sub.external_id, view=view)
            return
        except SlackApiError as exc:
            if exc.response.get("error") not in GONE_VIEW_ERRORS:
                report(exc, where=f"{where}: views.update", logger=log)
                return
            if waited >= ACK_APPLY_WAIT:
                log.info("%s: the modal was closed before the result arrived", where)
                return
        await asyncio.sleep(delay)
        waited += delay
        delay = min(delay * 2, 0.5)
