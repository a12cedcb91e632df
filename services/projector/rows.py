"""One batch's working set of vault rows, as plain dicts, written back in bulk.

Rows a batch touches are loaded with one query per table and key chunk, changed in memory, and
written with one executemany per table: an upsert for tables of current state (companies, leads,
runs...), a plain insert for append-only tables (steps, API calls, logs...). No ORM objects."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Table, delete, insert, select, tuple_
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

CHUNK = 500


def defaults_of(model: type[SQLModel]) -> dict[str, Any]:
    return {name: f.get_default(call_default_factory=True) for name, f in model.model_fields.items()}


class StateRows:
    """Current-state rows of one table keyed by primary key (a tuple)."""

    def __init__(self, model: type[SQLModel]) -> None:
        self.table: Table = model.__table__  # type: ignore[attr-defined]
        self.pk = [c.name for c in self.table.primary_key.columns]
        self.defaults = defaults_of(model)
        self.rows: dict[tuple[Any, ...], dict[str, Any]] = {}
        self.looked_up: set[tuple[Any, ...]] = set()
        self.dirty: set[tuple[Any, ...]] = set()

    def reset(self) -> None:
        self.rows.clear()
        self.looked_up.clear()
        self.dirty.clear()

    def load(self, conn: Connection, keys: Iterable[tuple[Any, ...]]) -> None:
        wanted = [k for k in dict.fromkeys(keys) if k not in self.looked_up]
        if not wanted:
            return
        self.looked_up.update(wanted)
        cols = [self.table.c[n] for n in self.pk]
        for start in range(0, len(wanted), CHUNK):
            chunk = wanted[start:start + CHUNK]
            where = cols[0].in_([k[0] for k in chunk]) if len(cols) == 1 else tuple_(*cols).in_(chunk)
            for row in conn.execute(select(self.table).where(where)).mappings():
                d = dict(row)
                self.rows[tuple(d[n] for n in self.pk)] = d

    def get(self, conn: Connection, key: tuple[Any, ...]) -> dict[str, Any] | None:
        if key not in self.looked_up:
            self.load(conn, [key])
        return self.rows.get(key)

    def touch(self, conn: Connection, key: tuple[Any, ...], **initial: Any) -> dict[str, Any]:
        """The row to change (created with defaults and ``initial`` if missing), marked for writing."""
        row = self.get(conn, key)
        if row is None:
            row = {**self.defaults, **dict(zip(self.pk, key, strict=True)), **initial}
            self.rows[key] = row
        self.dirty.add(key)
        return row

    def flush(self, conn: Connection) -> None:
        if not self.dirty:
            return
        rows = [self.rows[k] for k in self.dirty]
        upsert(conn, self.table, self.pk, rows)
        self.dirty.clear()


def upsert(conn: Connection, table: Table, pk: list[str], rows: list[dict[str, Any]]) -> None:
    dialect = conn.dialect.name
    if dialect in ("sqlite", "postgresql"):
        if dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        else:
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        stmt = dialect_insert(table)
        others = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in pk}
        conn.execute(stmt.on_conflict_do_update(index_elements=pk, set_=others), rows)
        return
    cols = [table.c[n] for n in pk]  # any other engine: replace the rows
    keys = [tuple(r[n] for n in pk) for r in rows]
    for start in range(0, len(keys), CHUNK):
        conn.execute(delete(table).where(tuple_(*cols).in_(keys[start:start + CHUNK])))
    conn.execute(insert(table), rows)


def insert_rows(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    conn.execute(insert(table), rows)


class AppendRows:
    """Rows of an append-only table (keyed by stream sequence), inserted in one executemany."""

    def __init__(self, model: type[SQLModel]) -> None:
        self.table: Table = model.__table__  # type: ignore[attr-defined]
        self.defaults = defaults_of(model)
        self.rows: list[dict[str, Any]] = []

    def add(self, **values: Any) -> None:
        self.rows.append({**self.defaults, **values})

    def flush(self, conn: Connection) -> None:
        if self.rows:
            insert_rows(conn, self.table, self.rows)
            self.rows = []
