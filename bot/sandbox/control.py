"""Control API under /_sandbox/: act as the creditor and as Debitura, inject faults, reset.

No API key (when the server has a control token, send it as `X-Sandbox-Token`). JSON in, JSON out.

    POST   /_sandbox/reset                  {seed?, cases?}: re-seed; faults, limits, hooks as at start
    GET    /_sandbox/info                   api keys, seed, counts, limits, team
    GET    /_sandbox/cases                  case summaries incl. hidden (?lifecycle=&closeCode=&test=&ours=
                                            &managed=&tag=)
    POST   /_sandbox/cases                  assign a new case to us {lifecycle?, isTest?, claimType?,
                                            assignedUserEmail?} (Debitura's own assignment rules name
                                            the team member; the email must be an active member)
    POST   /_sandbox/cases/{id}/assignee    {email: team member or null}: reassign (case.updated)
    POST   /_sandbox/cases/{id}/chats       post as creditor {message, role?=1, firstName?, lastName?, email?}
    PUT    /_sandbox/cases/{id}/chats/{c}   edit a chat {message?, isSeen?}
    POST   /_sandbox/cases/{id}/timeline    {type, title, description, actorType?, actorName?, date?}
    POST   /_sandbox/cases/{id}/lifecycle   {lifecycle, closeCode?, comment?} (case.updated / case.closed)
    POST   /_sandbox/cases/{id}/phase       {phase: "Pre-legal"|"Legal"|"Enforcement"|null} (no webhook)
    POST   /_sandbox/cases/{id}/payments/{p}/invoice   {invoiced: true|false}
    DELETE /_sandbox/cases/{id}/payments/{p}           delete as Debitura support (payment.deleted)
    GET/POST/DELETE /_sandbox/faults[/{id}] fault rules (see bot.sandbox.faults)
    GET/PUT /_sandbox/rate-limits           {perMinute, perHour, perDay}; PUT also clears counters
    GET    /_sandbox/webhooks               every subscription (secrets left out)
    POST   /_sandbox/webhooks/enable        turn disabled subscriptions back on
    GET    /_sandbox/webhooks/deliveries    every delivery attempt
    POST   /_sandbox/webhooks/idle          wait until no delivery is pending {timeout?}
    POST   /_sandbox/save                   write the --state file now
    GET    /_sandbox/files/{fileId}         temporary file download (?expires=&sig=, the CaseFileDto url)
    GET    /_sandbox/ingestion-jobs/{jobId} an ingestion job with every row's outcome
"""

from __future__ import annotations

import random
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.sandbox import ingestion, rules
from bot.sandbox.enums import (
    CLOSE_CODE_DISPLAY,
    ENGAGEMENT_PHASES,
    LIFECYCLE_DISPLAY,
    TIMELINE_TYPES,
    WEBHOOK_EVENTS,
    lifecycle_names,
    parse_close_code,
    parse_lifecycle,
    parse_timeline_type,
)
from bot.sandbox.faults import FaultRule
from bot.sandbox.http import (
    ApiFail,
    FieldErrors,
    Fields,
    Handler,
    ProblemFail,
    json_body,
    not_found,
    parse_uuid,
    problem,
    sandbox_of,
)
from bot.sandbox.model import CaseRec, iso, now
from bot.sandbox.ratelimit import Limits
from bot.sandbox.seed import make_case, seeded_file_content

if TYPE_CHECKING:
    from bot.sandbox.app import Sandbox

ALL_EVENTS = WEBHOOK_EVENTS


def controlled(fn: Handler) -> Handler:
    async def wrapper(request: Request) -> Response:
        sb = sandbox_of(request)
        if sb.control_token and request.headers.get("x-sandbox-token") != sb.control_token:
            return problem(401, "Unauthorized", "X-Sandbox-Token is missing or wrong.", request.url.path)
        try:
            return await fn(request)
        except (ApiFail, FieldErrors) as exc:
            return exc.response()
        except ProblemFail as exc:
            return problem(exc.status, exc.title, exc.detail, request.url.path)
        except ValueError as exc:
            return JSONResponse({"error": "invalid", "message": str(exc)}, status_code=400)

    wrapper.__name__ = fn.__name__
    return wrapper


