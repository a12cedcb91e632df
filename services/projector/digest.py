"""A canonical content digest of the vault: the same rows give the same digest on any engine."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from json.encoder import c_encode_basestring, c_make_encoder  # type: ignore[attr-defined]
from typing import Any

from sqlalchemy import Boolean, Float, Table, select
from sqlalchemy.engine import Connection, Engine
from sqlmodel import SQLModel

from services.projector.rows import TableSql
from shared.vault.schema import DIGEST_EXCLUDED


def _normalise(value: Any, column: Any) -> Any:
    if value is None:
        return None
    if isinstance(column.type, Boolean):
        return bool(value)
    if isinstance(column.type, Float):
        return round(float(value), 6)
    return value


# json.dumps(values, sort_keys=True, ensure_ascii=False, default=str) without building an encoder per row
_encode = json.JSONEncoder(sort_keys=True, ensure_ascii=False, default=str).encode
# the same text, from json's C encoder made once (JSONEncoder.encode makes one per call)
_c_encode: Callable[[Any, int], Iterable[str]] | None = None if c_make_encoder is None else \
    c_make_encoder(None, str, c_encode_basestring, None, ": ", ", ", True, False, True)


def _lines(rows: list[Any]) -> str:
    """``_encode(row) + "\n"`` for each row, joined."""
    if _c_encode is None:
        return "".join(_encode(row) + "\n" for row in rows)
    out: list[str] = []
    extend, append, encode = out.extend, out.append, _c_encode
    for row in rows:
        extend(encode(row, 0))
        append("\n")
    return "".join(out)


def table_digests(engine: Engine) -> dict[str, tuple[int, str]]:
    out: dict[str, tuple[int, str]] = {}
    with engine.connect() as conn:
        for name in sorted(SQLModel.metadata.tables):
            if name in DIGEST_EXCLUDED:
                continue
            out[name] = _table_digest(conn, SQLModel.metadata.tables[name])
    return out


def _table_digest(conn: Connection, table: Table) -> tuple[int, str]:
    """sha256 over the rows in primary-key order, one JSON list of normalised values a line."""
    cols = list(table.columns)
    bools = [i for i, c in enumerate(cols) if isinstance(c.type, Boolean)]
    floats = [i for i, c in enumerate(cols) if isinstance(c.type, Float)]
    h = hashlib.sha256()
    n = 0
    sql = TableSql.of(conn, table)
    if not sql.raw:  # any other engine: through SQLAlchemy
        rows: Iterable[Any] = conn.execute(select(table).order_by(*table.primary_key.columns))
        for row in rows:
            h.update(_encode([_normalise(v, c) for v, c in zip(row, cols, strict=True)]).encode() + b"\n")
            n += 1
        return n, h.hexdigest()
    normalise = _normaliser(len(cols), tuple(bools), tuple(floats)) if bools or floats else None
    cur = conn.connection.cursor()
    try:
        order = ", ".join(sql.quoted_pk)
        cur.execute(f"{sql.select}1 = 1 ORDER BY {order}")
        while chunk := cur.fetchmany(10_000):
            if normalise is not None:
                chunk = normalise(chunk)
            h.update(_lines(chunk).encode())
            n += len(chunk)
    finally:
        cur.close()
    return n, h.hexdigest()


_NORMALISERS: dict[tuple[int, tuple[int, ...], tuple[int, ...]], Callable[[list[Any]], list[Any]]] = {}


def _normaliser(width: int, bools: tuple[int, ...], floats: tuple[int, ...]) -> Callable[[list[Any]], list[Any]]:
    """``rows -> rows`` with the values at ``bools`` made booleans and those at ``floats`` rounded floats
    (None stays None), as :func:`_normalise` does: one comprehension written for the table's columns,
    a third cheaper than a loop over the positions of each row."""
    key = (width, bools, floats)
    if key not in _NORMALISERS:
        values = []
        for i in range(width):
            if i in bools:
                values.append(f"None if r[{i}] is None else bool(r[{i}])")
            elif i in floats:
                values.append(f"None if r[{i}] is None else round(float(r[{i}]), 6)")
            else:
                values.append(f"r[{i}]")
        _NORMALISERS[key] = eval(f"lambda rows: [({', '.join(values)},) for r in rows]")  # noqa: S307
    return _NORMALISERS[key]


def vault_digest(engine: Engine) -> str:
    h = hashlib.sha256()
    for name, (n, digest) in table_digests(engine).items():
        h.update(f"{name}:{n}:{digest}\n".encode())
    return h.hexdigest()
