"""Additive upgrades of a vault created by an older version: ``create_all`` adds missing tables
(with their indexes), never a column nor an index of a table that exists. So: add the column,
fill it as the projection would have, create the missing indexes, rebuild those whose columns
changed under the same name and drop the ones a newer index covers.

A vault from before the lead-level funnel kept a status and notes on each per-run row: its
``lead_current`` rows are filled from the per-run rows (the latest updated run's scores, the latest
status set) and those two columns dropped. The notes, and the exact "latest run" in stream order,
come back with ``hunter replay``, which projects the old status events into the lead's timeline."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Index, bindparam, inspect, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.schema import CreateIndex

from services.projector.models import OBSOLETE_INDEXES, Company, Lead, LeadCurrent
from services.projector.rows import TableSql, upsert
from services.projector.search_text import search_text

COMPANIES = Company.__table__  # type: ignore[attr-defined]
LEADS = Lead.__table__  # type: ignore[attr-defined]
CURRENT = LeadCurrent.__table__  # type: ignore[attr-defined]
LIST_INDEXES: list[Index] = [*COMPANIES.indexes, *LEADS.indexes, *CURRENT.indexes]
LIST_TABLES = ("companies", "leads", "lead_current")


def _shape(index: Index) -> tuple[str | None, ...]:
    """An index's column names in order (None for an expression such as ``upper(city)``)."""
    return tuple(e.name if isinstance(e, Column) else None for e in index.expressions)


def _present(engine: Engine, schema: str | None) -> dict[str, tuple[str | None, ...]]:
    """The vault's indexes on companies and leads and their shapes."""
    if engine.dialect.name == "sqlite":  # (SQLAlchemy's reflection skips expression indexes)
        with engine.connect() as conn:
            names = conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name IN "
                                         f"{LIST_TABLES} AND sql IS NOT NULL").scalars().all()
            return {n: tuple(r[2] for r in conn.exec_driver_sql(f'PRAGMA index_info("{n}")')) for n in names}
    found = inspect(engine)
    return {i["name"]: tuple(i["column_names"]) for t in LIST_TABLES  # type: ignore[misc]
            for i in found.get_indexes(t, schema=schema)}


def upgrade_vault(engine: Engine) -> bool:
    """Bring an older vault up to the list endpoint's schema; whether a column had to be added."""
    schema = (engine.get_execution_options().get("schema_translate_map") or {}).get(None)
    found = inspect(engine)
    added = "search_text" not in {c["name"] for c in found.get_columns("companies", schema=schema)}
    per_run_funnel = "status" in {c["name"] for c in found.get_columns("leads", schema=schema)}
    present = _present(engine, schema)
    stale = [i for i in LIST_INDEXES if i.name in present and present[i.name] != _shape(i)]
    missing = [i for i in LIST_INDEXES if i.name not in present]
    obsolete = [name for name in OBSOLETE_INDEXES if name in present]
    if not added and not per_run_funnel and not missing and not stale and not obsolete:
        return False  # the usual case: no write, no lock
    with engine.begin() as conn:
        # (looked at again in the transaction: another process opening the vault may have upgraded it meanwhile)
        if per_run_funnel and "status" in {c["name"] for c in inspect(conn).get_columns("leads", schema=schema)}:
            _lift_funnel(conn, schema)
        if added:
            table = f"{schema}.companies" if schema else "companies"
            conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN search_text VARCHAR NOT NULL DEFAULT ''")
            c = COMPANIES.c
            rows = conn.execute(select(c.lead_key, c.legal_name, c.trade_name, c.registry_id)).all()
            if rows:
                conn.execute(update(COMPANIES).where(c.lead_key == bindparam("key")),
                             [{"key": key, "search_text": search_text(legal, trade, registry)}
                              for key, legal, trade, registry in rows])
        for name in [*obsolete, *(i.name for i in stale)]:
            _drop_index(conn, name, schema)
        create_indexes(conn, [*stale, *missing])
    return added


_LEAD_COLUMNS = ("score_v1", "rank", "enrich", "score", "bucket", "reasons", "enriched", "has_site", "has_whatsapp",
                 "technologies", "trace_id", "updated_at")


def _lift_funnel(conn: Connection, schema: str | None) -> None:
    """Fill ``lead_current`` from the per-run rows of a vault from before it, then drop their status and notes."""
    table = f"{schema}.leads" if schema else "leads"
    cols = ", ".join(("run_id", "lead_key", *_LEAD_COLUMNS, "status"))
    rows = conn.exec_driver_sql(f"SELECT {cols} FROM {table} ORDER BY lead_key, updated_at, run_id").all()
    current: dict[str, dict[str, Any]] = {}
    for run_id, lead_key, *values, status in rows:
        row = current.setdefault(lead_key, {**{c.name: c.default.arg if c.default is not None else None
                                               for c in CURRENT.columns}, "lead_key": lead_key, "runs_seen": 0})
        row.update(zip(_LEAD_COLUMNS, values, strict=True), latest_run_id=run_id)
        row["runs_seen"] += 1
        if status and status != "new":
            row["status"], row["status_at"] = status, row["updated_at"]
    if current:
        upsert(conn, CURRENT, ["lead_key"], list(current.values()))
    for column in ("status", "notes"):
        conn.exec_driver_sql(f"ALTER TABLE {table} DROP COLUMN {column}")


def _drop_index(conn: Connection, name: str, schema: str | None) -> None:
    q = conn.dialect.identifier_preparer
    conn.exec_driver_sql(f"DROP INDEX IF EXISTS {q.quote_schema(schema) + '.' if schema else ''}{q.quote(name)}")


def create_indexes(conn: Connection, indexes: list[Any]) -> None:
    """Create these indexes, then refresh the planner's statistics of their tables (``ANALYZE``)."""
    for index in indexes:
        conn.execute(CreateIndex(index, if_not_exists=True))
    for table in dict.fromkeys(index.table for index in indexes):
        conn.exec_driver_sql(f"ANALYZE {TableSql.of(conn, table).name}")
