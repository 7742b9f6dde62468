"""Many Debitura sandboxes in one process: a partner (its own seed, cases, key and rate limits) per
workspace of a multi-workspace benchmark, behind one URL, as Debitura serves every partner.

    .venv/bin/python bench/sandboxes.py --instances 50 --cases 320 [--seed 100] [--rate-per-minute 2000 ...]

Instance i is `bot.sandbox.app.Sandbox(seed=seed + i)`, unchanged (one partner each; the sandbox is
not made multi-partner). The partner API is routed by the `XApiKey` header to the instance whose key
it is (an unknown key goes to instance 0, which answers 401), so every workspace's Caseroom uses the
same DEBITURA_API_URL with its own key, as with Debitura; each instance's rate limiter counts its own
key. The control API of instance i is under `/p<i>/_sandbox/...` (`SandboxControl(url + "/p<i>")`).
One process, one event loop: W uvicorn servers would cost W times the idle overhead.

Prints one JSON line when listening: {"url": ..., "keys": [key of instance 0, 1, ...]}. Stops on
SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import socket
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from starlette.types import ASGIApp, Receive, Scope, Send  # noqa: E402

from bot.sandbox.app import Sandbox, build_app  # noqa: E402
from bot.sandbox.ratelimit import Limits  # noqa: E402

CONTROL_PREFIX = re.compile(r"^/p(\d+)(/.*)$")


class Partners:
    """ASGI router over one app per sandbox: `/p<i>/...` to instance i (prefix stripped), anything else
    by its XApiKey header."""

    def __init__(self, sandboxes: list[Sandbox]) -> None:
        self.sandboxes = sandboxes
        self.apps: list[ASGIApp] = [build_app(sb) for sb in sandboxes]
        self.by_key: dict[str, ASGIApp] = {}
        for sb, app in zip(sandboxes, self.apps, strict=True):
            for key in sb.api_keys:
                if key in self.by_key:
                    raise ValueError("two sandboxes share an API key: give them different seeds")
                self.by_key[key] = app

    def route(self, scope: Scope) -> tuple[ASGIApp, Scope]:
        match = CONTROL_PREFIX.match(scope["path"])
        if match and int(match.group(1)) < len(self.apps):
            rest = match.group(2)
            return self.apps[int(match.group(1))], {**scope, "path": rest, "raw_path": rest.encode()}
        for name, value in scope.get("headers", ()):
            if name.lower() == b"xapikey":
                return self.by_key.get(value.decode("latin-1"), self.apps[0]), scope
        return self.apps[0], scope

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # lifespan off (see serve); websockets are not used
        app, routed = self.route(scope)
        await app(routed, receive, send)


async def serve(sandboxes: list[Sandbox], sock: socket.socket) -> None:
    import uvicorn

    config = uvicorn.Config(Partners(sandboxes), log_level="warning", access_log=False, lifespan="off")
    try:
        await uvicorn.Server(config).serve(sockets=[sock])
    finally:
        for sb in sandboxes:  # what each app's lifespan would close (no --state: nothing to save)
            await sb.webhooks.aclose()
            await sb.ingestion.aclose()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--instances", type=int, required=True)
    p.add_argument("--cases", type=int, default=200, help="cases assigned to each partner")
    p.add_argument("--seed", type=int, default=100, help="seed of instance 0; instance i gets seed + i")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--rate-per-minute", type=int, default=2000, help="per key (0: off)")
    p.add_argument("--rate-per-hour", type=int, default=20_000, help="per key (0: off)")
    p.add_argument("--rate-per-day", type=int, default=100_000, help="per key (0: off)")
    args = p.parse_args(argv)
    limits = Limits(args.rate_per_minute, args.rate_per_hour, args.rate_per_day)
    sandboxes = [Sandbox(seed=args.seed + i, n_cases=args.cases, limits=limits)
                 for i in range(args.instances)]
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as `caseroom sandbox` (bot/sandbox/cli.py)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(1024)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    for sb in sandboxes:
        sb.base_url = url
    print(json.dumps({"url": url, "keys": [sb.api_keys[0] for sb in sandboxes]}), flush=True)
    asyncio.run(serve(sandboxes, sock))
    return 0


if __name__ == "__main__":
    sys.exit(main())
