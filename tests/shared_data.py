"""Where the product side's data lives (``../shared/data`` beside the repo; read in place, never
copied). A clone elsewhere finds it through ``HUNTER_SHARED_DATA`` or the workplace's /work/shared."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _find() -> Path:
    candidates = [os.environ.get("HUNTER_SHARED_DATA"), REPO.parent / "shared" / "data", "/work/shared/data"]
    for c in candidates:
        if c and Path(c).is_dir():
            return Path(c)
    return REPO.parent / "shared" / "data"  # absent: the tests that need it skip, saying where they looked


SHARED_DATA = _find()
