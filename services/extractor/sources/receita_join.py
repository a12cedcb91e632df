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


def is_clean_block(body: bytes, lines: int, fields: int) -> bool:
    """Whether every line of ``body`` (``lines`` lines, no final line feed) starts and ends with a
    quote, every ``;`` is a quoted separator (``";"``), there are ``fields - 1`` of them and
    ``2 * fields`` quotes a line on average, and no backslash, control character, padding or run
    of spaces. Each line's own count of ``;`` is still to check: when it is ``fields - 1``, the
    line is ``fields`` quoted fields with no quote inside."""
    separators = (fields - 1) * lines
    return (
        body[:1] == b'"' and body[-1:] == b'"' and body.count(b'"\n"') == lines - 1
        and body.count(b";") == separators and body.count(b'";"') == separators
        and body.count(b'"') == 2 * fields * lines
        and b"  " not in body and b'" ' not in body and b' "' not in body
        and not body.translate(None, _CLEAN_BYTES)
    )


def record_runs(
    data: DataFile, fields: int | None = None, *, decode: bool = True
) -> Iterator[tuple[int, bytes | list[str] | list[bytes]]]:
    """``record_lines``, except that with ``fields`` a read block whose lines all pass
    ``is_clean_block`` comes whole: (number of its first line, its lines, decoded unless not ``decode``)."""
    line_no = 0
    pending = b""
    rest = b""
    for block in read_blocks(data):
        buf = rest + block if rest else block
        cut = buf.rfind(b"\n")
        if cut < 0:
            rest = buf
            continue
        body, rest = buf[:cut], buf[cut + 1:]
        if fields is not None and not pending:
            lines = body.count(b"\n") + 1
            if is_clean_block(body, lines, fields):
                yield line_no + 1, body.decode("latin-1").split("\n") if decode else body.split(b"\n")
                line_no += lines
                continue
        for raw in body.split(b"\n"):
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


def company_lines(files: ReceitaFiles, keys: set[bytes] | None) -> Iterator[list[tuple[int, bytes, bytes | str]]]:
    """Lists of (kind, key, record) of every Empresas/Simples/Socios row, or of the rows of ``keys``;
    the record raw, or decoded when its block was found clean (``is_clean_block``)."""
    for kind_name, kind in _COMPANY_KINDS:
        for data in files[kind_name]:
            # clean blocks pay off when most rows are kept, not for the few of a filtered hunt
            for _, run in record_runs(data, _FIELDS[kind] if keys is None else None, decode=False):
                if type(run) is list:  # a clean block: its lines kept decoded (no cleaning needed)
                    pairs = ((raw[1:9] if raw[9:12] == b'";"' else record_key(raw), raw) for raw in run)
                    rows = [(kind, key, raw.decode("latin-1")) for key, raw in pairs
                            if key is not None and (keys is None or key in keys)]
                else:
                    key = record_key(run)  # type: ignore[arg-type]
                    if key is None or (keys is not None and key not in keys):
                        continue
                    rows = [(kind, key, run)]  # type: ignore[list-item]
                if rows:
                    yield rows


@dataclass
class CompanyRows:
    """Company-level raw rows by ``cnpj_basico``."""

    empresas: dict[bytes, bytes | str] = field(default_factory=dict)
    simples: dict[bytes, bytes | str] = field(default_factory=dict)
    socios: dict[bytes, list[bytes | str]] = field(default_factory=dict)

    def add_all(self, batches: Iterable[list[tuple[int, bytes, bytes | str]]]) -> CompanyRows:
        empresas, simples, socios = self.empresas, self.simples, self.socios
        for kind, key, raw in (row for rows in batches for row in rows):
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
                    pickle.dump(buf, fh, protocol=pickle.HIGHEST_PROTOCOL)
                    buf.clear()
            self.pending = 0

    def close(self) -> None:
        for buf, fh in zip(self.buffers, self.files, strict=True):
            if buf:
                pickle.dump(buf, fh, protocol=pickle.HIGHEST_PROTOCOL)
                buf.clear()
            fh.close()

    def read(self, i: int) -> Iterator[list[tuple]]:  # type: ignore[type-arg]
        with self.paths[i].open("rb", buffering=1 << 20) as fh:
            yield from _load_pickled(fh)
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
        self.establishments.add(items, 2)

    def add_company_rows(self, batches: Iterable[list[tuple[int, bytes, bytes | str]]]) -> None:
        for rows in batches:
            self.companies.add(rows, 1)

    def joined(self) -> Iterator[tuple[CompanyRows, Iterator[Establishment]]]:
        """Per partition: its company rows and an iterator over its establishments (file order)."""
        self.establishments.close()
        self.companies.close()
        for i in range(self.n):
            rows = CompanyRows().add_all(self.companies.read(i))
            yield rows, (item for items in self.establishments.read(i) for item in items)  # type: ignore[misc]
