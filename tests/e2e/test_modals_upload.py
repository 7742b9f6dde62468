"""The upload modal end to end: a real file attached in Slack is downloaded from its url_private with
the bot token and reaches the case in the sandbox; bad files are refused in the form."""

from __future__ import annotations

import httpx
import pytest
import redis.asyncio as aioredis

from blocks.ids import Block, Callback
from bot.store.keys import Keys
from tests.e2e.modal_flows import (
    add_slack_file,
    audit_entries,
    file_input_value,
    open_by_command,
    sandbox_get,
    view_text,
    wait_result,
)
from tests.fixtures.e2e import Caseroom
from tests.fixtures.sandbox import SandboxHandle

pytestmark = [pytest.mark.e2e, pytest.mark.sandbox]

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


async def test_an_attached_pdf_reaches_the_case(
    caseroom_http: Caseroom, sandbox: SandboxHandle, redis: aioredis.Redis, keys: Keys
) -> None:
    cr = caseroom_http
    case = sandbox.case("Active")
    name = f"invoice-{case['reference']}.pdf"
    before = sandbox_get(sandbox, f"/cases/{case['id']}/files")
    file = add_slack_file(cr, cr.user.id, name, PDF)
    await open_by_command(cr, cr.user.id, f"upload {case['reference']}", Callback.UPLOAD)
    ack = await cr.driver.submit_view(
        user=cr.user.id,
        values={
            Block.UPLOAD_FILE: file_input_value(cr, file),
            Block.UPLOAD_TYPE: "OriginalInvoice",
            Block.UPLOAD_DESCRIPTION: "The invoice the debtor disputes",
        },
    )
    assert ack.ok, (ack.status, ack.body)
    view = await wait_result(cr, cr.user.id, "uploaded to")
    assert name in view_text(view)
    files = sandbox_get(sandbox, f"/cases/{case['id']}/files")
    assert len(files) == len(before) + 1
    added = [f for f in files if f["fileName"] == name]
    assert len(added) == 1
    assert added[0]["documentType"] == "OriginalInvoice"
    assert added[0]["description"] == "The invoice the debtor disputes"
    with httpx.Client() as http:  # the bytes the sandbox kept are the bytes attached in Slack
        assert http.get(added[0]["url"]).content == PDF
    downloads = [c for c in cr.fake.journal.calls("files.info", ok=True) if c.args.get("file") == file.id]
    assert downloads, "the bot asks Slack for the file's url_private"
    entries = await audit_entries(redis, keys.audit_stream())
    assert [(e["action"], e["user"], e["case_id"]) for e in entries] == [("upload", cr.user.id, case["id"])]


async def test_a_bad_extension_is_refused_in_the_form(
    caseroom_http: Caseroom, sandbox: SandboxHandle
) -> None:
    cr = caseroom_http
    case = sandbox.case("Active")
    before = len(sandbox_get(sandbox, f"/cases/{case['id']}/files"))
    file = add_slack_file(cr, cr.user.id, "setup.exe", b"MZ\x90\x00" * 16)
    await open_by_command(cr, cr.user.id, f"upload {case['reference']}", Callback.UPLOAD)
    ack = await cr.driver.submit_view(user=cr.user.id, values={Block.UPLOAD_FILE: file_input_value(cr, file)})
    assert ack.response_action == "errors" and set(ack.errors) == {Block.UPLOAD_FILE}
    assert ".pdf" in ack.errors[Block.UPLOAD_FILE]
    top = cr.fake.workspace.top_view(cr.user.id)
    assert top is not None and top.callback_id == Callback.UPLOAD  # the form stays open to fix it
    assert not [c for c in cr.fake.journal.calls("files.info") if c.args.get("file") == file.id]
    assert len(sandbox_get(sandbox, f"/cases/{case['id']}/files")) == before


async def test_a_file_over_25_mb_is_refused_in_the_form(
    caseroom_http: Caseroom, sandbox: SandboxHandle
) -> None:
    cr = caseroom_http
    case = sandbox.case("Active")
    before = len(sandbox_get(sandbox, f"/cases/{case['id']}/files"))
    file = add_slack_file(cr, cr.user.id, "scans.zip", b"PK\x03\x04" + b"\x00" * (25 * 1024 * 1024))
    await open_by_command(cr, cr.user.id, f"upload {case['reference']}", Callback.UPLOAD)
    ack = await cr.driver.submit_view(user=cr.user.id, values={Block.UPLOAD_FILE: file_input_value(cr, file)})
    assert ack.response_action == "errors" and set(ack.errors) == {Block.UPLOAD_FILE}
    assert "25 MB" in ack.errors[Block.UPLOAD_FILE]
    assert len(sandbox_get(sandbox, f"/cases/{case['id']}/files")) == before
