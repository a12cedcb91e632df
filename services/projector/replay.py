"""Rebuild the vault from the stream: into a fresh database, then swapped in atomically."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import make_url

from services.projector.db import make_engine
from services.projector.digest import vault_digest
from services.projector.projection import Projection
from shared.bus import Bus
from shared.events import STREAM_NAME


async def rebuild_into(bus: Bus, url: str, *, to_seq: int | None = None, batch: int = 2000) -> tuple[int, str]:
    """Project every event up to ``to_seq`` (default: all) into the database at ``url``."""
    engine = make_engine(url)
    projection = Projection(engine)
    pending: list[tuple[int, str, bytes]] = []
    total = 0
    async for seq, subject, data, _headers in bus.read(">", end_seq=to_seq, batch=batch, raw=True):  # type: ignore[misc]
        pending.append((seq, subject, data))
        if len(pending) >= batch:
            total += projection.apply(pending)
            pending.clear()
    if pending:
        total += projection.apply(pending)
    digest = vault_digest(engine)
    engine.dispose()
    return total, digest


async def replay_vault(bus: Bus, vault_url: str, *, to_seq: int | None = None) -> tuple[int, str]:
    """Rebuild the vault at ``vault_url``. SQLite: build beside it and swap the file in."""
    url = make_url(vault_url)
    if url.get_backend_name() != "sqlite" or not url.database:
        engine = make_engine(vault_url)
        from sqlmodel import SQLModel

        SQLModel.metadata.drop_all(engine)
        engine.dispose()
        return await rebuild_into(bus, vault_url, to_seq=to_seq)
    target = Path(url.database)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".replay")
    for p in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        p.unlink(missing_ok=True)
    applied, digest = await rebuild_into(bus, f"sqlite:///{tmp}", to_seq=to_seq)
    for p in (Path(f"{target}-wal"), Path(f"{target}-shm")):
        p.unlink(missing_ok=True)
    os.replace(tmp, target)
    return applied, digest


__all__ = ["replay_vault", "rebuild_into", "STREAM_NAME"]
