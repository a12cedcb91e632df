"""What the exporter asks the vault besides its rows: whether the projector has caught up with an
event (``wait_for_vault``), and which of a run's leads opted out (``without_opted_out``)."""

from __future__ import annotations

import asyncio

from sqlalchemy.engine import Engine

from services.exporter.vault_rows import opted_out_keys
from shared.domain.segments import Row
from shared.vault.access import wait_for

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
