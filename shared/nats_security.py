"""Who may talk to NATS, and over what: the client options every connection takes from the environment,
and the credentials an embedded server makes for itself.

Clients (FastStream brokers, raw nats-py connections) read:

- ``NATS_CREDS``: a file. A ``.creds`` file (user JWT and NKey seed, for a server in operator mode) or an
  NKey seed file (``SU…``, for a server listing ``authorization { users = [ {nkey: U…} ] }``).
- ``NATS_USER`` / ``NATS_PASSWORD``: user and password, both or neither.
- ``NATS_TLS_CA`` (the CA the server's certificate is checked against; unset: the system's),
  ``NATS_TLS_CERT`` / ``NATS_TLS_KEY`` (a client certificate, both or neither). Any of them turns TLS on;
  so does a ``tls://`` server URL.

An embedded server (``hunter up``, ``hunter demo``, a service run alone) keeps its own under
``<data dir>/nats-auth/`` (directory 0700, secrets 0600), made on first start: an NKey user seed
(``hunter.nk``, the ``NATS_CREDS`` its services get; the server's config holds only its public key), a
route password for a cluster's nodes (``route.pass``), and with ``HUNTER_NATS_TLS=1`` a CA and a server
certificate for 127.0.0.1 / ::1 / localhost (``tls/``; the CA's key is thrown away once it has signed:
it can sign nothing more).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import json
import os
import secrets
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CLIENT_ENV = ("NATS_CREDS", "NATS_USER", "NATS_PASSWORD", "NATS_TLS_CA", "NATS_TLS_CERT", "NATS_TLS_KEY")
JWT_MARKER = "BEGIN NATS USER JWT"


class NatsSecurityError(ValueError):
    """A NATS security setting that cannot be used, with what to do about it."""


@dataclass(frozen=True)
class ClientSecurity:
    creds: Path | None = None
    user: str | None = None
    password: str | None = None
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ClientSecurity:
        env = os.environ if env is None else env

        def path(name: str) -> Path | None:
            value = (env.get(name) or "").strip()
            if not value:
                return None
            p = Path(value).expanduser()
            if not p.is_file():
                raise NatsSecurityError(f"{name}={value}: no such file")
            return p

        user, password = env.get("NATS_USER") or None, env.get("NATS_PASSWORD") or None
        if bool(user) != bool(password):
            raise NatsSecurityError("NATS_USER and NATS_PASSWORD go together: set both or neither")
        cert, key = path("NATS_TLS_CERT"), path("NATS_TLS_KEY")
        if bool(cert) != bool(key):
            raise NatsSecurityError("NATS_TLS_CERT and NATS_TLS_KEY go together: set both or neither")
        return cls(creds=path("NATS_CREDS"), user=user, password=password, tls_ca=path("NATS_TLS_CA"),
                   tls_cert=cert, tls_key=key)

    @property
    def tls(self) -> bool:
        return bool(self.tls_ca or self.tls_cert)

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(self.tls_ca) if self.tls_ca else None)
        if self.tls_cert and self.tls_key:
            ctx.load_cert_chain(str(self.tls_cert), str(self.tls_key))
        return ctx

    def connect_options(self) -> dict[str, Any]:
        """Keyword arguments for ``nats.connect`` (FastStream's ``NatsBroker`` passes them on as they are)."""
        options: dict[str, Any] = {}
        if self.creds:
            kind = "user_credentials" if JWT_MARKER in self.creds.read_text(errors="replace") else "nkeys_seed"
            options[kind] = str(self.creds)
        if self.user:
            options.update(user=self.user, password=self.password)
        if self.tls:
            options["tls"] = self.ssl_context()
        return options


def client_options(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The options of a connection made now: from ``env``, else the settings as they are now (the process's
    environment, then a ``.env`` file)."""
    return ClientSecurity.from_env(_settings_env() if env is None else env).connect_options()


def _settings_env() -> dict[str, str]:
    from shared.config import Settings

    s = Settings()
    values = {"NATS_CREDS": s.nats_creds, "NATS_USER": s.nats_user, "NATS_PASSWORD": s.nats_password,
              "NATS_TLS_CA": s.nats_tls_ca, "NATS_TLS_CERT": s.nats_tls_cert, "NATS_TLS_KEY": s.nats_tls_key}
    return {k: v for k, v in values.items() if v}


@contextlib.contextmanager
def environ_set(values: Mapping[str, str]) -> Iterator[None]:
    """``os.environ`` with ``values`` for the block (the processes it starts inherit them), as it was after."""
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def tls_wanted() -> bool:
    """``HUNTER_NATS_TLS``: an embedded server speaking TLS only. Off by default: on loopback no other user
    can read the traffic, while the NKey keeps other users' processes out; TLS would cost every message
    an encryption for nothing (across machines, configure it with ``NATS_TLS_*``)."""
    from shared.config import Settings

    return Settings().nats_tls_embedded


# ---- an embedded server's own credentials ---------------------------------------------------------

def _write_secret(path: Path, data: bytes, *, exclusive: bool = False) -> bool:
    """Write ``data`` to a file only its owner reads; ``exclusive``: only if there is none (False if there was)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC), 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, 0o600)
    return True


