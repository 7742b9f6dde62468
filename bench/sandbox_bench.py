"""Benchmark of the Debitura sandbox at 10,000 cases (issue 3's targets: list p50 < 20 ms, start-up < 3 s).

Measures, against a real `caseroom sandbox` process on loopback (rate limits off):
- start-up: process launch until the listening line, and until the first answered GET /me;
- GET /cases?PageSize=100 (pages spread over the whole set, default order and Sort=DateUpdated:desc);
- GET /cases/{id} for random cases;
- GET /cases/{id}/chats for random cases (first read of a case also generates its seeded chats).

Run: `.venv/bin/python bench/sandbox_bench.py [--cases 10000] [--requests 400] [--write]`.
With --write the results replace the sandbox section of bench/RESULTS.md. Bounded: a fixed number of
requests, one client, loopback only.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fixtures.sandbox import SandboxProcess, start_sandbox, stop_sandbox  # noqa: E402

START = "<!-- sandbox-bench:start -->"
END = "<!-- sandbox-bench:end -->"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def timed(n: int, call: Callable[[int], httpx.Response]) -> list[float]:
    out: list[float] = []
    for i in range(n):
        t0 = time.perf_counter()
        r = call(i)
        out.append((time.perf_counter() - t0) * 1000)
        if r.status_code != 200:
            raise SystemExit(f"unexpected {r.status_code}: {r.text[:200]}")
    return out


def start(cases: int) -> tuple[SandboxProcess, float, float]:
    t0 = time.perf_counter()
    sp = start_sandbox(
        ["--cases", str(cases), "--rate-per-minute", "0", "--rate-per-hour", "0", "--rate-per-day", "0"],
        timeout=60,
    )
    listening = time.perf_counter() - t0
    while True:
        try:
            if httpx.get(f"{sp.url}/me", headers={"XApiKey": sp.api_key}, timeout=5).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.005)
    return sp, listening, time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--startups", type=int, default=3)
    ap.add_argument("--write", action="store_true", help="write the results into bench/RESULTS.md")
    args = ap.parse_args()

    startups: list[tuple[float, float]] = []
    for _ in range(args.startups - 1):
        sp, a, b = start(args.cases)
        startups.append((a, b))
        stop_sandbox(sp)
    sp, a, b = start(args.cases)
    startups.append((a, b))
    rows: list[tuple[str, list[float]]] = []
    try:
        rng = random.Random(1)
        with httpx.Client(
            base_url=sp.url, headers={"XApiKey": sp.api_key}, timeout=30, trust_env=False
        ) as api:
            first = api.get("/cases", params={"PageSize": 100}).json()
            pages = first["page"]["totalPages"]
            ids: list[str] = []
            for p in range(1, pages + 1):
                ids.extend(
                    c["id"] for c in api.get("/cases", params={"PageSize": 100, "Page": p}).json()["cases"]
                )
            n = args.requests
            rows.append(
                (
                    "GET /cases?PageSize=100 (default order)",
                    timed(
                        n,
                        lambda i: api.get("/cases", params={"PageSize": 100, "Page": rng.randint(1, pages)}),
                    ),
                )
            )
            rows.append(
                (
                    "GET /cases?PageSize=100&Sort=DateUpdated:desc",
                    timed(
                        n,
                        lambda i: api.get(
                            "/cases",
                            params={
                                "PageSize": 100,
                                "Page": rng.randint(1, pages),
                                "Sort": "DateUpdated:desc",
                            },
                        ),
                    ),
                )
            )
            rows.append(
                (
                    "GET /cases?PageSize=100&Statuses=Active,Paused&Sort=Remainder:desc",
                    timed(
                        n,
                        lambda i: api.get(
                            "/cases",
                            params={"PageSize": 100, "Statuses": "Active,Paused", "Sort": "Remainder:desc"},
                        ),
                    ),
                )
            )
            rows.append(("GET /cases/{id}", timed(n, lambda i: api.get(f"/cases/{rng.choice(ids)}"))))
            cold = ids[:]
            rng.shuffle(cold)
            rows.append(
                (
                    "GET /cases/{id}/chats (first read of the case)",
                    timed(n, lambda i: api.get(f"/cases/{cold[i % len(cold)]}/chats")),
                )
            )
            rows.append(
                (
                    "GET /cases/{id}/chats (read again)",
                    timed(n, lambda i: api.get(f"/cases/{cold[i % len(cold)]}/chats")),
                )
            )
            total = first["page"]["totalResults"]
    finally:
        stop_sandbox(sp)

    listen = statistics.median(s[0] for s in startups)
    ready = statistics.median(s[1] for s in startups)
    list_p50 = pct(rows[0][1], 50)
    lines = [
        START,
        "## Debitura sandbox (`bench/sandbox_bench.py`)",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, "
        f"Python {platform.python_version()}, "
        f"`--cases {args.cases}` ({total} listed by default), {args.requests} sequential requests per row "
        "over one keep-alive connection on loopback, rate limits off. Load average at the end: "
        f"{' / '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores "
        "(other sessions share the machine, so these are upper bounds).",
        "",
        "| measurement | p50 ms | p99 ms | max ms |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, values in rows:
        lines.append(f"| {name} | {pct(values, 50):.2f} | {pct(values, 99):.2f} | {max(values):.2f} |")
    lines += [
        "",
        f"Start-up (median of {len(startups)}): listening line after {listen:.2f} s, first answered "
        f"GET /me after {ready:.2f} s (process launch included).",
        "",
        f"Targets: list p50 < 20 ms -> {list_p50:.2f} ms ({'met' if list_p50 < 20 else 'MISSED'}); "
        f"start-up < 3 s -> {ready:.2f} s ({'met' if ready < 3 else 'MISSED'}).",
        END,
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        path = ROOT / "bench" / "RESULTS.md"
        current = path.read_text() if path.exists() else "# Benchmark results\n"
        if START in current and END in current:
            before, rest = current.split(START, 1)
            after = rest.split(END, 1)[1]
            current = before + text + after
        else:
            current = current.rstrip("\n") + "\n\n" + text + "\n"
        path.write_text(current)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
