"""Soak at the doors: the real `caseroom run --mode http` (relay on) under attack from loopback.

    .venv/bin/python -m bench.doors_bench [--uploads 100] [--upload-mb 100] [--unsigned 2000]
                                          [--webhooks 40] [--write]

At once, from a separate attacker process (so the attack client does not slow the fake Slack down):
`--uploads` concurrent chunked uploads of `--upload-mb` MB each (no Content-Length; half to
/debitura/webhooks with a fresh-looking signature header, half to /slack/events with fresh signature
headers; each goes on sending after its answer until the server hangs up), `--unsigned` unsigned
requests with random `type` values and bodies, 20 at a time, to both doors. Meanwhile this process
sends `--webhooks` valid signed webhooks (a creditor chat added in the sandbox, then `chat.created`
for its case), one every 0.25 s, and measures each one's relay latency: webhook sent -> the chat
posted in the case channel of the fake Slack.

Recorded: the caseroom process's RSS (before, peak, after) and open file descriptors (/proc/PID/fd),
sampled every 50 ms; the valid webhooks' latency p50/p95/max; /metrics series before and after
(a warm-up of valid webhooks first, so the series of normal traffic exist before). Targets: RSS
growth < 10 MB, p95 < 5 s, series unchanged. Every loop is bounded in count and time; loopback only.
Needs Redis (TEST_REDIS_URL, REDIS_URL or 127.0.0.1:6379).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import random
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as aioredis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.debitura.webhooks import sign  # noqa: E402
from bot.store.keys import Keys  # noqa: E402
from tests.fakes.slack.server import FakeSlack  # noqa: E402
from tests.fixtures.e2e import free_port, python  # noqa: E402
from tests.fixtures.redis import redis_url  # noqa: E402
from tests.fixtures.sandbox import SandboxControl, start_sandbox, stop_sandbox  # noqa: E402

RESULTS = ROOT / "bench" / "RESULTS.md"
SECTION = "## Doors under attack: oversized chunked uploads, unsigned requests and valid webhooks"
CHUNK = 64 * 1024
ATTACK_DEADLINE = 120.0
"""The attacker stops after this many seconds whatever is left (bounded in time as well as count)."""


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def series(base: str) -> set[str]:
    async with httpx.AsyncClient(timeout=10) as http:
        text = (await http.get(f"{base}/metrics")).text
    return {line.rsplit(" ", 1)[0] for line in text.splitlines() if line and not line.startswith("#")}


async def metric(base: str, prefix: str) -> dict[str, float]:
    async with httpx.AsyncClient(timeout=10) as http:
        text = (await http.get(f"{base}/metrics")).text
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
            if line.startswith(prefix)}


# --- the attacker (a child process: `python -m bench.doors_bench --attack PORT ...`) -------------------

async def chunked_upload(port: int, path: str, headers: dict[str, str], total: int) -> tuple[str, int]:
    """One chunked POST of up to `total` bytes that goes on sending after the answer, as an attacker would,
    until the server hangs up. Returns the status and the bytes sent in all."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError as exc:
        return f"connect failed: {exc}", 0
    head = f"POST {path} HTTP/1.1\r\nHost: caseroom\r\nTransfer-Encoding: chunked\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    chunk = f"{CHUNK:x}\r\n".encode() + os.urandom(CHUNK) + b"\r\n"
    answer = asyncio.create_task(reader.readline())
    sent = 0
    try:
        writer.write(head.encode())
        while sent < total:
            writer.write(chunk)
            await asyncio.wait_for(writer.drain(), 30)
            sent += CHUNK
        writer.write(b"0\r\n\r\n")
        await writer.drain()
    except (OSError, TimeoutError):
        pass  # the server hung up
    try:
        status = (await asyncio.wait_for(answer, 30)).decode(errors="replace").strip() or "closed"
    except (TimeoutError, OSError):
        status = "reset"  # the server hung up with the rest unread: its answer may be lost with the RST
    writer.close()
    return status.split(" ", 2)[1] if status.startswith("HTTP/") else status, sent


