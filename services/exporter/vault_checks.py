"""What the exporter asks the vault besides its rows: whether the projector has caught up with an
event (``wait_for_vault``), and which of a run's leads opted out (``without_opted_out``)."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from services.exporter.vault_rows import opted_out_keys
from shared.domain.segments import Row, annotate_row
from shared.vault.access import VaultMissing, wait_for
from shared.vault.annotations import lead_annotations

PROJECTION_WAIT_SECONDS = 120.0


async def wait_for_vault(engine: Engine, seq: int, timeout: float = PROJECTION_WAIT_SECONDS) -> None:
    """Wait until the projector has applied the stream up to ``seq``, so the vault is current."""
    await wait_for(engine, seq, timeout)


async def without_opted_out(engine: Engine, rows: list[Row], include: bool) -> tuple[list[Row], int]:
    """A run's rows (read from the stream) less the leads that opted out (``do_not_contact`` in the
    vault as projected now), unless asked to include them; and how many were left out."""
    if include or not rows:
        return rows, 0
    opted_out = await asyncio.to_thread(opted_out_keys, engine, [r["lead_key"] for r in rows])
    kept = [r for r in rows if r["lead_key"] not in opted_out]
    return kept, len(rows) - len(kept)


async def with_annotations(engine: Engine, rows: list[Row], *, log: Any) -> list[Row]:
    """The rows with their leads' propensity and qualification as the vault holds them now (a vault the
    projector has not given those tables yet leaves the columns empty)."""
    if not rows:
        return rows
    keys = [r["lead_key"] for r in rows]
    try:
        found = await asyncio.to_thread(lead_annotations, engine, keys)
    except (SQLAlchemyError, VaultMissing) as exc:
        log.warning("export_annotations_unavailable", error=f"{type(exc).__name__}: {exc}"[:300])
        return rows
    return [annotate_row(dict(r), found[r["lead_key"]]) if r["lead_key"] in found else r for r in rows]
