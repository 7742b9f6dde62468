"""Conformance: schemathesis drives the running sandbox from docs/debitura/openapi.yaml.

Positive and negative generated requests against every operation; every answer must be a non-5xx
response whose body matches the schema of its status code. Example counts are kept modest so the
run takes a minute or two.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.fixtures.sandbox import SandboxProcess

pytestmark = pytest.mark.sandbox

SPEC = Path(__file__).resolve().parents[2] / "docs" / "debitura" / "openapi.yaml"
MAX_EXAMPLES = 30
CHECKS = [not_a_server_error, response_schema_conformance]


def _schema(mode: GenerationMode) -> Any:
    schema = schemathesis.openapi.from_path(SPEC)
    schema.config.generation.update(modes=[mode], max_examples=MAX_EXAMPLES, deterministic=True)
    return schema


positive = _schema(GenerationMode.POSITIVE)
negative = _schema(GenerationMode.NEGATIVE)
SETTINGS = hypothesis.settings(
    deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck),
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
)


@pytest.fixture(scope="module", autouse=True)
def _no_rate_limits(sandbox_server: SandboxProcess) -> Iterator[None]:
    """Generated traffic would exceed 2,000/min; the limits have their own tests."""
    url = f"{sandbox_server.url}/_sandbox"
    httpx.put(f"{url}/rate-limits", json={"perMinute": 0, "perHour": 0, "perDay": 0}).raise_for_status()
    _submit_managed_cases(sandbox_server)
    yield
    httpx.post(f"{url}/reset").raise_for_status()


def _submit_managed_cases(server: SandboxProcess) -> None:
    """Managed cases (test and production, ours and another partner's), one with a payment, and an
    ingestion job: the records the generated ids of the new operations are pointed at."""
    with httpx.Client(base_url=server.url, headers={"XApiKey": server.api_key}) as api:
        debtor = {"type": "Person", "name": "Eva Lund", "countryAlpha2": "SE"}
        base = {"creditorCompanyName": "Fjord ApS", "creditorCountryAlpha2": "DK", "currencyCode": "SEK",
                "date": "2026-01-15", "debtor": debtor, "amountToRecover": 500}
        made = [api.post("/managed-cases", json={**base, "isTest": True, "tag": "conformance"}).json()
                for _ in range(3)]
        api.post("/managed-cases", json={**base, "isTest": False}).raise_for_status()
        abroad = {**base, "debtor": {**debtor, "countryAlpha2": "GB"}}
        api.post("/managed-cases", json=abroad).raise_for_status()
        api.post(f"/test/cases/{made[0]['id']}/advance", json={"to": "Active"}).raise_for_status()
        api.post(
            f"/managed-cases/{made[0]['id']}/payments", json={"date": "2026-01-20", "paymentAmount": 50}
        ).raise_for_status()
        api.post("/ingestion-jobs", json={"rows": [{"caseId": made[0]["id"], "description": "x"}]})


@cache
def _known(url: str) -> tuple[list[dict[str, Any]], list[str]]:
    cases = [c for c in httpx.get(f"{url}/_sandbox/cases").json() if c["visible"]]
    return cases, [c["reference"] for c in cases]


@cache
def _managed(url: str) -> tuple[list[dict[str, Any]], list[str]]:
    cases = [
        c
        for ours in ("true", "false")
        for c in httpx.get(f"{url}/_sandbox/cases", params={"managed": "true", "ours": ours}).json()
    ]
    return cases, [c["reference"] for c in cases]


def _use_real_ids(case: Any, url: str) -> None:
    """Point three in four generated case/payment ids at seeded records, so 200 answers get checked too
    (managed cases for /managed-cases and /test/cases, test cases for the fired webhooks)."""
    params = case.path_parameters
    if case.path == "/test/webhooks/fire" and isinstance(case.body, dict):
        n = zlib.crc32(str(case.body.get("caseId")).encode())
        tests = [c for c in _managed(url)[0] if c["isTest"]]
        if n % 4 and tests:
            case.body["caseId"] = tests[n % len(tests)]["id"]
        return
    if not params or not case.path.startswith(("/cases/", "/managed-cases/", "/test/cases/")):
        return
    cases, refs = _known(url) if case.path.startswith("/cases/") else _managed(url)
    if not cases:
        return
    if "id" in params:
        n = zlib.crc32(str(params["id"]).encode())
        if n % 4:
            chosen = cases[n % len(cases)]
            params["id"] = chosen["id"]
            if "paymentId" in params and chosen["paymentIds"]:
                params["paymentId"] = chosen["paymentIds"][n % len(chosen["paymentIds"])]
    if "caseReference" in params:
        n = zlib.crc32(str(params["caseReference"]).encode())
        if n % 4:
            params["caseReference"] = refs[n % len(refs)]


@positive.parametrize()
@SETTINGS
def test_positive(case: Any, sandbox_server: SandboxProcess) -> None:
    _use_real_ids(case, sandbox_server.url)
    case.call_and_validate(
        base_url=sandbox_server.url, headers={"XApiKey": sandbox_server.api_key}, checks=CHECKS
    )


@negative.parametrize()
@SETTINGS
def test_negative(case: Any, sandbox_server: SandboxProcess) -> None:
    case.call_and_validate(
        base_url=sandbox_server.url, headers={"XApiKey": sandbox_server.api_key}, checks=CHECKS
    )
