"""The client and models checked against docs/debitura/openapi.yaml.

* every operationId has a client method, and each method sends the documented method, path,
  query parameters, headers and a request body valid against the operation's schema;
* the response bodies used in these tests are valid against the documented response schemas;
* every property of every documented schema is a field of the matching model.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest
import yaml
from pydantic import BaseModel

from bot.debitura import models as m
from bot.debitura.client import DebituraClient, RetryPolicy
from bot.debitura.webhooks import WebhookEvent
from tests.debitura import bodies
from tests.debitura.conftest import API_KEY, BASE_URL, multipart

SPEC_PATH = Path(__file__).resolve().parents[2] / "docs" / "debitura" / "openapi.yaml"
SPEC: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
CID = bodies.CASE_ID


def _resolve(node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node and len(node) == 1:
        parts = node["$ref"].lstrip("#/").split("/")
        target: Any = SPEC
        for part in parts:
            target = target[part]
        node = target
    return node


class Operation:
    def __init__(self, path: str, method: str, op: dict[str, Any], shared: list[Any]) -> None:
        self.path = path
        self.method = method.upper()
        self.op = op
        self.params = [_resolve(p) for p in [*shared, *op.get("parameters", [])]]
        pattern = re.sub(r"\{[^}]+\}", "[^/]+", path)
        self.regex = re.compile(f"^{pattern}$")

    def names(self, where: str) -> set[str]:
        return {p["name"] for p in self.params if p["in"] == where}

    def request_schema(self, media: str = "application/json") -> Any:
        body = self.op.get("requestBody")
        content = body["content"].get(media) if body else None
        return content["schema"] if content else None

    def response_schema(self, status: int) -> Any:
        response = _resolve(self.op["responses"][str(status)])
        content = response.get("content")
        return content["application/json"]["schema"] if content else None


OPERATIONS: dict[str, Operation] = {}
for _path, _item in SPEC["paths"].items():
    for _method in ("get", "post", "put", "delete"):
        if _method in _item:
            OPERATIONS[_item[_method]["operationId"]] = Operation(
                _path, _method, _item[_method], _item.get("parameters", [])
            )


def validator(schema: Any) -> jsonschema_rs.Validator:
    return jsonschema_rs.Draft202012Validator(
        {**schema, "components": SPEC["components"]}, validate_formats=True
    )


def assert_valid(schema: Any, instance: Any) -> None:
    errors = [f"{e.instance_path}: {e.message}" for e in validator(schema).iter_errors(instance)]
    assert not errors, errors


def _payment_request() -> m.CreatePaymentRequest:
    return m.CreatePaymentRequest(
        date=date(2025, 11, 19),
        payment_amount=Decimal("100.10"),
        payment_recipient="Creditor",
        commission_payment_status="Unpaid",
        payout_creditor=Decimal("80.08"),
        payout_collection_partner=Decimal("20.02"),
        close_case=True,
        create_unpaid_commission_follow_up=False,
    )


Call = Callable[[DebituraClient], Awaitable[object]]

# operationId -> (client call, HTTP status and body the fake API answers with)
CASES: dict[str, tuple[Call, int, Any]] = {
    "getMe": (lambda c: c.me(), 200, bodies.ME),
    "listUsers": (lambda c: c.list_users(page=2, page_size=100), 200, bodies.USERS_PAGE_2),
    "listCases": (
        lambda c: c.list_cases(
            page=1,
            page_size=10,
            statuses=["Active"],
            sort="DateUpdated:desc",
            ids=[CID],
            debtor_ids=[CID],
            division_ids=[CID],
            include_test_cases=True,
        ),
        200,
        {"page": bodies.page(1, 1, 10, 1, 1), "cases": [bodies.case()]},
    ),
    "getCase": (lambda c: c.get_case(CID), 200, bodies.case()),
    "getCaseByReference": (lambda c: c.get_case_by_reference("Q8OAXF3W"), 200, bodies.case()),
    "getCaseByPartnerReference": (lambda c: c.get_case_by_partner_reference("A & B"), 200, bodies.case()),
    "batchGetCasesByPartnerReference": (
        lambda c: c.get_cases_by_partner_references(["A", "B"]),
        200,
        {"A": bodies.case()},
    ),
    "getCaseByCreditorReference": (
        lambda c: c.get_case_by_creditor_reference("INV-1", bodies.CREDITOR_ID),
        200,
        bodies.case(),
    ),
    "getCaseTimeline": (lambda c: c.get_timeline(CID), 200, bodies.TIMELINE),
    "listCaseChats": (lambda c: c.list_chats(CID), 200, [bodies.CHAT, bodies.CHAT_FROM_CREDITOR]),
    "sendCaseChat": (
        lambda c: c.send_chat(
            CID, m.SendChatRequest(message="Hello", user_email="mia@acme.example"), idempotency_key="k-1"
        ),
        200,
        bodies.CHAT,
    ),
    "listCasePayments": (lambda c: c.list_payments(CID), 200, [bodies.PAYMENT]),
    "createCasePayment": (
        lambda c: c.create_payment(CID, _payment_request(), idempotency_key="k-2"),
        200,
        bodies.CREATE_PAYMENT_RESPONSE,
    ),
    "updateCasePayment": (
        lambda c: c.update_payment(
            CID,
            bodies.PAYMENT_ID,
            m.UpdatePaymentRequest(
                date=date(2025, 11, 20),
                payment_amount=Decimal("50"),
                payment_recipient="Creditor",
                commission_payment_status="Paid",
                reopen_case_if_needed=True,
            ),
        ),
        200,
        bodies.PAYMENT,
    ),
    "deleteCasePayment": (
        lambda c: c.delete_payment(CID, bodies.PAYMENT_ID, reopen_case_if_needed=True),
        204,
        None,
    ),
    "listCaseFiles": (lambda c: c.list_files(CID), 200, [bodies.CASE_FILE]),
    "uploadCaseFile": (
        lambda c: c.upload_file(
            CID, filename="a.pdf", content=b"%PDF", document_type="DemandLetter", description="Letter"
        ),
        200,
        bodies.CASE_FILE,
    ),
    "createCaseNote": (
        lambda c: c.create_note(
            CID,
            m.CreateNoteRequest(description="Called", event_date=datetime(2025, 11, 14, 9, 30, tzinfo=UTC)),
        ),
        200,
        bodies.NOTE,
    ),
    "closeCase": (
        lambda c: c.close_case(CID, m.CloseCaseRequest(close_code="Other", comment="Stopped")),
        200,
        bodies.CLOSE_RESPONSE,
    ),
    "startCase": (
        lambda c: c.start_case(
            CID,
            m.StartCaseRequest(
                welcome_message="Hello",
                user_email="mia@acme.example",
                collection_partner_reference="R-1",
                assigned_user_email="lars@acme.example",
                interest_fees=1,
                reminder_fees=2,
                collection_fees=3,
            ),
        ),
        200,
        bodies.START_RESPONSE,
    ),
    "updateCaseFees": (
        lambda c: c.update_fees(
            CID,
            m.UpdateFeesRequest(
                interest_fees=1,
                reminder_fees=2,
                collection_fees=3,
                gross_amount=Decimal("1000.5"),
                confirm_price_change=True,
            ),
        ),
        200,
        bodies.FEES_RESPONSE,
    ),
    "getExclusivePeriod": (lambda c: c.get_exclusive_period(CID), 200, bodies.EXCLUSIVE_PERIOD),
    "getCaseValidation": (lambda c: c.get_validation(CID), 200, bodies.VALIDATION),
    "listWebhooks": (lambda c: c.list_webhooks(), 200, [bodies.WEBHOOK]),
    "createWebhook": (
        lambda c: c.create_webhook(
            m.CreateWebhookRequest(
                url="https://caseroom.example/hook",
                events=["case.updated", "chat.created"],
                is_test_mode=True,
            )
        ),
        201,
        {**bodies.WEBHOOK, "secret": "c2VjcmV0"},
    ),
    "getWebhook": (lambda c: c.get_webhook(bodies.WEBHOOK_ID), 200, bodies.WEBHOOK),
    "updateWebhook": (
        lambda c: c.update_webhook(
            bodies.WEBHOOK_ID,
            m.UpdateWebhookRequest(
                url="https://caseroom.example/hook2",
                events=["case.closed"],
                is_active=True,
                regenerate_secret=False,
            ),
        ),
        200,
        bodies.WEBHOOK,
    ),
    "deleteWebhook": (lambda c: c.delete_webhook(bodies.WEBHOOK_ID), 204, None),
    "listWebhookEvents": (
        lambda c: c.list_webhook_events(CID, since=datetime(2026, 4, 1, tzinfo=UTC)),
        200,
        [bodies.WEBHOOK_EVENT],
    ),
    "replayWebhookEvent": (lambda c: c.replay_webhook_event(bodies.EVENT_ID), 200, bodies.REPLAY),
}


def test_every_documented_operation_has_a_client_call() -> None:
    assert set(CASES) == set(OPERATIONS)


@pytest.mark.parametrize("operation_id", sorted(OPERATIONS))
async def test_operation_matches_the_spec(operation_id: str) -> None:
    spec = OPERATIONS[operation_id]
    call, status, body = CASES[operation_id]
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        if body is None:
            return httpx.Response(status)
        return httpx.Response(status, json=body)

    client = DebituraClient(
        BASE_URL, API_KEY, transport=httpx.MockTransport(handler), retry_policy=RetryPolicy(max_retries=0)
    )
    await call(client)
    await client.aclose()

    (request,) = sent
    assert request.method == spec.method
    assert spec.regex.match(request.url.path), (request.url.path, spec.path)
    assert request.headers["XApiKey"] == API_KEY
    sent_query = {k for k, _ in request.url.params.multi_items()}
    assert sent_query <= spec.names("query"), sent_query - spec.names("query")
    required_query = {p["name"] for p in spec.params if p["in"] == "query" and p.get("required")}
    assert required_query <= sent_query
    if "Idempotency-Key" in spec.names("header"):
        assert request.headers["Idempotency-Key"]
    else:
        assert "Idempotency-Key" not in request.headers

    if spec.request_schema() is not None:
        assert request.headers["Content-Type"] == "application/json"
        assert_valid(spec.request_schema(), json.loads(request.content))
    elif spec.request_schema("multipart/form-data") is not None:
        form_schema = spec.request_schema("multipart/form-data")
        parts = multipart(request)
        assert set(parts) <= set(form_schema["properties"]) and set(form_schema["required"]) <= set(parts)
        fields = {k: v.get_content() for k, v in parts.items() if k != "File"}
        assert_valid(
            {"type": "object", "properties": {k: form_schema["properties"][k] for k in fields}}, fields
        )
    else:
        assert request.content == b""

    response_schema = spec.response_schema(status)
    if response_schema is not None:
        assert_valid(response_schema, body)


# ------------------------------------------------------------------ schemas vs models

SCHEMA_MODELS: dict[str, type[BaseModel]] = {
    "PageData": m.PageData,
    "CaseList": m.CasePage,
    "UserList": m.UserPage,
    "User": m.User,
    "Case": m.Case,
    "Debtor": m.Debtor,
    "CollectionPartnerSummary": m.CollectionPartnerSummary,
    "Creditor": m.Creditor,
    "BankAccount": m.BankAccount,
    "SigningHandoff": m.SigningHandoff,
    "CaseValidationLean": m.CaseValidation,
    "AssignedUser": m.AssignedUser,
    "AllocationOutstanding": m.AllocationOutstanding,
    "CaseValidationStatus": m.ValidationStatus,
    "CaseTimelineResponse": m.Timeline,
    "TimelineItem": m.TimelineItem,
    "Chat": m.Chat,
    "UserRelation": m.ChatUser,
    "SendChatRequest": m.SendChatRequest,
    "Payment": m.Payment,
    "CreatePaymentRequest": m.CreatePaymentRequest,
    "CreatePaymentResponse": m.CreatePaymentResponse,
    "UpdatePaymentRequest": m.UpdatePaymentRequest,
    "CaseFile": m.CaseFile,
    "CreateNoteRequest": m.CreateNoteRequest,
    "Note": m.Note,
    "CloseCaseRequest": m.CloseCaseRequest,
    "CloseCaseResponse": m.CloseCaseResponse,
    "StartCaseRequest": m.StartCaseRequest,
    "StartCaseResponse": m.StartCaseResponse,
    "UpdateCaseFeesRequest": m.UpdateFeesRequest,
    "UpdateCaseFeesResponse": m.UpdateFeesResponse,
    "PriceChangeConfirmationResponse": m.PriceChangeRequired,
    "ExclusivePeriod": m.ExclusivePeriod,
    "MeResponse": m.PartnerProfile,
    "Webhook": m.Webhook,
    "CreateWebhookRequest": m.CreateWebhookRequest,
    "UpdateWebhookRequest": m.UpdateWebhookRequest,
    "WebhookEvent": m.WebhookEventRecord,
    "ReplayEventResult": m.ReplayEventResult,
    "WebhookEnvelope": WebhookEvent,
}
NOT_MODELS = {  # error bodies (parsed by bot.debitura.errors) and enums
    "ApiError",
    "BusinessError",
    "FieldValidationErrors",
    "ProblemDetails",
    "RateLimitError",
    "LifecycleFilter",
    "LifecycleDisplay",
    "CloseCode",
    "CloseCodeDisplay",
    "EngagementPhase",
    "ChatRole",
    "PaymentRecipient",
    "CommissionPaymentStatus",
    "UploadDocumentType",
    "WebhookEventType",
}


def test_every_schema_is_modelled() -> None:
    assert set(SPEC["components"]["schemas"]) == set(SCHEMA_MODELS) | NOT_MODELS


def _nested_model(model: type[BaseModel], field_name: str) -> type[BaseModel] | None:
    annotation = model.model_fields[field_name].annotation
    stack: list[Any] = [annotation]
    while stack:
        current = stack.pop()
        if isinstance(current, type) and issubclass(current, BaseModel):
            return current
        stack.extend(getattr(current, "__args__", ()) or ())
        origin = getattr(current, "__origin__", None)
        if origin is not None and origin is not list:
            stack.append(origin)
    return None


def _check_properties(schema: Any, model: type[BaseModel], where: str) -> list[str]:
    schema = _resolve(schema)
    if "anyOf" in schema:
        return [
            p
            for s in schema["anyOf"]
            if _resolve(s).get("type") != "null"
            for p in _check_properties(s, model, where)
        ]
    if schema.get("type") in ("array", ["array", "null"]):
        return _check_properties(schema["items"], model, where)
    missing: list[str] = []
    by_alias = {(f.alias or name): name for name, f in model.model_fields.items()}
    for prop, sub in (schema.get("properties") or {}).items():
        if prop not in by_alias:
            missing.append(f"{where}.{prop}")
            continue
        sub = _resolve(sub)
        inner = sub.get("items", sub) if "array" in str(sub.get("type")) else sub
        if isinstance(inner, dict) and (_resolve(inner).get("properties") or "anyOf" in inner):
            nested = _nested_model(model, by_alias[prop])
            if nested is not None and nested is not model:
                missing += _check_properties(inner, nested, f"{where}.{prop}")
    return missing


@pytest.mark.parametrize("schema_name", sorted(SCHEMA_MODELS))
def test_model_has_every_documented_property(schema_name: str) -> None:
    model = SCHEMA_MODELS[schema_name]
    assert _check_properties(SPEC["components"]["schemas"][schema_name], model, schema_name) == []


def test_documented_envelope_example_validates_and_parses() -> None:
    envelope = {
        "id": bodies.EVENT_ID,
        "specVersion": "1.0",
        "event": "case.updated",
        "timestamp": "2026-04-07T10:34:35.214Z",
        "data": {"caseId": CID, "reference": "Q8OAXF3W", "oldLifecycle": "Active", "newLifecycle": "Paused"},
        "links": {"case": f"https://collectionpartner-api.debitura.com/cases/{CID}"},
    }
    assert_valid({"$ref": "#/components/schemas/WebhookEnvelope"}, envelope)
    event = WebhookEvent.model_validate(envelope)
    assert event.case_id == CID and event.links["case"].endswith(CID)


@pytest.mark.parametrize(
    ("schema_name", "body"),
    [
        ("PriceChangeConfirmationResponse", bodies.PRICE_CHANGE),
        ("UserList", bodies.USERS_PAGE_1),
        ("Chat", bodies.CHAT_FROM_CREDITOR),
        ("Case", bodies.case(lifecycle="Closed", closeCode="Paid")),
    ],
)
def test_other_test_bodies_are_valid(schema_name: str, body: Any) -> None:
    assert_valid({"$ref": f"#/components/schemas/{schema_name}"}, body)
