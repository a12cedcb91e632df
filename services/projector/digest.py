"""A canonical content digest of the vault: the same rows give the same digest on any engine."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import Boolean, Float, select
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from services.projector.models import DIGEST_EXCLUDED


def _normalise(value: Any, column: Any) -> Any:
    if value is None:
        return None
    if isinstance(column.type, Boolean):
        return bool(value)
    if isinstance(column.type, Float):
        return round(float(value), 6)
    return value


def table_digests(engine: Engine) -> dict[str, tuple[int, str]]:
    out: dict[str, tuple[int, str]] = {}
    with engine.connect() as conn:
        for name in sorted(SQLModel.metadata.tables):
            if name in DIGEST_EXCLUDED:
                continue
            table = SQLModel.metadata.tables[name]
            cols = list(table.columns)
            order = list(table.primary_key.columns)
            h = hashlib.sha256()
            n = 0
            for row in conn.execute(select(table).order_by(*order)):
                values = [_normalise(v, c) for v, c in zip(row, cols, strict=True)]
                h.update(json.dumps(values, sort_keys=True, ensure_ascii=False, default=str).encode())
                h.update(b"\n")
                n += 1
            out[name] = (n, h.hexdigest())
    return out


def vault_digest(engine: Engine) -> str:
    h = hashlib.sha256()
    for name, (n, digest) in table_digests(engine).items():
        h.update(f"{name}:{n}:{digest}\n".encode())
    return h.hexdigest()
