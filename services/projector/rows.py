"""One batch's working set of vault rows, as plain dicts, written back in bulk.

Rows a batch touches are loaded with one query per table and key chunk, changed in memory, and
written with one executemany per table: an upsert for tables of current state (companies, leads,
runs...), a plain insert for append-only tables (steps, API calls, logs...). No ORM objects, and
no SQL compilation per batch: the statements are built once per table, dialect and schema and go
straight to the driver (SQLite and PostgreSQL; any other engine takes SQLAlchemy Core)."""

from __future__ import annotations

from collections.abc import Iterable
from operator import itemgetter
from typing import Any

from sqlalchemy import Boolean, Table, delete, insert, tuple_
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

CHUNK = 500
_MARKS = {"qmark": "?", "format": "%s", "pyformat": "%s"}
_UPSERT_DIALECTS = ("sqlite", "postgresql")


def defaults_of(model: type[SQLModel]) -> dict[str, Any]:
    return {name: f.get_default(call_default_factory=True) for name, f in model.model_fields.items()}


class TableSql:
    """The SQL text of one table for one connection (dialect, schema translation), built once."""

    _cache: dict[tuple[int, str, str | None], TableSql] = {}

    def __init__(self, conn: Connection, table: Table) -> None:
        dialect = conn.dialect
        self.mark = _MARKS.get(dialect.paramstyle)
        self.raw = self.mark is not None and dialect.name in _UPSERT_DIALECTS
        self.sqlite = dialect.name == "sqlite"
        q = dialect.identifier_preparer.quote
        schema = _schema_of(conn, table)
        self.name = f"{dialect.identifier_preparer.quote_schema(schema)}.{q(table.name)}" if schema else q(table.name)
        self.columns = [c.name for c in table.columns]
        self.pk = [c.name for c in table.primary_key.columns]
        self.values = itemgetter(*self.columns)
        self.bools = [i for i, c in enumerate(table.columns) if isinstance(c.type, Boolean)]
        cols = ", ".join(q(c) for c in self.columns)
        marks = ", ".join([self.mark or "?"] * len(self.columns))
        self.select = f"SELECT {cols} FROM {self.name} WHERE "
        self.insert = f"INSERT INTO {self.name} ({cols}) VALUES ({marks})"
        sets = ", ".join(f"{q(c)} = excluded.{q(c)}" for c in self.columns if c not in self.pk)
        conflict = ", ".join(q(c) for c in self.pk)
        self.upsert = f"{self.insert} ON CONFLICT ({conflict}) DO " + (f"UPDATE SET {sets}" if sets else "NOTHING")
        self.quoted_pk = [q(c) for c in self.pk]
        self._q = q
        self._upserts_keeping: dict[tuple[str, ...], str] = {}
        self._updates: dict[tuple[str, ...], str] = {}

    def update_of(self, columns: tuple[str, ...]) -> str:
        """``UPDATE`` of these columns of the row with a primary key; parameters: values, then the key."""
        sql = self._updates.get(columns)
        if sql is None:
            q, mark = self._q, self.mark or "?"
            sets = ", ".join(f"{q(c)} = {mark}" for c in columns)
            where = " AND ".join(f"{c} = {mark}" for c in self.quoted_pk)
            sql = self._updates[columns] = f"UPDATE {self.name} SET {sets} WHERE {where}"
        return sql

    def fix_bools(self, positions: tuple[int, ...], params: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """``params`` whose first values are of the columns at ``positions``, booleans as the driver wants them."""
        at = [j for j, i in enumerate(positions) if i in self.bools]
        if self.sqlite or not at:
            return params
        out = []
        for p in params:
            values = list(p)
            for j in at:
                if values[j] is not None:
                    values[j] = bool(values[j])
            out.append(tuple(values))
        return out

    def upsert_keeping(self, keep: tuple[str, ...]) -> str:
        """The upsert that leaves the ``keep`` columns of an existing row as they are."""
        if not keep:
            return self.upsert
        sql = self._upserts_keeping.get(keep)
        if sql is None:
            q = self._q
            sets = ", ".join(f"{q(c)} = excluded.{q(c)}" for c in self.columns if c not in self.pk and c not in keep)
            sql = self._upserts_keeping[keep] = (f"{self.insert} ON CONFLICT ({', '.join(self.quoted_pk)}) DO "
                                                 + (f"UPDATE SET {sets}" if sets else "NOTHING"))
        return sql

    @classmethod
    def of(cls, conn: Connection, table: Table) -> TableSql:
        key = (id(table), conn.dialect.name, _schema_of(conn, table))
        sql = cls._cache.get(key)
        if sql is None:
            sql = cls._cache[key] = cls(conn, table)
        return sql

    def tuples(self, rows: Iterable[dict[str, Any]]) -> list[tuple[Any, ...]]:
        get = self.values
        if self.sqlite or not self.bools:  # SQLite stores booleans as 0/1 whatever Python hands it
            return [get(r) for r in rows]
        out = []
        for r in rows:
            values = list(get(r))
            for i in self.bools:
                if values[i] is not None:
                    values[i] = bool(values[i])
            out.append(tuple(values))
        return out

    def in_list(self, n: int) -> str:
        return ", ".join([self.mark or "?"] * n)


def _schema_of(conn: Connection, table: Table) -> str | None:
    translate = conn.get_execution_options().get("schema_translate_map")
    if translate and table.schema in translate:
        return translate[table.schema]  # type: ignore[no-any-return]
    return table.schema


def select_rows(conn: Connection, table: Table, keys: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """The rows of ``table`` with these primary keys (one or two key columns)."""
    sql = TableSql.of(conn, table)
    if not sql.raw:
        from sqlalchemy import select

        cols = [table.c[n] for n in sql.pk]
        out: list[dict[str, Any]] = []
        for start in range(0, len(keys), CHUNK):
            chunk = keys[start:start + CHUNK]
            where = cols[0].in_([k[0] for k in chunk]) if len(cols) == 1 else tuple_(*cols).in_(chunk)
            out.extend(dict(r) for r in conn.execute(select(table).where(where)).mappings())
        return out
    if len(sql.pk) == 1:
        groups: dict[tuple[Any, ...], list[Any]] = {(): [k[0] for k in keys]}
    elif len(sql.pk) == 2:  # by first key column (a run): "run_id = ? AND lead_key IN (...)" uses the primary key
        groups = {}
        for k in keys:
            groups.setdefault((k[0],), []).append(k[1])
    else:
        raise ValueError(f"{table.name}: primary keys of more than two columns are not supported")
    cur = conn.connection.cursor()
    columns = sql.columns
    out = []
    try:
        for prefix, values in groups.items():
            head = sql.select + "".join(f"{c} = {sql.mark} AND " for c in sql.quoted_pk[:len(prefix)])
            for start in range(0, len(values), CHUNK):
                chunk = values[start:start + CHUNK]
                cur.execute(f"{head}{sql.quoted_pk[-1]} IN ({sql.in_list(len(chunk))})", (*prefix, *chunk))
                out.extend(dict(zip(columns, row, strict=True)) for row in cur.fetchall())
    finally:
        cur.close()
    return out


def upsert(conn: Connection, table: Table, pk: list[str], rows: list[dict[str, Any]],
           keep: tuple[str, ...] = ()) -> None:
    """Insert or replace these rows; ``keep``: columns an existing row keeps (SQLite, PostgreSQL)."""
    sql = TableSql.of(conn, table)
    if sql.raw:
        _executemany(conn, sql.upsert_keeping(keep), sql.tuples(rows))
        return
    assert not keep, "keep needs an upsert statement"
    cols = [table.c[n] for n in pk]  # any other engine: replace the rows
    keys = [tuple(r[n] for n in pk) for r in rows]
    for start in range(0, len(keys), CHUNK):
        conn.execute(delete(table).where(tuple_(*cols).in_(keys[start:start + CHUNK])))
    conn.execute(insert(table), rows)


def insert_rows(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    sql = TableSql.of(conn, table)
    if sql.raw:
        _executemany(conn, sql.insert, sql.tuples(rows))
    else:
        conn.execute(insert(table), rows)


def delete_keys(conn: Connection, table: Table, column: str, keys: list[Any]) -> None:
    """Delete the rows whose ``column`` is one of ``keys``."""
    sql = TableSql.of(conn, table)
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start:start + CHUNK]
        if sql.raw:
            q = conn.dialect.identifier_preparer.quote(column)
            _execute(conn, f"DELETE FROM {sql.name} WHERE {q} IN ({sql.in_list(len(chunk))})", tuple(chunk))
        else:
            conn.execute(delete(table).where(table.c[column].in_(chunk)))


def _executemany(conn: Connection, statement: str, rows: list[tuple[Any, ...]]) -> None:
    if not rows:
        return
    cur = conn.connection.cursor()
    try:
        cur.executemany(statement, rows)
    finally:
        cur.close()


def _execute(conn: Connection, statement: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    cur = conn.connection.cursor()
    try:
        cur.execute(statement, params)
        return list(cur.fetchall()) if cur.description else []
    finally:
        cur.close()


class StateRows:
    """Current-state rows of one table keyed by primary key (a tuple), in one of two modes.

    Into a vault with its indexes (``fresh`` False, the live projector): a row read from the vault is
    written back with an ``UPDATE`` of the columns that changed alone, or not at all, since an index
    over a column ``SET`` is rewritten even when its value stays the same.

    Into a fresh vault being filled before its secondary indexes exist (``fresh``, a replay): rows
    are written whole. ``write_only`` names the columns set when a row is first inserted and kept
    after, the rest being all set at every touch and never read back: such rows are not read from
    the vault at all, a touch starts from the defaults, and the write is an upsert that keeps those
    columns of a row already there. Once told the vault held none of its rows to begin with
    (:meth:`starts_empty`), a fresh table reads back only rows it may have written itself: those whose
    first key column (a lead's run, say) is one it has written rows of.

    SQLite and PostgreSQL; any other engine reads every row and replaces it."""

    def __init__(self, model: type[SQLModel], *, write_only: tuple[str, ...] | None = None) -> None:
        self.table: Table = model.__table__  # type: ignore[attr-defined]
        self.pk = [c.name for c in self.table.primary_key.columns]
        self.defaults = defaults_of(model)
        self.rows: dict[tuple[Any, ...], dict[str, Any]] = {}
        self.looked_up: set[tuple[Any, ...]] = set()
        self.dirty: dict[tuple[Any, ...], None] = {}  # in touch order: deterministic writes
        self.stored: dict[tuple[Any, ...], tuple[Any, ...]] = {}  # values as read, for writing changes only
        self._key = itemgetter(*self.pk)
        self.write_only = write_only
        self.fresh = False
        self.written: set[Any] | None = None  # first key column of the rows written (starts_empty)
        self._mode: str | None = None  # "blind", "fresh", "changes" or "replace": decided on first use

    def mode(self, conn: Connection) -> str:
        if self._mode is None:
            if not TableSql.of(conn, self.table).raw:
                self._mode = "replace"
            elif self.fresh:
                self._mode = "blind" if self.write_only is not None else "fresh"
            else:
                self._mode = "changes"
        return self._mode

    def starts_empty(self) -> None:
        """The vault holds none of this table's rows but those this object will write (a fresh load)."""
        if self.fresh and self.write_only is None:  # (rows written blind are never read back anyway)
            self.written = set()

    def reset(self) -> None:
        self.rows.clear()
        self.looked_up.clear()
        self.dirty.clear()
        self.stored.clear()

    def load(self, conn: Connection, keys: Iterable[tuple[Any, ...]]) -> None:
        mode = self.mode(conn)
        if mode == "blind":
            return
        wanted = [k for k in dict.fromkeys(keys) if k not in self.looked_up]
        if not wanted:
            return
        self.looked_up.update(wanted)
        if self.written is not None:
            written = self.written
            wanted = [k for k in wanted if k[0] in written]
            if not wanted:
                return
        single = len(self.pk) == 1
        sql = TableSql.of(conn, self.table)
        for d in select_rows(conn, self.table, wanted):
            key = self._key(d)
            key = (key,) if single else key
            self.rows[key] = d
            if mode == "changes":
                self.stored[key] = sql.values(d)

    def get(self, conn: Connection, key: tuple[Any, ...]) -> dict[str, Any] | None:
        if key not in self.looked_up:
            self.load(conn, [key])
        return self.rows.get(key)

    def touch(self, conn: Connection, key: tuple[Any, ...], **initial: Any) -> dict[str, Any]:
        """The row to change (created with defaults and ``initial`` if missing), marked for writing."""
        return self.touch_new(conn, key, **initial)[0]

    def touch_new(self, conn: Connection, key: tuple[Any, ...], **initial: Any) -> tuple[dict[str, Any], bool]:
        """:meth:`touch`, and whether the row is new (neither in the vault nor touched before; in a
        ``blind`` table, rows are never read back and every row is new to this object)."""
        row = self.rows.get(key)
        created = False
        if row is None:
            if key not in self.looked_up and self.mode(conn) != "blind":
                self.load(conn, [key])
                row = self.rows.get(key)
            if row is None:
                row = self.defaults.copy()
                row.update(zip(self.pk, key, strict=True))
                if initial:
                    row.update(initial)
                self.rows[key] = row
                created = True
        self.dirty[key] = None
        return row, created

    def flush(self, conn: Connection) -> None:
        if not self.dirty:
            return
        mode = self.mode(conn)
        if mode == "changes":
            self._write_changes(conn)
        else:
            rows = [self.rows[k] for k in self.dirty]
            upsert(conn, self.table, self.pk, rows, (self.write_only or ()) if mode == "blind" else ())
        if self.written is not None:
            self.written.update([k[0] for k in self.dirty])
        self.dirty.clear()

    def _write_changes(self, conn: Connection) -> None:
        """New rows upserted whole; stored ones updated in the columns that changed, grouped by those."""
        sql = TableSql.of(conn, self.table)
        values, stored, columns = sql.values, self.stored, sql.columns
        new: list[dict[str, Any]] = []
        changed: dict[tuple[int, ...], list[tuple[Any, ...]]] = {}
        for key in self.dirty:
            row = self.rows[key]
            before = stored.get(key)
            if before is None:
                new.append(row)
                continue
            after = values(row)
            if after == before:
                continue
            which = tuple(i for i, (a, b) in enumerate(zip(after, before, strict=True)) if a != b)
            if which:
                changed.setdefault(which, []).append(tuple(after[i] for i in which) + key)
        if new:
            upsert(conn, self.table, self.pk, new)
        for which, params in changed.items():
            _executemany(conn, sql.update_of(tuple(columns[i] for i in which)), sql.fix_bools(which, params))


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