def _case(request: Request) -> CaseRec:
    cid = parse_uuid(request.path_params["id"])
    case = sandbox_of(request).state.cases.get(cid) if cid else None
    if case is None:
        raise not_found("No such case in the sandbox.")
    return sandbox_of(request).state.materialize(case)


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    return await json_body(request) if raw.strip() else {}


def summary(sb: Sandbox, c: CaseRec) -> dict[str, Any]:
    return {
        "id": c.id,
        "reference": c.reference,
        "lifecycle": c.lifecycle,
        "lifecycleDisplay": LIFECYCLE_DISPLAY[c.lifecycle],
        "closeCode": c.close_code,
        "ours": c.partner_id == sb.state.partner.id,
        "visible": sb.state.visible(c),
        "isTest": c.is_test,
        "partnerReference": c.partner_reference,
        "creditorId": c.creditor_id,
        "creditorReference": c.creditor_reference,
        "debtorId": c.debtor_id,
        "divisionId": c.division_id,
        "currency": c.currency,
        "remainder": c.remainder,
        "claimType": c.claim_type,
        "disputed": c.dispute_status == "Yes, the claim is disputed",
        "intentionalRate": c.intentional_rate,
        "successFee": c.success_fee,
        "paymentCount": len(c.payments),
        "invoicedPaymentIds": [p.id for p in c.payments if p.invoiced],
        "paymentIds": [p.id for p in c.payments],
        "hasExclusivePeriod": c.exclusive_period is not None,
        "needsInfo": c.needs_info,
        "engagementPhase": c.engagement_phase,
        "managed": c.managing_partner_id == sb.state.partner.id,
        "tag": c.tag,
    }


@controlled
async def info(request: Request) -> Response:
    sb = sandbox_of(request)
    st = sb.state
    return JSONResponse(
        {
            "apiKeys": st.api_keys,
            "seed": st.seed,
            "cases": st.n_cases,
            "baseUrl": sb.base_url,
            "partnerId": st.partner.id,
            "users": [st.user_json(u) for u in st.users],
            "rateLimits": _limits_json(sb.limits),
            "faults": [r.to_json() for r in sb.faults.rules],
            "webhooks": len(sb.webhooks.subs),
        }
    )


@controlled
async def reset(request: Request) -> Response:
    sb = sandbox_of(request)
    f = Fields(await _body(request))
    seed = f.raw("seed")
    cases = f.raw("cases")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        f.fail("seed", "seed must be an integer")
    if cases is not None and (
        not isinstance(cases, int) or isinstance(cases, bool) or not 1 <= cases <= 100_000
    ):
        f.fail("cases", "cases must be an integer between 1 and 100000")
    f.check()
    sb.reset(seed, cases)
    return JSONResponse({"ok": True, "apiKeys": sb.state.api_keys, "cases": sb.state.n_cases})


@controlled
async def list_cases(request: Request) -> Response:
    sb = sandbox_of(request)
    q = request.query_params
    lifecycle = q.get("lifecycle")
    wanted = parse_lifecycle(lifecycle) if lifecycle else None
    if lifecycle and wanted is None:
        raise ValueError(f"unknown lifecycle {lifecycle!r} (known: {lifecycle_names()})")
    close = q.get("closeCode")
    wanted_close = parse_close_code(close) if close else None
    test = q.get("test")
    ours = q.get("ours", "true").lower() != "false"
    managed = q.get("managed")
    tag = q.get("tag")
    us = sb.state.partner.id
    rows = [
        c
        for c in sb.state.cases.values()
        if (c.partner_id == us) == ours
        and (wanted is None or c.lifecycle == wanted)
        and (wanted_close is None or c.close_code == wanted_close)
        and (test is None or c.is_test == (test.lower() == "true"))
        and (managed is None or (c.managing_partner_id == us) == (managed.lower() == "true"))
        and (tag is None or c.tag == tag)
    ]
    return JSONResponse([summary(sb, c) for c in rows])


