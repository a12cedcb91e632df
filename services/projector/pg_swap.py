"""A replay into PostgreSQL, swapped in atomically like the SQLite file.

The vault's tables live in a schema (the connection's ``current_schema()``, ``public`` unless the
URL's ``search_path`` says otherwise). A replay builds every table in a scratch schema of its own
beside it (``<schema>_replay``), then one transaction moves the old tables out to a third schema and
the new ones in (``ALTER TABLE ... SET SCHEMA`` carries a table's indexes and constraints along) and
drops the old ones. Readers see the old vault until that commit and the new one after; a replay
that fails midway leaves the vault as it was. Tables of the schema that are not the vault's are
left alone; the schema itself (its owner and grants) stays."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import SQLModel

from shared.vault.engine import make_engine


def vault_schema(engine: Engine) -> str:
    with engine.connect() as conn:
        return str(conn.execute(text("SELECT current_schema()")).scalar_one())


def in_schema(url: str, schema: str) -> str:
    """``url`` with its ``search_path`` set to ``schema`` (other connection options are replaced)."""
    return make_url(url).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False)


def _quoted(engine: Engine, name: str) -> str:
    return engine.dialect.identifier_preparer.quote(name)


def ensure_schema(url: str) -> None:
    """Create the schema of ``url``'s ``search_path`` if it does not exist (a separate vault's)."""
    options = str(make_url(url).query.get("options", ""))
    if "search_path=" not in options:
        return
    schema = options.split("search_path=", 1)[1].split(",")[0].split()[0]
    engine = make_engine(url, create=False)
    try:
        with engine.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {_quoted(engine, schema)}"))
    finally:
        engine.dispose()


def fresh_scratch(url: str) -> tuple[str, str]:
    """(the vault's schema, the URL of an empty scratch schema beside it for the replay)."""
    engine = make_engine(url, create=False)
    try:
        schema = vault_schema(engine)
        scratch = f"{schema}_replay"
        with engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {_quoted(engine, scratch)} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {_quoted(engine, scratch)}"))
    finally:
        engine.dispose()
    return schema, in_schema(url, scratch)


def swap_in(url: str, schema: str) -> None:
    """Move the vault tables of ``<schema>_replay`` into ``schema`` in one transaction (the old ones dropped)."""
    engine = make_engine(url, create=False)
    scratch, old = f"{schema}_replay", f"{schema}_replaced"
    q = {name: _quoted(engine, name) for name in (schema, scratch, old)}
    try:
        with engine.begin() as conn:
            existing = {row[0] for row in conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = :s"), {"s": schema})}
            conn.execute(text(f"DROP SCHEMA IF EXISTS {q[old]} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {q[old]}"))
            for table in SQLModel.metadata.sorted_tables:
                name = _quoted(engine, table.name)
                if table.name in existing:
                    conn.execute(text(f"ALTER TABLE {q[schema]}.{name} SET SCHEMA {q[old]}"))
                conn.execute(text(f"ALTER TABLE {q[scratch]}.{name} SET SCHEMA {q[schema]}"))
            conn.execute(text(f"DROP SCHEMA {q[old]} CASCADE"))
            conn.execute(text(f"DROP SCHEMA {q[scratch]} CASCADE"))
    finally:
        engine.dispose()


def drop_scratch(url: str, schema: str) -> None:
    """Remove the scratch schema of a replay that did not complete."""
    engine = make_engine(url, create=False)
    try:
        with engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {_quoted(engine, schema + '_replay')} CASCADE"))
    finally:
        engine.dispose()
