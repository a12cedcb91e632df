"""Disk cache of Casa dos Dados results, keyed by the sha256 of the canonical query.

One JSON-lines file per query under ``<data_dir>/cache/casadosdados/<fingerprint>.jsonl``; a line
is ``{"r": record}`` or ``{"d": dropped lead}``. A file is written beside as ``.tmp`` and renamed
only once the whole result was read, so a broken or cut-short run never leaves a partial entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from shared.schemas import CompanyRecord, DroppedLead


def fingerprint(query: dict[str, Any]) -> str:
    canonical = json.dumps(query, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class ResultCache:
    def __init__(self, directory: Path, ttl_hours: float) -> None:
        self.directory = directory
        self.ttl_seconds = ttl_hours * 3600.0

    def path(self, key: str) -> Path:
        return self.directory / f"{key}.jsonl"

    def fresh(self, key: str) -> Path | None:
        path = self.path(key)
        try:
            age = time.time() - path.stat().st_mtime
        except FileNotFoundError:
            return None
        return path if age <= self.ttl_seconds else None

    @staticmethod
    def read(path: Path) -> Iterator[CompanyRecord | DroppedLead]:
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                item = json.loads(line)
                if "r" in item:
                    yield CompanyRecord.model_validate(item["r"])
                else:
                    yield DroppedLead.model_validate(item["d"])

    def writer(self, key: str) -> CacheWriter:
        return CacheWriter(self.path(key))


class CacheWriter:
    """Appends results to a temporary file; ``commit`` publishes it, ``discard`` drops it."""

    def __init__(self, final: Path) -> None:
        final.parent.mkdir(parents=True, exist_ok=True)
        self.final = final
        self.tmp = final.with_name(f"{final.name}.{os.getpid()}.tmp")
        self.fh: IO[str] | None = self.tmp.open("w", encoding="utf-8")

    def add(self, item: CompanyRecord | DroppedLead) -> None:
        assert self.fh is not None
        tag = "r" if isinstance(item, CompanyRecord) else "d"
        self.fh.write(json.dumps({tag: item.model_dump(mode="json")}, ensure_ascii=False) + "\n")

    def commit(self) -> None:
        if self.fh is not None:
            self.fh.close()
            self.fh = None
            os.replace(self.tmp, self.final)

    def discard(self) -> None:
        if self.fh is not None:
            self.fh.close()
            self.fh = None
        self.tmp.unlink(missing_ok=True)