@controlled
async def get_case(request: Request) -> Response:
    return JSONResponse(summary(sandbox_of(request), _case(request)))


@controlled
async def assign_case(request: Request) -> Response:
    sb = sandbox_of(request)
    st = sb.state
    f = Fields(await _body(request))
    lifecycle_raw = f.string("lifecycle") or "PendingVerification"
    lifecycle = parse_lifecycle(lifecycle_raw)
    if lifecycle is None:
        f.fail("lifecycle", f"unknown lifecycle {lifecycle_raw!r} (known: {lifecycle_names()})")
    is_test = f.boolean("isTest")
    claim = f.string("claimType")
    assignee_email = f.string("assignedUserEmail")
    f.check()
    assert lifecycle is not None
    assignee = st.user_by_email(assignee_email) if assignee_email else None
    if assignee_email and assignee is None:
        raise FieldErrors({"assignedUserEmail": ["not an active member of the partner's team"]})
    index = len(st.cases)
    rng = random.Random(f"assign:{st.seed}:{index}:{uuid.uuid4()}")
    spec: dict[str, Any] = {"lifecycle": lifecycle, "test": is_test}
    if claim:
        spec["claim"] = claim
    debtor_pool = [(c.debtor_id, c.debtor) for c in list(st.cases.values())[:50]]
    refs = set(st.by_reference)
    case = make_case(
        rng, index, spec, True, st.partner, st.users, list(st.creditors.values()), debtor_pool, refs, now()
    )
    case.date_created = iso(now())
    case.date_updated = case.date_created
    if lifecycle == "PendingVerification":
        case.date_collection_started = None
        case.exclusive_period = None
        case.engagement_phase = None
        case.payments = []
    if assignee is not None:
        case.assigned_user_id = assignee.id
    st.add_case(case)
    st.materialize(case)
    case.timeline = [t for t in case.timeline if t.type == "Assignment"]
    for t in case.timeline:
        t.date = case.date_created
    case.chats, case.files = [], []
    st.touch(case, bump=False)
    st.emit("case.assigned", case, lifecycle=LIFECYCLE_DISPLAY[case.lifecycle])
    return JSONResponse(summary(sb, case), status_code=201)


@controlled
async def add_chat(request: Request) -> Response:
    sb = sandbox_of(request)
    case = _case(request)
    f = Fields(await _body(request))
    message = f.string("message", required=True, max_len=10_000)
    role = f.raw("role")
    if role is None:
        role = 1
    if not isinstance(role, int) or isinstance(role, bool) or role < 0:
        f.fail("role", "role must be a non-negative integer (0 partner, 1 creditor, 2 managed by partner)")
    f.check()
    assert message is not None
    creditor = sb.state.creditors[case.creditor_id]
    if role == 1:
        first = f.string("firstName") or creditor.contact_first
        last = f.string("lastName") or creditor.contact_last
        email = f.string("email") or f"{creditor.contact_first.lower()}@{creditor.office_email.split('@')[1]}"
        int_id = creditor.contact_int_id
    else:
        user = sb.state.users[0]
        first = f.string("firstName") or user.first_name
        last = f.string("lastName") or user.last_name
        email = f.string("email") or user.email
        int_id = user.int_id
    chat = rules.post_chat(
        sb, case, role=role, message=message, first=first, last=last, email=email, int_id=int_id
    )
    return JSONResponse(sb.state.chat_json(chat), status_code=201)


