"""`caseroom sandbox ctl ...`: drive a running sandbox's control API from the shell (demos, manual tests).

    caseroom sandbox ctl [--url http://127.0.0.1:8080] [--token T] ACTION ...

Cases can be named by id or by Debitura reference. Output is the control API's JSON answer, except
`cases`, which prints one line per case (`cases --json` for the full JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from bot.sandbox.enums import LIFECYCLES, TIMELINE_TYPES
from bot.sandbox.faults import FaultRule


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="caseroom sandbox ctl", description="Control a running Debitura sandbox."
    )
    p.add_argument(
        "--url", default="http://127.0.0.1:8080", help="sandbox base URL (default http://127.0.0.1:8080)"
    )
    p.add_argument(
        "--token", default=None, help="control token, if the sandbox was started with --control-token"
    )
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub.add_parser("info", help="API keys, seed, team, limits, faults")
    s = sub.add_parser("reset", help="back to the seeded state")
    s.add_argument("--seed", type=int)
    s.add_argument("--cases", type=int)
    s = sub.add_parser("cases", help="list cases, one line each (--json: every field)")
    s.add_argument("--lifecycle", help=f"only this lifecycle: {', '.join(LIFECYCLES)}")
    s.add_argument("--json", action="store_true", help="print the control API's JSON (every field)")
    s.add_argument("--test", action="store_true", help="only test cases (ours and the ones we submitted)")
    s.add_argument("--tag", help="only cases created with this tag (POST /managed-cases)")
    s = sub.add_parser("chat", help="post a chat message as the creditor (or another role)")
    s.add_argument("case")
    s.add_argument("message")
    s.add_argument(
        "--role", type=int, default=1, help="0 partner, 1 creditor (default), 2 managed by partner"
    )
    s = sub.add_parser("edit-chat", help="edit a chat message")
    s.add_argument("case")
    s.add_argument("chat_id")
    s.add_argument("--message")
    s.add_argument("--seen", action=argparse.BooleanOptionalAction, default=None)
    s = sub.add_parser("timeline", help="add a timeline item")
    s.add_argument("case")
    s.add_argument("type", help=f"one of {', '.join(TIMELINE_TYPES)}")
    s.add_argument("title")
    s.add_argument("--description", default="")
    s.add_argument("--actor-type", default="System", choices=["System", "Creditor user", "Partner user"])
    s.add_argument("--actor-name")
    s = sub.add_parser("lifecycle", help="change a case's lifecycle (fires case.updated / case.closed)")
    s.add_argument("case")
    s.add_argument("lifecycle", help=f"one of {', '.join(LIFECYCLES)}")
    s.add_argument("--close-code")
    s.add_argument("--comment")
    s = sub.add_parser("phase", help="change the engagement phase (Pre-legal, Legal, Enforcement, none)")
    s.add_argument("case")
    s.add_argument("phase")
    s = sub.add_parser("assign", help="assign a new case to us (fires case.assigned)")
    s.add_argument("--lifecycle", default="PendingVerification")
    s.add_argument("--test", action="store_true", help="make it a test case")
    s = sub.add_parser("delete-payment", help="delete a payment as Debitura support (fires payment.deleted)")
    s.add_argument("case")
    s.add_argument("payment_id")
    s = sub.add_parser("webhooks", help="list webhook subscriptions (--enable turns disabled ones back on)")
    s.add_argument("--enable", action="store_true")
    s = sub.add_parser("fault", help="add a fault rule, e.g. 'GET /cases/*:latency=200,error=0.1'")
    s.add_argument("spec")
    s = sub.add_parser("faults", help="list fault rules (--clear removes them all)")
    s.add_argument("--clear", action="store_true")
    s = sub.add_parser("rate-limits", help="show or set the per-key limits (0 disables a window)")
    s.add_argument("--per-minute", type=int)
    s.add_argument("--per-hour", type=int)
    s.add_argument("--per-day", type=int)
    return p


class CtlError(Exception):
    pass


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    import httpx

    headers = {"X-Sandbox-Token": args.token} if args.token else {}
    try:
        with httpx.Client(
            base_url=args.url.rstrip("/") + "/_sandbox", headers=headers, timeout=30, trust_env=False
        ) as http:
            result = _run(http, args)
    except CtlError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except httpx.HTTPError as exc:
        print(f"cannot reach the sandbox at {args.url}: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    try:
        if isinstance(result, CaseTable):
            print(result.render())
        elif result is not None:
            print(json.dumps(result, indent=2, ensure_ascii=False))
        sys.stdout.flush()
    except BrokenPipeError:  # `ctl cases | head`: the reader has seen enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


class CaseTable:
    """`ctl cases`: one line per case instead of 30 lines of JSON each."""

    COLUMNS = ("reference", "lifecycle", "remainder", "test", "partner reference", "id")

    def __init__(self, cases: list[dict[str, Any]]) -> None:
        self.cases = cases

    def render(self) -> str:
        rows = [self.COLUMNS] + [
            (
                str(c["reference"]),
                str(c["lifecycle"]) + (f" ({c['closeCode']})" if c.get("closeCode") else ""),
                f"{c['remainder']:.2f} {c['currency']}",
                ("test" if c.get("isTest") else "") + (f" [{c['tag']}]" if c.get("tag") else ""),
                str(c.get("partnerReference") or ""),
                str(c["id"]),
            )
            for c in self.cases
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(len(self.COLUMNS))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
                 for row in rows]
        lines.append(f"{len(self.cases)} case(s); `ctl cases --json` prints every field.")
        return "\n".join(lines)


def _problem_text(resp: Any) -> str:
    """What the sandbox said, as sentences (field errors, `message`, ProblemDetails `detail`)."""
    try:
        body = resp.json()
    except ValueError:
        return str(resp.text)
    if isinstance(body, dict):
        if isinstance(body.get("message"), str):
            return str(body["message"])
        if isinstance(body.get("detail"), str):
            return str(body["detail"])
        if body and all(isinstance(v, list) for v in body.values()):
            return "; ".join(str(m) for msgs in body.values() for m in msgs)
    return str(resp.text)


def _call(http: Any, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None) -> Any:
    resp = http.request(method, path, json=body, params=params)
    if resp.status_code >= 400:
        raise CtlError(f"{method} /_sandbox{path} -> {resp.status_code}: {_problem_text(resp)}")
    return resp.json() if resp.content else None


def _case_id(http: Any, ref: str) -> str:
    if len(ref) == 36 and ref.count("-") == 4:
        return ref
    for c in _call(http, "GET", "/cases") + _call(http, "GET", "/cases", params={"ours": "false"}):
        if c["reference"].upper() == ref.upper():
            return str(c["id"])
    raise CtlError(f"no case with id or reference {ref!r}")


def _run(http: Any, a: argparse.Namespace) -> Any:
    act = a.action
    if act == "info":
        return _call(http, "GET", "/info")
    if act == "reset":
        return _call(
            http, "POST", "/reset", {k: v for k, v in (("seed", a.seed), ("cases", a.cases)) if v is not None}
        )
    if act == "cases":
        params = {"lifecycle": a.lifecycle} if a.lifecycle else {}
        if a.test:
            params["test"] = "true"
        if a.tag:
            params["tag"] = a.tag
        cases = _call(http, "GET", "/cases", params=params or None)
        if a.test or a.tag:
            # a test case we submitted may be collected by another partner: list those too
            others = _call(http, "GET", "/cases", params={**params, "ours": "false", "managed": "true"})
            cases = [*cases, *others]
        return cases if a.json else CaseTable(cases)
    if act == "chat":
        return _call(
            http, "POST", f"/cases/{_case_id(http, a.case)}/chats", {"message": a.message, "role": a.role}
        )
    if act == "edit-chat":
        body: dict[str, Any] = {}
        if a.message is not None:
            body["message"] = a.message
        if a.seen is not None:
            body["isSeen"] = a.seen
        return _call(http, "PUT", f"/cases/{_case_id(http, a.case)}/chats/{a.chat_id}", body)
    if act == "timeline":
        return _call(
            http,
            "POST",
            f"/cases/{_case_id(http, a.case)}/timeline",
            {
                "type": a.type,
                "title": a.title,
                "description": a.description,
                "actorType": a.actor_type,
                "actorName": a.actor_name,
            },
        )
    if act == "lifecycle":
        return _call(
            http,
            "POST",
            f"/cases/{_case_id(http, a.case)}/lifecycle",
            {"lifecycle": a.lifecycle, "closeCode": a.close_code, "comment": a.comment},
        )
    if act == "phase":
        phase = None if a.phase.lower() in ("none", "null", "") else a.phase
        return _call(http, "POST", f"/cases/{_case_id(http, a.case)}/phase", {"phase": phase})
    if act == "assign":
        return _call(http, "POST", "/cases", {"lifecycle": a.lifecycle, "isTest": a.test})
    if act == "delete-payment":
        _call(http, "DELETE", f"/cases/{_case_id(http, a.case)}/payments/{a.payment_id}")
        return {"deleted": a.payment_id}
    if act == "webhooks":
        return _call(http, "POST", "/webhooks/enable") if a.enable else _call(http, "GET", "/webhooks")
    if act == "fault":
        rule = FaultRule.parse_flag(a.spec).to_json()
        return _call(http, "POST", "/faults", {k: v for k, v in rule.items() if k not in ("id", "hits")})
    if act == "faults":
        if a.clear:
            _call(http, "DELETE", "/faults")
            return []
        return _call(http, "GET", "/faults")
    if act == "rate-limits":
        body = {
            k: v
            for k, v in (("perMinute", a.per_minute), ("perHour", a.per_hour), ("perDay", a.per_day))
            if v is not None
        }
        return _call(http, "PUT", "/rate-limits", body) if body else _call(http, "GET", "/rate-limits")
    raise CtlError(f"unknown action {act!r}")
