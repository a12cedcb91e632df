"""A big SIRENE hunt joined with StockUniteLegale on disk.

A hunt matching more establishments than fit a chunk (a department, a national NAF) would
otherwise stream the legal-unit file (25 million rows) once per chunk. Here the matched rows, raw,
and every legal-unit line, raw, are written once to partition files by a stable hash of the SIREN
(``spill_files``); each partition's legal units are then loaded alone and its establishments
built and joined. Each file is read once; memory is one partition's legal units. Leads come out
partition by partition (each in file order)."""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from .errors import SourceError
from .spill_files import Partitioned, read_partition
from .text_streams import DataFile

# (SIREN, SIRET, line number, raw row) of a matched establishment
Match = tuple[bytes, str, int, list[Any]]
UnitFields = dict[str, str]
_PARTITION_BYTES = 50 << 20  # of legal-unit lines per partition, about (~200k units)


def partitions_for(path: Path) -> int:
    """Partitions for a legal-unit file: from its (uncompressed, roughly) size, 4 to 256."""
    size = path.stat().st_size * (8 if path.suffix.lower() in (".zip", ".gz", ".parquet", ".pq") else 1)
    return min(256, max(4, -(-size // _PARTITION_BYTES)))


class CsvUnitLines:
    """The lines of a legal-unit CSV as (SIREN, raw line), unparsed; :meth:`parse` reads one's fields."""

    def __init__(self, data: DataFile, fields: dict[str, str],
                 column_index: Callable[[list[str], dict[str, str]], dict[str, int]]) -> None:
        self.data = data
        with data.open_binary() as fh:
            header = [h.strip() for h in next(csv.reader([fh.readline().decode("utf-8-sig", "replace")]), [])]
        self.idx = column_index(header, fields)
        if "siren" not in self.idx:
            raise SourceError(f"sirene {data.label}: legal-unit file has no siren column")
        self.width = len(header)

    def parse(self, raw: bytes) -> UnitFields | None:
        row = next(csv.reader([raw.decode("utf-8", "replace")]), [])
        return {f: row[i].strip() for f, i in self.idx.items()} if len(row) == self.width else None

    def __iter__(self) -> Iterator[tuple[bytes, bytes]]:
        first = self.idx["siren"] == 0
        with self.data.open_binary() as fh:
            fh.readline()  # the header
            for raw in fh:
                if first and raw[9:10] == b",":  # the SIREN sliced from the line
                    yield raw[:9], raw
                elif first and raw[:1] == b'"' and raw[10:12] == b'",':
                    yield raw[1:10], raw
                else:
                    u = self.parse(raw)
                    if u is not None and u["siren"]:
                        yield u["siren"].encode(), raw


class SireneSpill:
    """Matched establishments and legal units in partition files (a context manager)."""

    def __init__(self, partitions: int, directory: Path | None = None) -> None:
        self.n = partitions
        self._tmp = tempfile.TemporaryDirectory(prefix="hunter-sirene-", dir=directory)
        root = Path(self._tmp.name)
        flush_at = max(256, 40_000 // partitions)
        self._matches = Partitioned(root, "e", partitions, flush_at)
        self._units = Partitioned(root, "u", partitions, flush_at)

    def __enter__(self) -> SireneSpill:
        return self

    def __exit__(self, *exc: object) -> None:
        for side in (self._matches, self._units):
            for fh in side.files:
                fh.close()
        self._tmp.cleanup()

    def add_matches(self, matches: Iterable[Match]) -> None:
        self._matches.add(matches, 0)

    def add_units(self, units: Iterable[tuple[bytes, Any]]) -> None:
        self._units.add(units, 0)

    def joined(self) -> Iterator[tuple[dict[bytes, Any], Iterator[Match]]]:
        """Per partition: its legal units by SIREN (the last line of a SIREN wins) and its matches."""
        self._matches.close()
        self._units.close()
        for i in range(self.n):
            units: dict[bytes, Any] = {}
            for keys, values in read_partition(self._units.paths[i]):
                units.update(zip(keys, values, strict=True))
            yield units, (m for columns in read_partition(self._matches.paths[i])  # type: ignore[misc]
                          for m in zip(*columns, strict=True))