@controlled
async def edit_chat(request: Request) -> Response:
    sb = sandbox_of(request)
    case = _case(request)
    chat_id = parse_uuid(request.path_params["chatId"])
    chat = next((c for c in case.chats if c.id == chat_id), None)
    if chat is None:
        raise not_found("No such chat on this case.")
    f = Fields(await _body(request))
    message = f.string("message", max_len=10_000)
    seen = f.raw("isSeen")
    if seen is not None and not isinstance(seen, bool):
        f.fail("isSeen", "isSeen must be a boolean")
    f.check()
    if message is not None:
        chat.message = message
    if isinstance(seen, bool):
        chat.is_seen = seen
    chat.date_updated = iso(now())
    sb.state.touch(case, bump=False)
    return JSONResponse(sb.state.chat_json(chat))


@controlled
async def add_timeline(request: Request) -> Response:
    sb = sandbox_of(request)
    case = _case(request)
    f = Fields(await _body(request))
    type_raw = f.string("type", required=True)
    type_ = parse_timeline_type(type_raw) if type_raw else None
    if type_raw and type_ is None:
        f.fail("type", f"unknown timeline type {type_raw!r} (known: {', '.join(TIMELINE_TYPES)})")
    title = f.string("title", required=True)
    description = f.string("description") or ""
    actor_type = f.string("actorType") or "System"
    actor_name = f.string("actorName")
    when = f.timestamp("date")
    if actor_type not in ("System", "Creditor user", "Partner user"):
        f.fail("actorType", "actorType must be System, Creditor user or Partner user")
    f.check()
    assert type_ is not None and title is not None
    rules.add_timeline(
        case,
        type_,
        title,
        description,
        actor_type=actor_type,
        actor_name=actor_name,
        when=iso(when) if when else None,
    )
    sb.state.touch(case, bump=False)
    return JSONResponse(sb.state.timeline_json(case.timeline[-1]), status_code=201)


@controlled
async def set_lifecycle(request: Request) -> Response:
    sb = sandbox_of(request)
    case = _case(request)
    f = Fields(await _body(request))
    raw = f.string("lifecycle", required=True)
    lifecycle = parse_lifecycle(raw) if raw else None
    if raw and lifecycle is None:
        f.fail("lifecycle", f"unknown lifecycle {raw!r} (known: {lifecycle_names()})")
    close_raw = f.string("closeCode")
    close = parse_close_code(close_raw) if close_raw else None
    if close_raw and close is None:
        f.fail("closeCode", f"unknown close code {close_raw!r} (known: {', '.join(CLOSE_CODE_DISPLAY)})")
    comment = f.string("comment")
    f.check()
    assert lifecycle is not None
    rules.set_lifecycle(
        sb, case, lifecycle, actor_type="System", actor_name=None, close_code=close, comment=comment
    )
    return JSONResponse(summary(sb, case))


@controlled
async def set_phase(request: Request) -> Response:
    sb = sandbox_of(request)
    case = _case(request)
    data = await _body(request)
    if "phase" not in data:
        raise FieldErrors({"phase": ["phase is required (null clears it)"]})
    phase = data["phase"]
    if phase is not None and phase not in ENGAGEMENT_PHASES:
        raise FieldErrors({"phase": [f"phase must be one of {', '.join(ENGAGEMENT_PHASES)} or null"]})
    old = case.engagement_phase
    case.engagement_phase = phase
    if old != phase:
        rules.add_timeline(
            case,
            "EngagementPhase",
            "Engagement phase changed",
            f"Engagement phase changed from {old or 'none'} to {phase or 'none'}.",
            actor_type="System",
            actor_name=None,
        )
    sb.state.touch(case)
    return JSONResponse(summary(sb, case))


@controlled
async def set_assignee(request: Request) -> Response:
    sb = sandbox_of(request)
    case = _case(request)
    data = await _body(request)
    if "email" not in data:
        raise FieldErrors({"email": ["email is required (null leaves the case unassigned)"]})
    email = data["email"]
    user = None
    if email is not None:
        user = sb.state.user_by_email(str(email))
        if user is None:
            raise FieldErrors({"email": ["not an active member of the partner's team"]})
    new_id = user.id if user is not None else None
    if case.assigned_user_id != new_id:
        case.assigned_user_id = new_id
        sb.state.touch(case)
        sb.state.emit("case.updated", case, lifecycle=LIFECYCLE_DISPLAY[case.lifecycle])
    return JSONResponse(summary(sb, case))


