"""The partner API routes (same paths as https://collectionpartner-api.debitura.com).

Authentication, rate limits and fault injection happen in the middleware (bot.sandbox.app);
handlers here read `request.app.state.sandbox` (a `Sandbox`) and raise `ApiFail`/`FieldErrors`.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.sandbox import rules
from bot.sandbox.enums import parse_lifecycle
from bot.sandbox.http import (
    ApiFail,
    FieldErrors,
    Handler,
    ProblemFail,
    not_found,
    parse_uuid,
    path_uuid,
    problem,
    query_multi,
    sandbox_of,
)
from bot.sandbox.state import SORT_FIELDS, State, dump

if TYPE_CHECKING:
    from bot.sandbox.app import Sandbox
    from bot.sandbox.model import CaseRec

def guarded(fn: Handler) -> Handler:
    async def wrapper(request: Request) -> Response:
        try:
            return await fn(request)
        except ApiFail as exc:
            return exc.response()
        except FieldErrors as exc:
            return exc.response()
        except ProblemFail as exc:
            return problem(exc.status, exc.title, exc.detail, request.url.path)

    wrapper.__name__ = fn.__name__
    return wrapper


def case_from_path(request: Request) -> CaseRec:
    case = sandbox_of(request).state.find(path_uuid(request))
    if case is None:
        raise not_found()
    return case


def _int_param(
    q: dict[str, list[str]], name: str, default: int, *, minimum: int, maximum: int, label: str
) -> int:
    values = q.get(name)
    if not values:
        return default
    text = values[-1].strip()
    try:
        value = int(text)
    except ValueError:
        raise FieldErrors({label: [f"The value '{values[-1]}' is not valid for {label}."]}) from None
    if value < minimum or value > maximum:
        raise FieldErrors({label: [f"The field {label} must be between {minimum} and {maximum}."]})
    return value


def _list_param(q: dict[str, list[str]], name: str) -> list[str]:
    out: list[str] = []
    for value in q.get(name, []):
        out.extend(part.strip() for part in value.split(",") if part.strip())
    return out


def _uuid_list(q: dict[str, list[str]], name: str, label: str) -> set[str] | None:
    raw = _list_param(q, name)
    if not raw:
        return None
    out: set[str] = set()
    for item in raw:
        parsed = parse_uuid(item)
        if parsed is None:
            raise FieldErrors({label: [f"The value '{item}' is not valid."]})
        out.add(parsed)
    return out


def _bool_param(q: dict[str, list[str]], name: str, label: str) -> bool:
    values = q.get(name)
    if not values:
        return False
    text = values[-1].strip().lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0", ""):
        return False
    raise FieldErrors({label: [f"The value '{values[-1]}' is not valid for {label}."]})


def parse_sort(text: str) -> tuple[tuple[str, bool], ...]:
    spec: list[tuple[str, bool]] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        name, _, direction = part.partition(":")
        key = name.strip().lower()
        direction = direction.strip().lower()
        if direction not in ("", "asc", "desc"):
            raise FieldErrors({"Sort": [f"Sort direction '{direction}' is not valid; use asc or desc."]})
        if key in SORT_FIELDS and all(key != s[0] for s in spec):
            spec.append((key, direction == "desc"))
    return tuple(spec)


def page_envelope(total: int, page: int, size: int, count: int) -> dict[str, int]:
    return {
        "totalResults": total,
        "pageSize": size,
        "currentPage": page,
        "responseCount": count,
        "totalPages": math.ceil(total / size) if size else 0,
    }


# ---------------------------------------------------------------- reads


@guarded
async def get_me(request: Request) -> Response:
    return JSONResponse(sandbox_of(request).state.me_json())


@guarded
async def list_users(request: Request) -> Response:
    sb = sandbox_of(request)
    q = query_multi(request)
    page = _int_param(q, "page", 1, minimum=1, maximum=2**31 - 1, label="Page")
    size = _int_param(q, "pagesize", 50, minimum=1, maximum=100, label="PageSize")
    users = [u for u in sb.state.users if u.active]
    chunk = users[(page - 1) * size : page * size]
    return JSONResponse(
        {
            "page": page_envelope(len(users), page, size, len(chunk)),
            "users": [sb.state.user_json(u) for u in chunk],
        }
    )


@guarded
async def list_cases(request: Request) -> Response:
    sb = sandbox_of(request)
    state = sb.state
    q = query_multi(request)
    page = _int_param(q, "page", 1, minimum=1, maximum=2**31 - 1, label="Page")
    size = _int_param(q, "pagesize", 10, minimum=1, maximum=100, label="PageSize")
    statuses: set[str] | None = None
    raw_statuses = _list_param(q, "statuses")
    if raw_statuses:
        statuses = set()
        for item in raw_statuses:
            name = parse_lifecycle(item)
            if name is None:
                raise FieldErrors({"Statuses": [f"The value '{item}' is not a valid lifecycle."]})
            statuses.add(name)
    ids = _uuid_list(q, "ids", "Ids")
    debtor_ids = _uuid_list(q, "debtorids", "DebtorIds")
    division_ids = _uuid_list(q, "divisionids", "DivisionIds")
    include_test = _bool_param(q, "includetestcases", "includeTestCases")
    sort = parse_sort(q.get("sort", [""])[-1])
    rows = state.listing(sort, include_test, frozenset(statuses) if statuses is not None else None)
    if ids is not None or debtor_ids is not None or division_ids is not None:
        rows = [
            c
            for c in rows
            if (ids is None or c.id in ids)
            and (debtor_ids is None or c.debtor_id in debtor_ids)
            and (division_ids is None or c.division_id in division_ids)
        ]
    return case_page(state, rows, page, size)


def case_page(state: State, rows: list[CaseRec], page: int, size: int) -> Response:
    """One page of a case listing (GET /cases, GET /managed-cases), serialised once per case."""
    chunk = rows[(page - 1) * size : page * size]
    body = (
        b'{"page":'
        + dump(page_envelope(len(rows), page, size, len(chunk)))
        + b',"cases":['
        + b",".join(state.case_bytes(c) for c in chunk)
        + b"]}"
    )
    return Response(body, media_type="application/json")


@guarded
async def get_case(request: Request) -> Response:
    case = case_from_path(request)
    return Response(sandbox_of(request).state.case_bytes(case), media_type="application/json")


@guarded
async def get_case_by_reference(request: Request) -> Response:
    sb = sandbox_of(request)
    ref = request.path_params["caseReference"].strip()
    if not ref:
        raise FieldErrors({"caseReference": ["The caseReference field is required."]})
    case = sb.state.by_reference.get(ref.upper())
    if case is None or not sb.state.visible(case):
        raise not_found()
    return JSONResponse(sb.state.case_json(case))


def _raw_path_tail(request: Request, prefix: str) -> str:
    """The undecoded path after `prefix`, decoded once (keeps %2F inside the reference)."""
    raw_path = request.scope.get("raw_path")
    path = raw_path.decode("latin-1") if isinstance(raw_path, bytes) else request.url.path
    path = path.split("?", 1)[0]
    idx = path.find(prefix)
    return unquote(path[idx + len(prefix) :]) if idx >= 0 else ""


@guarded
async def get_case_by_partner_reference(request: Request) -> Response:
    sb = sandbox_of(request)
    ref = _raw_path_tail(request, "/cases/by-partner-reference/")
    if not ref.strip():
        raise FieldErrors({"reference": ["The reference field is required."]})
    case = sb.state.by_partner_ref.get(ref)
    if case is None or not sb.state.visible(case) or case.is_test:
        raise not_found()
    return JSONResponse(sb.state.case_json(case))


@guarded
async def batch_by_partner_reference(request: Request) -> Response:
    sb = sandbox_of(request)
    q = query_multi(request)
    raw = ",".join(q.get("references", []))
    refs = [r.strip() for r in raw.split(",") if r.strip()]
    if not refs:
        raise ApiFail(400, "InvalidReferences", "The references parameter is required and must not be empty.")
    if len(refs) > 100:
        raise ApiFail(400, "TooManyReferences", f"At most 100 references per request; got {len(refs)}.")
    out: dict[str, Any] = {}
    for ref in refs:
        case = sb.state.by_partner_ref.get(ref)
        if case is not None and sb.state.visible(case) and not case.is_test:
            out[ref] = sb.state.case_json(case)
    return JSONResponse(out)


@guarded
async def get_case_by_creditor_reference(request: Request) -> Response:
    sb = sandbox_of(request)
    q = query_multi(request)
    reference = (q.get("reference") or [""])[-1].strip()
    creditor_raw = (q.get("creditorid") or [""])[-1].strip()
    errors: dict[str, list[str]] = {}
    if not reference:
        errors["reference"] = ["The reference field is required."]
    creditor_id = parse_uuid(creditor_raw) if creditor_raw else None
    if not creditor_raw:
        errors["creditorId"] = ["The creditorId field is required."]
    elif creditor_id is None:
        errors["creditorId"] = [f"The value '{creditor_raw}' is not valid."]
    if errors:
        raise FieldErrors(errors)
    assert creditor_id is not None
    case = sb.state.by_creditor_ref.get((creditor_id, reference))
    if case is None or not sb.state.visible(case) or case.is_test:
        raise not_found()
    return JSONResponse(sb.state.case_json(case))


@guarded
async def get_timeline(request: Request) -> Response:
    sb = sandbox_of(request)
    case = sb.state.materialize(case_from_path(request))
    items = sorted(case.timeline, key=lambda t: t.date)
    return JSONResponse(
        {"items": [sb.state.timeline_json(t) for t in items], "currentEngagementPhase": case.engagement_phase}
    )


@guarded
async def list_chats(request: Request) -> Response:
    sb = sandbox_of(request)
    case = sb.state.materialize(case_from_path(request))
    return JSONResponse([sb.state.chat_json(ch) for ch in case.chats])


@guarded
async def list_payments(request: Request) -> Response:
    sb = sandbox_of(request)
    case = case_from_path(request)
    rows = sorted(case.payments, key=lambda p: (p.date, p.date_created), reverse=True)
    return JSONResponse([sb.state.payment_json(case, p) for p in rows])


@guarded
async def list_files(request: Request) -> Response:
    sb = sandbox_of(request)
    case = sb.state.materialize(case_from_path(request))
    return JSONResponse([sb.state.file_json(case, f, sb.file_url(request, case, f)) for f in case.files])


@guarded
async def get_exclusive_period(request: Request) -> Response:
    sb = sandbox_of(request)
    case = case_from_path(request)
    body = sb.state.exclusive_json(case)
    if body is None:
        raise not_found("No exclusive collection period exists for this case.")
    return JSONResponse(body)


@guarded
async def get_validation(request: Request) -> Response:
    case = case_from_path(request)
    return JSONResponse(
        {
            "needsInfo": case.needs_info,
            "creditorRespondedAt": case.creditor_responded_at,
            "items": list(case.validation_items),
        }
    )


# ---------------------------------------------------------------- writes (rules.py holds the logic)


CaseRule = Callable[["Sandbox", Request, "CaseRec"], Awaitable[Response]]


def case_write(rule: CaseRule) -> Handler:
    """The endpoint of a write under /cases/{id}: the case from the path, then the rule."""

    async def endpoint(request: Request) -> Response:
        return await rule(sandbox_of(request), request, case_from_path(request))

    endpoint.__name__ = rule.__name__
    return guarded(endpoint)


send_chat = case_write(rules.send_chat)
create_payment = case_write(rules.create_payment)
update_payment = case_write(rules.update_payment)
delete_payment = case_write(rules.delete_payment)
upload_file = case_write(rules.upload_file)
create_note = case_write(rules.create_note)
close_case = case_write(rules.close_case)
start_case = case_write(rules.start_case)
update_fees = case_write(rules.update_fees)


def routes() -> list[Route]:
    from bot.sandbox import ingestion, managed, webhooks

    return [
        Route("/me", get_me, methods=["GET"]),
        Route("/users", list_users, methods=["GET"]),
        Route("/cases", list_cases, methods=["GET"]),
        Route("/cases/by-partner-reference", batch_by_partner_reference, methods=["GET"]),
        Route("/cases/by-partner-reference/{reference:path}", get_case_by_partner_reference, methods=["GET"]),
        Route("/cases/by-creditor-reference", get_case_by_creditor_reference, methods=["GET"]),
        Route("/cases/case-reference/{caseReference:path}", get_case_by_reference, methods=["GET"]),
        Route("/cases/{id}", get_case, methods=["GET"]),
        Route("/cases/{id}/timeline", get_timeline, methods=["GET"]),
        Route("/cases/{id}/chats", list_chats, methods=["GET"]),
        Route("/cases/{id}/chats", send_chat, methods=["POST"]),
        Route("/cases/{id}/payments", list_payments, methods=["GET"]),
        Route("/cases/{id}/payments", create_payment, methods=["POST"]),
        Route("/cases/{id}/payments/{paymentId}", update_payment, methods=["PUT"]),
        Route("/cases/{id}/payments/{paymentId}", delete_payment, methods=["DELETE"]),
        Route("/cases/{id}/files", list_files, methods=["GET"]),
        Route("/cases/{id}/files", upload_file, methods=["POST"]),
        Route("/cases/{id}/notes", create_note, methods=["POST"]),
        Route("/cases/{id}/close", close_case, methods=["POST"]),
        Route("/cases/{id}/start", start_case, methods=["POST"]),
        Route("/cases/{id}/fees", update_fees, methods=["PUT"]),
        Route("/cases/{id}/exclusive-period", get_exclusive_period, methods=["GET"]),
        Route("/cases/{id}/validation", get_validation, methods=["GET"]),
        *webhooks.routes(guarded),
        *managed.routes(),
        *ingestion.routes(),
    ]
