"""The real `caseroom run` process: modes, start-up errors, health, readiness, metrics, SIGTERM."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import redis as sync_redis

from tests.fixtures.redis import redis_url
from tests.ship.conftest import ThreadedSlack, base_env, free_port, unreachable_url


def signed_post(url: str, body: str, secret: str, content_type: str) -> httpx.Response:
    ts = str(int(time.time()))
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    headers = {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": content_type,
    }
    return httpx.post(url, content=body.encode(), headers=headers, timeout=10)


def metric_value(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus text, or None when absent."""
    for line in text.splitlines():
        if not line.startswith(name + ("{" if labels else " ")) and not line.startswith(name + "{"):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


@pytest.fixture
def http_caseroom(threaded_slack: ThreadedSlack, caseroom_proc: Any) -> Any:
    port = free_port()
    env = base_env(threaded_slack)
    proc = caseroom_proc(["run", "--mode", "http", "--host", "127.0.0.1", "--port", str(port), "--no-relay"],
                         env, port=port)
    proc.wait_ready()
    proc.env_used = env
    return proc


def test_server_http_mode_serves_health_ready_and_metrics(http_caseroom: Any) -> None:
    health = httpx.get(http_caseroom.url("/healthz"))
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "ok"
    assert body["checks"]["redis"]["ok"] is True
    assert "socket" not in body["checks"]  # HTTP mode has no websocket

    ready = httpx.get(http_caseroom.url("/readyz")).json()
    assert ready["checks"]["slack_auth"]["ok"] is True

    metrics = httpx.get(http_caseroom.url("/metrics"))
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    for name in ("caseroom_ack_seconds", "caseroom_commands_total", "caseroom_debitura_requests_total",
                 "caseroom_relay_queue_depth", "caseroom_slack_ratelimited_total"):
        assert f"# TYPE {name}" in text, name
    assert metric_value(text, "caseroom_budget_limit", window="day", pool="all") == 100000.0
    # The event loop watch runs from start-up (a measure every 0.1 s).
    deadline = time.monotonic() + 5
    while not metric_value(text, "caseroom_event_loop_lag_seconds_count") and time.monotonic() < deadline:
        time.sleep(0.1)
        text = httpx.get(http_caseroom.url("/metrics")).text
    assert (metric_value(text, "caseroom_event_loop_lag_seconds_count") or 0) >= 1
    assert metric_value(text, "caseroom_event_loop_lag_max_seconds") is not None


def test_server_http_mode_acks_a_signed_command_and_counts_it(
    http_caseroom: Any, threaded_slack: ThreadedSlack
) -> None:
    body = urlencode({
        "command": "/case", "text": "help", "user_id": "U0AGENT01", "user_name": "agent",
        "team_id": "T0CASEROOM", "channel_id": "C0GENERAL", "trigger_id": "1.2.3",
        "response_url": f"{threaded_slack.fake.base_url}response/T0CASEROOM/nothing",
        "api_app_id": "A0CASEROOM", "token": "legacy",
    })
    resp = signed_post(http_caseroom.url("/slack/events"), body, threaded_slack.fake.signing_secret,
                       "application/x-www-form-urlencoded")
    assert resp.status_code == 200, resp.text
    text = httpx.get(http_caseroom.url("/metrics")).text
    assert metric_value(text, "caseroom_commands_total", subcommand="help", outcome="ok") == 1.0, text
    assert metric_value(text, "caseroom_ack_seconds_count", kind="command") == 1.0


