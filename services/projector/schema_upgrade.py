"""Additive upgrades of a vault created by an older version: ``create_all`` adds missing tables
(with their indexes), never a column nor an index of a table that exists. So: add the column,
fill it as the projection would have, create the missing indexes."""

from __future__ import annotations

from sqlalchemy import bindparam, inspect, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.schema import CreateIndex

from services.projector.models import Company, Lead
from services.projector.search_text import search_text

COMPANIES = Company.__table__  # type: ignore[attr-defined]
LEADS = Lead.__table__  # type: ignore[attr-defined]


def _index_names(engine: Engine) -> set[str]:
    """SQLite's index names (its reflection skips expression indexes such as ``upper(city)``)."""
    with engine.connect() as conn:
        return set(conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'index'").scalars())


def upgrade_vault(engine: Engine) -> bool:
    """Bring an older vault up to the list endpoint's schema; whether a column had to be added."""
    schema = (engine.get_execution_options().get("schema_translate_map") or {}).get(None)
    found = inspect(engine)
    added = "search_text" not in {c["name"] for c in found.get_columns("companies", schema=schema)}
    present = _index_names(engine) if engine.dialect.name == "sqlite" else \
        {i["name"] for t in ("companies", "leads") for i in found.get_indexes(t, schema=schema)}
    missing = [i for i in [*COMPANIES.indexes, *LEADS.indexes] if i.name not in present]
    if not added and not missing:
        return False  # the usual case: no write, no lock
    with engine.begin() as conn:
        if added:
            table = f"{schema}.companies" if schema else "companies"
            conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN search_text VARCHAR NOT NULL DEFAULT ''")
            c = COMPANIES.c
            rows = conn.execute(select(c.lead_key, c.legal_name, c.trade_name, c.registry_id)).all()
            if rows:
                conn.execute(update(COMPANIES).where(c.lead_key == bindparam("key")),
                             [{"key": key, "search_text": search_text(legal, trade, registry)}
                              for key, legal, trade, registry in rows])
        for index in missing:
            conn.execute(CreateIndex(index, if_not_exists=True))
    return added
