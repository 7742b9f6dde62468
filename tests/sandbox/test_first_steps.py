"""The sandbox as README.md's "Try it with the sandbox" shows it, in-process: the example reference
exists, the start-up lines come in README's order, a disabled webhook subscription says so."""

from __future__ import annotations

import logging
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.sandbox import cli as sandbox_cli
from bot.sandbox.app import Sandbox, build_app
from bot.sandbox.seed import EXAMPLE_REFERENCE
from bot.sandbox.webhooks import MAX_ATTEMPTS, EventRow, WebhookHub

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text(encoding="utf-8")


def readme_section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.index("\n## ", start + 1)
    return README[start:end]


async def test_readme_example_reference_is_a_case_of_the_default_sandbox() -> None:
    assert f"/case {EXAMPLE_REFERENCE}" in readme_section("Try it with the sandbox")
    sandbox = Sandbox(seed=1, n_cases=200, api_key="sandbox-key")
    transport = httpx.ASGITransport(app=build_app(sandbox))
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox",
                                 headers={"XApiKey": "sandbox-key"}) as api:
        resp = await api.get(f"/cases/case-reference/{EXAMPLE_REFERENCE}")
    assert resp.status_code == 200, resp.text
    assert resp.json()["lifecycle"] == "Active"
    # any seed and size: the first case is the example; references stay unique
    small = Sandbox(seed=7, n_cases=60)
    refs = [c.reference for c in small.state.cases.values()]
    assert refs[0] == EXAMPLE_REFERENCE and len(set(refs)) == len(refs)


def test_start_up_lines_come_in_readmes_order(monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    async def serve_once(self: Any, sockets: Any = None) -> None:
        for sock in sockets or ():
            sock.close()

    monkeypatch.setattr("uvicorn.Server.serve", serve_once)
    url = "http://127.0.0.1:3000/debitura/webhooks"
    assert sandbox_cli.main(["--port", "0", "--cases", "5", "--api-key", "sandbox-key",
                             "--webhook-url", url]) == 0
    out = capsys.readouterr()
    printed = out.out.splitlines()
    assert re.fullmatch(r"Sandbox listening on http://127\.0\.0\.1:\d+  api key: sandbox-key", printed[0])
    assert re.fullmatch(rf"webhook secret for {re.escape(url)}: \S+", printed[1])
    assert len(printed) == 2 and out.err == ""
    # README's block shows the same two lines, in the same order
    shown = [line.removeprefix("# ") for line in readme_section("Try it with the sandbox").splitlines()
             if line.startswith(("# Sandbox listening", "# webhook secret"))]
    assert [line.split()[0] for line in shown] == ["Sandbox", "webhook"]


async def test_a_subscription_disabled_after_failed_deliveries_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub = WebhookHub(lambda: "http://127.0.0.1", retry_base=0.0, timeout=1.0)
    sub = hub.create("http://127.0.0.1:9/debitura/webhooks", ["case.updated"])
    row = EventRow(id=str(uuid.uuid4()), subscription_id=sub.id, case_id="c1", event_type="case.updated",
                   payload="{}", created_at="2026-01-01T00:00:00Z")
    try:
        with caplog.at_level(logging.WARNING, logger="caseroom.sandbox.webhooks"):
            await hub._deliver(row, replay=False)
    finally:
        await hub.aclose()
    assert row.attempt_count == MAX_ATTEMPTS and sub.is_active is False
    [record] = [r for r in caplog.records if r.name == "caseroom.sandbox.webhooks"]
    text = record.getMessage()
    assert record.levelno == logging.WARNING
    assert sub.id in text and "http://127.0.0.1:9/debitura/webhooks" in text
    assert f"after {MAX_ATTEMPTS} failed delivery attempts" in text
    assert "caseroom sandbox ctl webhooks --enable" in text
