"""Big response bodies (a page of 100 cases) are validated in a worker thread, off the event loop."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest

from bot.debitura.client import PARSE_OFF_LOOP_BYTES, DebituraClient
from bot.debitura.errors import UnexpectedResponse
from tests.debitura import bodies
from tests.debitura.conftest import FakeApi


@pytest.fixture
def parsed_in(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of the thread each response body was validated in."""
    threads: list[str] = []
    parse = DebituraClient._parse

    def recording(call: Any, response: httpx.Response, parser: Any) -> Any:
        threads.append(threading.current_thread().name)
        return parse(call, response, parser)

    monkeypatch.setattr(DebituraClient, "_parse", staticmethod(recording))
    return threads


def big_page(count: int) -> dict[str, Any]:
    cases = [bodies.case(id=f"{i:08d}-0000-4000-8000-000000000000", reference=f"REF{i:05d}")
             for i in range(count)]
    return {"page": bodies.page(1, 1, count, count, count), "cases": cases}


async def test_a_page_of_cases_is_validated_off_the_event_loop(
    client: DebituraClient, api: FakeApi, parsed_in: list[str]
) -> None:
    body = big_page(100)
    api.json(body)
    assert len(httpx.Response(200, json=body).content) >= PARSE_OFF_LOOP_BYTES
    result = await client.list_cases()
    assert [c.reference for c in result.cases] == [f"REF{i:05d}" for i in range(100)]
    assert parsed_in and parsed_in[0] != threading.main_thread().name


async def test_a_small_body_is_validated_on_the_loop(
    client: DebituraClient, api: FakeApi, parsed_in: list[str]
) -> None:
    api.json(bodies.case())
    case = await client.get_case(bodies.CASE_ID)
    assert case.id == bodies.CASE_ID
    assert parsed_in == [threading.main_thread().name]


async def test_a_big_body_that_does_not_validate_is_still_an_unexpected_response(
    client: DebituraClient, api: FakeApi, parsed_in: list[str]
) -> None:
    body = big_page(100)
    body["cases"][7]["grossAmount"] = "not money"
    api.json(body)
    with pytest.raises(UnexpectedResponse):
        await client.list_cases()
    assert parsed_in and parsed_in[0] != threading.main_thread().name

