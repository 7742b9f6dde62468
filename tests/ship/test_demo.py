"""`caseroom run --demo`: the sandbox inside the process, seeded, webhooks wired to Caseroom itself.

In-process for the sandbox part (bot/demo.py); one subprocess test that `caseroom run --demo` starts
with nothing but Slack's settings (the process boundary is the point: no DEBITURA_* at all)."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import httpx
import redis as sync_redis

from bot.config import load_settings
from bot.debitura.client import DebituraClient
from bot.debitura.webhooks import verify_signature
from bot.demo import DEMO_PREFIX, DemoSandbox
from tests.fixtures.redis import redis_url
from tests.ship.conftest import ThreadedSlack, base_env, free_port


async def test_demo_sandbox_serves_seeded_cases_and_signs_webhooks_for_caseroom(tmp_path: Path) -> None:
    settings = load_settings(slack_bot_token="xoxb-1", slack_signing_secret="s", debitura_api_key="demo-key",
                             caseroom_data_dir=str(tmp_path))
    received: list[tuple[bytes, str]] = []
    hook_port = free_port()

    async def webhook_endpoint(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode().split("\r\n")[1:]
        headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines if ": " in line)}
        body = await reader.readexactly(int(headers["content-length"]))
        received.append((body, headers["x-debitura-signature"]))
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    endpoint = await asyncio.start_server(webhook_endpoint, "127.0.0.1", hook_port)
    demo = DemoSandbox(settings, port=0, cases=20)
    await demo.start(hook_port)
    try:
        demo_settings = demo.settings_for(settings)
        assert demo_settings.caseroom_demo and demo_settings.caseroom_redis_prefix == DEMO_PREFIX
        assert str(demo_settings.debitura_api_url).rstrip("/") == demo.url
        client = DebituraClient(str(demo_settings.debitura_api_url), demo_settings.debitura_api_key)
        try:
            case = await client.get_case_by_reference("Q8OAXF3W")
            assert case.lifecycle == "Active"
        finally:
            await client.aclose()
        async with httpx.AsyncClient(base_url=demo.url) as ctl:
            chat = await ctl.post(f"/_sandbox/cases/{case.id}/chats", json={"message": "Any news?"})
            assert chat.status_code == 201
            for _ in range(200):
                if received:
                    break
                await asyncio.sleep(0.02)
        body, signature = received[0]
        secret = demo_settings.debitura_webhook_secret
        assert secret is not None
        verify_signature(secret.get_secret_value(), signature, body)  # raises when it does not match
        assert json.loads(body)["event"] == "chat.created"
    finally:
        await demo.stop()
        endpoint.close()
        await endpoint.wait_closed()
    assert (tmp_path / "demo-sandbox.json").exists()  # kept for the next demo run


def test_caseroom_run_demo_starts_with_only_slack_settings(
    threaded_slack: ThreadedSlack, caseroom_proc: Any, tmp_path: Path
) -> None:
    port = free_port()
    env = base_env(threaded_slack, CASEROOM_DATA_DIR=str(tmp_path / "data"))
    for name in ("DEBITURA_API_KEY", "DEBITURA_API_URL"):
        del env[name]
    proc = caseroom_proc(["run", "--demo", "--mode", "http", "--host", "127.0.0.1", "--port", str(port)], env,
                         port=port)
    try:
        proc.wait_ready(timeout=60)
        found = re.search(r"Demo: Debitura sandbox with 200 seeded cases at (http://127\.0\.0\.1:\d+)",
                          proc.output)
        assert found, proc.output
        hooks = httpx.get(f"{found.group(1)}/_sandbox/webhooks").json()
        assert [(h["url"], h["isActive"]) for h in hooks] == [
            (f"http://127.0.0.1:{port}/debitura/webhooks", True)]
        assert proc.terminate() == 0
    finally:
        r = sync_redis.Redis.from_url(redis_url(), decode_responses=True)
        for key in r.scan_iter(match=f"{env['CASEROOM_REDIS_PREFIX']}:*"):
            r.delete(key)
        r.close()
