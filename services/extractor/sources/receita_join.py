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

import queue
import tempfile
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from .spill_files import Partitioned, read_partition
from .text_streams import DataFile

if TYPE_CHECKING:
    from .cnpj_files import ReceitaFiles

EMPRESA, SIMPLES, SOCIO = 0, 1, 2
_COMPANY_KINDS = (("empresas", EMPRESA), ("simples", SIMPLES), ("socios", SOCIO))
# (file label, line number, cnpj_basico, record): the record raw, or decoded when its block was
# found clean (``is_clean_block``)
Establishment = tuple[str, int, bytes, "bytes | str"]


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


# Bytes a clean line may hold: printable latin-1 but the backslash (what str.isprintable() accepts),
# plus the line feed between lines.
_CLEAN_BYTES = bytes(b for b in range(256) if (0x20 <= b < 0x7F or b >= 0xA1) and b not in (0x5C, 0xAD)) + b"\n"
# what ``translate`` deletes to leave a block's structure: its quotes, separators and line feeds,
# and whatever byte no clean line holds
_VALUE_BYTES = bytes(b for b in _CLEAN_BYTES if b not in b'";\n')


@lru_cache(maxsize=8)
def _structure(fields: int) -> bytes:
    return b'""' + b';""' * (fields - 1)


def is_clean_block(body: bytes, lines: int, fields: int) -> bool:
    """Whether every line of ``body`` (``lines`` lines, no final line feed) is ``fields`` quoted
    fields separated by ``;`` whose values need no cleaning: no quote, separator, backslash or
    control character inside, no padding, no run of spaces.

    Deleting the value bytes leaves the structure, to compare with ``lines`` times the expected
    one (every line's quotes and separators, in order, and nothing else); counting the separators
    and line feeds between two quotes then checks that no value byte stands outside quotes."""
    if body[:1] != b'"' or body[-1:] != b'"':
        return False
    structure = _structure(fields)
    left = body.translate(None, _VALUE_BYTES)
    return (
        len(left) == (len(structure) + 1) * lines - 1 and left == b"\n".join((structure,) * lines)
        and body.count(b'";"') == (fields - 1) * lines and body.count(b'"\n"') == lines - 1
        and b"  " not in body and b'" ' not in body and b' "' not in body
    )


MAX_RECORD_LINES = 10  # a quoted field open over more lines than this is a stray quote, not a field


class _RecordJoiner:
    """Joins lines while a quoted field is open (an odd number of quotes so far). A record still open
    after ``MAX_RECORD_LINES`` lines, or at the end of the file, was opened by a stray quote: its first
    line comes alone (the row parser rejects it as malformed) and the lines after it are read again
    as records of their own, so one bad character costs one row, not the rest of the file."""

    def __init__(self) -> None:
        self.open: list[tuple[int, bytes]] = []
        self.odd = False

    def feed(self, line_no: int, raw: bytes) -> Iterator[tuple[int, bytes]]:
        odd = bool(raw.count(b'"') & 1)
        if not self.open:
            if odd:
                self.open, self.odd = [(line_no, raw)], True
            else:
                yield line_no, raw
            return
        self.open.append((line_no, raw))
        self.odd ^= odd
        if not self.odd:
            lines, self.open = self.open, []
            yield line_no, b"\n".join(r for _, r in lines)  # numbered by its last line
        elif len(self.open) > MAX_RECORD_LINES:
            yield from self._give_up()

    def flush(self) -> Iterator[tuple[int, bytes]]:
        while self.open:
            yield from self._give_up()

    def _give_up(self) -> Iterator[tuple[int, bytes]]:
        (first, *others), self.open, self.odd = self.open, [], False
        yield first
        for line_no, raw in others:
            yield from self.feed(line_no, raw)


