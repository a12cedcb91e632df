"""The gateway's pooled SQLite connections follow a vault file swapped in by a replay."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.pool import QueuePool

from services.gateway.vault_swap import follow_swaps


def _vault(path: Path, name: str) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE runs (name TEXT)")
        db.execute("INSERT INTO runs VALUES (?)", (name,))


def _names(engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT name FROM runs")).scalars())


def test_pooled_connections_reopen_the_swapped_in_vault(tmp_path: Path) -> None:
    vault, rebuilt = tmp_path / "vault.db", tmp_path / "vault.db.replay"
    _vault(vault, "before")
    engine = create_engine(f"sqlite:///{vault}", poolclass=QueuePool, pool_size=1, max_overflow=0)
    follow_swaps(engine)
    assert _names(engine) == ["before"]

    _vault(rebuilt, "after")
    os.replace(rebuilt, vault)
    assert _names(engine) == ["after"]
    assert _names(engine) == ["after"]  # the fresh connection stays in the pool and is kept


def test_without_the_listener_a_pooled_connection_keeps_the_old_file(tmp_path: Path) -> None:
    """The failure the listener exists for (if this stops holding, the module may be moot)."""
    vault, rebuilt = tmp_path / "vault.db", tmp_path / "vault.db.replay"
    _vault(vault, "before")
    engine = create_engine(f"sqlite:///{vault}", poolclass=QueuePool, pool_size=1, max_overflow=0)
    assert _names(engine) == ["before"]
    _vault(rebuilt, "after")
    os.replace(rebuilt, vault)
    assert _names(engine) == ["before"]
