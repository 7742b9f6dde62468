"""A scripted Debitura behind httpx.MockTransport, and a client wired to it (no real sleeping)."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from email.message import EmailMessage, MIMEPart
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

import httpx
import pytest

from bot.debitura.client import DebituraClient, RetryPolicy
from bot.debitura.ratelimit import UnlimitedLimiter
from bot.metrics import Metrics

API_KEY = "dk_live_Sup3rS3cretKey_9f8e7d6c5b4a"
BASE_URL = "https://collectionpartner-api.test"

Reply = httpx.Response | Callable[[httpx.Request], httpx.Response] | BaseException


@dataclass
class FakeApi:
    """Answers requests from a queue of replies (responses, callables or exceptions to raise)."""

    replies: deque[Reply] = field(default_factory=deque)
    requests: list[httpx.Request] = field(default_factory=list)

    def reply(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def json(self, body: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self.reply(httpx.Response(status, json=body, headers=headers))

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if not self.replies:
            raise AssertionError(f"unexpected request {request.method} {request.url}")
        reply = self.replies.popleft()
        if isinstance(reply, BaseException):
            raise reply
        if callable(reply):
            return reply(request)
        return reply

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]


@dataclass
class Sleeps:
    waits: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def limiter() -> UnlimitedLimiter:
    return UnlimitedLimiter()


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
async def client(
    api: FakeApi, sleeps: Sleeps, limiter: UnlimitedLimiter, metrics: Metrics
) -> AsyncIterator[DebituraClient]:
    c = DebituraClient(
        BASE_URL,
        API_KEY,
        limiter=limiter,
        metrics=metrics,
        transport=httpx.MockTransport(api.handler),
        sleep=sleeps,
        retry_policy=RetryPolicy(max_retries=3),
    )
    yield c
    await c.aclose()


def body_json(request: httpx.Request) -> Any:
    return json.loads(request.content)


def query(request: httpx.Request) -> list[tuple[str, str]]:
    return list(request.url.params.multi_items())


def multipart(request: httpx.Request) -> dict[str, MIMEPart]:
    """Parts of a multipart/form-data request by field name."""
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = BytesParser(_class=EmailMessage, policy=HTTP).parsebytes(head + request.content)
    assert message.is_multipart()
    parts: dict[str, MIMEPart] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        parts[str(name)] = part
    return parts
