"""Benchmark: is the event loop of `caseroom run` free while the relay's first full sweep runs?

`caseroom run` serves Slack and runs the relay on one event loop. This starts a sandbox of 16,000
cases, the fake Slack and one `caseroom run --mode http` with the relay in the same process (fresh
Redis prefix: the relay's first sweep is a full one, every case first seen), and from the start sends
bursts of signed `/case <ref>` slash commands until the first full sweep is over (and a few seconds
more, for what the relay does at its end). It reports the ack latency (p50/p95/p99/max, overall and
per burst), the process's own loop lag metric (`caseroom_event_loop_lag_seconds`, its max gauge) and,
with `--debug`, the callbacks asyncio saw run longer than 50 ms (PYTHONASYNCIODEBUG=1: slower
overall, it names the long stretches). Targets: ack p99 < 100 ms during the sweep, no loop stall
over 50 ms.

    .venv/bin/python -m bench.loop_bench [--cases 16000] [--burst 10] [--every 0.5] [--debug]
        [--py-spy PATH] [--write]

Needs Redis (TEST_REDIS_URL, REDIS_URL or 127.0.0.1:6379). The Debitura limits are the defaults
(2,000 a minute, the relay's share 60 %), so the sweep runs as fast as a real key allows.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import re
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import redis.asyncio as aioredis

from bot.store.keys import Keys
from tests.fakes.slack import payloads
from tests.fakes.slack.driver import sign
from tests.fakes.slack.server import FakeSlack
from tests.fixtures.e2e import free_port, python
from tests.fixtures.redis import redis_url
from tests.fixtures.sandbox import SandboxControl, start_sandbox, stop_sandbox

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "RESULTS.md"
SECTION = "## Event loop"
SLOW = re.compile(r"Executing (.*) took (\d+\.\d+) seconds")
TRACE = re.compile(r"loop-trace wall=(\S+) cpu=(\S+) (.*)")


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def metric(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith((name + " ", name + "{")):
            return float(line.rsplit(" ", 1)[1])
    return None


def buckets(text: str, name: str) -> list[tuple[str, float]]:
    out = []
    for line in text.splitlines():
        match = re.match(rf'{name}_bucket{{le="([^"]+)"}} (\S+)', line)
        if match:
            out.append((match.group(1), float(match.group(2))))
    return out


async def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"caseroom exited with {proc.returncode}")
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.05)
    raise RuntimeError("caseroom did not become healthy")


async def main(args: argparse.Namespace) -> str:
    load_before = os.getloadavg()
    started_sandbox = time.monotonic()
    sandbox = start_sandbox(["--cases", str(args.cases), "--seed", "3", "--rate-per-minute", "0",
                             "--rate-per-hour", "0", "--rate-per-day", "0", "--log-level", "warning"])
    control = SandboxControl(sandbox.url)
    sys.stderr.write(f"sandbox of {args.cases} cases up in {time.monotonic() - started_sandbox:.0f} s\n")
    fake = FakeSlack(rate_limits=False)
    await fake.start()
    prefix = f"caseroom-loopbench:{uuid.uuid4().hex[:8]}"
    keys = Keys(prefix)
    port = free_port()
    log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"caseroom-loopbench-{port}.log"
    proc: subprocess.Popen[bytes] | None = None
    spy: subprocess.Popen[bytes] | None = None
    redis = aioredis.Redis.from_url(redis_url(), decode_responses=True)
    http: aiohttp.ClientSession | None = None
    acks: list[tuple[float, float]] = []  # (seconds since start, ack latency)
    try:
        refs = [c["reference"] for c in control.cases() if c["visible"] and c["ours"] and not c["isTest"]]
        user = fake.workspace.add_user("bench", email="bench@collector.example")
        channel = fake.workspace.add_channel("bench", members=[user.id])
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
            "LANG": "C.UTF-8", "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1",
            "SLACK_BOT_TOKEN": fake.bot_token, "SLACK_API_URL": fake.api_url,
            "SLACK_SIGNING_SECRET": fake.signing_secret, "DEBITURA_API_URL": sandbox.url,
            "DEBITURA_API_KEY": sandbox.api_key, "REDIS_URL": redis_url(), "CASEROOM_REDIS_PREFIX": prefix,
            "CASEROOM_PORT": str(port), "CASEROOM_LOG_LEVEL": "WARNING",
        }
        if args.debug:
            env["PYTHONASYNCIODEBUG"] = "1"
        if args.trace:
            env["LOOP_TRACE_MS"] = str(args.trace_ms)
        with open(log_path, "wb") as log:
            entry = "bench.loop_trace" if args.trace else "bot.cli"
            command = [python(), "-m", entry, "run", "--mode", "http", "--host", "127.0.0.1",
                       "--port", str(port)]
            proc = subprocess.Popen(
                command, env=env, cwd="/tmp", stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        t0 = time.monotonic()
        if args.py_spy:
            spy = subprocess.Popen([args.py_spy, "record", "--pid", str(proc.pid), "--rate", "250",
                                    "--format", "raw", "--output", args.py_spy_out, "--nonblocking"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        await wait_healthy(f"http://127.0.0.1:{port}/healthz", proc)
        ready = time.monotonic() - t0
        events_url = f"http://127.0.0.1:{port}/slack/events"
        metrics_url = f"http://127.0.0.1:{port}/metrics"
        http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        n = 0

        async def one(ref: str) -> None:
            fields = payloads.slash_command(fake.workspace, fake.base_url, command="/case", text=ref,
                                            user=user, channel_id=channel.id)
            body = urlencode(fields).encode()
            headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(fake.signing_secret, body)}
            assert http is not None
            at = time.monotonic()
            async with http.post(events_url, data=body, headers=headers) as resp:
                await resp.read()
                latency = time.monotonic() - at
                if resp.status != 200:
                    raise RuntimeError(f"no ack: {resp.status}")
            acks.append((at - t0, latency))

        # Bursts from the start until the first full sweep is recorded, then `--after` seconds more
        # (the relay schedules the newly seen cases and refreshes its plan at the end of the sweep).
        sweep_done: float | None = None
        bursts = 0
        progress = 0.0
        while True:
            now = time.monotonic()
            if now - progress >= 10:
                progress = now
                async with http.get(metrics_url) as resp:
                    scraped = await resp.text()
                listing = 'caseroom_debitura_requests_total{operation="list_cases"'
                pages_so_far = sum(float(line.rsplit(" ", 1)[1]) for line in scraped.splitlines()
                                   if line.startswith(listing))
                recent = [lat for at, lat in acks if at > now - t0 - 10]
                sys.stderr.write(
                    f"{now - t0:.0f} s: {pages_so_far:.0f} list_cases requests; acks of the last 10 s: "
                    f"{len(recent)}, max {max(recent, default=0) * 1000:.0f} ms; loop lag max so far "
                    f"{(metric(scraped, 'caseroom_event_loop_lag_max_seconds') or 0) * 1000:.0f} ms\n")
            if sweep_done is None and await redis.hget(keys.relay_sweep(), "full"):
                sweep_done = now - t0
            if sweep_done is not None and now - t0 > sweep_done + args.after:
                break
            if now - t0 > args.timeout:
                raise RuntimeError(f"the first full sweep did not end within {args.timeout:.0f} s")
            await asyncio.gather(*(one(refs[(n + i) % len(refs)]) for i in range(args.burst)))
            n += args.burst
            bursts += 1
            await asyncio.sleep(args.every)
        async with http.get(metrics_url) as resp:
            text = await resp.text()
        pages = await redis.hget(keys.relay_sweep(), "fpg")
        watched = int(await redis.zcard(keys.schedule()))
    finally:
        if http is not None:
            await http.close()
        if proc is not None and proc.poll() is None:
            proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=30)
        if spy is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                spy.wait(timeout=30)
        await fake.stop()
        control.close()
        stop_sandbox(sandbox)
        sys.stderr.write(f"caseroom log: {log_path}\n")
        async for key in redis.scan_iter(match=f"{prefix}:*", count=2000):
            await redis.delete(key)
        await redis.aclose()

    load_after = os.getloadavg()
    ms = 1000.0
    during = [lat for at, lat in acks if at <= (sweep_done or 0)]
    lag_max = metric(text, "caseroom_event_loop_lag_max_seconds") or 0.0
    lag_count = metric(text, "caseroom_event_loop_lag_seconds_count") or 0.0
    lag_buckets = dict(buckets(text, "caseroom_event_loop_lag_seconds"))
    over_50 = lag_count - lag_buckets.get("0.05", lag_count)
    over_25 = lag_count - lag_buckets.get("0.025", lag_count)
    slow: list[tuple[float, str]] = []
    for line in log_path.read_text(errors="replace").splitlines():
        match = SLOW.search(line)
        if match:
            slow.append((float(match.group(2)), match.group(1)))
    slow.sort(reverse=True)
    traced: list[tuple[float, float, str]] = []
    for line in log_path.read_text(errors="replace").splitlines():
        found = TRACE.search(line)
        if found:
            traced.append((float(found.group(2)), float(found.group(1)), found.group(3)))
    traced.sort(reverse=True)

    def row(label: str, values: list[float], target: str) -> str:
        if not values:
            return f"| {label} | 0 | - | - | - | - | - | {target} |"
        cells = " | ".join(f"{v * ms:.1f} ms" for v in (pct(values, 50), pct(values, 95), pct(values, 99),
                                                        max(values)))
        return f"| {label} | {len(values)} | {cells} | {target} |"

    worst = sorted(acks, key=lambda a: -a[1])[:5]
    p99 = pct(during, 99) * ms
    lines = [
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {args.label}: {platform.machine()}, "
        f"{os.cpu_count()} CPUs, "
        f"load average {load_before[0]:.1f} / {load_before[1]:.1f} / {load_before[2]:.1f} before and "
        f"{load_after[0]:.1f} / {load_after[1]:.1f} / {load_after[2]:.1f} after (shared machine), "
        f"Python {platform.python_version()}{', asyncio debug on' if args.debug else ''}. Command: "
        f"`.venv/bin/python -m bench.loop_bench --cases {args.cases} --burst {args.burst} "
        f"--every {args.every}"
        f"{' --debug' if args.debug else ''}{' --trace' if args.trace else ''}`.",
        "",
        f"Healthy {ready:.1f} s after the process started; the first full sweep ({pages} pages, "
        f"{watched} cases watched at the end) was recorded {sweep_done:.1f} s after start; bursts of "
        f"{args.burst} concurrent `/case <ref>` every {args.every} s from the start to "
        f"{args.after:.0f} s after the sweep ({bursts} bursts).",
        "",
        "| measure | n | p50 | p95 | p99 | max | target |",
        "|---|---|---|---|---|---|---|",
        row("ack latency during the first full sweep", during, "p99 < 100 ms"),
        row("ack latency, whole run", [lat for _, lat in acks], "(context)"),
        "",
        f"Loop lag (the process's `caseroom_event_loop_lag_seconds`, a 0.1 s sleep measured every time): "
        f"max {lag_max * ms:.0f} ms (target: no stall over 50 ms); {lag_count:.0f} measures, "
        f"{over_25:.0f} over 25 ms, {over_50:.0f} over 50 ms.",
        "Slowest acks (s after start, ms): "
        + ", ".join(f"{at:.1f} s: {lat * ms:.0f}" for at, lat in worst) + ".",
        "",
        f"Targets: ack p99 < 100 ms during the sweep -> {p99:.1f} ms ({'met' if p99 < 100 else 'NOT met'}); "
        f"no loop stall over 50 ms -> {lag_max * ms:.0f} ms ({'met' if lag_max <= 0.05 else 'NOT met'}).",
    ]
    if args.debug:
        lines += ["", f"Callbacks asyncio saw run over 50 ms: {len(slow)}; the longest:", ""]
        lines += [f"- {sec * ms:.0f} ms: `{what[:160]}`" for sec, what in slow[:8]]
    if args.trace:
        cpu_over = [t for t in traced if t[0] >= 50]
        lines += ["", f"Callbacks traced (bench/loop_trace.py, over {args.trace_ms:.0f} ms of wall or CPU "
                  f"time): {len(traced)}; over 50 ms of the loop thread's CPU time: {len(cpu_over)}; "
                  "the longest by CPU time (cpu / wall ms, where the task was before -> after):", ""]
        lines += [f"- {cpu:.0f} / {wall:.0f} ms: `{what[:240]}`" for cpu, wall, what in traced[:8]]
    lines.append("")
    report = "\n".join(lines)
    if args.write:
        write_results(report)
    return report


def write_results(report: str) -> None:
    """Add one run at the end of the "Event loop" section of bench/RESULTS.md (made when missing)."""
    existing = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    if SECTION not in existing:
        existing = existing.rstrip("\n") + f"\n\n{SECTION}\n"
    head, _, rest = existing.partition(SECTION)
    nxt = rest.find("\n## ")
    body, tail = (rest[:nxt], rest[nxt:]) if nxt != -1 else (rest, "")
    RESULTS.write_text(head + SECTION + body.rstrip("\n") + "\n\n" + report.rstrip("\n") + "\n" + tail)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=16000)
    parser.add_argument("--burst", type=int, default=5, help="concurrent commands per burst")
    parser.add_argument("--every", type=float, default=1.0, help="seconds between bursts")
    parser.add_argument("--after", type=float, default=10.0, help="seconds of bursts after the sweep")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--debug", action="store_true", help="PYTHONASYNCIODEBUG=1: log callbacks > 50 ms")
    parser.add_argument("--trace", action="store_true",
                        help="time every loop callback (wall and CPU), bench/loop_trace.py")
    parser.add_argument("--trace-ms", type=float, default=20.0)
    parser.add_argument("--py-spy", help="path of py-spy: sample the process (raw folded stacks)")
    parser.add_argument("--py-spy-out", default="/tmp/loop_bench.folded")
    parser.add_argument("--label", default="this branch")
    parser.add_argument("--write", action="store_true", help="append the results to bench/RESULTS.md")
    args = parser.parse_args()
    sys.stdout.write(asyncio.run(main(args)) + "\n")
