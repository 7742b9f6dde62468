"""Direct messages, reminders and digests (issue 13, part B): the attention pass, DM latency, a burst.

    .venv/bin/python bench/notify_bench.py pass  [--cases 10000] [--people 50]
    .venv/bin/python bench/notify_bench.py latency [--events 60]
    .venv/bin/python bench/notify_bench.py burst [--reminders 1000] [--people 25]

* `pass`: 10,000 case states written to Redis as the relay's fetch commit writes them (snapshot, queue
  marks, the assignee index), then the relay's reminder and digest pass (bot.relay.attention) three
  times: the first fires every crossed reminder and queues the digests, the next ones find nothing new.
  Measured: event-loop CPU per pass (thread CPU time of the loop's thread), the longest stall of the
  loop (a 5 ms ticker's worst gap), Debitura requests (a counting transport: must be 0), Redis bytes per
  case (MEMORY USAGE of each case's state and reminder markers, plus the queued DMs / cases).
* `latency`: the real relay in this process, the sandbox and the fake Slack; new cases assigned to a
  person, each announced by a signed `case.assigned` webhook through bot.relay.webhooks: time from
  the webhook's answer to the DM in the fake Slack (p50/p95/max).
* `burst`: 1,000 reminders due at once (creditor chats unanswered past the SLA on cases of 25 people),
  one pass, then the relay's delivery workers against the fake Slack with its rate limits on: 429s
  answered by Slack (must stay near 0: no storm), the time to deliver them all, and duplicates (0).

Redis: REDIS_URL (default redis://127.0.0.1:6379/2), under a fresh prefix removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import signal
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as aioredis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.relay_bench import start_sandbox  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.debitura.client import DebituraClient  # noqa: E402
from bot.debitura.webhooks import sign  # noqa: E402
from bot.relay.service import Relay, RelayOptions  # noqa: E402
from bot.relay.webhooks import handle_webhook  # noqa: E402
from bot.runtime import Runtime  # noqa: E402
from bot.store.attention import index_commands  # noqa: E402
from bot.store.cases import CaseState  # noqa: E402
from bot.store.keys import Keys  # noqa: E402
from bot.store.snapshots import CaseMarks, CaseSnap  # noqa: E402
from tests.fakes.slack.server import FakeSlack  # noqa: E402
from tests.relay.harness import build_test_runtime, close_runtime  # noqa: E402

REDIS = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/2")
HOUR = 3600.0
DAY = 24 * HOUR
SECRET = base64.b64encode(b"notify-bench-webhook-secret-0123").decode()
TZS = ["Europe/Copenhagen", "Europe/London", "America/New_York", "Asia/Singapore", "UTC"]


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def settings_for(fake: FakeSlack, prefix: str, url: str = "http://127.0.0.1:9", key: str = "bench-key",
                 **kw: Any) -> Settings:
    values: dict[str, Any] = dict(
        slack_bot_token=fake.bot_token, slack_signing_secret=fake.signing_secret, slack_api_url=fake.api_url,
        debitura_api_key=key, debitura_api_url=url, redis_url=REDIS, caseroom_redis_prefix=prefix,
        caseroom_quiet_hours="", caseroom_digest_weekends=True, caseroom_relay_sweep_interval=3600,
        caseroom_max_staleness=3600, caseroom_rate_per_minute=100_000, caseroom_rate_per_hour=1_000_000,
        caseroom_rate_per_day=20_000_000, caseroom_log_level="WARNING",
    )
    values.update(kw)
    return Settings(_env_file=None, **values)


class Counting(httpx.AsyncBaseTransport):
    """Debitura for the pass: counts every request (there must be none) and answers 503."""

    def __init__(self) -> None:
        self.requests = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        return httpx.Response(503, json={"error": "bench: no Debitura"})


async def counted_runtime(settings: Settings) -> tuple[Runtime, Counting]:
    runtime = await build_test_runtime(settings)
    counting = Counting()
    client = DebituraClient(str(settings.debitura_api_url), settings.debitura_api_key, transport=counting,
                            max_retries=0)
    await runtime.debitura.aclose()
    runtime.debitura = client
    runtime.debitura_background = client
    return runtime, counting


async def drop_prefix(redis: aioredis.Redis, prefix: str) -> None:
    batch: list[str] = []
    async for key in redis.scan_iter(match=f"{prefix}:*", count=2000):
        batch.append(key)
        if len(batch) >= 1000:
            await redis.delete(*batch)
            batch = []
    if batch:
        await redis.delete(*batch)


async def seed_cases(redis: aioredis.Redis, keys: Keys, emails: list[str], n: int, now: float,
                     rng: random.Random, *, waiting_share: float = 0.3) -> list[str]:
    """`n` case states as the relay's fetch commit leaves them (snapshot, marks, first sight, index)."""
    ids: list[str] = []
    async with redis.pipeline(transaction=False) as pipe:
        for i in range(n):
            case_id = str(uuid.UUID(int=rng.getrandbits(128)))
            ids.append(case_id)
            pending = rng.random() < 0.1
            email = rng.choice(emails) if rng.random() < 0.9 else ""
            snap = CaseSnap(
                id=case_id, reference=f"{i:08d}", lifecycle="PendingVerification" if pending else "Active",
                lifecycle_display="Pending Verification" if pending else "Active", phase="Pre-legal",
                debtor=f"Debtor {i} ApS", outstanding=f"{rng.uniform(100, 90000):.2f}",
                currency=rng.choice(["EUR", "DKK", "SEK"]), assignee_email=email,
                assignee_name=email.split("@")[0].title() if email else "",
                date_updated=now - rng.uniform(0, 90) * DAY,
                created=now - rng.uniform(1, 400) * DAY,
                exclusive_end=0.0 if pending else now + rng.uniform(-30, 200) * DAY,
                needs_info=rng.random() < 0.03,
            )
            waiting = now - rng.uniform(0, 72) * HOUR if rng.random() < waiting_share else 0.0
            marks = CaseMarks(lc=snap.lifecycle, lc_since=now - rng.uniform(0, 120) * HOUR,
                              chat_role=1 if waiting else 0, chat_at=waiting or now - 5 * DAY,
                              waiting_since=waiting, paid_at=now - rng.uniform(0, 30) * DAY)
            state = CaseState(first_seen=now - 400 * DAY, case=snap, topic=f"Debtor {i} ApS · Active",
                              baselined={"chats", "timeline", "payments"}, last_activity=now - DAY,
                              marks=marks)
            pipe.hset(keys.case_state(case_id), mapping=state.to_hash())  # type: ignore[arg-type]
            index_commands(pipe, keys, case_id, None, email)
            if len(pipe) >= 2000:
                await pipe.execute()
        await pipe.execute()
    return ids