def test_server_rejects_unsigned_slack_requests_without_logging_the_body(http_caseroom: Any) -> None:
    resp = httpx.post(http_caseroom.url("/slack/events"), content=b"text=debtor+Jane+Roe&command=%2Fcase",
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status_code == 401
    http_caseroom.terminate()
    out = http_caseroom.output
    assert "bad or missing Slack signature" in out
    assert "Jane" not in out


def test_server_dedupes_events_api_retries(http_caseroom: Any, threaded_slack: ThreadedSlack) -> None:
    event_id = f"Ev{uuid.uuid4().hex[:10].upper()}"
    envelope = json.dumps({
        "token": "legacy", "team_id": "T0CASEROOM", "api_app_id": "A0CASEROOM", "type": "event_callback",
        "event_id": event_id, "event_time": int(time.time()),
        "event": {"type": "tokens_revoked", "tokens": {"bot": ["B0CASEROOM"]}},
    })
    for _ in range(2):  # Slack's retry of the same event
        resp = signed_post(http_caseroom.url("/slack/events"), envelope, threaded_slack.fake.signing_secret,
                           "application/json")
        assert resp.status_code == 200
    r = sync_redis.Redis.from_url(redis_url(), decode_responses=True)
    prefix = http_caseroom.env_used["CASEROOM_REDIS_PREFIX"]
    try:
        assert r.exists(f"{prefix}:slack:event:{event_id}") == 1
        assert r.ttl(f"{prefix}:slack:event:{event_id}") > 0
    finally:
        for key in r.scan_iter(match=f"{prefix}:*"):
            r.delete(key)
        r.close()
    assert http_caseroom.terminate() == 0
    assert http_caseroom.output.count("Slack revoked tokens of Caseroom") == 1
    assert f"duplicate Slack event {event_id} ignored" in http_caseroom.output


def test_server_webhooks_without_secret_answer_503_with_a_reason(http_caseroom: Any) -> None:
    resp = httpx.post(http_caseroom.url("/debitura/webhooks"), content=b"{}")
    assert resp.status_code == 503
    assert "DEBITURA_WEBHOOK_SECRET" in resp.json()["message"]


def test_server_sigterm_stops_gracefully_with_exit_code_0(http_caseroom: Any) -> None:
    assert http_caseroom.terminate() == 0
    out = http_caseroom.output
    assert "SIGTERM received: shutting down gracefully" in out
    assert "Caseroom stopped" in out
    assert "Traceback" not in out
    with pytest.raises(httpx.ConnectError):
        httpx.get(http_caseroom.url("/healthz"), timeout=2)


def test_server_socket_mode_reports_the_websocket_in_health(
    threaded_slack: ThreadedSlack, caseroom_proc: Any
) -> None:
    port = free_port()
    env = base_env(threaded_slack, SLACK_APP_TOKEN=threaded_slack.fake.app_token)
    del env["SLACK_SIGNING_SECRET"]
    proc = caseroom_proc(["run", "--host", "127.0.0.1", "--port", str(port), "--no-relay"], env, port=port)
    proc.wait_ready()
    health = httpx.get(proc.url("/healthz")).json()
    # no details in the answer (anyone may ask): the socket check is there, and ok
    assert health == {"status": "ok", "checks": {"process": {"ok": True}, "redis": {"ok": True},
                                                 "socket": {"ok": True}}}
    # Socket Mode serves no /slack/events: Slack talks over the websocket.
    assert httpx.post(proc.url("/slack/events"), content=b"{}").status_code == 404
    assert proc.terminate() == 0
    assert "Socket Mode: connected" in proc.output


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"SLACK_BOT_TOKEN": "xoxb-wrong-token-123"}, "Slack rejected SLACK_BOT_TOKEN (invalid_auth)"),
        ({"SLACK_API_URL": unreachable_url() + "/api/"}, "cannot reach Slack at"),
        ({"REDIS_URL": "redis://127.0.0.1:1/0"}, "cannot reach Redis at redis://127.0.0.1:1/0 (REDIS_URL)"),
        ({"SLACK_APP_TOKEN": "xapp-1-wrong-app-token", "SLACK_SIGNING_SECRET": ""},
         "Slack rejected SLACK_APP_TOKEN (invalid_auth)"),
    ],
    ids=["bad-bot-token", "slack-unreachable", "redis-down", "bad-app-token"],
)
def test_server_startup_failures_are_one_clear_line_and_exit_1(
    threaded_slack: ThreadedSlack, caseroom_proc: Any, change: dict[str, str], expected: str
) -> None:
    env = base_env(threaded_slack, **change)
    proc = caseroom_proc(["run", "--host", "127.0.0.1", "--port", str(free_port()), "--no-relay"], env)
    assert proc.wait_exit() == 1
    out = proc.output
    assert expected in out, out
    assert "Traceback" not in out
    assert "wrong-token-123" not in out and "wrong-app-token" not in out  # secrets masked


