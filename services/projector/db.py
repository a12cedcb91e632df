"""Engines for the vault: SQLite (default, WAL) or any SQLAlchemy URL such as PostgreSQL."""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import SQLModel, create_engine

from services.projector import models  # noqa: F401  (registers the tables)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def make_engine(url: str, *, create: bool = True, bulk: bool = False) -> Engine:
    """``bulk``: a SQLite file being built by one writer and swapped in when complete (a replay), so
    a crash midway loses nothing worth keeping: no fsync, the rollback journal in memory."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        pragmas = (["journal_mode=MEMORY", "synchronous=OFF", "cache_size=-262144", "temp_store=MEMORY"] if bulk
                   else ["journal_mode=WAL", "synchronous=NORMAL"])

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            for pragma in pragmas:
                cur.execute(f"PRAGMA {pragma}")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()
    else:
        engine = create_engine(url, pool_pre_ping=True)
    if create:
        create_tables(engine)
    return engine


def create_tables(engine: Engine, attempts: int = 10) -> None:
    """Create missing tables; several processes may race to do it on a fresh vault."""
    for attempt in range(attempts):
        try:
            SQLModel.metadata.create_all(engine)
            return
        except OperationalError as exc:  # another process created a table between check and create
            if "already exists" not in str(exc) and "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
