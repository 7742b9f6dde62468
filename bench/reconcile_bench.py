"""Downtime benchmark: Caseroom stopped for 10 (scaled) minutes while Debitura emits 200 events.

    .venv/bin/python bench/reconcile_bench.py [--cases 2000] [--scale 60] [--events 200] [--active 20]

A real `caseroom relay` process (webhook door + relay) runs against the sandbox and the fake Slack,
time scaled by k (CASEROOM_TIME_SCALE=k; the sweep interval and staleness divided by k; the sandbox's
webhook retries with a base of 0.05 s, so its 8 attempts end within the downtime and it disables the
subscription, as Debitura does after 8 failed deliveries). Then:

1. warm-up: every relayed case baselined; one chat on each of the `--active` cases goes through the
   webhook door, so their channels exist;
2. downtime: the relay gets SIGTERM; for 600/k seconds (10 minutes real-time equivalent) the sandbox
   gets `--events` creditor chats on the active cases (each a `chat.created` event). The first
   deliveries fail and are retried; the subscription is disabled; the later events leave no row in
   the delivery log at all;
3. restart: the relay starts again; measured until every chat of the downtime is in its channel:
   time to catch up, Debitura requests the new process made (its `caseroom_debitura_requests_total`),
   the limiter's waits, what the reconciliation did (its figures in Redis), and how often each chat
   was posted (exactly once is the target);
4. `caseroom check --fix-webhooks` re-enables the subscription once the door answers; 10 more chats
   must come through the webhook door.

Results are printed as Markdown.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
import redis.asyncio as aioredis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from relay_bench import PY, REDIS, metric_sum, relayed_case_ids, scaled_env  # noqa: E402

from bot.check import run_check  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.store.keys import Keys  # noqa: E402
from bot.store.reads import hgetall  # noqa: E402
from bot.store.webhooks import WebhookStore  # noqa: E402
from tests.fakes.slack.server import FakeSlack  # noqa: E402
from tests.fixtures.e2e import free_port  # noqa: E402
from tests.fixtures.sandbox import SandboxControl  # noqa: E402

EVENTS = ["chat.created", "case.updated", "case.closed", "payment.created", "payment.deleted",
          "case.assigned"]


def start_sandbox(cases: int, retry_base: float) -> tuple[subprocess.Popen[bytes], str, str]:
    proc = subprocess.Popen([PY, "-m", "bot.cli", "sandbox", "--port", "0", "--cases", str(cases),
                             "--seed", "3",
                             "--rate-per-minute", "0", "--rate-per-hour", "0", "--rate-per-day", "0",
                             "--webhook-retry-base", str(retry_base), "--log-level", "warning"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    match = re.search(r"Sandbox listening on (http://\S+)\s+api key: (\S+)", line)
    if not match:
        raise RuntimeError(f"sandbox did not start: {line!r}")
    return proc, match.group(1), match.group(2)


def posted_at(fake: FakeSlack, items: set[str]) -> list[float]:
    """When each of `items` was first posted (the fake Slack's clock, unix seconds)."""
    first: dict[str, float] = {}
    for call in fake.journal.calls("chat.postMessage", ok=True):
        meta = call.args.get("metadata")
        if isinstance(meta, str):
            meta = json.loads(meta)
        item = str(((meta or {}).get("event_payload") or {}).get("item_id") or "")
        if item in items and item not in first:
            first[item] = float(call.at)
    return sorted(first.values())


def posted_counts(fake: FakeSlack) -> Counter[str]:
    counts: Counter[str] = Counter()
    for call in fake.journal.calls("chat.postMessage", ok=True):
        meta = call.args.get("metadata")
        if isinstance(meta, str):
            meta = json.loads(meta)
        item = ((meta or {}).get("event_payload") or {}).get("item_id")
        if item:
            counts[str(item)] += 1
    return counts


def start_relay(env: dict[str, str], port: int, log_path: Path) -> subprocess.Popen[bytes]:
    log = open(log_path, "ab")  # noqa: SIM115
    return subprocess.Popen([PY, "-m", "bot.cli", "relay", "--host", "127.0.0.1", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


async def wait_for(check, timeout: float, what: str, every: float = 0.2):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(every)


async def ready(port: int) -> bool:
    try:
        async with httpx.AsyncClient(timeout=2) as http:
            return (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200
    except httpx.HTTPError:
        return False


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--scale", type=int, default=60)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--active", type=int, default=20)
    args = parser.parse_args()
    k = args.scale
    # Debitura retries 8 times with exponential backoff, then disables the subscription: with a 0.05 s
    # base the 8 attempts take 6.35 s, inside the scaled downtime.
    sandbox, url, key = start_sandbox(args.cases, 0.05)
    fake = FakeSlack()
    await fake.start()
    control = SandboxControl(url)
    redis = aioredis.Redis.from_url(REDIS, decode_responses=True)
    prefix = f"caseroom-bench-reconcile:{int(time.time())}"
    keys = Keys(prefix)
    port = free_port()
    hook_url = f"http://127.0.0.1:{port}/debitura/webhooks"
    log_path = Path(tempfile.gettempdir()) / "reconcile_bench.log"
    log_path.write_bytes(b"")
    proc: subprocess.Popen[bytes] | None = None
    lines: list[str] = []
    try:
        with httpx.Client(base_url=url, headers={"XApiKey": key}) as http:
            hook = http.post("/webhooks", json={"url": hook_url, "events": EVENTS}).json()
        env = scaled_env(fake, url, key, prefix, k, hook["secret"])
        env["CASEROOM_RELAY_FIRST_SPREAD"] = "20"
        case_ids = relayed_case_ids(url, key)
        active = random.Random(11).sample(case_ids, args.active)
        print(f"{len(case_ids)} relayed cases; relay log {log_path}", flush=True)

        # 1. warm-up
        proc = start_relay(env, port, log_path)
        await wait_for(lambda: ready(port), 60, "the relay's health endpoint")

        async def baselined() -> bool:
            async with redis.pipeline(transaction=False) as pipe:
                for case_id in case_ids:
                    pipe.hget(keys.case_state(case_id), "base")
                bases = await pipe.execute()
            done = sum(1 for b in bases if b and {"chats", "timeline"} <= set(b.split(",")))
            return done == len(case_ids)

        t0 = time.monotonic()
        await wait_for(baselined, 600, "every relayed case baselined", every=1.0)
        print(f"baselined in {time.monotonic() - t0:.0f} s", flush=True)
        warm = [control.add_chat(case_id, "warm-up", role=1)["id"] for case_id in active]
        await wait_for(lambda: _all_posted(fake, warm), 120, "warm-up chats posted")
        await wait_for(lambda: _cursor(redis, keys), 60, "the subscription's reconcile cursor")

        # 2. downtime
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        proc = None
        down_started = time.monotonic()
        downtime = 600 / k
        chats: list[str] = []
        for n in range(args.events):
            case_id = active[n % len(active)]
            chats.append(control.add_chat(case_id, f"while Caseroom was down #{n}", role=1)["id"])
            await asyncio.sleep(max(0.0, (downtime * 0.8) / args.events))
        emitted = time.monotonic() - down_started
        with httpx.Client(base_url=url, headers={"XApiKey": key}) as http:
            while time.monotonic() - down_started < downtime:
                await asyncio.sleep(0.2)
            sub = http.get(f"/webhooks/{hook['id']}").json()
            rows = sum(len(http.get("/webhooks/events", params={"caseId": c}).json()) for c in active)
        print(f"downtime {time.monotonic() - down_started:.1f} s; subscription active: {sub['isActive']} "
              f"({sub.get('disabledReason')}); {rows} rows in the delivery log", flush=True)
        before = posted_counts(fake)
        assert not any(before.get(f"chat:{c}") for c in chats), "a downtime chat was posted while down"

        # 3. restart
        restarted = time.monotonic()
        restarted_wall = time.time()
        proc = start_relay(env, port, log_path)
        await wait_for(lambda: ready(port), 60, "the relay's health endpoint")
        up = time.monotonic() - restarted
        await wait_for(lambda: _all_posted(fake, chats), 600, "every downtime chat posted", every=0.1)
        caught_up = time.monotonic() - restarted
        requests = await metric_sum(f"http://127.0.0.1:{port}/metrics", "caseroom_debitura_requests_total")
        waits = await metric_sum(f"http://127.0.0.1:{port}/metrics", "caseroom_budget_waits_total")
        await asyncio.sleep(3)  # anything posted twice would show now
        counts = posted_counts(fake)
        once = sum(1 for c in chats if counts.get(f"chat:{c}") == 1)
        dupes = sum(1 for c in chats if counts.get(f"chat:{c}", 0) > 1)
        last = await WebhookStore(redis, keys).last_run()
        times = [t - restarted_wall for t in posted_at(fake, {f"chat:{c}" for c in chats})]
        budget_rate = 100_000 * 0.6 * k / 86_400  # the relay's share of the daily limit, per measured second

        # 4. re-enable through caseroom check --fix-webhooks
        settings = Settings(_env_file=None, **{k_.lower(): v for k_, v in env.items()
                                               if k_.startswith(("SLACK_", "DEBITURA_", "CASEROOM_"))
                                               or k_ == "REDIS_URL"})
        report = await run_check(settings, fix_webhooks=True)
        fixed = [ln for ln in report.lines if ln.name == "webhooks"]
        after = [control.add_chat(case_id, "after --fix-webhooks", role=1)["id"] for case_id in active[:10]]
        t1 = time.monotonic()
        await wait_for(lambda: _all_posted(fake, after), 60, "chats after the fix")
        after_fix = time.monotonic() - t1

        lines += [
            f"Command: `.venv/bin/python bench/reconcile_bench.py --cases {args.cases} --scale {k} "
            f"--events {args.events} --active {args.active}`",
            "",
            f"{len(case_ids)} relayed cases, {args.active} of them receiving the chats; time scale k={k} "
            f"(downtime {downtime:.0f} s measured = 10 min real-time equivalent).",
            "",
            "| measure | result |",
            "|---|---|",
            f"| events while down | {args.events} creditor chats (`chat.created`) in {emitted:.1f} s |",
            f"| the subscription at restart | active: {sub['isActive']} "
            f"({sub.get('disabledReason') or '-'}); "
            f"{rows} rows in the delivery log for the {args.events} events (the rest came after it was "
            "disabled) |",
            f"| time to catch up after restart | {caught_up:.1f} s measured (the process answered /healthz "
            f"after {up:.1f} s; Slack's pace, one post a second per channel, is not scaled); first chat "
            f"posted after {times[0]:.1f} s, half after {times[len(times) // 2]:.1f} s, the last after "
            f"{times[-1]:.1f} s |",
            f"| relayed exactly once | {once} / {args.events} (posted twice: {dupes}) |",
            f"| Debitura requests of the restarted relay until caught up | {requests:.0f} (limiter waits: "
            f"{waits:.0f}); the relay's share of the budget over that time: {budget_rate * caught_up:.0f} "
            f"({budget_rate:.1f} a second at k={k}) |",
            f"| the reconciliation at start | {last.get('requests')} requests: GET /webhooks, "
            f"{last.get('pages')} page(s) of changed cases, {last.get('logs_read')} delivery logs; "
            f"{last.get('queued')} missed events taken in from the log, {last.get('gap_fetches')} fetches "
            f"for the window the subscription was disabled; {last.get('seconds')} s |",
            f"| `caseroom check --fix-webhooks` | {'; '.join(f'{ln.mark}: {ln.detail}' for ln in fixed)} |",
            f"| after the fix | 10 chats through the webhook door, all posted within {after_fix:.1f} s |",
        ]
        print("\n".join(lines), flush=True)
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        control.close()
        await fake.stop()
        await _drop(redis, prefix)
        await redis.aclose()
        sandbox.send_signal(signal.SIGTERM)
        sandbox.wait(timeout=30)


async def _all_posted(fake: FakeSlack, chat_ids: list[str]) -> bool:
    counts = posted_counts(fake)
    return all(counts.get(f"chat:{c}") for c in chat_ids)


async def _cursor(redis: aioredis.Redis, keys: Keys) -> bool:
    return bool(await hgetall(redis, keys.webhook_cursor()))


async def _drop(redis: aioredis.Redis, prefix: str) -> None:
    async for key in redis.scan_iter(match=f"{prefix}:*", count=1000):
        await redis.delete(key)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    asyncio.run(main())
