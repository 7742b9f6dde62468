"""Helpers for the write-modal e2e tests: open a modal, wait for a view, read what it says."""

from __future__ import annotations

import json
from typing import Any

from tests.fakes.slack.workspace import File, View
from tests.fixtures.e2e import Caseroom

TIMEOUT = 20.0


def view_text(view: View) -> str:
    return json.dumps(view.data, ensure_ascii=False)


async def wait_view(
    cr: Caseroom, user_id: str, callback_id: str, *, contains: str | None = None, timeout: float = TIMEOUT
) -> View:
    """The user's top modal once it has `callback_id` (and `contains` in its JSON)."""
    ws = cr.fake.workspace

    def found() -> View | None:
        view = ws.top_view(user_id)
        if view is None or view.callback_id != callback_id:
            return None
        if contains is not None and contains not in view_text(view):
            return None
        return view

    try:
        return await cr.fake.journal.wait_for(
            found, timeout=timeout, what=f"modal {callback_id} ({contains})"
        )
    except TimeoutError:
        top = ws.top_view(user_id)
        shown = view_text(top) if top else "no modal"
        raise AssertionError(
            f"waited for {callback_id} containing {contains!r}; the modal is {shown}\n"
            f"--- caseroom output ---\n{cr.output[-4000:]}"
        ) from None


async def wait_result(cr: Caseroom, user_id: str, contains: str, *, timeout: float = TIMEOUT) -> View:
    """The result (or error) view that ends a write, once it contains `contains`."""
    return await wait_view(cr, user_id, "case_result_modal", contains=contains, timeout=timeout)


async def open_by_command(
    cr: Caseroom, user_id: str, text: str, callback_id: str, *, channel: str | None = None
) -> View:
    ack = await cr.driver.command("/case", text, user=user_id, channel=channel or cr.channel.id)
    assert ack.ok, (ack.status, ack.body)
    return await wait_view(cr, user_id, callback_id)


def sandbox_get(sandbox: Any, path: str) -> Any:
    with sandbox.client() as http:
        response = http.get(path)
        response.raise_for_status()
        return response.json()


def add_slack_file(cr: Caseroom, user_id: str, name: str, content: bytes) -> File:
    """A file the user attached in Slack: stored, complete, downloadable from its url_private."""
    ws = cr.fake.workspace
    file = File(
        id=ws.new_id("F"),
        name=name,
        length=len(content),
        user=user_id,
        created=int(ws.now()),
        content=content,
        completed=True,
    )
    ws.files[file.id] = file
    return file


def file_input_value(cr: Caseroom, file: File) -> list[dict[str, Any]]:
    """What Slack puts in a file_input's state: the attached files as file objects."""
    return [file.to_api(cr.fake.base_url)]


async def audit_entries(redis: Any, stream: str) -> list[dict[str, str]]:
    """The fields of each entry in the audit stream (the e2e Redis decodes responses)."""
    entries = await redis.xrange(stream)
    return [{str(k): str(v) for k, v in fields.items()} for _, fields in entries]
