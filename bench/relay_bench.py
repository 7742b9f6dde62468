"""Relay benchmark: ~10,000 relayed cases in the sandbox, a stream of creditor chats, time scaled.

    .venv/bin/python bench/relay_bench.py [--cases 16000] [--scale 70] [--minutes-a 15] [--minutes-b 8]

Time is scaled by `--scale` (k) with CASEROOM_TIME_SCALE=k: the budget's minute, hour and day pass
k times faster (a day in 24 minutes at k = 60) with Debitura's real limits, and the sweep interval,
CASEROOM_MAX_STALENESS and the minimum poll interval are divided by k. One measured minute stands
for k minutes of a real deployment. Every duration measured in the scaled run is reported both as
measured and multiplied by k ("real-time equivalent"); request counts per day are projected the
same way, and the shared limiter's own count of the last (scaled) day is reported beside them.

Phase A runs the real `caseroom relay` process (webhooks on for A1, off for A2: polling path only).
Phase B runs a naive relay in this process: it polls every case's chats and timeline in turn with
the same budget. Both see the same kind of chat stream. Results are printed as Markdown.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as aioredis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.gaps import Tracked, pct, relayed_case_ids, track_gaps  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.debitura.client import DebituraClient  # noqa: E402
from bot.debitura.errors import RateLimited  # noqa: E402
from bot.debitura.ratelimit import Priority  # noqa: E402
from bot.relay.scheduler import Policy  # noqa: E402
from bot.store.budget import RedisRateLimiter  # noqa: E402
from bot.store.keys import Keys  # noqa: E402
from tests.fakes.slack.server import FakeSlack  # noqa: E402
from tests.fixtures.e2e import free_port  # noqa: E402
from tests.fixtures.sandbox import SandboxControl  # noqa: E402

PY = str(ROOT / ".venv" / "bin" / "python")
REDIS = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


@dataclass
class Sample:
    chat_id: str
    case_id: str
    created: float
    posted: float | None = None


@dataclass
class PhaseResult:
    name: str
    seconds: float
    samples: list[Sample] = field(default_factory=list)
    debitura_requests: int = 0
    slack_calls: int = 0
    max_gap: float = 0.0
    gap_cases: int = 0
    rss_mb: float = 0.0
    redis_bytes_per_case: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    extra_ops: dict[str, int] = field(default_factory=dict)

    @property
    def latencies(self) -> list[float]:
        return [s.posted - s.created for s in self.samples if s.posted is not None]


def start_sandbox(cases: int) -> tuple[subprocess.Popen[bytes], str, str]:
    proc = subprocess.Popen([PY, "-m", "bot.cli", "sandbox", "--port", "0", "--cases", str(cases),
                             "--seed", "3",
                             "--rate-per-minute", "0", "--rate-per-hour", "0", "--rate-per-day", "0",
                             "--webhook-retry-base", "0.2", "--log-level", "warning"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    match = re.search(r"Sandbox listening on (http://\S+)\s+api key: (\S+)", line)
    if not match:
        raise RuntimeError(f"sandbox did not start: {line!r}")
    return proc, match.group(1), match.group(2)


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


async def redis_bytes(redis: aioredis.Redis, prefix: str, exclude: tuple[str, ...] = ()) -> int:
    total = 0
    batch: list[str] = []
    async for key in redis.scan_iter(match=f"{prefix}:*", count=2000):
        if any(part in key for part in exclude):
            continue
        batch.append(key)
        if len(batch) >= 500:
            total += await _usage(redis, batch)
            batch = []
    if batch:
        total += await _usage(redis, batch)
    return total


async def _usage(redis: aioredis.Redis, keys: list[str]) -> int:
    async with redis.pipeline(transaction=False) as pipe:
        for k in keys:
            pipe.memory_usage(k, samples=0)
        return sum(int(v or 0) for v in await pipe.execute())


async def metric_sum(url: str, name: str) -> float:
    async with httpx.AsyncClient(timeout=10) as http:
        text = (await http.get(url)).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name) and not line.startswith("#"))


async def metric_values(url: str, names: tuple[str, ...]) -> dict[str, float]:
    """Every sample of the named metrics, keyed by the sample line's name and labels."""
    async with httpx.AsyncClient(timeout=10) as http:
        text = (await http.get(url)).text
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
            if line.startswith(names) and not line.startswith("#")}


