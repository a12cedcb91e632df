"""Run Hunter's services as separate processes on one machine (``hunter up``, demo, tests)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from shared.nats_server import free_port, port_answers
from shared.secrets import key_for_data_dir
from shared.vault.access import VaultMissing, checkpoint, open_reader

STAGES = ["extractor", "cleaner", "scorer", "enricher", "exporter", "projector", "ranker", "qualifier"]


@dataclass
class Stack:
    data_dir: Path
    nats_url: str
    env_extra: dict[str, str] = field(default_factory=dict)
    enricher_replicas: int = 1
    gateway: bool = True
    gateway_port: int | None = None
    services: list[str] = field(default_factory=lambda: list(STAGES))
    procs: dict[str, list[subprocess.Popen[bytes]]] = field(default_factory=dict)
    # with METRICS_PORT=BASE each service process gets a port of its own: BASE, BASE+1, ... in start order
    # (a restarted process takes back the port of the one it replaces); the gateway serves /metrics itself
    metrics_ports: dict[str, list[int]] = field(default_factory=dict)
    _port_of: dict[int, int] = field(default_factory=dict)  # pid -> metrics port

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "NATS_URL": self.nats_url,
            "HUNTER_DATA_DIR": str(self.data_dir.resolve()),
            "PYTHONUNBUFFERED": "1",
            # the key sealing secrets saved from the Config page: the environment's, or the data dir's own
            "HUNTER_SECRET_KEY": key_for_data_dir(self.data_dir),
        })
        env.update(self.env_extra)
        return env

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    def spawn(self, name: str) -> subprocess.Popen[bytes]:
        logs = self.data_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        n = len(self.procs.get(name, []))
        log = (logs / f"{name}{'-' + str(n) if n else ''}.log").open("ab")
        env = self.env()
        if name == "enricher":  # replicas size their page workers to the cores they share
            env.setdefault("ENRICHER_REPLICAS_PER_HOST", str(self.enricher_replicas))
        if name == "gateway":
            env["GATEWAY_PORT"] = str(self.gateway_port)
        metrics_port = self._metrics_port(name, env.get("METRICS_PORT", ""))
        if metrics_port is not None:
            env["METRICS_PORT"] = str(metrics_port)
        proc = subprocess.Popen(
            [sys.executable, "-m", f"services.{name}"], env=env, stdout=log, stderr=subprocess.STDOUT,
            cwd=str(Path(__file__).resolve().parents[1]),
        )
        self.procs.setdefault(name, []).append(proc)
        if metrics_port is not None:
            self._port_of[proc.pid] = metrics_port
        return proc

    def _metrics_port(self, name: str, base: str) -> int | None:
        if name == "gateway" or not base.strip().isdigit() or int(base) <= 0:
            return None
        live = {self._port_of.get(p.pid) for p in self.procs.get(name, []) if p.poll() is None}
        spare = [port for port in self.metrics_ports.get(name, []) if port not in live]
        if spare:
            return spare[0]
        port = int(base) + sum(len(ports) for ports in self.metrics_ports.values())
        self.metrics_ports.setdefault(name, []).append(port)
        return port

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        for name in self.services:
            for _ in range(self.enricher_replicas if name == "enricher" else 1):
                self.spawn(name)
        if self.gateway:
            if self.gateway_port is None:
                self.gateway_port = 8080 if not port_answers("127.0.0.1", 8080) else free_port()
            self.spawn("gateway")

    def wait_gateway(self, timeout: float = 30.0) -> bool:
        """Whether the gateway answers within ``timeout`` and, with the projector in the stack, the vault
        it reads exists (before the projector creates it the API answers 503)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.gateway_port and port_answers("127.0.0.1", self.gateway_port) and self._vault_created():
                return True
            time.sleep(0.1)
        return False

    def _vault_created(self) -> bool:
        if "projector" not in self.services:
            return True
        url = self.env().get("HUNTER_VAULT_URL") or f"sqlite:///{(self.data_dir / 'vault.db').resolve()}"
        engine = open_reader(url)
        try:
            checkpoint(engine)
        except (VaultMissing, SQLAlchemyError):  # (not created yet, or a database not answering yet)
            return False
        finally:
            engine.dispose()
        return True

    def crashed(self) -> list[str]:
        return [f"{name}[{i}] exit {p.returncode}" for name, ps in self.procs.items()
                for i, p in enumerate(ps) if p.poll() is not None]

    def stop(self, timeout: float = 30.0) -> None:
        """Stop every service, the projector last: it drains what the others published on their way out."""
        others = [p for name, ps in self.procs.items() if name != "projector" for p in ps]
        _terminate(others, timeout)
        _terminate(self.procs.get("projector", []), timeout)
        self.procs.clear()


def _terminate(procs: list[subprocess.Popen[bytes]], timeout: float) -> None:
    alive = [p for p in procs if p.poll() is None]
    for p in alive:
        p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for p in alive:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
