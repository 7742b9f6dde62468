"""bot.web in process: what /healthz, /readyz, /metrics and /debitura/webhooks answer in each state.

Health answers say only which part is ok; why a part is not is in the log (checked here with caplog).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from bot.config import load_settings
from bot.debitura.webhooks import sign
from bot.runtime import Runtime, build_runtime
from bot.web import MAX_WEBHOOK_BODY, WebState, build_web_app
from tests.fixtures.redis import redis_url


async def _runtime(redis: str, **extra: Any) -> Runtime:
    settings = load_settings(
        slack_bot_token="xoxb-1-web-test", slack_signing_secret="s", debitura_api_key="k",
        slack_api_url="http://127.0.0.1:9/api/", debitura_api_url="http://127.0.0.1:9", redis_url=redis,
        **extra,
    )
    return await build_runtime(settings)


@pytest.fixture
async def runtime() -> AsyncIterator[Runtime]:
    rt = await _runtime(redis_url(), debitura_webhook_secret="c2VjcmV0")
    yield rt
    await rt.aclose()


@pytest.fixture
async def dead_redis_runtime() -> AsyncIterator[Runtime]:
    rt = await _runtime("redis://127.0.0.1:1/0")
    yield rt
    await rt.aclose()


def client(state: WebState) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=build_web_app(state)), base_url="http://t")


class FakeRelay:
    def __init__(self, alive: int, total: int) -> None:
        self.alive, self.total = alive, total

    def health(self) -> dict[str, Any]:
        return {"running": True, "tasks_alive": self.alive, "tasks_total": self.total, "cases_watched": 3,
                "last_error": ""}


def health_log(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(r.getMessage() for r in caplog.records if r.name == "bot.web")


async def test_web_healthz_ok_with_redis_and_503_without(
    runtime: Runtime, dead_redis_runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    async with client(WebState(runtime=runtime, mode="http", slack_ok=True)) as c:
        resp = await c.get("/healthz")
        assert resp.status_code == 200
        assert resp.json() == {"status": "ok", "checks": {"process": {"ok": True}, "redis": {"ok": True}}}
    async with client(WebState(runtime=dead_redis_runtime, mode="http", slack_ok=True)) as c:
        resp = await c.get("/healthz")
        assert resp.status_code == 503
        body = resp.json()
        assert body["status"] == "fail" and body["checks"]["redis"] == {"ok": False}
        assert "127.0.0.1" not in resp.text and "Error" not in resp.text
        assert "Error" in health_log(caplog) and "health check redis not ok" in health_log(caplog)
        assert (await c.get("/readyz")).status_code == 503


async def test_web_socket_and_relay_checks(runtime: Runtime, caplog: pytest.LogCaptureFixture) -> None:
    async def down() -> bool:
        return False

    state = WebState(runtime=runtime, mode="socket", slack_ok=True, socket_connected=down)
    async with client(state) as c:
        resp = await c.get("/healthz")
        assert resp.status_code == 503
        assert resp.json()["checks"]["socket"] == {"ok": False}
        assert "health check socket not ok: not connected" in health_log(caplog)
    state = WebState(runtime=runtime, mode="http", slack_ok=True, relay=FakeRelay(13, 14))  # type: ignore[arg-type]
    async with client(state) as c:
        resp = await c.get("/healthz")
        assert resp.status_code == 503
        assert resp.json()["checks"]["relay"] == {"ok": False}
        assert "health check relay not ok: 13/14 workers alive" in health_log(caplog)
        state.relay = FakeRelay(14, 14)  # type: ignore[assignment]
        assert (await c.get("/healthz")).status_code == 200


async def test_web_readyz_needs_slack_and_turns_503_on_shutdown(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    state = WebState(runtime=runtime, mode="http")
    async with client(state) as c:
        resp = await c.get("/readyz")
        assert resp.status_code == 503
        assert resp.json()["checks"]["slack_auth"]["ok"] is False
        state.slack_ok = True
        assert (await c.get("/readyz")).status_code == 200
        state.shutting_down = True
        resp = await c.get("/readyz")
        assert resp.status_code == 503
        assert resp.json()["checks"]["accepting"] == {"ok": False}
        assert "health check accepting not ok: shutting down" in health_log(caplog)
        assert (await c.get("/healthz")).status_code == 200  # still alive: do not restart a stopping process


async def test_web_metrics_survive_a_failing_refresher(runtime: Runtime) -> None:
    calls: list[str] = []

    async def broken() -> None:
        calls.append("called")
        raise RuntimeError("redis gone")

    state = WebState(runtime=runtime, mode="http", metric_refreshers=[broken])
    runtime.metrics.commands.labels(subcommand="help", outcome="ok").inc()
    async with client(state) as c:
        resp = await c.get("/metrics")
    assert resp.status_code == 200 and calls == ["called"]
    assert 'caseroom_commands_total{outcome="ok",subcommand="help"} 1.0' in resp.text


async def test_web_webhooks_pass_body_headers_and_relay(runtime: Runtime) -> None:
    seen: list[tuple[Any, bytes, dict[str, str]]] = []

    async def handler(
        rt: Runtime, relay: Any, body: bytes, headers: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        seen.append((relay, body, headers))
        return 202, {"status": "queued"}

    relay = FakeRelay(1, 1)
    state = WebState(runtime=runtime, mode="relay", relay=relay, webhook_handler=handler)  # type: ignore[arg-type]
    signature = sign("c2VjcmV0", b'{"id":"1"}', int(time.time()))
    async with client(state) as c:
        resp = await c.post("/debitura/webhooks", content=b'{"id":"1"}',
                            headers={"X-Debitura-Signature": signature})
        assert resp.status_code == 202 and resp.json() == {"status": "queued"}
        assert seen[0][0] is relay and seen[0][1] == b'{"id":"1"}'
        assert seen[0][2]["x-debitura-signature"] == signature
        too_big = await c.post("/debitura/webhooks", content=b"x" * (MAX_WEBHOOK_BODY + 1),
                               headers={"X-Debitura-Signature": signature})
        assert too_big.status_code == 413
        unsigned = await c.post("/debitura/webhooks", content=b'{"id":"1"}',
                                headers={"X-Debitura-Signature": "t=1"})
        assert unsigned.status_code == 401
        assert len(seen) == 1
        assert (await c.post("/slack/events", content=b"{}")).status_code == 404  # no Slack in relay mode


async def test_web_webhooks_without_secret_are_refused(dead_redis_runtime: Runtime) -> None:
    async def handler(*args: Any) -> tuple[int, dict[str, Any]]:
        raise AssertionError("must not be called")

    state = WebState(runtime=dead_redis_runtime, mode="http", webhook_handler=handler)
    async with client(state) as c:
        resp = await c.post("/debitura/webhooks", content=b"{}")
    assert resp.status_code == 503
    assert resp.json()["error"] == "webhooks_not_configured"
