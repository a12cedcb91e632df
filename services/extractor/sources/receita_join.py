"""Joining Receita establishments with their company-level rows (Empresas, Simples, Socios).

Both ways keep the company-level rows as raw bytes keyed by ``cnpj_basico`` (parsed only when
a lead uses them):

- ``CompanyRows.read(files, keys)``: one pass over the company files keeping the rows of a set of
  keys, for a hunt whose matched establishments fit in memory;
- ``Spill``: a hash join on disk for the rest (a national import): matched establishments and
  every company-level row are written once to ``n`` temporary partition files by a stable hash
  of ``cnpj_basico``; each partition's company rows are then loaded alone and its establishments
  streamed against them. Each file is read once; memory is one partition's company rows.
"""

from __future__ import annotations

import pickle
import queue
import tempfile
import threading
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

from .text_streams import DataFile

if TYPE_CHECKING:
    from .cnpj_files import ReceitaFiles

EMPRESA, SIMPLES, SOCIO = 0, 1, 2
_COMPANY_KINDS = (("empresas", EMPRESA), ("simples", SIMPLES), ("socios", SOCIO))
# (file label, line number, cnpj_basico, raw record)
Establishment = tuple[str, int, bytes, bytes]


def read_blocks(data: DataFile, size: int = 1 << 20) -> Iterator[bytes]:
    """The bytes of ``data`` in blocks, read (and decompressed) ahead by a thread of its own.

    zlib and file reads release the GIL, so decompression runs beside the parsing that consumes it.
    """
    blocks: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=4)
    stop = threading.Event()

    def put(item: bytes | BaseException | None) -> bool:
        while not stop.is_set():
            try:
                blocks.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            with data.open_binary() as fh:
                while block := fh.read(size):
                    if not put(block):
                        return
            put(None)
        except BaseException as exc:  # handed to the consumer, raised there
            put(exc)

    reader = threading.Thread(target=read, name=f"read {data.label}", daemon=True)
    reader.start()
    try:
        while (item := blocks.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        reader.join()


def record_lines(data: DataFile) -> Iterator[tuple[int, bytes]]:
    """(line number, raw record without its line end) of a file; a record whose quoted field
    spans lines comes joined (with its line break), numbered by its last line."""
    line_no = 0
    pending = b""
    rest = b""
    for block in read_blocks(data):
        lines = (rest + block).split(b"\n") if rest else block.split(b"\n")
        rest = lines.pop()
        for raw in lines:
            line_no += 1
            if pending:
                raw = pending + b"\n" + raw
                pending = b""
            if raw.count(b'"') & 1:
                pending = raw
                continue
            yield line_no, raw
    if rest:
        line_no += 1
        raw = pending + b"\n" + rest if pending else rest
        pending = b""
        if raw.count(b'"') & 1:
            pending = raw
        else:
            yield line_no, raw
    if pending:
        yield line_no, pending


def record_key(raw: bytes) -> bytes | None:
    """The ``cnpj_basico`` of a raw record: sliced from a well-formed line, else parsed."""
    if raw[:1] == b'"' and raw[9:12] == b'";"':
        return raw[1:9]
    first = raw.replace(b"\x00", b"").split(b";", 1)[0].strip().strip(b'"').strip()
    return first.zfill(8) if first else None


def company_lines(files: ReceitaFiles, keys: set[bytes] | None) -> Iterator[tuple[int, bytes, bytes]]:
    """(kind, key, raw) of every Empresas/Simples/Socios row, or of the rows of ``keys``."""
    for kind_name, kind in _COMPANY_KINDS:
        for data in files[kind_name]:
            for _, raw in record_lines(data):
                key = record_key(raw)
                if key is not None and (keys is None or key in keys):
                    yield kind, key, raw


@dataclass
class CompanyRows:
    """Company-level raw rows by ``cnpj_basico``."""

    empresas: dict[bytes, bytes] = field(default_factory=dict)
    simples: dict[bytes, bytes] = field(default_factory=dict)
    socios: dict[bytes, list[bytes]] = field(default_factory=dict)

    def add_all(self, rows: Iterable[tuple[int, bytes, bytes]]) -> CompanyRows:
        empresas, simples, socios = self.empresas, self.simples, self.socios
        for kind, key, raw in rows:
            if kind == EMPRESA:
                empresas[key] = raw
            elif kind == SIMPLES:
                simples[key] = raw
            elif key in socios:
                socios[key].append(raw)
            else:
                socios[key] = [raw]
        return self

    @classmethod
    def read(cls, files: ReceitaFiles, keys: set[bytes]) -> CompanyRows:
        return cls().add_all(company_lines(files, keys))


def _load_pickled(fh: IO[bytes]) -> Iterator[list[tuple]]:  # type: ignore[type-arg]
    while True:
        try:
            yield pickle.load(fh)
        except EOFError:
            return


class _Partitioned:
    """``n`` append-only files of pickled lists, buffered in memory up to ``flush_at`` items each."""

    def __init__(self, root: Path, prefix: str, n: int, flush_at: int) -> None:
        self.paths = [root / f"{prefix}{i}" for i in range(n)]
        self.files: list[IO[bytes]] = [p.open("wb") for p in self.paths]
        self.buffers: list[list[tuple]] = [[] for _ in range(n)]  # type: ignore[type-arg]
        self.flush_at = flush_at

    def add(self, i: int, item: tuple) -> None:  # type: ignore[type-arg]
        buf = self.buffers[i]
        buf.append(item)
        if len(buf) >= self.flush_at:
            pickle.dump(buf, self.files[i], protocol=pickle.HIGHEST_PROTOCOL)
            buf.clear()

    def close(self) -> None:
        for buf, fh in zip(self.buffers, self.files, strict=True):
            if buf:
                pickle.dump(buf, fh, protocol=pickle.HIGHEST_PROTOCOL)
                buf.clear()
            fh.close()

    def read(self, i: int) -> Iterator[tuple]:  # type: ignore[type-arg]
        with self.paths[i].open("rb", buffering=1 << 20) as fh:
            for items in _load_pickled(fh):
                yield from items
        self.paths[i].unlink()


class Spill:
    """The on-disk hash join (see the module docstring). Use as a context manager."""

    BUFFERED_ITEMS = 40_000  # per side, spread over the partitions

    def __init__(self, partitions: int, directory: Path | None = None) -> None:
        self.n = max(1, partitions)
        self._tmp = tempfile.TemporaryDirectory(prefix="hunter-cnpj-", dir=directory)
        root = Path(self._tmp.name)
        flush_at = max(256, self.BUFFERED_ITEMS // self.n)
        self.establishments = _Partitioned(root, "e", self.n, flush_at)
        self.companies = _Partitioned(root, "c", self.n, flush_at)

    def __enter__(self) -> Spill:
        return self

    def __exit__(self, *exc: object) -> None:
        for side in (self.establishments, self.companies):
            for fh in side.files:
                fh.close()
        self._tmp.cleanup()

    def add_establishments(self, items: Iterable[Establishment]) -> None:
        add, n, crc = self.establishments.add, self.n, zlib.crc32
        for item in items:
            add(crc(item[2]) % n, item)

    def add_company_rows(self, rows: Iterable[tuple[int, bytes, bytes]]) -> None:
        add, n, crc = self.companies.add, self.n, zlib.crc32
        for row in rows:
            add(crc(row[1]) % n, row)

    def joined(self) -> Iterator[tuple[CompanyRows, Iterator[Establishment]]]:
        """Per partition: its company rows and an iterator over its establishments (file order)."""
        self.establishments.close()
        self.companies.close()
        for i in range(self.n):
            rows = CompanyRows().add_all(self.companies.read(i))
            yield rows, self.establishments.read(i)  # type: ignore[misc]