async def metric_ops(url: str) -> dict[str, float]:
    """Debitura requests by operation, from the relay's /metrics."""
    async with httpx.AsyncClient(timeout=10) as http:
        text = (await http.get(url)).text
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("caseroom_debitura_requests_total{"):
            op = re.search(r'operation="([^"]+)"', line)
            if op:
                out[op.group(1)] = out.get(op.group(1), 0) + float(line.rsplit(" ", 1)[1])
    return out


class ChatStream:
    """Creditor chats on random cases of a fixed active set, at a steady rate."""

    def __init__(self, control: SandboxControl, cases: list[str], per_minute: float, seed: int) -> None:
        self.control = control
        self.cases = cases
        self.interval = 60.0 / per_minute
        self.rng = random.Random(seed)
        self.samples: list[Sample] = []

    async def run(self, seconds: float) -> None:
        end = time.time() + seconds
        while time.time() < end:
            case_id = self.rng.choice(self.cases)
            created = time.time()
            chat = await asyncio.to_thread(self.control.add_chat, case_id, f"bench {len(self.samples)}", 1)
            self.samples.append(Sample(chat_id=chat["id"], case_id=case_id, created=created))
            await asyncio.sleep(self.interval * self.rng.uniform(0.5, 1.5))


def mark_posted(fake: FakeSlack, samples: list[Sample], prefix: str = "chat:") -> None:
    wanted = {prefix + s.chat_id: s for s in samples if s.posted is None}
    if not wanted:
        return
    for call in fake.journal.calls("chat.postMessage", ok=True):
        meta = call.args.get("metadata")
        if isinstance(meta, str):
            import json

            meta = json.loads(meta)
        item = ((meta or {}).get("event_payload") or {}).get("item_id")
        sample = wanted.get(str(item))
        if sample is not None and sample.posted is None:
            sample.posted = call.at


def near_full_sweeps(late: list[tuple[float, float]], sweeps: list[float], within: float) -> str:
    """Lateness of polls that started within `within` seconds after a full sweep began, and of the rest."""
    near = [by for when, by in late if any(0 <= when - s <= within for s in sweeps)]
    rest = [by for when, by in late if not any(0 <= when - s <= within for s in sweeps)]
    text = [f"{len(sweeps)} full sweeps"]
    for name, v in ((f"within {within:.0f} s after one", near), ("otherwise", rest)):
        if v:
            text.append(f"{name}: p95 {pct(v, 95):.1f} s, max {max(v):.1f} s ({len(v)} polls)")
    return "; ".join(text)