def new_user_nkey() -> tuple[bytes, str]:
    """A new NKey user: its seed (``SU…``, secret) and public key (``U…``, for the server's config)."""
    import nkeys

    seed = nkeys.encode_seed(secrets.token_bytes(32), nkeys.PREFIX_BYTE_USER)
    kp = nkeys.from_seed(bytearray(seed))
    try:
        return bytes(seed), kp.public_key.decode()
    finally:
        kp.wipe()


def _self_signed_chain(directory: Path) -> None:
    """A CA and a server certificate it signed for loopback (serverAuth and clientAuth: a cluster's routes
    present it to each other) in ``directory``, made whole beside it and renamed into place (two processes
    starting at once keep one matching set). The CA's key is not kept."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    until = now + dt.timedelta(days=3650)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Hunter embedded NATS CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(until)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
             x509.IPAddress(ipaddress.ip_address("::1"))]
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hunter-nats")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(until)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    staging = directory.with_name(f"{directory.name}.{os.getpid()}.{secrets.token_hex(4)}")
    staging.mkdir(mode=0o700)
    _write_secret(staging / "server-key.pem", key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    _write_secret(staging / "server.pem", cert.public_bytes(serialization.Encoding.PEM))
    _write_secret(staging / "ca.pem", ca.public_bytes(serialization.Encoding.PEM))
    try:
        os.rename(staging, directory)
    except OSError:  # another process made one first: keep theirs
        for f in staging.iterdir():
            f.unlink()
        staging.rmdir()


def _q(value: str | Path) -> str:
    return json.dumps(str(value))  # nats-server's config takes JSON strings


@dataclass(frozen=True)
class EmbeddedSecurity:
    """The credentials of the embedded server(s) of one data dir, and the config blocks that use them."""

    directory: Path
    tls: bool

    @classmethod
    def ensure(cls, data_dir: Path, *, tls: bool = False) -> EmbeddedSecurity:
        directory = Path(data_dir) / "nats-auth"
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
        sec = cls(directory, tls)
        # each written only if absent, so processes starting at once keep the first one's (the public key is
        # read from the seed, never from a file that could belong to another seed)
        _write_secret(sec.seed_file, new_user_nkey()[0] + b"\n", exclusive=True)
        _write_secret(sec.route_password_file, secrets.token_urlsafe(24).encode(), exclusive=True)
        if tls and not sec.ca_file.is_file():
            _self_signed_chain(directory / "tls")
        return sec

    @property
    def seed_file(self) -> Path:
        return self.directory / "hunter.nk"

    def public_key(self) -> str:
        import nkeys

        kp = nkeys.from_seed(bytearray(self.seed_file.read_bytes().strip()))
        try:
            return kp.public_key.decode()
        finally:
            kp.wipe()

    @property
    def route_password_file(self) -> Path:
        return self.directory / "route.pass"

    @property
    def ca_file(self) -> Path:
        return self.directory / "tls" / "ca.pem"

    @property
    def cert_file(self) -> Path:
        return self.directory / "tls" / "server.pem"

    @property
    def key_file(self) -> Path:
        return self.directory / "tls" / "server-key.pem"

    @property
    def scheme(self) -> str:
        return "tls" if self.tls else "nats"

    def client_env(self) -> dict[str, str]:
        """What a client of these servers sets: the seed, and the CA when they speak TLS."""
        env = {"NATS_CREDS": str(self.seed_file), "NATS_USER": "", "NATS_PASSWORD": "", "NATS_TLS_CERT": "",
               "NATS_TLS_KEY": "", "NATS_TLS_CA": str(self.ca_file) if self.tls else ""}
        return env

    def _tls_block(self, *, verify_peers: bool) -> str:
        ca = f"  ca_file: {_q(self.ca_file)}\n" if verify_peers else ""
        return (f"tls {{\n  cert_file: {_q(self.cert_file)}\n  key_file: {_q(self.key_file)}\n{ca}"
                "  timeout: 2\n}\n")

    def server_config(self) -> str:
        public = self.public_key()
        conf = f"authorization {{\n  users = [ {{ nkey: {_q(public)} }} ]\n  timeout: 2\n}}\n"
        return conf + (self._tls_block(verify_peers=False) if self.tls else "")

    def cluster_config(self, *, name: str, listen_port: int, route_ports: list[int]) -> str:
        """A cluster block: routes only between nodes that know the route password (and, with TLS, hold a
        certificate of this CA)."""
        password = self.route_password_file.read_text().strip()
        routes = ", ".join(_q(f"nats://route:{password}@127.0.0.1:{p}") for p in route_ports)
        tls = self._tls_block(verify_peers=True).replace("\n", "\n  ").rstrip() + "\n" if self.tls else ""
        return (f"cluster {{\n  name: {_q(name)}\n  listen: {_q(f'127.0.0.1:{listen_port}')}\n"
                f"  authorization {{ user: \"route\", password: {_q(password)}, timeout: 2 }}\n"
                f"  routes = [ {routes} ]\n  {tls}}}\n")