def record_runs(
    data: DataFile, fields: int | None = None, *, decode: bool = True
) -> Iterator[tuple[int, bytes | list[str] | list[bytes]]]:
    """``record_lines``, except that with ``fields`` a read block whose lines all pass
    ``is_clean_block`` comes whole: (number of its first line, its lines, decoded unless not ``decode``)."""
    line_no = 0
    joiner = _RecordJoiner()
    rest = b""
    for block in read_blocks(data):
        buf = rest + block if rest else block
        cut = buf.rfind(b"\n")
        if cut < 0:
            rest = buf
            continue
        body, rest = buf[:cut], buf[cut + 1:]
        if fields is not None and not joiner.open:
            lines = body.count(b"\n") + 1
            if is_clean_block(body, lines, fields):
                yield line_no + 1, body.decode("latin-1").split("\n") if decode else body.split(b"\n")
                line_no += lines
                continue
        for raw in body.split(b"\n"):
            line_no += 1
            yield from joiner.feed(line_no, raw)
    if rest:
        line_no += 1
        yield from joiner.feed(line_no, rest)
    yield from joiner.flush()


def record_lines(data: DataFile) -> Iterator[tuple[int, bytes]]:
    """(line number, raw record without its line end) of a file; a record whose quoted field
    spans lines comes joined (with its line break), numbered by its last line."""
    return record_runs(data)  # type: ignore[return-value]


def record_key(raw: bytes) -> bytes | None:
    """The ``cnpj_basico`` of a raw record: sliced from a well-formed line, else parsed."""
    if raw[:1] == b'"' and raw[9:12] == b'";"':
        return raw[1:9]
    first = raw.replace(b"\x00", b"").split(b";", 1)[0].strip().strip(b'"').strip()
    return first.zfill(8) if first else None


_FIELDS = {EMPRESA: 7, SIMPLES: 7, SOCIO: 11}


# (kind, keys, records) of a block of one company file: each record raw, or decoded when its block
# was found clean (``is_clean_block``)
CompanyBlock = tuple[int, "list[bytes] | tuple[bytes, ...]", "list[bytes | str] | tuple[bytes | str, ...]"]


def company_lines(
    files: ReceitaFiles, keys: set[bytes] | None, *, clean_blocks: bool | None = None
) -> Iterator[CompanyBlock]:
    """Every Empresas/Simples/Socios row, or the rows of ``keys``, a block at a time: (kind, their
    keys, the records). Clean blocks are taken whole with ``clean_blocks`` (by default when every
    row is wanted): that pays off when most rows are kept, not for the few of a filtered hunt."""
    if clean_blocks is None:
        clean_blocks = keys is None
    for kind_name, kind in _COMPANY_KINDS:
        for data in files[kind_name]:
            for _, run in record_runs(data, _FIELDS[kind] if clean_blocks else None):
                if type(run) is list:  # a clean block, decoded as a whole (no cleaning needed)
                    found = [line[1:9].encode("latin-1") if line[9:12] == '";"' else record_key(line.encode("latin-1"))
                             for line in run]
                    if keys is None and None not in found:
                        yield kind, found, run  # type: ignore[misc]
                        continue
                    pairs = [(key, line) for key, line in zip(found, run, strict=True)
                             if key is not None and (keys is None or key in keys)]
                    if pairs:
                        yield kind, [key for key, _ in pairs], [line for _, line in pairs]
                else:
                    key = record_key(run)  # type: ignore[arg-type]
                    if key is not None and (keys is None or key in keys):
                        yield kind, [key], [run]  # type: ignore[list-item]


@dataclass
class CompanyRows:
    """Company-level raw rows by ``cnpj_basico``."""

    empresas: dict[bytes, bytes | str] = field(default_factory=dict)
    simples: dict[bytes, bytes | str] = field(default_factory=dict)
    socios: dict[bytes, list[bytes | str]] = field(default_factory=dict)

    def add_all(self, blocks: Iterable[CompanyBlock]) -> CompanyRows:
        socios = self.socios
        for kind, keys, records in blocks:
            if kind == EMPRESA:
                self.empresas.update(zip(keys, records, strict=True))  # the last row of a key wins
            elif kind == SIMPLES:
                self.simples.update(zip(keys, records, strict=True))
            else:
                for key, raw in zip(keys, records, strict=True):
                    rows = socios.get(key)
                    if rows is None:
                        socios[key] = [raw]
                    else:
                        rows.append(raw)
        return self

    @classmethod
    def read(cls, files: ReceitaFiles, keys: set[bytes], *, clean_blocks: bool | None = None) -> CompanyRows:
        return cls().add_all(company_lines(files, keys, clean_blocks=clean_blocks))