def lateness_report(late: list[tuple[float, float]], started: float, interval: float) -> str:
    """How late polls started, per stretch of `interval` seconds since the relay started."""
    if not late:
        return "no polls observed"
    parts = []
    buckets: dict[int, list[float]] = {}
    for when, by in late:
        buckets.setdefault(int((when - started) // interval), []).append(by)
    for b in sorted(buckets):
        v = buckets[b]
        parts.append(f"{b * interval / 60:.0f}-{(b + 1) * interval / 60:.0f} min: p50 {pct(v, 50):.1f} s, "
                     f"p95 {pct(v, 95):.1f} s, max {max(v):.1f} s ({len(v)} polls)")
    return "; ".join(parts)


def scaled_env(fake: FakeSlack, url: str, key: str, prefix: str, scale: int,
               secret: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DEBITURA_", "CASEROOM_"))}
    env.update({
        "SLACK_BOT_TOKEN": fake.bot_token, "SLACK_SIGNING_SECRET": fake.signing_secret,
        "SLACK_API_URL": fake.api_url, "DEBITURA_API_KEY": key, "DEBITURA_API_URL": url, "REDIS_URL": REDIS,
        "CASEROOM_REDIS_PREFIX": prefix, "CASEROOM_MAX_STALENESS": str(max(60, 3600 // scale)),
        "CASEROOM_RELAY_SWEEP_INTERVAL": str(max(1, 120 // scale)),
        "CASEROOM_RELAY_MIN_INTERVAL": str(max(1, 60 // scale)),
        "CASEROOM_RATE_PER_MINUTE": "2000", "CASEROOM_RATE_PER_HOUR": "20000",
        "CASEROOM_RATE_PER_DAY": "100000", "CASEROOM_TIME_SCALE": str(scale),
        "CASEROOM_RELAY_FETCH_WORKERS": "8",
        "CASEROOM_RELAY_DELIVERY_WORKERS": "8", "CASEROOM_LOG_LEVEL": "WARNING",
    })
    if secret:
        env["DEBITURA_WEBHOOK_SECRET"] = secret
    return env


async def phase_relay(args: argparse.Namespace, fake: FakeSlack, url: str, key: str, control: SandboxControl,
                      case_ids: list[str], active: list[str]) -> list[PhaseResult]:
    prefix = f"caseroom-bench:{int(time.time())}"
    keys = Keys(prefix)
    redis = aioredis.Redis.from_url(REDIS, decode_responses=True)
    port = free_port()
    hook_url = f"http://127.0.0.1:{port}/debitura/webhooks"
    with httpx.Client(base_url=url, headers={"XApiKey": key}) as http:
        events = ["chat.created", "case.updated", "case.closed", "payment.created", "payment.deleted",
                  "case.assigned"]
        hook = http.post("/webhooks", json={"url": hook_url, "events": events}).json()
    env = scaled_env(fake, url, key, prefix, args.scale, hook["secret"])
    log_path = Path(tempfile.gettempdir()) / "relay_bench.log"
    print(f"relay process log: {log_path}", flush=True)
    log = open(log_path, "wb")  # noqa: SIM115
    proc = subprocess.Popen([PY, "-m", "bot.cli", "relay", "--host", "127.0.0.1", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    metrics_url = f"http://127.0.0.1:{port}/metrics"
    tracked = Tracked()
    gaps, late = tracked.gaps, tracked.late
    stop = asyncio.Event()
    rss_peak = 0.0
    results: list[PhaseResult] = []
    try:
        started = time.time()
        tracker = asyncio.create_task(track_gaps(redis, keys, case_ids, stop, tracked))

        async def sample_rss() -> None:
            nonlocal rss_peak
            while not stop.is_set():
                rss_peak = max(rss_peak, rss_mb(proc.pid))
                await asyncio.sleep(2)

        rss_task = asyncio.create_task(sample_rss())

        async def progress() -> None:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 180)
                recent = [x for x in late if x[0] > time.time() - 180]
                longest = max((max(v) for v in gaps.values() if v), default=0.0)
                print(f"{(time.time() - started) / 60:.0f} min: longest gap so far {longest:.0f} s; "
                      f"last 3 min {lateness_report(recent, time.time() - 180, 180)}", flush=True)

        progress_task = asyncio.create_task(progress())
        total = args.minutes_a * 60
        # Warm-up: one chat on each streamed case, so their channels exist (conversations.create and
        # setTopic are Tier 2, about 20 a minute); the latencies below are those of a running relay.
        await asyncio.sleep(10)
        for cid in active:
            await asyncio.to_thread(control.add_chat, cid, "warm-up", 1)

        async def channels_ready() -> bool:
            found = 0
            for cid in active:
                found += bool(await redis.hget(keys.case_channel(cid), "id"))
            return found == len(active)

        deadline = time.time() + 240
        while not await channels_ready() and time.time() < deadline:
            await asyncio.sleep(2)
        print(f"warm-up done after {time.time() - started:.0f} s", flush=True)
        # A1: webhooks on (40 % of the time), A2: webhooks off (polling path: sweep + polls)
        for name, share, webhooks in (("A1 relay, webhook path", 0.4, True),
                                      ("A2 relay, polling path (no webhooks)", 0.6, False)):
            with httpx.Client(base_url=url, headers={"XApiKey": key}) as http:
                http.put(f"/webhooks/{hook['id']}", json={"isActive": webhooks}).raise_for_status()
            ops0 = await metric_ops(metrics_url)
            req0 = await metric_sum(metrics_url, "caseroom_debitura_requests_total")
            calls0 = len(fake.journal.calls())
            t0 = time.time()
            stream = ChatStream(control, active, args.chats_per_minute, seed=len(results))
            await stream.run(total * share - 20 * share)
            await asyncio.sleep(15)  # let the last ones arrive
            mark_posted(fake, stream.samples)
            result = PhaseResult(name=name, seconds=time.time() - t0, samples=stream.samples)
            req1 = await metric_sum(metrics_url, "caseroom_debitura_requests_total")
            result.debitura_requests = int(req1 - req0)
            result.slack_calls = len(fake.journal.calls()) - calls0
            ops1 = await metric_ops(metrics_url)
            result.extra_ops = {op: int(n - ops0.get(op, 0)) for op, n in ops1.items() if n - ops0.get(op, 0)}
            results.append(result)
        stop.set()
        await tracker
        await rss_task
        await progress_task
        budget = await metric_values(metrics_url, ("caseroom_budget_used", "caseroom_budget_waits_total",
                                                   "caseroom_relay_extra_requests_day",
                                                   "caseroom_relay_staleness_bound_seconds"))
        observed = [max(v) for v in gaps.values() if v]
        watched = int(await redis.zcard(keys.schedule()))
        per_case = await redis_bytes(redis, prefix, exclude=(":rate:",)) / max(1, watched)
        for r in results:
            r.max_gap = max(observed) if observed else float("nan")
            r.gap_cases = len(observed)
            r.rss_mb = rss_peak
            r.redis_bytes_per_case = per_case
            r.extra = {"watched": watched, "elapsed": time.time() - started,
                       "total_requests": await metric_sum(metrics_url, "caseroom_debitura_requests_total"),
                       "p95_gap": pct([g for v in gaps.values() for g in v], 95), "budget": budget,
                       "poll lateness (tracker, 5 s resolution)": lateness_report(late, started, 180),
                       "lateness and full sweeps": near_full_sweeps(late, tracked.full_sweeps, 60),
                       "intervals scheduled": lateness_report(tracked.intervals, started, 180)}
    finally:
        stop.set()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        async for k in redis.scan_iter(match=f"{prefix}:*", count=2000):
            await redis.delete(k)
        await redis.aclose()
    return results


async def phase_naive(args: argparse.Namespace, fake: FakeSlack, url: str, key: str, control: SandboxControl,
                      case_ids: list[str], active: list[str]) -> PhaseResult:
    """Poll every case's chats and timeline in turn, within the same background budget."""
    prefix = f"caseroom-bench-naive:{int(time.time())}"
    redis = aioredis.Redis.from_url(REDIS, decode_responses=True)
    settings = Settings(_env_file=None, slack_bot_token=fake.bot_token, slack_signing_secret="x",
                        debitura_api_key=key, debitura_api_url=url,
                        caseroom_time_scale=args.scale)
    limiter = RedisRateLimiter(redis, Keys(prefix), settings, background_max_wait=30)
    client = DebituraClient(url, key, limiter=limiter, priority=Priority.BACKGROUND, timeout=30)
    from slack_sdk.web.async_client import AsyncWebClient

    slack = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)
    known: dict[str, set[str]] = {}
    channel = (await slack.conversations_create(name=f"naive-{int(time.time())}"))["channel"]["id"]
    requests = 0
    calls = 0
    last_check: dict[str, float] = {}
    gaps: list[float] = []
    posted: dict[str, float] = {}
    stop = asyncio.Event()

    # The same daily budget as the relay's background share, spent evenly (else the naive relay
    # would burn a day's budget in a few hours and then stop for the rest of the day).
    rate = 100000 * args.scale * 0.6 / 86400  # requests per second
    next_slot = time.time()

    async def pace() -> None:
        nonlocal next_slot
        now = time.time()
        slot = max(now, next_slot)
        next_slot = slot + 2 / rate
        if slot > now:
            await asyncio.sleep(slot - now)

    async def poller(worker: int, workers: int) -> None:
        nonlocal requests, calls
        i = worker
        while not stop.is_set():
            cid = case_ids[i % len(case_ids)]
            i += workers
            await pace()
            try:
                chats = await client.list_chats(cid)
                await client.get_timeline(cid)
            except RateLimited as exc:
                await asyncio.sleep(min(5.0, exc.retry_after or 1.0))
                continue
            requests += 2
            now = time.time()
            if cid in last_check:
                gaps.append(now - last_check[cid])
            last_check[cid] = now
            ids = {c.id for c in chats}
            if cid in known:
                for new in ids - known[cid]:
                    calls += 1
                    await slack.chat_postMessage(channel=channel, text=f"chat {new}",
                                                 metadata={"event_type": "caseroom_item",
                                                           "event_payload": {"item_id": f"naive:{new}"}})
                    posted[new] = time.time()
            known[cid] = ids

    workers = [asyncio.create_task(poller(w, 8)) for w in range(8)]
    await asyncio.sleep(10)
    t0 = time.time()
    req0 = requests
    stream = ChatStream(control, active, args.chats_per_minute, seed=99)
    await stream.run(args.minutes_b * 60)
    await asyncio.sleep(5)
    stop.set()
    await asyncio.gather(*workers, return_exceptions=True)
    for s in stream.samples:
        s.posted = posted.get(s.chat_id)
    result = PhaseResult(name="B naive relay (polls every case in turn)", seconds=time.time() - t0,
                         samples=stream.samples, debitura_requests=requests - req0, slack_calls=calls)
    result.max_gap = max(gaps) if gaps else float("nan")
    result.gap_cases = len(gaps)
    result.extra = {"cycle_complete": len(last_check) >= len(case_ids)}
    await client.aclose()
    async for k in redis.scan_iter(match=f"{prefix}:*", count=2000):
        await redis.delete(k)
    await redis.aclose()
    if slack.session is not None:
        await slack.session.close()
    return result


def report(args: argparse.Namespace, n: int, results: list[PhaseResult]) -> str:
    k = args.scale
    budget_day = int(100000 * 0.6)
    policy = Policy(cases=n, active=0, daily_budget=budget_day, max_staleness=3600, min_interval=60,
                    sweep_interval=120)
    lines = [
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: {n} relayed cases "
        f"(sandbox --cases {args.cases}), time scale k={k} (CASEROOM_TIME_SCALE: a budget day in "
        f"{1440 / k:.0f} min; sweep interval, max staleness / {k}), "
        f"{args.chats_per_minute} creditor chats per real minute on {args.active} cases.",
        "",
        f"2 x N / B for {n} cases at 60 % of 100,000/day: {2 * n / budget_day * 24:.2f} h; the plan's "
        f"bound before measuring anything (one page per incremental sweep, nothing outside the plan): "
        f"{policy.bound / 3600:.2f} h; scaled: {policy.bound / k / 60:.1f} min.",
        "",
        "| phase | chats | relayed | latency p50 (measured) | p95 (measured) | p50 x k | p95 x k | "
        "Debitura req/event | req/day projected (real time) | Slack calls/event |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lat = r.latencies
        events = len(r.samples)
        per_day = r.debitura_requests / r.seconds * 86400 / k if r.seconds else 0
        lines.append(
            f"| {r.name} | {events} | {len(lat)} | {pct(lat, 50):.1f} s | {pct(lat, 95):.1f} s | "
            f"{pct(lat, 50) * k / 60:.1f} min | {pct(lat, 95) * k / 60:.1f} min | "
            f"{r.debitura_requests / max(1, len(lat)):.1f} | {per_day:,.0f} | "
            f"{r.slack_calls / max(1, len(lat)):.1f} |"
        )
    lines.append("")
    for r in results:
        lines.append(f"- {r.name}: longest gap between two checks of a case {r.max_gap:.0f} s "
                     f"(x k = {r.max_gap * k / 3600:.2f} h) over {r.gap_cases} cases; "
                     f"RSS peak {r.rss_mb:.0f} MB; "
                     f"Redis {r.redis_bytes_per_case:.0f} B per watched case; {r.extra}; "
                     f"requests by operation {r.extra_ops}")
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=16000, help="sandbox cases (about 63 %% are relayed)")
    parser.add_argument("--scale", type=int, default=60, help="time scale k (at most 60: staleness >= 60 s)")
    parser.add_argument("--minutes-a", type=float, default=26.0,
                        help="phase A minutes (at k = 60, 24 min are a whole budget day)")
    parser.add_argument("--minutes-b", type=float, default=9.0)
    parser.add_argument("--chats-per-minute", type=float, default=20.0)
    parser.add_argument("--active", type=int, default=20, help="cases receiving the chat stream")
    parser.add_argument("--skip-naive", action="store_true")
    args = parser.parse_args()
    sandbox, url, key = start_sandbox(args.cases)
    fake = FakeSlack()
    await fake.start()
    control = SandboxControl(url)
    try:
        case_ids = relayed_case_ids(url, key)
        active = random.Random(7).sample(case_ids, args.active)
        print(f"{len(case_ids)} relayed cases; phase A for {args.minutes_a} min", flush=True)
        results = await phase_relay(args, fake, url, key, control, case_ids, active)
        print(report(args, len(case_ids), results), flush=True)
        if not args.skip_naive:
            print(f"phase B (naive) for {args.minutes_b} min", flush=True)
            results.append(await phase_naive(args, fake, url, key, control, case_ids, active))
        text = report(args, len(case_ids), results)
        print(text)
    finally:
        control.close()
        await fake.stop()
        sandbox.send_signal(signal.SIGTERM)
        sandbox.wait(timeout=30)


if __name__ == "__main__":
    asyncio.run(main())