async def usage(redis: aioredis.Redis, keys: list[str]) -> int:
    total = 0
    for start in range(0, len(keys), 500):
        async with redis.pipeline(transaction=False) as pipe:
            for k in keys[start:start + 500]:
                pipe.memory_usage(k, samples=0)
            total += sum(int(v or 0) for v in await pipe.execute())
    return total


class Ticker:
    """The loop's worst gap: a coroutine asking to wake every 5 ms."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._stop = False

    async def run(self) -> None:
        last = time.perf_counter()
        while not self._stop:
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            self.worst = max(self.worst, now - last - 0.005)
            last = now

    def stop(self) -> None:
        self._stop = True


async def bench_pass(args: argparse.Namespace) -> None:
    fake = FakeSlack()
    await fake.start()
    prefix = f"bench-notify-{uuid.uuid4().hex[:8]}"
    redis = aioredis.Redis.from_url(REDIS, decode_responses=True)
    keys = Keys(prefix)
    rng = random.Random(13)
    now = time.time()
    emails = [f"agent{i}@agency.example" for i in range(args.people)]
    for i, email in enumerate(emails):
        fake.workspace.add_user(f"agent{i}", email=email, tz=TZS[i % len(TZS)])
    admin = fake.workspace.add_user("boss", email="boss@agency.example", tz="UTC")
    digest_time = time.strftime("%H:%M", time.gmtime(now))
    settings = settings_for(fake, prefix, caseroom_admin_users=[admin.id], caseroom_digest_time=digest_time)
    runtime, counting = await counted_runtime(settings)
    relay = Relay(runtime, RelayOptions(fetch_workers=1, delivery_workers=1, sweep=False, attention=False))
    try:
        print(f"seeding {args.cases} cases ...", flush=True)
        ids = await seed_cases(redis, keys, emails, args.cases, now, rng)
        rows = []
        for n in range(args.passes):
            ticker = Ticker()
            task = asyncio.create_task(ticker.run())
            stats = await relay.attention.run()
            ticker.stop()
            await task
            rows.append((n + 1, stats, ticker.worst))
            print(f"pass {n + 1}: {stats.cases} cases, cpu {stats.cpu * 1000:.0f} ms, "
                  f"wall {stats.wall:.2f} s, worst loop stall {ticker.worst * 1000:.1f} ms, "
                  f"fired {stats.fired}, marked {stats.marked}, digests {stats.digests}", flush=True)
        state_bytes = await usage(redis, [keys.case_state(c) for c in ids])
        marker_bytes = await usage(redis, [keys.notify_reminders(c) for c in ids])
        lanes = [str(m) for m in await redis.zrange(keys.relay_ready(), 0, -1)]
        outbox_bytes = await usage(redis, [keys.relay_outbox(lane) for lane in lanes])
        index_bytes = await usage(redis, [k async for k in redis.scan_iter(match=f"{prefix}:att:*")])
        n = len(ids)
        print("\n| pass | cases | event-loop CPU | wall | worst loop stall | reminders fired | marked "
              "| digests |")
        print("|---|---|---|---|---|---|---|---|")
        for number, stats, worst in rows:
            print(f"| {number} | {stats.cases:,} | {stats.cpu * 1000:.0f} ms | {stats.wall:.2f} s | "
                  f"{worst * 1000:.1f} ms | {stats.fired} | {stats.marked} | {stats.digests} |")
        print(f"\nDebitura requests during the passes: {counting.requests}")
        print(f"Redis per case: state (snapshot + marks) {state_bytes / n:.0f} B, reminder markers "
              f"{marker_bytes / n:.0f} B, assignee index {index_bytes / n:.0f} B, "
              f"queued DMs (before delivery) {outbox_bytes / n:.0f} B; "
              f"total {(state_bytes + marker_bytes + index_bytes) / n:.0f} B without the outboxes")
    finally:
        await drop_prefix(redis, prefix)
        await redis.aclose()
        await close_runtime(runtime)
        await fake.stop()


async def bench_latency(args: argparse.Namespace) -> None:
    sandbox, url, key = start_sandbox(200)
    fake = FakeSlack()
    await fake.start()
    prefix = f"bench-notify-{uuid.uuid4().hex[:8]}"
    redis = aioredis.Redis.from_url(REDIS, decode_responses=True)
    from tests.fixtures.sandbox import SandboxControl

    control = SandboxControl(url)
    email = control.info()["users"][0]["email"]
    alice = fake.workspace.add_user("alice", email=email, tz="UTC")
    settings = settings_for(fake, prefix, url=url, key=key, debitura_webhook_secret=SECRET,
                            caseroom_attention_interval=3600)
    runtime = await build_test_runtime(settings)
    relay = Relay(runtime, RelayOptions(fetch_workers=4, delivery_workers=8, sweep=False, lease_seconds=10))
    await relay.start()
    latencies: list[float] = []
    try:
        for i in range(args.events):
            case = control.assign_new_case(assignee_email=email)
            body = json.dumps({"id": f"evt-{uuid.uuid4()}", "event": "case.assigned",
                               "timestamp": "2026-12-03T08:00:00Z", "data": {"caseId": case["id"]}}).encode()
            headers = {"X-Debitura-Signature": sign(SECRET, body, int(time.time()))}
            status, _ = await handle_webhook(runtime, relay, body, headers)
            assert status == 200, status
            started = time.perf_counter()
            item = f"dm:assigned:{case['id']}:"
            while True:
                ims = [c for c in fake.workspace.channels.values()
                       if c.is_im and c.members == {alice.id, fake.workspace.BOT_USER_ID}]
                found = any(
                    str(((m.metadata or {}).get("event_payload") or {}).get("item_id", "")).startswith(item)
                    for c in ims for m in c.messages)
                if found:
                    latencies.append(time.perf_counter() - started)
                    break
                if time.perf_counter() - started > 30:
                    raise RuntimeError(f"no DM for event {i}")
                await asyncio.sleep(0.01)
            await asyncio.sleep(args.gap)
        print(f"\nDM latency from a case.assigned webhook, {len(latencies)} events: p50 "
              f"{statistics.median(latencies):.3f} s, p95 {pct(latencies, 95):.3f} s, "
              f"max {max(latencies):.3f} s")
    finally:
        await relay.stop()
        await close_runtime(runtime)
        await drop_prefix(redis, prefix)
        await redis.aclose()
        await fake.stop()
        control.close()
        sandbox.send_signal(signal.SIGTERM)
        sandbox.wait(timeout=30)


async def bench_burst(args: argparse.Namespace) -> None:
    fake = FakeSlack()  # rate limits on, at Slack's documented rates
    await fake.start()
    prefix = f"bench-notify-{uuid.uuid4().hex[:8]}"
    redis = aioredis.Redis.from_url(REDIS, decode_responses=True)
    keys = Keys(prefix)
    rng = random.Random(17)
    now = time.time()
    emails = [f"agent{i}@agency.example" for i in range(args.people)]
    users = [fake.workspace.add_user(f"agent{i}", email=e, tz="UTC") for i, e in enumerate(emails)]
    settings = settings_for(fake, prefix, caseroom_digest=False, caseroom_exclusive_reminders=[],
                            caseroom_activation_reminder=24 * 30)
    runtime, counting = await counted_runtime(settings)
    relay = Relay(runtime, RelayOptions(fetch_workers=1, delivery_workers=8, sweep=False, attention=False))
    try:
        ids = await seed_cases(redis, keys, emails, args.reminders, now, rng, waiting_share=1.0)
        async with redis.pipeline(transaction=False) as pipe:  # every creditor waits past the SLA
            for case_id in ids:
                state = CaseState.from_hash(await redis.hgetall(keys.case_state(case_id)))
                assert state.case is not None
                owner = emails[ids.index(case_id) % len(emails)]
                snap = state.case.model_copy(update={"assignee_email": owner, "lifecycle": "Active",
                                                      "exclusive_end": 0.0})
                marks = state.marks.model_copy(update={"waiting_since": now - 30 * HOUR, "lc": "Active"})
                pipe.hset(keys.case_state(case_id), mapping=CaseState(
                    first_seen=state.first_seen, case=snap, topic=state.topic, baselined=state.baselined,
                    last_activity=state.last_activity, marks=marks).to_hash())  # type: ignore[arg-type]
                index_commands(pipe, keys, case_id, state.case.assignee_email, snap.assignee_email)
            await pipe.execute()
        fired = 0
        while True:  # a pass queues at most MAX_FIRED_PER_PASS; the relay's next passes take the rest
            stats = await relay.attention.run()
            fired += stats.fired
            print(f"pass: {stats.fired} reminders queued in {stats.wall:.2f} s "
                  f"(cpu {stats.cpu * 1000:.0f} ms)", flush=True)
            if not stats.fired:
                break
        stats.fired = fired
        started = time.perf_counter()
        await relay.start()

        def posted() -> list[str]:
            out = []
            for c in fake.workspace.channels.values():
                if c.is_im:
                    out += [str(((m.metadata or {}).get("event_payload") or {}).get("item_id", ""))
                            for m in c.messages if m.bot_id]
            return [i for i in out if i.startswith("rm:")]

        while len(posted()) < stats.fired and time.perf_counter() - started < args.timeout:
            await asyncio.sleep(0.5)
        took = time.perf_counter() - started
        ids_posted = posted()
        limited = [c for c in fake.journal.calls() if c.status == 429]
        by_method: dict[str, int] = {}
        for c in limited:
            by_method[c.method] = by_method.get(c.method, 0) + 1
        print(f"\n{len(ids_posted)} of {stats.fired} reminder DMs delivered to {len(users)} people in "
              f"{took:.1f} s; duplicates {len(ids_posted) - len(set(ids_posted))}; "
              f"Slack 429 answers {len(limited)} {by_method}; "
              f"chat.postMessage calls {len(fake.journal.calls('chat.postMessage'))}; "
              f"Debitura requests {counting.requests}")
    finally:
        await relay.stop()
        await close_runtime(runtime)
        await drop_prefix(redis, prefix)
        await redis.aclose()
        await fake.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("pass")
    p.add_argument("--cases", type=int, default=10_000)
    p.add_argument("--people", type=int, default=50)
    p.add_argument("--passes", type=int, default=3)
    lat = sub.add_parser("latency")
    lat.add_argument("--events", type=int, default=60)
    lat.add_argument("--gap", type=float, default=0.3)
    b = sub.add_parser("burst")
    b.add_argument("--reminders", type=int, default=1000)
    b.add_argument("--people", type=int, default=25)
    b.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    await {"pass": bench_pass, "latency": bench_latency, "burst": bench_burst}[args.what](args)


if __name__ == "__main__":
    asyncio.run(main())