async def attack(port: int, uploads: int, upload_mb: int, unsigned: int) -> dict[str, Any]:
    rng = random.Random(7)
    total = upload_mb * 1024 * 1024
    now = str(int(time.time()))
    jobs = []
    for i in range(uploads):
        if i % 2:
            headers = {"X-Debitura-Signature": f"t={now},v1={'0' * 64}", "Content-Type": "application/json"}
            jobs.append(chunked_upload(port, "/debitura/webhooks", headers, total))
        else:
            headers = {"X-Slack-Request-Timestamp": now, "X-Slack-Signature": "v0=" + "0" * 64,
                       "Content-Type": "application/json"}
            jobs.append(chunked_upload(port, "/slack/events", headers, total))

    statuses: dict[str, int] = {}
    gate = asyncio.Semaphore(20)

    async def one_unsigned(http: httpx.AsyncClient, i: int) -> None:
        body = json.dumps({"type": f"kind-{rng.randrange(10**9)}", "command": "/case",
                           "text": "x" * rng.randrange(0, 2000)})
        path = "/slack/events" if i % 2 else "/debitura/webhooks"
        headers = {"Content-Type": "application/json"}
        if i % 3 == 0:  # signature-looking headers that do not verify
            headers.update({"X-Slack-Request-Timestamp": now, "X-Slack-Signature": "v0=" + "1" * 64,
                            "X-Debitura-Signature": f"t={now},v1={'1' * 64}"})
        async with gate:
            try:
                resp = await http.post(path, content=body, headers=headers)
                key = str(resp.status_code)
            except httpx.HTTPError as exc:
                key = type(exc).__name__
        statuses[key] = statuses.get(key, 0) + 1

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30,
                                 limits=httpx.Limits(max_connections=20)) as http:
        started = time.monotonic()
        upload_tasks = [asyncio.ensure_future(job) for job in jobs]
        noise_tasks = [asyncio.ensure_future(one_unsigned(http, i)) for i in range(unsigned)]
        _, pending = await asyncio.wait([*upload_tasks, *noise_tasks], timeout=ATTACK_DEADLINE)
        seconds = time.monotonic() - started
        for task in pending:  # bounded in time: whatever is left is counted, not waited for
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    upload_results = [t.result() for t in upload_tasks if not t.cancelled()]
    upload_statuses: dict[str, int] = {}
    for status, _ in upload_results:
        upload_statuses[status] = upload_statuses.get(status, 0) + 1
    if pending:
        upload_statuses["unfinished"] = sum(1 for t in upload_tasks if t.cancelled())
        statuses["unfinished"] = sum(1 for t in noise_tasks if t.cancelled())
    sent = [s for _, s in upload_results]
    return {"seconds": seconds, "upload_statuses": upload_statuses, "unsigned_statuses": statuses,
            "sent_max_mb": max(sent) / 2**20 if sent else 0, "sent_total_mb": sum(sent) / 2**20}


# --- the bench --------------------------------------------------------------------------------------

def posted_at(fake: FakeSlack, chat_id: str) -> float | None:
    for call in fake.journal.calls("chat.postMessage", ok=True):
        meta = call.args.get("metadata")
        if isinstance(meta, str):
            meta = json.loads(meta)
        if ((meta or {}).get("event_payload") or {}).get("item_id") == f"chat:{chat_id}":
            return float(call.at)
    return None


