"""Logs of the real process in JSON: every line parses, errors carry the id the user saw, and no debtor
personal data is logged at INFO or above (DEBUG may carry it for troubleshooting)."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from tests.e2e.case_helpers import error_id, mrkdwn, reply, run
from tests.fixtures.e2e import Factory
from tests.fixtures.sandbox import SandboxHandle

pytestmark = pytest.mark.e2e


def personal_data(sandbox: SandboxHandle, case_ids: list[str]) -> set[str]:
    """Debtor names, contact people, emails and phone numbers of these cases (from the API)."""
    found: set[str] = set()
    with sandbox.client() as client:
        for case_id in case_ids:
            debtor = client.get(f"/cases/{case_id}").json().get("debtor") or {}
            for key in ("name", "contactPerson", "email", "phone", "address"):
                value = debtor.get(key)
                if isinstance(value, str) and len(value) >= 5:
                    found.add(value)
    return found


async def test_logs_json_error_ids_and_no_personal_data_at_info(
    caseroom_factory: Factory, sandbox: SandboxHandle
) -> None:
    env = {"CASEROOM_LOG_FORMAT": "json", "CASEROOM_LOG_LEVEL": "DEBUG"}
    caseroom = await caseroom_factory("http", env=env)
    active = sandbox.cases(lifecycle="Active")[:3]
    shown = ""
    for case in active:
        post = await reply(caseroom, await run(caseroom, case["reference"]))
        assert case["reference"] in mrkdwn(post.body)
        shown += mrkdwn(post.body)
    await reply(caseroom, await run(caseroom, "list"))
    # A Debitura failure: the user gets an error id, the log has the same id.
    broken = active[0]
    sandbox.control.add_fault(f"/cases/{broken['id']}", error_rate=1.0)
    failed = await reply(caseroom, await run(caseroom, broken["id"]), timeout=60)
    shown_id = error_id(mrkdwn(failed.body))
    assert await caseroom.stop() == 0

    lines: list[dict[str, Any]] = []
    for raw in caseroom.output.splitlines():
        if raw.strip():
            lines.append(json.loads(raw))  # every line is one JSON object
    logged = [line for line in lines if line.get("error_id") == shown_id]
    assert logged, f"no log line carries error id {shown_id}"
    assert shown_id in logged[0]["msg"]

    secrets = personal_data(sandbox, [c["id"] for c in active])
    # the values looked for are the ones people saw in Slack (so the check below means something)
    assert any(value in shown for value in secrets), secrets
    for line in lines:
        if logging.getLevelName(line["level"]) < logging.INFO:
            continue
        text = json.dumps(line, ensure_ascii=False)
        leaked = [value for value in secrets if value in text]
        assert not leaked, f"personal data {leaked} in an {line['level']} log line: {line['msg'][:200]}"
