"""Engines for the vault: SQLite (default, WAL) or any SQLAlchemy URL such as PostgreSQL."""

from __future__ import annotations

import json
import os
import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.schema import CreateTable
from sqlmodel import SQLModel, create_engine

from shared.vault import schema  # noqa: F401  (registers the tables)
from shared.vault.migrations import create_indexes


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