def _payment(request: Request, case: CaseRec) -> Any:
    pid = parse_uuid(request.path_params["paymentId"])
    payment = next((p for p in case.payments if p.id == pid), None)
    if payment is None:
        raise not_found("No such payment on this case.")
    return payment


@controlled
async def support_delete_payment(request: Request) -> Response:
    sb = sandbox_of(request)
    case = _case(request)
    payment = _payment(request, case)
    rules.remove_payment(sb, case, payment, actor_type="System", actor_name="Debitura Support")
    return Response(status_code=204)


@controlled
async def set_invoiced(request: Request) -> Response:
    sb = sandbox_of(request)
    case = _case(request)
    payment = _payment(request, case)
    data = await _body(request)
    invoiced = data.get("invoiced", True)
    if not isinstance(invoiced, bool):
        raise FieldErrors({"invoiced": ["invoiced must be a boolean"]})
    payment.invoiced = invoiced
    payment.invoice_id = str(uuid.uuid4()) if invoiced else None
    payment.invoice_reference = "PI-SANDBOX" if invoiced else None
    sb.state.touch(case, bump=False)
    return JSONResponse({"paymentId": payment.id, "invoiced": invoiced})


@controlled
async def list_faults(request: Request) -> Response:
    return JSONResponse([r.to_json() for r in sandbox_of(request).faults.rules])


@controlled
async def add_fault(request: Request) -> Response:
    rule = FaultRule.from_json(await json_body(request))
    sandbox_of(request).faults.rules.append(rule)
    return JSONResponse(rule.to_json(), status_code=201)


@controlled
async def clear_faults(request: Request) -> Response:
    sandbox_of(request).faults.rules.clear()
    return Response(status_code=204)


@controlled
async def delete_fault(request: Request) -> Response:
    sb = sandbox_of(request)
    before = len(sb.faults.rules)
    sb.faults.rules = [r for r in sb.faults.rules if r.id != request.path_params["faultId"]]
    if len(sb.faults.rules) == before:
        raise not_found("No such fault rule.")
    return Response(status_code=204)


def _limits_json(limits: Limits) -> dict[str, int]:
    return {"perMinute": limits.per_minute, "perHour": limits.per_hour, "perDay": limits.per_day}


@controlled
async def get_limits(request: Request) -> Response:
    return JSONResponse(_limits_json(sandbox_of(request).limits))


@controlled
async def put_limits(request: Request) -> Response:
    sb = sandbox_of(request)
    data = await _body(request)
    values = _limits_json(sb.limits)
    for key, value in data.items():
        if key not in values:
            raise FieldErrors({key: [f"unknown field; use {', '.join(values)}"]})
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise FieldErrors({key: ["must be a non-negative integer (0 disables the window)"]})
        values[key] = value
    sb.limits = Limits(values["perMinute"], values["perHour"], values["perDay"])
    sb.ratelimiter.reset(Limits(values["perMinute"], values["perHour"], values["perDay"]))
    return JSONResponse(_limits_json(sb.limits))


@controlled
async def deliveries(request: Request) -> Response:
    hub = sandbox_of(request).webhooks
    return JSONResponse(
        [
            {
                "rowId": d.row_id,
                "subscriptionId": d.subscription_id,
                "eventType": d.event_type,
                "attempt": d.attempt,
                "replay": d.replay,
                "status": d.status,
                "error": d.error,
                "at": d.at,
            }
            for d in hub.log
        ]
    )


@controlled
async def list_webhooks(request: Request) -> Response:
    return JSONResponse([s.to_json() for s in sandbox_of(request).webhooks.subs.values()])


@controlled
async def enable_webhooks(request: Request) -> Response:
    sb = sandbox_of(request)
    enabled = sb.webhooks.enable_all()
    if enabled:
        sb.mark_dirty()
    return JSONResponse({"enabled": [s.to_json() for s in enabled]})


