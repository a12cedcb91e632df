"""``GATEWAY_WORKERS``: the gateway served by several uvicorn processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from shared.nats_server import free_port
from shared.vault.access import open_writer

REPO = Path(__file__).resolve().parents[2]


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def test_gateway_workers_start_that_many_processes_serving_one_port(tmp_path: Path, nats_url: str) -> None:
    port = free_port()
    env = {**os.environ, "HUNTER_DATA_DIR": str(tmp_path), "NATS_URL": nats_url, "GATEWAY_PORT": str(port),
           "GATEWAY_WORKERS": "2"}
    open_writer(f"sqlite:///{tmp_path / 'vault.db'}").dispose()  # the vault, as the projector creates it
    proc = subprocess.Popen([sys.executable, "-m", "services.gateway"], cwd=REPO, env=env)
    try:
        deadline, answered = time.monotonic() + 90, 0
        while answered < 4 and time.monotonic() < deadline:
            try:
                answered += httpx.get(f"http://127.0.0.1:{port}/api/leads", timeout=5).status_code == 200
            except httpx.TransportError:
                time.sleep(0.2)
        assert answered == 4, proc.poll()
        workers = [c for c in _children(proc.pid)
                   if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]
        assert len(workers) == 2, _children(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    assert proc.returncode == 0