def test_server_busy_port_is_a_clear_error(threaded_slack: ThreadedSlack, caseroom_proc: Any) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = caseroom_proc(["run", "--host", "127.0.0.1", "--port", str(port), "--no-relay"],
                             base_env(threaded_slack))
        assert proc.wait_exit() == 1
    assert f"cannot listen on 127.0.0.1:{port}" in proc.output
    assert "Traceback" not in proc.output


def test_server_json_logs(threaded_slack: ThreadedSlack, caseroom_proc: Any) -> None:
    port = free_port()
    env = base_env(threaded_slack, CASEROOM_LOG_FORMAT="json")
    proc = caseroom_proc(["run", "--mode", "http", "--host", "127.0.0.1", "--port", str(port), "--no-relay"],
                         env, port=port)
    proc.wait_ready()
    assert proc.terminate() == 0
    lines = [json.loads(line) for line in proc.output.splitlines() if line.strip()]
    assert any(line["msg"].startswith("Caseroom in HTTP mode listening") for line in lines)
    assert all({"ts", "level", "logger", "msg"} <= set(line) for line in lines)


def test_server_runs_the_relay_and_stops_it_on_sigterm(
    threaded_slack: ThreadedSlack, caseroom_proc: Any
) -> None:
    """Default `caseroom run` (relay on) at INFO level: relay in /healthz, stopped before exit."""
    port = free_port()
    proc = caseroom_proc(["run", "--mode", "http", "--host", "127.0.0.1", "--port", str(port)],
                         base_env(threaded_slack), port=port)
    proc.wait_ready()
    relay = httpx.get(proc.url("/healthz")).json()["checks"]["relay"]
    assert relay == {"ok": True}, relay  # why it would fail (workers alive...) goes to the log: test_web
    metrics = httpx.get(proc.url("/metrics")).text
    assert metric_value(metrics, "caseroom_relay_staleness_bound_seconds") is not None
    assert proc.terminate() == 0
    out = proc.output
    assert "relay on" in out
    assert out.index("SIGTERM received") < out.index("Caseroom stopped")
    assert "Traceback" not in out


def test_server_relay_alone_serves_webhooks_and_health_but_not_slack(
    threaded_slack: ThreadedSlack, caseroom_proc: Any
) -> None:
    port = free_port()
    secret = base64.b64encode(b"webhook-secret-32-bytes-long!!!!").decode()
    env = base_env(threaded_slack, DEBITURA_WEBHOOK_SECRET=secret)
    proc = caseroom_proc(["relay", "--host", "127.0.0.1", "--port", str(port)], env, port=port)
    proc.wait_ready()
    health = httpx.get(proc.url("/healthz")).json()
    assert health == {"status": "ok", "checks": {"process": {"ok": True}, "redis": {"ok": True},
                                                 "relay": {"ok": True}}}
    assert httpx.post(proc.url("/slack/events"), content=b"{}").status_code == 404
    # a delivery with a bad signature is refused by the relay's webhook intake
    bad = httpx.post(proc.url("/debitura/webhooks"), content=b'{"id":"x"}',
                     headers={"X-Debitura-Signature": "t=1,v1=00"})
    assert bad.status_code == 401
    assert proc.terminate() == 0
