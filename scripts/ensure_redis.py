"""Find a Redis server for the tests, or start a private one.

Prints "<url> <pid-or->" on one line. Order: $TEST_REDIS_URL, $REDIS_URL, 127.0.0.1:6379,
else a private `redis-server` on a free port (the caller kills the pid), else exit 1 with
one line saying how to install Redis.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import redis


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


def main() -> int:
    for name in ("TEST_REDIS_URL", "REDIS_URL"):
        url = os.environ.get(name)
        if url and answers(url):
            print(f"{url} -")
            return 0
    if answers("redis://127.0.0.1:6379/0"):
        print("redis://127.0.0.1:6379/0 -")
        return 0
    binary = shutil.which("redis-server")
    if binary is None:
        print(
            "No Redis answers on $TEST_REDIS_URL, $REDIS_URL or 127.0.0.1:6379 and redis-server is not "
            "installed: install it (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis) "
            "or point TEST_REDIS_URL at one.",
            file=sys.stderr,
        )
        return 1
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="caseroom-redis-")
    proc = subprocess.Popen(  # noqa: S603
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", workdir],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if answers(url):
            print(f"{url} {proc.pid}")
            return 0
        time.sleep(0.05)
    proc.kill()
    print(f"redis-server started on port {port} but never answered", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