async def main(args: argparse.Namespace) -> str:
    load_before = os.getloadavg()[0]
    sandbox = start_sandbox()
    control = SandboxControl(sandbox.url)
    fake = FakeSlack(rate_limits=False)
    await fake.start()
    prefix = f"caseroom-bench:{uuid.uuid4().hex[:8]}"
    keys = Keys(prefix)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    secret = base64.b64encode(os.urandom(32)).decode()
    log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"caseroom-doors-bench-{port}.log"
    redis = aioredis.Redis.from_url(redis_url(), decode_responses=True)
    proc: asyncio.subprocess.Process | None = None
    try:
        control.reset()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
            "LANG": "C.UTF-8", "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1",
            "SLACK_BOT_TOKEN": fake.bot_token, "SLACK_API_URL": fake.api_url,
            "SLACK_SIGNING_SECRET": fake.signing_secret, "DEBITURA_API_URL": sandbox.url,
            "DEBITURA_API_KEY": sandbox.api_key, "DEBITURA_WEBHOOK_SECRET": secret,
            "REDIS_URL": redis_url(), "CASEROOM_REDIS_PREFIX": prefix, "CASEROOM_PORT": str(port),
            "CASEROOM_RELAY_FIRST_SPREAD": "5", "CASEROOM_LOG_LEVEL": "WARNING",
        }
        env.update(dict(pair.split("=", 1) for pair in args.server_env))
        with open(log_path, "wb") as log:
            proc = await asyncio.create_subprocess_exec(
                python(), "-m", "bot.cli", "run", "--mode", "http", "--host", "127.0.0.1",
                "--port", str(port), env=env, cwd="/tmp", stdout=log, stderr=log,
                stdin=asyncio.subprocess.DEVNULL)
        async with httpx.AsyncClient(timeout=2) as http:
            for _ in range(400):
                try:
                    if (await http.get(f"{base}/readyz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError(f"caseroom did not get ready; see {log_path}")
        pid = proc.pid

        active = [c["id"] for c in control.cases() if c["visible"] and c["ours"] and not c["isTest"]
                  and c.get("lifecycle") == "Active"][:10]
        if not active:
            raise RuntimeError("no active case in the sandbox")
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            bases = [await redis.hget(keys.case_state(cid), "base") or "" for cid in active]
            if all("chats" in b for b in bases):
                break
            await asyncio.sleep(0.5)
        else:
            raise RuntimeError("the relay did not baseline the bench cases within 90 s")

        http = httpx.AsyncClient(base_url=base, timeout=30)

        async def valid_webhook(n: int) -> float | None:
            case_id = active[n % len(active)]
            chat = await asyncio.to_thread(control.add_chat, case_id, f"doors bench {n}", 1)
            event = {"id": f"evt-doors-{uuid.uuid4().hex}", "event": "chat.created",
                     "timestamp": datetime.now(UTC).isoformat(), "data": {"caseId": case_id}}
            body = json.dumps(event).encode()
            sent = time.time()
            resp = await http.post("/debitura/webhooks", content=body,
                                   headers={"X-Debitura-Signature": sign(secret, body, int(sent)),
                                            "Content-Type": "application/json"})
            if resp.status_code != 200:
                return None
            end = time.monotonic() + 30
            while time.monotonic() < end:
                at = posted_at(fake, chat["id"])
                if at is not None:
                    return at - sent
                await asyncio.sleep(0.05)
            return None

        async def paced_webhook(n: int, first: int) -> float | None:
            await asyncio.sleep(0.25 * n)
            return await valid_webhook(first + n)

        warm = [await valid_webhook(i) for i in range(5)]
        # Control: the same paced valid webhooks without an attack, so the process's own growth from
        # relaying them (channels, caches, connection pools) is known and already paid before the attack.
        control_before = rss_mb(pid)
        calm = await asyncio.gather(*(paced_webhook(n, 50) for n in range(args.webhooks)))
        await asyncio.sleep(2)
        control_after = rss_mb(pid)
        series_before = await series(base)
        rss_before, fds_before = rss_mb(pid), fds(pid)
        rejected_before = await metric(base, "caseroom_requests_rejected_total")

        samples: list[tuple[float, float, int]] = []
        stop = asyncio.Event()

        async def sampler() -> None:
            while not stop.is_set():
                samples.append((time.monotonic(), rss_mb(pid), fds(pid)))
                await asyncio.sleep(0.05)

        sampling = asyncio.create_task(sampler())
        attacker = await asyncio.create_subprocess_exec(
            python(), "-m", "bench.doors_bench", "--attack", str(port), "--uploads", str(args.uploads),
            "--upload-mb", str(args.upload_mb), "--unsigned", str(args.unsigned),
            cwd=str(ROOT), stdout=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL)
        await asyncio.sleep(0.5)  # the uploads are under way

        latencies = await asyncio.gather(*(paced_webhook(n, 1000) for n in range(args.webhooks)))
        out, _ = await asyncio.wait_for(attacker.communicate(), ATTACK_DEADLINE + 30)
        attack = json.loads(out.decode().strip().splitlines()[-1])
        await asyncio.sleep(3)  # let the process settle
        stop.set()
        await sampling
        rss_after, fds_after = rss_mb(pid), fds(pid)
        series_after = await series(base)
        rejected_after = await metric(base, "caseroom_requests_rejected_total")
        await http.aclose()
        alive = proc.returncode is None
    finally:
        if proc is not None and proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 20)
            except TimeoutError:
                proc.kill()
        await fake.stop()
        control.close()
        stop_sandbox(sandbox)
        async for key in redis.scan_iter(match=f"{prefix}:*", count=1000):
            await redis.delete(key)
        await redis.aclose()

    relayed = [v for v in latencies if v is not None]
    rss_peak = max(r for _, r, _ in samples)
    fds_peak = max(f for _, _, f in samples)
    new_series = sorted(series_after - series_before)
    gone_series = sorted(series_before - series_after)
    rejected = {k.split("{", 1)[1].rstrip("}"): int(rejected_after.get(k, 0) - v)
                for k, v in rejected_before.items() if rejected_after.get(k, 0) - v}
    errors = [line for line in log_path.read_text(errors="replace").splitlines()
              if "Traceback" in line or " ERROR " in line]
    ok = (rss_peak - rss_before < 10 and relayed and pct(relayed, 95) < 5 and not new_series
          and len(relayed) == len(latencies))
    lines = [
        SECTION, "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node()} ({os.cpu_count()} cores shared, "
        f"load {load_before:.1f} before), Python {platform.python_version()}:",
        f"`.venv/bin/python -m bench.doors_bench --uploads {args.uploads} --upload-mb {args.upload_mb} "
        f"--unsigned {args.unsigned} --webhooks {args.webhooks}"
        + "".join(f" --server-env {pair}" for pair in args.server_env) + "`", "",
        "The real `caseroom run --mode http` (relay on) against the sandbox and the fake Slack; the attack "
        "from a separate process on loopback, the valid webhooks from the bench process, all at once.", "",
        "| Measure | Target | Result |", "| --- | --- | --- |",
        f"| Attack | {args.uploads} concurrent chunked uploads of {args.upload_mb} MB + {args.unsigned} "
        f"unsigned requests | done in {attack['seconds']:.1f} s; uploads answered "
        f"{attack['upload_statuses']} (reset: the server hung up with the upload unread, which can drop "
        f"its answer on the client's side), at most {attack['sent_max_mb']:.1f} MB sent by one upload "
        f"before the server hung up "
        f"({attack['sent_total_mb']:.0f} MB in all); unsigned answered {attack['unsigned_statuses']} |",
        f"| RSS of the caseroom process during the attack | growth < 10 MB | {rss_before:.1f} MB before, "
        f"peak {rss_peak:.1f} MB (+{rss_peak - rss_before:.1f}), {rss_after:.1f} MB after "
        f"(+{rss_after - rss_before:.1f}) |",
        f"| Control: RSS over the same valid webhooks without an attack, just before it | (for comparison) | "
        f"{control_before:.1f} -> {control_after:.1f} MB (+{control_after - control_before:.1f}); "
        f"p95 {pct([c for c in calm if c is not None], 95):.2f} s |",
        f"| Open file descriptors | back to before | {fds_before} before, peak {fds_peak}, "
        f"{fds_after} after |",
        f"| Valid webhooks relayed during the attack | all, p95 < 5 s | {len(relayed)}/{len(latencies)}; "
        f"p50 {pct(relayed, 50):.2f} s, p95 {pct(relayed, 95):.2f} s, "
        f"max {max(relayed, default=float('nan')):.2f} s "
        f"(warm-up before the attack: {', '.join(f'{w:.2f}' for w in warm if w is not None)} s) |",
        f"| /metrics series | unchanged | {len(series_before)} before, {len(series_after)} after"
        + (f"; new: {', '.join(new_series[:8])}" if new_series else "")
        + (f"; gone: {', '.join(gone_series[:8])}" if gone_series else "") + " |",
        f"| Rejections counted | by door and reason | {rejected} |",
        f"| ERROR lines or tracebacks in the process log | none | {len(errors)} |",
        f"| Process alive at the end | yes | {'yes' if alive else 'no'} |",
        "", f"Targets {'met' if ok else 'NOT met'}.", "",
    ]
    return "\n".join(lines)


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uploads", type=int, default=100)
    parser.add_argument("--upload-mb", type=int, default=100)
    parser.add_argument("--unsigned", type=int, default=2000)
    parser.add_argument("--webhooks", type=int, default=40)
    parser.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment of the caseroom process (e.g. MALLOC_MMAP_THRESHOLD_=131072)")
    parser.add_argument("--write", action="store_true", help="append the results to bench/RESULTS.md")
    parser.add_argument("--attack", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.attack:
        print(json.dumps(asyncio.run(attack(args.attack, args.uploads, args.upload_mb, args.unsigned))))
        return
    report = asyncio.run(main(args))
    print(report)
    if args.write:
        with open(RESULTS, "a") as f:
            f.write("\n" + report)


if __name__ == "__main__":
    cli()
