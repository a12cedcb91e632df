"""How services open the vault. The projector is its only writer: it opens it with :func:`open_writer`
(creates the tables, migrates an older vault). Every other reader uses :func:`open_reader`, which
never creates nor migrates anything and cannot write: SQLite connections are opened without creating
the file and with ``query_only``; PostgreSQL ones with ``default_transaction_read_only``. A reader of
a vault the projector has not created yet gets :class:`VaultMissing` when it connects (a clear error,
not an empty file or tables of its own); :func:`wait_for` waits for the projector's checkpoint."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from typing import Any
from urllib.parse import quote

from sqlalchemy import event, select
from sqlalchemy.engine import Engine, make_url
from sqlmodel import create_engine

from shared.vault.engine import make_engine, vault_file
from shared.vault.migrations import upgrade_vault
from shared.vault.schema import Checkpoint

_CHECKPOINTS = Checkpoint.__table__  # type: ignore[attr-defined]
PROJECTOR = "projector"  # the name of the projector's checkpoint row


class VaultMissing(RuntimeError):
    """The vault has not been created yet: the projector creates it when it starts (or ``hunter replay``)."""


def open_writer(url: str, *, bulk: bool = False, busy_timeout: float = 30.0) -> Engine:
    """The projector's engine: the vault's tables created if missing and an older vault migrated
    (``bulk``: a fresh vault a replay fills, see :func:`make_engine`; nothing to migrate)."""
    engine = make_engine(url, create=True, bulk=bulk, busy_timeout=busy_timeout)
    if not bulk:
        upgrade_vault(engine)
    return engine


def open_reader(url: str, *, busy_timeout: float = 30.0) -> Engine:
    """An engine that only reads the vault: no table, index nor file is created, nothing migrated, and
    a write fails. Opening it touches nothing; each new connection to a vault that does not exist yet
    (no file, or no tables in it or in the PostgreSQL schema) raises :class:`VaultMissing`."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = vault_file(url)
        if path is None:
            raise ValueError(f"{url}: an in-memory vault has no reader but its writer")
        return create_engine(url, creator=lambda: _sqlite_reader(path, busy_timeout))
    options = parsed.query.get("options", "")
    options = " ".join(options) if isinstance(options, tuple) else options
    read_only = parsed.update_query_dict({"options": f"{options} -c default_transaction_read_only=on".strip()})
    engine = create_engine(read_only, pool_pre_ping=True)

    @event.listens_for(engine, "connect")
    def _exists(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        try:
            cur.execute("SELECT to_regclass('checkpoints') IS NOT NULL, current_schema()")
            found, in_schema = cur.fetchone()
        finally:
            cur.close()
            dbapi_conn.rollback()
        if not found:
            raise VaultMissing(f"no vault in schema {in_schema} of {parsed.set(query={}).render_as_string()} "
                               "yet: the projector creates it when it starts")

    return engine


def _sqlite_reader(path: str, busy_timeout: float) -> sqlite3.Connection:
    """A connection to an existing vault file that cannot write (``mode=rw`` so that it follows the
    writer's WAL like any connection, but never creates the file; ``query_only`` refuses writes)."""
    missing = f"no vault at {path} yet: the projector creates it when it starts"
    if not os.path.isfile(path):
        raise VaultMissing(missing)
    conn = sqlite3.connect(f"file:{quote(os.path.abspath(path))}?mode=rw", uri=True, check_same_thread=False,
                           timeout=busy_timeout)
    try:
        conn.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        conn.execute("PRAGMA query_only=ON")
        if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'checkpoints'").fetchone() is None:
            raise VaultMissing(missing)
    except BaseException:
        conn.close()
        raise
    return conn


def checkpoint(engine: Engine, name: str = PROJECTOR) -> int:
    """The last stream sequence the projector applied to the vault (0 for none)."""
    with engine.connect() as conn:
        seq = conn.execute(select(_CHECKPOINTS.c.seq).where(_CHECKPOINTS.c.name == name)).scalar()
    return int(seq or 0)


async def wait_for(engine: Engine, seq: int, timeout: float, *, poll: float = 0.1) -> int:
    """Wait until the projector has applied the stream up to ``seq`` (a reader that must see its own
    write, or everything the stream held); the checkpoint reached. A vault not created yet counts as
    at 0. :class:`TimeoutError` after ``timeout`` seconds, saying where the vault is."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            done = await asyncio.to_thread(checkpoint, engine)
        except VaultMissing:
            done = 0
        if done >= seq:
            return done
        if time.monotonic() > deadline:
            raise TimeoutError(f"vault at seq {done}, {seq} needed after {timeout:g}s; is the projector running?")
        await asyncio.sleep(poll)