@controlled
async def webhooks_idle(request: Request) -> Response:
    data = await _body(request)
    timeout = data.get("timeout", 5.0)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 60:
        raise FieldErrors({"timeout": ["timeout must be a number of seconds in (0, 60]"]})
    idle = await sandbox_of(request).webhooks.idle(float(timeout))
    return JSONResponse({"idle": idle}, status_code=200 if idle else 504)


@controlled
async def save(request: Request) -> Response:
    sb = sandbox_of(request)
    if sb.state_file is None:
        raise ApiFail(400, "NoStateFile", "The sandbox was started without --state.")
    sb.save()
    return JSONResponse({"saved": str(sb.state_file)})


async def download(request: Request) -> Response:
    sb = sandbox_of(request)
    file_id = request.path_params["fileId"]
    if not sb.file_sig_ok(
        file_id, request.query_params.get("expires", ""), request.query_params.get("sig", "")
    ):
        return JSONResponse(
            {"error": "AccessDenied", "message": "The link is invalid or has expired."}, status_code=403
        )
    for case in sb.state.cases.values():
        for f in case.files:
            if f.id == file_id:
                content = seeded_file_content(f, case.reference)
                return Response(
                    content,
                    media_type="application/octet-stream",
                    headers={"Content-Disposition": _disposition(f.file_name)},
                )
    return JSONResponse({"error": "NotFound", "message": "No such file."}, status_code=404)


def _disposition(name: str) -> str:
    """attachment with an ASCII fallback name and the exact name in RFC 5987 form."""
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\' else "_" for ch in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def routes() -> list[Route]:
    return [
        Route("/_sandbox/info", info, methods=["GET"]),
        Route("/_sandbox/reset", reset, methods=["POST"]),
        Route("/_sandbox/cases", list_cases, methods=["GET"]),
        Route("/_sandbox/cases", assign_case, methods=["POST"]),
        Route("/_sandbox/cases/{id}/assignee", set_assignee, methods=["POST"]),
        Route("/_sandbox/cases/{id}", get_case, methods=["GET"]),
        Route("/_sandbox/cases/{id}/chats", add_chat, methods=["POST"]),
        Route("/_sandbox/cases/{id}/chats/{chatId}", edit_chat, methods=["PUT"]),
        Route("/_sandbox/cases/{id}/timeline", add_timeline, methods=["POST"]),
        Route("/_sandbox/cases/{id}/lifecycle", set_lifecycle, methods=["POST"]),
        Route("/_sandbox/cases/{id}/phase", set_phase, methods=["POST"]),
        Route("/_sandbox/cases/{id}/payments/{paymentId}/invoice", set_invoiced, methods=["POST"]),
        Route("/_sandbox/cases/{id}/payments/{paymentId}", support_delete_payment, methods=["DELETE"]),
        Route("/_sandbox/faults", list_faults, methods=["GET"]),
        Route("/_sandbox/faults", add_fault, methods=["POST"]),
        Route("/_sandbox/faults", clear_faults, methods=["DELETE"]),
        Route("/_sandbox/faults/{faultId}", delete_fault, methods=["DELETE"]),
        Route("/_sandbox/rate-limits", get_limits, methods=["GET"]),
        Route("/_sandbox/rate-limits", put_limits, methods=["PUT"]),
        Route("/_sandbox/webhooks", list_webhooks, methods=["GET"]),
        Route("/_sandbox/webhooks/enable", enable_webhooks, methods=["POST"]),
        Route("/_sandbox/webhooks/deliveries", deliveries, methods=["GET"]),
        Route("/_sandbox/webhooks/idle", webhooks_idle, methods=["POST"]),
        Route("/_sandbox/save", save, methods=["POST"]),
        Route("/_sandbox/files/{fileId}", download, methods=["GET"]),
        Route("/_sandbox/ingestion-jobs/{jobId}", controlled(ingestion.job_detail), methods=["GET"]),
    ]
