"""Hypothesis against both public doors of the real ASGI app (bot.web + the real Bolt app), in process.

Random and mutated bodies, headers and encodings, unsigned and signed. Properties: never a 5xx; never
an ERROR log line or a traceback; unsigned requests never add a /metrics series (only the rejection
counters, which exist from the start, move); signed requests only ever add `kind` labels from the
closed set. Example counts are modest and the runs derandomized, so the file runs in seconds and the
same way every time (on main, 3 of the 4 fail: Bolt's own signature check crashes on a non-ASCII
signature or a non-numeric timestamp, and unparseable bodies give a 500 with a traceback).
"""

from __future__ import annotations

import gzip
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import pytest
import redis.asyncio as aioredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app import REQUEST_KINDS
from bot.debitura.webhooks import sign
from tests.fakes.slack.server import FakeSlack
from tests.ship.test_doors import WEBHOOK_SECRET, Doors, bad_records, make_doors, series, slack_headers

FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# Real shapes Slack and Debitura send, to mutate.
SEEDS: list[bytes] = [
    urlencode({"command": "/case", "text": "Q8OAXF3W", "user_id": "U0AGENT01", "team_id": "T0CASEROOM",
               "channel_id": "C0GENERAL", "trigger_id": "1.2.3", "response_url": "http://127.0.0.1:9/r"}).encode(),
    urlencode({"payload": json.dumps({"type": "block_actions", "user": {"id": "U0AGENT01"},
                                      "actions": [{"action_id": "case_follow", "value": "x"}]})}).encode(),
    json.dumps({"type": "event_callback", "event_id": "Ev1", "team_id": "T0CASEROOM",
                "event": {"type": "tokens_revoked"}}).encode(),
    json.dumps({"type": "url_verification", "challenge": "c"}).encode(),
    json.dumps({"id": "evt-1", "event": "chat.created", "timestamp": "2026-01-01T00:00:00Z",
                "data": {"caseId": "3fa85f64-5717-4562-b3fc-2c963f66afa6"}}).encode(),
]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A seed with a few byte flips, cuts, insertions or repeats."""
    body = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "repeat"]))
        at = draw(st.integers(0, max(len(body) - 1, 0)))
        if op == "flip" and body:
            body[at] = draw(st.integers(0, 255))
        elif op == "cut":
            del body[at:at + draw(st.integers(1, 40))]
        elif op == "insert":
            body[at:at] = draw(st.binary(min_size=1, max_size=20))
        else:
            body[at:at] = body[at:at + draw(st.integers(1, 40))] * draw(st.integers(1, 50))
    return bytes(body)


def encoded_json() -> st.SearchStrategy[bytes]:
    """Valid-looking JSON in encodings nobody expects: UTF-16/32, Latin-1, gzip, a BOM."""
    doc = st.dictionaries(st.text(max_size=8), st.one_of(st.text(max_size=20), st.integers()), max_size=4)
    codec = st.sampled_from(["utf-16", "utf-32", "latin-1", "utf-8-sig", "gzip"])

    def encode(pair: tuple[dict[str, Any], str]) -> bytes:
        data, name = pair
        text = json.dumps(data, ensure_ascii=False)
        if name == "gzip":
            return gzip.compress(text.encode())
        return text.encode(name, errors="replace")

    return st.tuples(doc, codec).map(encode)


BODIES = st.one_of(
    st.binary(max_size=400), st.text(max_size=200).map(str.encode), mutated(), encoded_json(),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=10),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
        max_leaves=10,
    ).map(lambda v: json.dumps(v).encode()),
)
HEADER_VALUE = st.text(st.characters(min_codepoint=32, max_codepoint=255, exclude_characters="\x7f"),
                       max_size=60)
"""Any byte a header value may carry (sent as Latin-1 bytes)."""
CONTENT_TYPES = st.sampled_from([
    "application/json", "application/x-www-form-urlencoded", "text/plain", "application/json; charset=utf-16",
    "multipart/form-data; boundary=x", "", "application/octet-stream",
])
TIMESTAMPS = st.one_of(
    st.just(str(int(time.time()))), st.integers(-10**20, 10**20).map(str), HEADER_VALUE,
    st.integers(0, 10**6).map(lambda d: str(int(time.time()) - d)),
)


@st.composite
def slack_noise(draw: st.DrawFn) -> dict[str, str]:
    """Headers of an unsigned request: maybe a timestamp, maybe a signature-looking value, extras."""
    headers = {"Content-Type": draw(CONTENT_TYPES)}
    if draw(st.booleans()):
        headers["X-Slack-Request-Timestamp"] = draw(TIMESTAMPS)
    if draw(st.booleans()):
        headers["X-Slack-Signature"] = draw(st.one_of(
            HEADER_VALUE, st.binary(min_size=32, max_size=32).map(lambda b: "v0=" + b.hex())))
    names = st.from_regex(r"X-[A-Za-z]{1,10}", fullmatch=True)
    headers.update(draw(st.dictionaries(names, HEADER_VALUE, max_size=3)))
    if draw(st.booleans()):
        headers["Content-Encoding"] = draw(st.sampled_from(["gzip", "br", "identity", "x-garbage"]))
    return headers


@st.composite
def webhook_noise(draw: st.DrawFn) -> dict[str, str]:
    headers = {"Content-Type": draw(CONTENT_TYPES)}
    if draw(st.booleans()):
        t = draw(TIMESTAMPS)
        v1 = draw(st.one_of(HEADER_VALUE, st.binary(min_size=32, max_size=32).map(bytes.hex)))
        headers["X-Debitura-Signature"] = draw(st.sampled_from([f"t={t},v1={v1}", f"v1={v1}", t, f"t={t}"]))
    return headers


@pytest.fixture
async def fuzz_doors(fake_slack: FakeSlack, redis: aioredis.Redis, redis_prefix: str) -> AsyncIterator[Doors]:
    d = await make_doors(fake_slack, redis_prefix)
    yield d
    await d.runtime.aclose()


def raw(headers: dict[str, str]) -> dict[str, bytes]:
    return {k: v.encode("latin-1") for k, v in headers.items()}


def assert_quiet(caplog: pytest.LogCaptureFixture, *, signed: bool = False) -> None:
    """Unsigned: no ERROR line at all. Signed: no traceback (a valid signed event may log an ERROR on
    purpose, e.g. tokens_revoked)."""
    bad = [r for r in caplog.records if r.exc_info or r.stack_info] if signed else bad_records(caplog)
    assert not bad, [(r.name, r.getMessage()[:200]) for r in bad]


@FUZZ
@given(body=BODIES, headers=slack_noise())
async def test_fuzz_slack_unsigned_never_5xx_never_a_traceback_never_a_series(
    fuzz_doors: Doors, caplog: pytest.LogCaptureFixture, body: bytes, headers: dict[str, str]
) -> None:
    before = series(fuzz_doors.runtime)
    async with fuzz_doors.client() as c:
        resp = await c.post("/slack/events", content=body, headers=raw(headers))
    assert resp.status_code in (401, 413), (resp.status_code, resp.text[:200])
    assert_quiet(caplog)
    assert series(fuzz_doors.runtime) == before


@FUZZ
@given(body=BODIES, headers=webhook_noise())
async def test_fuzz_webhook_unsigned_never_5xx_never_a_traceback_never_a_series(
    fuzz_doors: Doors, caplog: pytest.LogCaptureFixture, body: bytes, headers: dict[str, str]
) -> None:
    before = series(fuzz_doors.runtime)
    async with fuzz_doors.client() as c:
        resp = await c.post("/debitura/webhooks", content=body, headers=raw(headers))
    assert resp.status_code == 401, (resp.status_code, resp.text[:200])
    assert_quiet(caplog)
    assert series(fuzz_doors.runtime) == before


def signed_kinds(doors: Doors) -> set[str]:
    return {s.split('kind="', 1)[1].split('"', 1)[0] for s in series(doors.runtime) if 'kind="' in s}


SIGNED_SLACK_BODIES = st.one_of(
    st.binary(max_size=300), mutated().filter(lambda b: not b.startswith(b"command=")), encoded_json(),
    st.dictionaries(st.sampled_from(["type", "token", "team_id", "challenge", "api_app_id", "event", "view",
                                     "actions", "user", "channel", "authorizations"]),
                    st.one_of(st.text(max_size=30), st.integers(), st.none(),
                              st.lists(st.integers(), max_size=2)),
                    max_size=5)
    .map(lambda d: json.dumps(d).encode()),
)


@FUZZ
@given(body=SIGNED_SLACK_BODIES, content_type=CONTENT_TYPES)
async def test_fuzz_slack_signed_garbage_never_5xx_and_labels_stay_closed(
    fuzz_doors: Doors, caplog: pytest.LogCaptureFixture, body: bytes, content_type: str
) -> None:
    headers = slack_headers(fuzz_doors.slack_secret, body, content_type=content_type)
    async with fuzz_doors.client() as c:
        resp = await c.post("/slack/events", content=body, headers=headers)
    assert resp.status_code < 500, (resp.status_code, body[:200])
    assert_quiet(caplog, signed=True)
    assert signed_kinds(fuzz_doors) <= REQUEST_KINDS | {"other", "unknown"}


@FUZZ
@given(body=st.one_of(st.binary(max_size=300), mutated(), encoded_json()))
async def test_fuzz_webhook_signed_garbage_never_5xx(
    fuzz_doors: Doors, caplog: pytest.LogCaptureFixture, body: bytes
) -> None:
    headers = {"X-Debitura-Signature": sign(WEBHOOK_SECRET, body, int(time.time()))}
    async with fuzz_doors.client() as c:
        resp = await c.post("/debitura/webhooks", content=body, headers=headers)
    assert resp.status_code in (200, 400), (resp.status_code, resp.text[:200], body[:200])
    assert_quiet(caplog, signed=True)
    labels = {s for s in series(fuzz_doors.runtime) if s.startswith("caseroom_webhooks_total")}
    events = {s.split('event="', 1)[1].split('"', 1)[0] for s in labels}
    assert events <= {"chat.created", "case.updated", "case.closed", "case.assigned", "payment.created",
                      "payment.deleted", "other", "unknown"}


@pytest.fixture(autouse=True)
def _warnings_only(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