_ESTABLISHMENTS, _COMPANY_PREFIX = "e", "c{kind}-"


class CompanySides:
    """The company-level rows of a spill, a side per kind of company file (EMPRESA, SIMPLES, SOCIO)."""

    def __init__(self, root: Path, n: int, flush_at: int) -> None:
        self.sides = [Partitioned(root, _COMPANY_PREFIX.format(kind=kind), n, flush_at) for kind in range(3)]

    def add(self, blocks: Iterable[CompanyBlock]) -> None:
        for kind, keys, records in blocks:
            self.sides[kind].add(zip(keys, records, strict=True), 0)

    def close(self) -> None:
        for side in self.sides:
            side.close()


def partition_rows(root: Path, i: int) -> CompanyRows:
    """The company rows of partition ``i`` of the spill under ``root`` (its files removed)."""
    rows = CompanyRows()
    for kind in range(3):
        path = root / f"{_COMPANY_PREFIX.format(kind=kind)}{i}"
        rows.add_all((kind, keys, records) for keys, records in read_partition(path))
    return rows


def partition_establishments(root: Path, i: int) -> Iterator[Establishment]:
    """The establishments of partition ``i`` of the spill under ``root``, in file order (its file removed)."""
    return (item for columns in read_partition(root / f"{_ESTABLISHMENTS}{i}")  # type: ignore[misc]
            for item in zip(*columns, strict=True))


class Spill:
    """The on-disk hash join (see the module docstring). Use as a context manager.

    With ``companies_elsewhere`` the company sides are written by another process
    (``CompanySides(spill.root, spill.n, spill.company_flush_at)``) and the partitions can be joined
    by other processes (``partition_rows`` / ``partition_establishments`` under ``spill.root``)."""

    BUFFERED_ITEMS = 40_000  # per side, spread over the partitions

    def __init__(self, partitions: int, directory: Path | None = None, *, companies_elsewhere: bool = False) -> None:
        self.n = max(1, partitions)
        self._tmp = tempfile.TemporaryDirectory(prefix="hunter-cnpj-", dir=directory)
        self.root = Path(self._tmp.name)
        flush_at = max(256, self.BUFFERED_ITEMS // self.n)
        self.company_flush_at = max(256, flush_at // 3)
        self.establishments = Partitioned(self.root, _ESTABLISHMENTS, self.n, flush_at)
        self.companies = None if companies_elsewhere else CompanySides(self.root, self.n, self.company_flush_at)

    def __enter__(self) -> Spill:
        return self

    def __exit__(self, *exc: object) -> None:
        for side in (self.establishments, *(self.companies.sides if self.companies else ())):
            for fh in side.files:
                fh.close()
        self._tmp.cleanup()

    def add_establishments(self, items: Iterable[Establishment]) -> None:
        self.establishments.add(items, 2)

    def add_company_rows(self, blocks: Iterable[CompanyBlock]) -> None:
        assert self.companies is not None, "the company rows of this spill are written elsewhere"
        self.companies.add(blocks)

    def close(self) -> None:
        """Every row written: the partitions can be read (``joined``, ``partition_*``)."""
        self.establishments.close()
        if self.companies is not None:
            self.companies.close()

    def joined(self) -> Iterator[tuple[CompanyRows, Iterator[Establishment]]]:
        """Per partition: its company rows and an iterator over its establishments (file order)."""
        self.close()
        for i in range(self.n):
            yield partition_rows(self.root, i), partition_establishments(self.root, i)
