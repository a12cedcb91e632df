"""Engines for the vault: SQLite (default, WAL) or any SQLAlchemy URL such as PostgreSQL.

The projector is the vault's only writer: it opens it with :func:`open_writer` (creates the tables,
migrates an older vault). Every other reader uses :func:`open_reader`, which never creates nor
migrates anything and cannot write: SQLite connections are opened without creating the file and
with ``query_only``; PostgreSQL ones with ``default_transaction_read_only``. A reader of a vault the
projector has not created yet gets :class:`VaultMissing` when it connects (a clear error, not an
empty file or tables of its own); :func:`wait_for` waits for the projector's checkpoint."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import time
from typing import Any
from urllib.parse import quote

from sqlalchemy import event, select
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.schema import CreateTable
from sqlmodel import SQLModel, create_engine

from shared.vault import schema  # (imported: registers the tables)
from shared.vault.migrations import create_indexes, upgrade_vault

_CHECKPOINTS = schema.Checkpoint.__table__  # type: ignore[attr-defined]
PROJECTOR = "projector"  # the name of the projector's checkpoint row


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def make_engine(url: str, *, create: bool = True, bulk: bool = False, busy_timeout: float = 30.0) -> Engine:
    """``bulk``: a fresh vault being filled by one writer (a replay): its tables are created without
    their secondary indexes (:func:`build_indexes` once loaded). On SQLite it is a file swapped in
    only once complete, so a crash midway loses nothing worth keeping: no fsync, no rollback journal.
    ``busy_timeout``: how long a SQLite statement waits for a lock another connection holds."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": busy_timeout})
        _private_file(engine.url.database)
        pragmas = (["journal_mode=OFF", "synchronous=OFF", "cache_size=-524288",
                    "temp_store=MEMORY"] if bulk
                   else ["journal_mode=WAL", "synchronous=NORMAL"])

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            for pragma in pragmas:
                cur.execute(f"PRAGMA {pragma}")
            cur.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
            cur.close()
    else:
        engine = create_engine(url, pool_pre_ping=True)
    if create:
        create_tables(engine, indexes=not bulk)
    return engine


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


def _private_file(path: str | None) -> None:
    """The vault file readable by its owner only (0600): it holds the leads and the config. SQLite gives its
    WAL and shared-memory files the database file's mode."""
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    try:
        os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
        os.chmod(path, 0o600)
    except OSError:  # a directory that does not exist yet, another owner: SQLite reports it on connect
        pass


def create_tables(engine: Engine, attempts: int = 10, *, indexes: bool = True) -> None:
    """Create missing tables; several processes may race to do it on a fresh vault. Without
    ``indexes`` only the tables and their primary keys (a bulk load: :func:`build_indexes` after it)."""
    for attempt in range(attempts):
        try:
            if indexes:
                SQLModel.metadata.create_all(engine)
            else:
                with engine.begin() as conn:
                    for table in SQLModel.metadata.sorted_tables:
                        conn.execute(CreateTable(table, if_not_exists=True))
            return
        except (OperationalError, IntegrityError, ProgrammingError) as exc:
            # another process created a table between check and create (PostgreSQL: a duplicate
            # pg_type row or "already exists"; SQLite: "already exists" or a lock)
            racing = ("already exists", "locked", "duplicate key")
            if not any(r in str(exc) for r in racing) or attempt == attempts - 1:
                raise
            time.sleep(0.05 * (attempt + 1))


def build_indexes(engine: Engine) -> None:
    """Create every secondary index (after a bulk load into tables made without them), then ``ANALYZE``."""
    with engine.begin() as conn:
        create_indexes(conn, [i for t in SQLModel.metadata.sorted_tables for i in t.indexes])


def vault_file(url: str) -> str | None:
    """The file of a SQLite vault URL (None for another database or an in-memory one)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return parsed.database


def file_identity(path: str) -> tuple[int, int] | None:
    """(device, inode) of ``path``: a replay swaps a new vault file in under the same name."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino
