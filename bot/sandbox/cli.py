"""`caseroom sandbox`: serve the Debitura Collection Partner API sandbox.

Prints one line when it listens, e.g.
`Sandbox listening on http://127.0.0.1:8080  api key: sandbox-key-...` (with `--port 0` the port
is the one the system picked), then, with `--webhook-url` and no `--webhook-secret`, the generated
secret: `webhook secret for <url>: <secret>` (both on stdout, in the order README.md shows).
Stops on SIGINT/SIGTERM, saving `--state` if given.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import logging
import socket
import sys
import time
from pathlib import Path

from bot.sandbox.enums import WEBHOOK_EVENTS
from bot.sandbox.faults import FaultRule
from bot.sandbox.ratelimit import Limits
from bot.sandbox.webhooks import loopback_url_problem


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="caseroom sandbox",
        description="Serve a local, seeded stand-in for Debitura's Collection Partner API. "
        "`caseroom sandbox ctl --help` drives a running one (creditor chats, lifecycles, faults...).",
    )
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080; 0 picks a free one)")
    p.add_argument("--api-key", default=None, help="the XApiKey to accept (default: derived from --seed)")
    p.add_argument("--seed", type=int, default=1, help="seed for the generated data (default 1)")
    p.add_argument("--cases", type=int, default=200, help="cases assigned to us (default 200)")
    p.add_argument(
        "--state",
        type=Path,
        default=None,
        help="JSON file: loaded at start if it exists, saved on changes and at shutdown",
    )
    p.add_argument("--rate-per-minute", type=int, default=2000, help="sliding-window limit per key (0: off)")
    p.add_argument("--rate-per-hour", type=int, default=20_000, help="hourly limit per key (0: off)")
    p.add_argument("--rate-per-day", type=int, default=100_000, help="daily limit per key (0: off)")
    p.add_argument("--webhook-url", default=None, help="subscribe this loopback URL to every event")
    p.add_argument("--webhook-secret", default=None, help="base64 signing secret for --webhook-url")
    p.add_argument(
        "--webhook-retry-base",
        type=float,
        default=1.0,
        help="first retry delay in seconds; doubles per attempt (default 1.0)",
    )
    p.add_argument(
        "--webhook-log-lag",
        type=float,
        default=1.0,
        help="seconds after its first delivery attempt before an event shows in GET /webhooks/events "
        "(default 1.0; Debitura: a few seconds)",
    )
    p.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="SPEC",
        help="inject faults, e.g. 'GET /cases/*/chats:latency=200,jitter=50,error=0.1,429=0.05,drop=0.01'",
    )
    p.add_argument(
        "--control-token", default=None, help="require X-Sandbox-Token on /_sandbox/ control calls"
    )
    p.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    return p


def main(argv: list[str]) -> int:
    if argv[:1] == ["ctl"]:
        from bot.sandbox.ctl import main as ctl_main

        return ctl_main(argv[1:])
    args = build_parser().parse_args(argv)
    if args.cases < 1 or args.cases > 100_000:
        print("--cases must be between 1 and 100000", file=sys.stderr)
        return 2
    if args.webhook_secret and not args.webhook_url:
        print("--webhook-secret needs --webhook-url", file=sys.stderr)
        return 2
    if args.webhook_url:
        reason = loopback_url_problem(args.webhook_url)
        if reason:
            print(f"--webhook-url: {reason}", file=sys.stderr)
            return 2
        if args.webhook_secret:
            try:
                base64.b64decode(args.webhook_secret, validate=True)
            except (binascii.Error, ValueError):
                print("--webhook-secret must be base64", file=sys.stderr)
                return 2
    try:
        faults = [FaultRule.parse_flag(spec) for spec in args.fault]
    except ValueError as exc:
        print(f"--fault: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")

    import uvicorn

    from bot.sandbox.app import Sandbox, build_app

    t0 = time.perf_counter()
    try:
        sandbox = Sandbox(
            seed=args.seed,
            n_cases=args.cases,
            api_key=args.api_key,
            limits=Limits(args.rate_per_minute, args.rate_per_hour, args.rate_per_day),
            state_file=args.state,
            webhook_retry_base=args.webhook_retry_base,
            control_token=args.control_token,
            webhook_log_lag=max(0.0, args.webhook_log_lag),
        )
    except (OSError, ValueError, KeyError) as exc:
        print(f"cannot load sandbox state from {args.state}: {exc}", file=sys.stderr)
        return 2
    for rule in faults:
        sandbox.add_initial_fault(rule)
    secret_line = None
    if args.webhook_url:
        from bot.sandbox.webhooks import new_secret

        secret = args.webhook_secret or new_secret()
        sandbox.initial_webhook = (args.webhook_url, secret)
        if not any(s.url == args.webhook_url for s in sandbox.webhooks.subs.values()):
            sandbox.webhooks.create(args.webhook_url, list(WEBHOOK_EVENTS), secret=secret)
        if not args.webhook_secret:
            secret_line = f"webhook secret for {args.webhook_url}: {secret}"

    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit this on Linux: without it, a response written as headers + body
    # waits for the client's delayed ACK (~40 ms per request on keep-alive connections).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((args.host, args.port))
    except OSError as exc:
        print(f"cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    sock.listen(512)
    sock.set_inheritable(True)
    port = sock.getsockname()[1]
    host = f"[{args.host}]" if family == socket.AF_INET6 else args.host
    sandbox.base_url = f"http://{host}:{port}"
    app = build_app(sandbox)
    print(f"Sandbox listening on {sandbox.base_url}  api key: {sandbox.api_keys[0]}", flush=True)
    if secret_line is not None:
        print(secret_line, flush=True)
    logging.getLogger("caseroom.sandbox").info("ready in %.2fs", time.perf_counter() - t0)
    config = uvicorn.Config(app, log_level=args.log_level, access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    asyncio.run(server.serve(sockets=[sock]))
    return 0
