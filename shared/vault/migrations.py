"""Additive upgrades of a vault created by an older version: ``create_all`` adds missing tables
(with their indexes), never a column nor an index of a table that exists. So: add the column,
fill it as the projection would have, create the missing indexes, rebuild those whose columns
changed under the same name and drop the ones a newer index covers.

A vault from before the lead-level funnel kept a status and notes on each per-run row: its
``lead_current`` rows are filled from the per-run rows (the latest updated run's scores, the latest
status set) and those two columns dropped. The notes, and the exact "latest run" in stream order,
come back with ``hunter replay``, which projects the old status events into the lead's timeline."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Column, Index, bindparam, delete, insert, inspect, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.schema import CreateIndex
from sqlmodel import SQLModel

from shared.vault.derived import site_whatsapp
from shared.vault.schema import OBSOLETE_INDEXES, Company, EnrichmentRow, Lead, LeadCurrent, Partner
from shared.vault.search_text import fold, search_text

COMPANIES = Company.__table__  # type: ignore[attr-defined]
LEADS = Lead.__table__  # type: ignore[attr-defined]
CURRENT = LeadCurrent.__table__  # type: ignore[attr-defined]
PARTNERS = Partner.__table__  # type: ignore[attr-defined]
ENRICHMENTS = EnrichmentRow.__table__  # type: ignore[attr-defined]
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


def add_missing_columns(engine: Engine, schema: str | None) -> list[str]:
    """Add the scalar columns a newer release gave an existing table (``table.column`` names), each with
    its model default, so the rows an older vault holds read as the projection would have written them.
    Runs after the upgrades that fill a new column from other data (search_text, search_name…)."""
    found = inspect(engine)
    tables = set(found.get_table_names(schema=schema))
    added: list[str] = []
    with engine.begin() as conn:
        for table in SQLModel.metadata.sorted_tables:
            if table.name not in tables:
                continue
            present = {c["name"] for c in found.get_columns(table.name, schema=schema)}
            for column in table.columns:
                if column.name in present:
                    continue
                default = getattr(column.default, "arg", None)
                if column.primary_key or callable(default) or (default is None and not column.nullable):
                    raise RuntimeError(f"cannot add {table.name}.{column.name} to an older vault: replay it")
                kind = column.type.compile(dialect=conn.dialect)
                literal = "NULL" if default is None else _sql_literal(default)
                qualified = f"{schema}.{table.name}" if schema else table.name
                conn.exec_driver_sql(f"ALTER TABLE {qualified} ADD COLUMN {column.name} {kind}"
                                     f"{'' if column.nullable else ' NOT NULL'} DEFAULT {literal}")
                added.append(f"{table.name}.{column.name}")
                for index in table.indexes:  # the new column's own indexes
                    if column.name in {c.name for c in index.columns}:
                        conn.execute(CreateIndex(index, if_not_exists=True))
    return added


def _sql_literal(value: object) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def upgrade_vault(engine: Engine) -> bool:
    """Bring an older vault up to the list endpoint's schema; whether a column had to be added."""
    schema = (engine.get_execution_options().get("schema_translate_map") or {}).get(None)
    found = inspect(engine)
    added = "search_text" not in {c["name"] for c in found.get_columns("companies", schema=schema)}
    partner_names = "search_name" not in {c["name"] for c in found.get_columns("partners", schema=schema)}
    site_whatsapp = "site_whatsapp" not in {c["name"] for c in found.get_columns("companies", schema=schema)}
    per_run_funnel = "status" in {c["name"] for c in found.get_columns("leads", schema=schema)}
    present = _present(engine, schema)
    stale = [i for i in LIST_INDEXES if i.name in present and present[i.name] != _shape(i)]
    missing = [i for i in LIST_INDEXES if i.name not in present]
    obsolete = [name for name in OBSOLETE_INDEXES if name in present]
    if not (added or partner_names or site_whatsapp or per_run_funnel or missing or stale or obsolete):
        return bool(add_missing_columns(engine, schema))  # the usual case: no write, no lock
    with engine.begin() as conn:
        if partner_names:
            _add_partner_search_names(conn, schema)
        if site_whatsapp:
            _add_site_whatsapp(conn, schema)
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
    return bool(add_missing_columns(engine, schema)) or added


def _add_partner_search_names(conn: Connection, schema: str | None) -> None:
    """``partners.search_name``: each partner's name folded, as the projection writes it."""
    table = f"{schema}.partners" if schema else "partners"
    conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN search_name VARCHAR NOT NULL DEFAULT ''")
    p = PARTNERS.c
    names = conn.execute(select(p.name).distinct()).scalars().all()
    if names:
        conn.execute(update(PARTNERS).where(p.name == bindparam("old")),
                     [{"old": name, "search_name": fold(name)} for name in names])


def _add_site_whatsapp(conn: Connection, schema: str | None) -> None:
    """``companies.site_whatsapp``: the first WhatsApp of each company's enrichment, as the projection writes it."""
    table = f"{schema}.companies" if schema else "companies"
    conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN site_whatsapp VARCHAR")
    e = ENRICHMENTS.c
    found = [(key, site_whatsapp(json.loads(data or "{}").get("whatsapp") or []))
             for key, data in conn.execute(select(e.lead_key, e.data))]
    found = [(key, number) for key, number in found if number]
    if found:
        conn.execute(update(COMPANIES).where(COMPANIES.c.lead_key == bindparam("key")),
                     [{"key": key, "site_whatsapp": number} for key, number in found])


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
    if current:  # (replacing any row of these leads, as an upsert would)
        keys = list(current)
        for start in range(0, len(keys), 500):
            conn.execute(delete(CURRENT).where(CURRENT.c.lead_key.in_(keys[start:start + 500])))
        conn.execute(insert(CURRENT), list(current.values()))
    for column in ("status", "notes"):
        conn.exec_driver_sql(f"ALTER TABLE {table} DROP COLUMN {column}")


def _drop_index(conn: Connection, name: str, schema: str | None) -> None:
    q = conn.dialect.identifier_preparer
    conn.exec_driver_sql(f"DROP INDEX IF EXISTS {q.quote_schema(schema) + '.' if schema else ''}{q.quote(name)}")


def create_indexes(conn: Connection, indexes: list[Any]) -> None:
    """Create these indexes, then refresh the planner's statistics of their tables (``ANALYZE``)."""
    for index in indexes:
        conn.execute(CreateIndex(index, if_not_exists=True))
    q = conn.dialect.identifier_preparer
    translate = conn.get_execution_options().get("schema_translate_map") or {}
    for table in dict.fromkeys(index.table for index in indexes):
        schema = translate.get(table.schema, table.schema)
        conn.exec_driver_sql(f"ANALYZE {q.quote_schema(schema) + '.' if schema else ''}{q.quote(table.name)}")
