"""The embedded NATS admits only the data dir's credentials, and with TLS on, only TLS with its CA.

``hunter up`` / ``hunter demo`` / a service run alone start their server through ``nats_for``: it makes an
NKey user seed (and with TLS a CA and a server certificate) in ``<data dir>/nats-auth`` and gives the
processes of the block the environment that holds them. A client without them is refused at once.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from shared.bus import NatsRefused, connect, connect_bus
from shared.events import STREAM_NAME
from shared.nats_security import ClientSecurity, EmbeddedSecurity, NatsSecurityError, environ_set
from shared.nats_server import NatsCluster, free_port, joined_env, nats_for, running_url

NO_CREDENTIALS = {"NATS_CREDS": "", "NATS_USER": "", "NATS_PASSWORD": "", "NATS_TLS_CA": "", "NATS_TLS_CERT": "",
                  "NATS_TLS_KEY": ""}


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _info_line(url: str) -> tuple[socket.socket, dict]:  # type: ignore[type-arg]
    host, port = url.split("://", 1)[1].split(",")[0].rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=5)
    line = sock.makefile("rb").readline().decode()
    assert line.startswith("INFO ")
    return sock, json.loads(line[5:])


async def test_a_client_without_the_data_dirs_credentials_is_refused_and_one_with_them_works(tmp_path: Path) -> None:
    with nats_for(tmp_path, tls=False) as url:
        assert url.startswith("nats://127.0.0.1:")
        sock, info = _info_line(url)
        sock.close()
        assert info.get("auth_required") is True and "nonce" in info

        with environ_set(NO_CREDENTIALS), pytest.raises(NatsRefused, match="(?i)authorization"):
            await connect(url, name="stranger")

        async with connect_bus(url, name="insider") as bus:  # the block's environment holds the seed
            await bus.nc.publish("obs.ping", b"x")
            info = await bus.js.stream_info(STREAM_NAME)
            assert info.config.name == STREAM_NAME

    auth = tmp_path / "nats-auth"
    assert _mode(auth) == 0o700
    for secret in ("hunter.nk", "route.pass"):
        assert _mode(auth / secret) == 0o600
    assert (auth / "hunter.nk").read_text().startswith("SU")
    public = EmbeddedSecurity(auth, tls=False).public_key()
    assert public.startswith("U")
    conf = tmp_path / "nats-server.conf"
    assert _mode(conf) == 0o600 and public in conf.read_text()
    assert (auth / "hunter.nk").read_text().strip() not in conf.read_text()  # the server knows no seed


async def test_a_joined_server_lends_its_credentials_and_a_second_start_keeps_them(tmp_path: Path) -> None:
    with nats_for(tmp_path, tls=False) as url:
        seed = (tmp_path / "nats-auth" / "hunter.nk").read_bytes()
        with environ_set(NO_CREDENTIALS):
            with nats_for(tmp_path) as joined:  # e.g. `hunter replay` beside a `hunter up`
                assert joined == url
                async with connect_bus(joined, name="joiner"):
                    pass
            with joined_env(tmp_path, url):  # `hunter hunt` through up.json
                async with connect_bus(url, name="hunt"):
                    pass
            with pytest.raises(NatsRefused):
                await connect(url, name="outside-the-blocks")
    with nats_for(tmp_path, tls=False) as again:
        assert (tmp_path / "nats-auth" / "hunter.nk").read_bytes() == seed
        async with connect_bus(again, name="again"):
            pass


async def test_with_tls_the_generated_ca_works_and_plain_or_unverified_clients_are_refused(tmp_path: Path) -> None:
    with nats_for(tmp_path, tls=True) as url:
        assert url.startswith("tls://127.0.0.1:")
        auth = tmp_path / "nats-auth"
        assert _mode(auth / "tls" / "server-key.pem") == 0o600
        assert sorted(f.name for f in (auth / "tls").iterdir()) == ["ca.pem", "server-key.pem", "server.pem"]

        async with connect_bus(url, name="tls-client") as bus:
            assert bus.nc._transport is not None
            assert bus.nc._transport._io_writer.get_extra_info("ssl_object") is not None  # type: ignore[attr-defined]

        with environ_set({"NATS_TLS_CA": ""}), pytest.raises(NatsRefused, match="(?i)certificate"):
            await connect(url, name="trusts-only-the-system-cas")

        sock, info = _info_line(url)  # a client speaking plain NATS gets nowhere
        try:
            assert info.get("tls_required") is True
            sock.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\nPING\r\n')
            reply = b""
            try:
                while chunk := sock.recv(4096):
                    reply += chunk
            except OSError:
                pass
            assert b"PONG" not in reply
        finally:
            sock.close()


async def test_an_authenticated_tls_cluster_routes_its_nodes_and_keeps_three_replicas(tmp_path: Path) -> None:
    security = EmbeddedSecurity.ensure(tmp_path, tls=True)
    cluster = NatsCluster(tmp_path, 3, security=security)
    cluster.start()
    try:
        assert cluster.url.count("tls://") == 3
        for node in cluster.nodes:
            conf = node.store.parent / f"{node.store.name}-server.conf"
            assert _mode(conf) == 0o600
            assert security.route_password_file.read_text().strip() not in " ".join(node.proc.args)  # type: ignore[union-attr]
        with environ_set(security.client_env()):
            async with connect_bus(cluster.url, name="cluster-client", replicas=3) as bus:
                info = await bus.js.stream_info(STREAM_NAME)
                assert info.config.num_replicas == 3
                assert info.cluster is not None and len(info.cluster.replicas or []) == 2  # routed: both peers
        with environ_set(NO_CREDENTIALS), pytest.raises(NatsRefused):
            await connect(cluster.url, name="stranger")
    finally:
        cluster.stop()


def test_half_settings_and_missing_files_are_refused_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(NatsSecurityError, match="NATS_CREDS=.*no such file"):
        ClientSecurity.from_env({"NATS_CREDS": str(tmp_path / "missing.creds")})
    with pytest.raises(NatsSecurityError, match="NATS_USER and NATS_PASSWORD"):
        ClientSecurity.from_env({"NATS_USER": "hunter"})
    cert = tmp_path / "c.pem"
    cert.write_text("x")
    with pytest.raises(NatsSecurityError, match="NATS_TLS_CERT and NATS_TLS_KEY"):
        ClientSecurity.from_env({"NATS_TLS_CERT": str(cert)})


def test_a_creds_file_is_sent_as_user_credentials_and_a_seed_file_as_an_nkey(tmp_path: Path) -> None:
    creds = tmp_path / "user.creds"
    creds.write_text("-----BEGIN NATS USER JWT-----\neyJ0\n------END NATS USER JWT------\n"
                     "-----BEGIN USER NKEY SEED-----\nSUAAA\n------END USER NKEY SEED------\n")
    seed = tmp_path / "user.nk"
    seed.write_text("SUAAA\n")
    assert ClientSecurity.from_env({"NATS_CREDS": str(creds)}).connect_options() == {"user_credentials": str(creds)}
    assert ClientSecurity.from_env({"NATS_CREDS": str(seed)}).connect_options() == {"nkeys_seed": str(seed)}
    assert ClientSecurity.from_env({"NATS_USER": "u", "NATS_PASSWORD": "p"}).connect_options() == \
        {"user": "u", "password": "p"}
    assert ClientSecurity.from_env({}).connect_options() == {}


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
async def test_a_service_run_alone_starts_an_authenticated_server_and_joins_it_with_the_seed(
    tmp_path: Path, tls: bool,
) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NATS_")}
    env.update(HUNTER_DATA_DIR=str(tmp_path), METRICS_PORT=str(port), PYTHONUNBUFFERED="1",
               HUNTER_NATS_TLS="1" if tls else "0")
    log = (tmp_path / "projector.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "services.projector"], env=env, stdout=log, stderr=subprocess.STDOUT,
                            cwd=str(Path(__file__).resolve().parents[2]))
    try:
        deadline = time.monotonic() + 60
        while True:  # /readyz answers 200 once the service's broker is connected
            assert proc.poll() is None, (tmp_path / "projector.log").read_text()[-2000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                    if r.status == 200:
                        break
            except (OSError, urllib.error.HTTPError):
                pass
            assert time.monotonic() < deadline, (tmp_path / "projector.log").read_text()[-2000:]
            await asyncio.sleep(0.2)
        url = running_url(tmp_path)
        assert url and url.startswith("tls://" if tls else "nats://")
        with environ_set(NO_CREDENTIALS), pytest.raises(NatsRefused):
            await connect(url, name="stranger")
        with environ_set(NO_CREDENTIALS), joined_env(tmp_path, url):
            async with connect_bus(url, name="same-data-dir"):
                pass
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
