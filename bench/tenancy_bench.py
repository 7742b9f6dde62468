"""Multi-workspace benchmark: W workspaces on a real 3-master Redis Cluster, R `caseroom relay`
replicas in multi-workspace mode, one Debitura sandbox, the fake Slack with W teams.

    .venv/bin/python bench/tenancy_bench.py [--workspaces 10] [--cases 60] [--replicas 3]
        [--flood 2000] [--quiet-seconds 45] [--flood-seconds 60]

What it measures (printed as Markdown):
- the webhook path (a chat added in the sandbox, its `chat.created` webhook posted to one small
  workspace's /debitura/webhooks/<team>, until that workspace's case channel shows the chat) for the
  small workspaces, quiet and while workspace 0 floods `--flood` webhook events. Each small workspace
  samples its own cases (`sample_plan`): see there why shared ones measured a backlog, not the path;
- how long workspace 0's flood takes to be taken in and worked off;
- one replica SIGKILLed during the flood: every sampled chat posted exactly once (none lost, none
  duplicated) in its workspace's channel;
- Redis bytes per relayed case (MEMORY USAGE of every key of the run, per workspace x relayed case).

Honest limits: every workspace's key points at the same sandbox (one partner), so every workspace
relays the same cases (W x C case-workspace pairs); the sandbox's own rate limits are off, each
workspace's Caseroom budget applies. The fake Slack's rate limits are global (not per team), so they
are off too. The longest gap between checks against 2N/B is not measured here (bench/relay_bench.py
does it for one workspace).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import importlib.util
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from slack_sdk.oauth.installation_store.models.installation import Installation  # noqa: E402

from bot.config import Settings  # noqa: E402
from bot.debitura.webhooks import sign  # noqa: E402
from bot.store.keys import Keys  # noqa: E402
from bot.store.secrets import generate_key  # noqa: E402
from bot.tenancy import TenantRegistry  # noqa: E402
from tests.fakes.slack.oauth import CLIENT_ID, CLIENT_SECRET  # noqa: E402
from tests.fakes.slack.server import FakeSlack  # noqa: E402
from tests.fakes.slack.workspace import Workspace  # noqa: E402
from tests.fixtures.e2e import free_port  # noqa: E402
from tests.fixtures.sandbox import SandboxControl  # noqa: E402

PY = str(ROOT / ".venv" / "bin" / "python")
RELAY_LIFECYCLES = ("Active", "Paused", "NeedsAdditionalDetails", "PendingVerification")


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def cluster_script() -> Any:
    spec = importlib.util.spec_from_file_location("redis_cluster", ROOT / "scripts" / "redis_cluster.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def start_sandbox(cases: int) -> tuple[subprocess.Popen[bytes], str, str]:
    proc = subprocess.Popen([PY, "-m", "bot.cli", "sandbox", "--port", "0", "--cases", str(cases),
                             "--seed", "3",
                             "--rate-per-minute", "0", "--rate-per-hour", "0", "--rate-per-day", "0",
                             "--log-level", "warning"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    match = re.search(r"Sandbox listening on (http://\S+)\s+api key: (\S+)", line)
    if not match:
        raise RuntimeError(f"sandbox did not start: {line!r}")
    return proc, match.group(1), match.group(2)


def relayed_case_ids(url: str, key: str) -> list[str]:
    ids: list[str] = []
    with httpx.Client(base_url=url, headers={"XApiKey": key}, timeout=60) as http:
        page = 1
        while True:
            params: list[tuple[str, str | int]] = [("Page", page), ("PageSize", 100)]
            params += [("Statuses", lc) for lc in RELAY_LIFECYCLES]
            data = http.get("/cases", params=params).json()
            ids += [c["id"] for c in data["cases"]]
            if page >= data["page"]["totalPages"]:
                return ids
            page += 1


def sample_plan(teams: list[str], case_ids: list[str], per_team: int = 3) -> dict[str, list[str]]:
    """The cases each small workspace's timed chats go to: its own, none shared with another.

    Every workspace relays every case here (one sandbox partner), so a chat added for workspace A's
    sample is also news to workspace B. Had B's samples used the same cases, B's fetch would find every
    chat of the other workspaces' samples since its last look and post them first, in order, at
    Slack's one message a second per channel: the timed chat waited whole seconds behind a backlog no
    real agency has (each has its own cases). Workspace 0 (the flood) samples nothing."""
    small = teams[1:]
    per = max(1, min(per_team, len(case_ids) // max(1, len(small))))
    if per * len(small) > len(case_ids):
        raise ValueError(f"{len(case_ids)} relayed cases cannot give {len(small)} workspaces one each")
    return {team: case_ids[i * per:(i + 1) * per] for i, team in enumerate(small)}


def posted_items(ws: Workspace, channel_id: str) -> list[str]:
    channel = ws.channels.get(channel_id)
    out: list[str] = []
    for message in channel.messages if channel else []:
        meta = message.metadata or {}
        item = (meta.get("event_payload") or {}).get("item_id")
        if item:
            out.append(str(item))
    return out


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.prefix = f"caseroom-bench-mw:{int(time.time())}"
        self.secret_key = generate_key()
        self.secrets: dict[str, str] = {}
        self.replicas: list[subprocess.Popen[bytes]] = []
        self.ports: list[int] = []
        self.log_dir = Path(tempfile.mkdtemp(prefix="tenancy-bench-"))

    def env(self, cluster_url: str, sandbox_url: str, fake: FakeSlack) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
            "PYTHONPATH": str(ROOT), "SLACK_CLIENT_ID": CLIENT_ID, "SLACK_CLIENT_SECRET": CLIENT_SECRET,
            "CASEROOM_SECRET_KEY": self.secret_key, "SLACK_SIGNING_SECRET": "bench-signing-secret",
            "SLACK_API_URL": fake.api_url, "DEBITURA_API_URL": sandbox_url, "REDIS_URL": cluster_url,
            "CASEROOM_REDIS_PREFIX": self.prefix, "CASEROOM_LOG_LEVEL": "WARNING",
            "CASEROOM_RELAY_SWEEP_INTERVAL": "60", "CASEROOM_RELAY_FIRST_SPREAD": "20",
            "CASEROOM_MAX_STALENESS": "900", "CASEROOM_RELAY_LEASE": "5",
        }

    def start_replica(self, i: int, env: dict[str, str]) -> None:
        port = free_port()
        log = open(self.log_dir / f"relay-{i}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen([PY, "-m", "bot.cli", "relay", "--host", "127.0.0.1", "--port", str(port)],
                                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.replicas.append(proc)
        self.ports.append(port)


async def run(args: argparse.Namespace) -> str:
    bench = Bench(args)
    cluster = cluster_script().RedisCluster(3)
    node = cluster.start()
    cluster_url = node.replace("redis://", "redis+cluster://", 1)
    sandbox, url, key = start_sandbox(args.cases)
    control = SandboxControl(url)
    fake = FakeSlack()
    fake.rate_limits.enabled = False
    await fake.start()
    redis = AsyncRedisCluster.from_url(node, decode_responses=True)
    lines: list[str] = []
    try:
        case_ids = relayed_case_ids(url, key)
        teams = [f"T0W{i:04d}" for i in range(args.workspaces)]
        workspaces: dict[str, Workspace] = {}
        settings = Settings(**{k.lower(): v for k, v in bench.env(cluster_url, url, fake).items()
                               if k not in ("PATH", "HOME", "PYTHONPATH")})
        registry = TenantRegistry(settings, redis=redis)  # type: ignore[arg-type]
        for team in teams:
            ws = fake.add_team(team)
            workspaces[team] = ws
            token = fake.oauth._issue(team)["access_token"]
            await registry.installations.async_save(Installation(
                app_id=ws.APP_ID, team_id=team, team_name=team, user_id="U0ADMIN", bot_token=token,
                bot_id="B" + team, bot_user_id=ws.BOT_USER_ID, bot_scopes="commands,chat:write"))
            bench.secrets[team] = base64.b64encode(f"secret-{team}".encode()).decode()
            await registry.workspace_store(team).save_debitura(
                api_key=key, webhook_secret=bench.secrets[team], admins=[], lifecycles=list(RELAY_LIFECYCLES),
                partner_name="bench", user_id="U0ADMIN")
        env = bench.env(cluster_url, url, fake)
        for i in range(args.replicas):
            bench.start_replica(i, env)
        print(f"{len(teams)} workspaces x {len(case_ids)} relayed cases, {args.replicas} replicas; logs in "
              f"{bench.log_dir}", flush=True)
        keys = {team: Keys(bench.prefix).for_workspace(team) for team in teams}
        own = sample_plan(teams, random.Random(5).sample(case_ids, len(case_ids)))
        pairs_timed = [(team, cid) for team, cids in own.items() for cid in cids]
        http = httpx.AsyncClient(timeout=30)

        async def webhook(team: str, case_id: str, event_id: str, port: int | None = None) -> int:
            body = json.dumps({"id": event_id, "event": "chat.created", "timestamp": "2026-12-03T08:00:00Z",
                               "data": {"caseId": case_id}}).encode()
            for _attempt in range(5):  # Debitura retries a delivery that got no answer (a replica died)
                live = [p for p, r in zip(bench.ports, bench.replicas, strict=True) if r.poll() is None]
                target = port if port in live else random.choice(live)
                signature = sign(bench.secrets[team], body, int(time.time()))
                try:
                    resp = await http.post(f"http://127.0.0.1:{target}/debitura/webhooks/{team}",
                                           content=body, headers={"X-Debitura-Signature": signature,
                                                                  "Content-Type": "application/json"})
                except httpx.HTTPError:
                    await asyncio.sleep(0.2)
                    continue
                return resp.status_code
            return 0

        async def channel_of(team: str, case_id: str) -> str | None:
            value = await redis.hget(keys[team].case_channel(case_id), "id")
            return str(value) if value else None

        # Warm-up: a chat on each small workspace's own sampled cases, announced to that workspace, so
        # their case channels exist before anything is timed.
        started = time.time()
        while time.time() - started < 240:
            ready = 0
            for team, cid in pairs_timed:
                state = await redis.hget(keys[team].case_state(cid), "base")
                ready += bool(state and "chats" in state)
            if ready == len(pairs_timed):
                break
            await asyncio.sleep(2)
        baselined = f"{ready} of {len(pairs_timed)} sampled (workspace, own case) pairs baselined"
        print(f"{baselined} after {time.time() - started:.0f} s", flush=True)
        for team, cid in pairs_timed:
            await asyncio.to_thread(control.add_chat, cid, "warm-up", 1)
            await webhook(team, cid, f"warm-{team}-{cid}")
        deadline = time.time() + 240
        while time.time() < deadline:
            missing = [1 for team, cid in pairs_timed if not await channel_of(team, cid)]
            if not missing:
                break
            await asyncio.sleep(1)
        print(f"warm-up done after {time.time() - started:.0f} s", flush=True)

        samples: list[dict[str, Any]] = []

        async def sample_loop(phase: str, seconds: float) -> None:
            end = time.time() + seconds
            tasks: list[asyncio.Task[None]] = []
            n = 0
            while time.time() < end:
                team = random.choice(teams[1:])
                cid = random.choice(own[team])
                n += 1
                tasks.append(asyncio.create_task(one_sample(phase, team, cid, n)))
                await asyncio.sleep(1.0)
            await asyncio.gather(*tasks)

        async def one_sample(phase: str, team: str, cid: str, n: int) -> None:
            chat = await asyncio.to_thread(control.add_chat, cid, f"{phase} {n}", 1)
            sent = time.time()
            status = await webhook(team, cid, f"s-{phase}-{n}-{team}")
            item = f"chat:{chat['id']}"
            channel = await channel_of(team, cid)
            record: dict[str, Any] = {"phase": phase, "team": team, "item": item, "channel": channel,
                                      "status": status, "latency": None, "sent": sent}
            samples.append(record)
            while time.time() - sent < 60:
                if channel and item in posted_items(workspaces[team], channel):
                    record["latency"] = time.time() - sent
                    return
                await asyncio.sleep(0.05)

        print("quiet phase", flush=True)
        await sample_loop("quiet", args.quiet_seconds)

        flood_team = teams[0]
        flood_done = asyncio.Event()
        flood_stats: dict[str, float] = {}

        async def flood() -> None:
            t0 = time.time()
            sem = asyncio.Semaphore(20)
            statuses: list[int] = []

            async def one(i: int) -> None:
                async with sem:
                    statuses.append(await webhook(flood_team, random.choice(case_ids), f"flood-{i}"))

            await asyncio.gather(*(one(i) for i in range(args.flood)))
            flood_stats["taken_in_s"] = time.time() - t0
            flood_stats["accepted"] = sum(1 for s in statuses if s == 200)
            flood_done.set()

        print("flood phase", flush=True)
        flood_task = asyncio.create_task(flood())
        killer = asyncio.create_task(asyncio.sleep(args.flood_seconds / 2))
        sampler = asyncio.create_task(sample_loop("flood", args.flood_seconds))
        await killer
        victim = bench.replicas[-1]
        victim.send_signal(signal.SIGKILL)
        killed_at = time.time()
        print("replica killed", flush=True)
        await sampler
        await flood_task

        async def flood_queue() -> int:
            return int(await redis.zcard(keys[flood_team].schedule()) and
                       await redis.zcount(keys[flood_team].schedule(), "-inf", time.time()))

        t_drain = time.time()
        while time.time() - t_drain < 300 and await flood_queue() > 0:
            await asyncio.sleep(1)
        flood_stats["drained_after_s"] = time.time() - t_drain + flood_stats.get("taken_in_s", 0)
        await asyncio.sleep(10)  # late duplicates, if any, would show now

        # Exactly once: every sampled chat in its workspace's channel once.
        lost = dup = 0
        for s in samples:
            items = posted_items(workspaces[s["team"]], s["channel"]) if s["channel"] else []
            count = items.count(s["item"])
            lost += count == 0
            dup += count > 1
        memory = 0
        nkeys = 0
        async for k in redis.scan_iter(match=f"{bench.prefix}:*", count=1000):
            if ":rate:" in k:
                continue
            memory += int(await redis.memory_usage(k) or 0)
            nkeys += 1
        pairs = len(teams) * len(case_ids)

        def picked(s: dict[str, Any], phase: str) -> bool:
            if phase == "flood, before the kill":
                return bool(s["phase"] == "flood" and s["sent"] < killed_at)
            if phase == "flood, after the kill":
                return bool(s["phase"] == "flood" and s["sent"] >= killed_at)
            return bool(s["phase"] == phase)

        def row(phase: str) -> str:
            lat = [s["latency"] for s in samples if picked(s, phase) and s["latency"] is not None]
            total = len([s for s in samples if picked(s, phase)])
            return (f"| {phase} | {total} | {len(lat)} | {pct(lat, 50):.2f} s | {pct(lat, 95):.2f} s | "
                    f"{max(lat) if lat else float('nan'):.2f} s |")

        lines += [
            f"{len(teams)} workspaces x {len(case_ids)} relayed cases (same sandbox partner: {pairs} "
            f"case-workspace pairs), {args.replicas} `caseroom relay` replicas in multi-workspace mode, "
            "3-master Redis Cluster on loopback.",
            "",
            "| webhook path, small workspaces | chats | posted | p50 | p95 | max |",
            "|---|---|---|---|---|---|",
            row("quiet"),
            row("flood"),
            row("flood, before the kill"),
            row("flood, after the kill"),
            "",
            f"Flood: {args.flood} webhook events for workspace 0, {int(flood_stats.get('accepted', 0))} "
            f"accepted (200), taken in within {flood_stats.get('taken_in_s', 0):.1f} s, its due fetches "
            f"worked off {flood_stats.get('drained_after_s', 0):.1f} s after the flood began.",
            f"One replica SIGKILLed at {killed_at - started:.0f} s: sampled chats lost {lost}, duplicated "
            f"{dup} (of {len(samples)}).",
            f"Redis: {nkeys} keys, {memory} bytes (MEMORY USAGE, rate windows excluded) = "
            f"{memory / max(1, pairs):.0f} B per relayed case-workspace pair.",
            f"Before the timed phases: {baselined} (the rest were still being baselined).",
            f"Sampled: {len(pairs_timed)} (workspace, own case) pairs, {len(own.get(teams[1], []))} case(s) "
            "per small workspace, none shared.",
        ]
        await http.aclose()
        await registry.aclose()
    finally:
        for proc in bench.replicas:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in bench.replicas:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(30)
            if proc.poll() is None:
                proc.kill()
        control.close()
        await fake.stop()
        sandbox.send_signal(signal.SIGTERM)
        sandbox.wait(timeout=30)
        await redis.aclose()
        cluster.stop()
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workspaces", type=int, default=10)
    parser.add_argument("--cases", type=int, default=60, help="sandbox cases (about 63 %% are relayed)")
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--flood", type=int, default=2000)
    parser.add_argument("--quiet-seconds", type=float, default=45)
    parser.add_argument("--flood-seconds", type=float, default=60)
    print(asyncio.run(run(parser.parse_args())))


if __name__ == "__main__":
    main()
