"""Dry runs: how many rows of a source match a hunt's filters, counted without publishing anything.

A file source is read for at most ``seconds``; past that the count is a lower bound (``exact`` false).
An API source is not counted: a count would spend the provider's balance."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from services.extractor.sources import iter_source
from services.extractor.sources.errors import SourceError
from shared.config import Settings
from shared.events import RunFilters
from shared.schemas import DroppedLead

CHECK_EVERY = 512  # rows between two looks at the clock


def estimate_rows(source: str, filters: RunFilters, *, settings: Settings | None = None, seconds: float = 5.0,
                  clock: Callable[[], float] = time.monotonic) -> dict[str, Any]:
    """``{"rows", "rejected", "exact", "seconds", "error", "note"}`` for a hunt of ``source`` with ``filters``."""
    out: dict[str, Any] = {"rows": None, "rejected": None, "exact": False, "seconds": 0.0, "error": None,
                           "note": ""}
    if source.strip().lower().startswith("casadosdados"):
        out["note"] = "Casa dos Dados counts the matches when the run starts (a count now would spend API balance)"
        return out
    start = clock()
    matching = rejected = 0
    try:
        items = iter_source(source, filters, settings=settings or Settings(), as_json=True)
        exact = True
        for n, item in enumerate(items, start=1):
            if isinstance(item, DroppedLead):
                rejected += 1
            else:
                matching += 1
            if n % CHECK_EVERY == 0 and clock() - start > seconds:
                exact = False
                break
        close = getattr(items, "close", None)
        if close is not None:
            close()
    except (SourceError, ValueError, OSError) as exc:
        out.update(error=str(exc), seconds=round(clock() - start, 3))
        return out
    out.update(rows=matching, rejected=rejected, exact=exact, seconds=round(clock() - start, 3))
    if not exact:
        out["note"] = f"at least {matching:,} rows: counting stopped after {seconds:g} s"
    return out
