"""Run a command (the tests) with a Redis of their own in TEST_REDIS_URL.

    python scripts/ensure_redis.py COMMAND [ARG...]

- TEST_REDIS_URL set: that Redis, named explicitly for tests, is used (it must answer). The tests
  isolate themselves by key prefix and remove their keys.
- Otherwise a private `redis-server` is started on a free loopback port with its files in a new
  temporary directory, no persistence; when the command ends (or this script is stopped) the server
  is killed and the directory removed. A Redis merely found (REDIS_URL, 127.0.0.1:6379) is never
  used: it may hold someone's data.
- No redis-server on PATH: exit 1 with one line saying how to install it.

The command's exit code is this script's exit code.
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
from types import FrameType

import redis

INSTALL_HINT = (
    "redis-server is not installed: install it (Debian/Ubuntu: sudo apt-get install redis-server; "
    "Fedora: sudo dnf install redis; macOS: brew install redis), or name a throwaway Redis for the "
    "tests with TEST_REDIS_URL=redis://host:port/db"
)


def answers(url: str) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.RedisError, OSError, ValueError):
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateRedis:
    """A throwaway redis-server: free loopback port, files in a temporary directory, no persistence."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.dir = tempfile.mkdtemp(prefix="caseroom-test-redis-")
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self, timeout: float = 10.0) -> str:
        for _ in range(3):  # another process may take the free port before redis-server binds it
            port = free_port()
            self.proc = subprocess.Popen(  # noqa: S603
                [self.binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--dir", self.dir, "--daemonize", "no", "--logfile", os.path.join(self.dir, "redis.log")],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            self.url = f"redis://127.0.0.1:{port}/0"
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.proc.poll() is None:
                if answers(self.url):
                    return self.url
                time.sleep(0.05)
            self._kill()
        log = os.path.join(self.dir, "redis.log")
        tail = open(log, errors="replace").read()[-2000:] if os.path.exists(log) else ""  # noqa: SIM115
        self.stop()
        raise RuntimeError(f"redis-server did not start:\n{tail}")

    def _kill(self) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def stop(self) -> None:
        self._kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    server: PrivateRedis | None = None
    env = dict(os.environ)
    explicit = os.environ.get("TEST_REDIS_URL", "").strip()
    if explicit:
        if not answers(explicit):
            print(f"TEST_REDIS_URL={explicit} does not answer PING: start it, or unset TEST_REDIS_URL to "
                  "let the tests start a private redis-server", file=sys.stderr)
            return 1
        url = explicit
        print(f"redis for tests: {url} (TEST_REDIS_URL)", flush=True)
    else:
        binary = shutil.which("redis-server")
        if binary is None:
            print(INSTALL_HINT, file=sys.stderr)
            return 1
        server = PrivateRedis(binary)
        try:
            url = server.start()
        except RuntimeError as exc:
            print(str(exc), file=sys.stderr)
            return 1
        print(f"redis for tests: {url} (private redis-server, removed at exit)", flush=True)
    env["TEST_REDIS_URL"] = url

    child: subprocess.Popen[bytes] | None = None

    def forward(signum: int, _frame: FrameType | None) -> None:
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    old = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        child = subprocess.Popen(argv, env=env)  # noqa: S603
        while True:
            try:
                return child.wait()
            except KeyboardInterrupt:  # Ctrl+C reached the child too (same process group): wait for it
                continue
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        if child is not None and child.poll() is None:
            child.kill()
            child.wait()
        if server is not None:
            server.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
