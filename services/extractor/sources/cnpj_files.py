"""Receita Federal CNPJ open data (``cnpj:DIR``): the official zips (or their plain members).

1. stream Estabelecimentos. Without filters, a block whose lines are all clean (quoted fields
   needing no cleaning: ``receita_join.is_clean_block``, nearly every block) is decoded once and
   its lines kept as text; the rest goes line by line, raw, where a prefilter on UF /
   municipality / CNAE tokens skips most lines before any decoding, then the exact filters run
   on the split fields;
2. join them with Empresas, Simples and Socios by ``cnpj_basico`` (``receita_join``): in memory
   when at most ``chunk_size`` establishments match (a filtered or limited hunt: leads come out in
   file order), else through a hash join on disk (a national import: leads come out partition by
   partition). Either way each file is read once and memory stays bounded;
3. build one ``CompanyRecord`` per establishment (``receita_records``), or with ``as_json`` its
   JSON text straight from the line (``receita_json``): what the extractor publishes.
"""

from __future__ import annotations

import csv
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from shared.domain.folding import fold
from shared.events import RunFilters
from shared.schemas import CompanyRecord, DroppedLead

from .errors import SourceError
from .filters import BR_STATUS_BY_CODE, LeadFilter
from .receita_join import CompanyRows, Establishment, Spill, company_lines, record_runs
from .receita_json import json_records
from .receita_layout import E_CNAE, E_CNAE_SEC, E_MUNICIPIO, E_SITUACAO, E_UF, ESTAB_COLUMNS, file_kind, split_line
from .receita_records import Builder, company_builder, estab_fields
from .records import dropped
from .text_streams import DataFile, read_head
from .values import collapse

DEFAULT_CHUNK_SIZE = 200_000
_TABLE_KINDS = ("cnaes", "municipios", "naturezas", "qualificacoes", "paises", "motivos")


@dataclass
class ReceitaFiles:
    """The files of one Receita publication, by kind."""

    by_kind: dict[str, list[DataFile]] = field(default_factory=dict)

    def __getitem__(self, kind: str) -> list[DataFile]:
        return self.by_kind.get(kind, [])


def find_receita_files(directory: Path) -> ReceitaFiles:
    """Classify the files of ``directory`` (zips by their own name, else by their members' names)."""
    if not directory.exists():
        raise SourceError(f"cnpj: directory not found: {directory}")
    if not directory.is_dir():
        raise SourceError(f"cnpj: expected a directory of Receita files, got a file: {directory}")
    found = ReceitaFiles()
    for path in sorted(p for p in directory.iterdir() if p.is_file()):
        if zipfile.is_zipfile(path):
            zip_kind = file_kind(path.stem)
            try:
                with zipfile.ZipFile(path) as zf:
                    members = sorted(i.filename for i in zf.infolist() if not i.is_dir())
            except (zipfile.BadZipFile, OSError) as exc:
                raise SourceError(f"cnpj: {path.name} is not a readable zip archive: {exc}") from None
            for member in members:
                kind = zip_kind or file_kind(Path(member).name)
                if kind:
                    found.by_kind.setdefault(kind, []).append(DataFile(path, member))
        elif path.suffix.lower() == ".zip" and file_kind(path.stem):
            raise SourceError(f"cnpj: {path.name} is not a readable zip archive (truncated, or not a zip at all)")
        elif kind := file_kind(path.name):
            found.by_kind.setdefault(kind, []).append(DataFile(path))
    if not found["estabelecimentos"]:
        raise SourceError(f"cnpj: no Estabelecimentos file in {directory} (expected Estabelecimentos*.zip)")
    return found


def check_layout(files: ReceitaFiles) -> None:
    """``SourceError`` unless some Estabelecimentos file starts with a line of the Receita layout (its
    fields separated by ``;``): other files (another registry's export, a truncated member, binary
    junk) would give a run of nothing but malformed rows. One odd file among good ones is read, and
    its bad rows rejected one by one."""
    expected = len(ESTAB_COLUMNS)
    seen: list[str] = []
    for data in files["estabelecimentos"]:
        try:
            head = read_head(data, 16 * 1024)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise SourceError(f"cnpj: cannot read {data.label}: {exc}") from None
        first = next((line for line in head.decode("latin-1").splitlines() if line.strip()), None)
        if first is None:
            seen.append(f"{data.label} is empty")
            continue
        found = len(split_line(first.replace("\x00", ""), expected))
        if found == expected:
            return
        seen.append(f"{data.label} starts with a line of {found} fields")
    raise SourceError(f"cnpj: not the Receita Estabelecimentos layout ({expected} fields separated by ';'): "
                      + "; ".join(seen))


@dataclass
class CodeTables:
    """The small code -> name tables, loaded whole."""

    cnaes: dict[str, str] = field(default_factory=dict)
    municipios: dict[str, str] = field(default_factory=dict)
    naturezas: dict[str, str] = field(default_factory=dict)
    qualificacoes: dict[str, str] = field(default_factory=dict)
    paises: dict[str, str] = field(default_factory=dict)
    motivos: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, files: ReceitaFiles) -> CodeTables:
        tables = cls()
        for kind in _TABLE_KINDS:
            target: dict[str, str] = getattr(tables, kind)
            for data in files[kind]:
                with data.open_text(encoding="latin-1") as fh:
                    for row in csv.reader((line.replace("\x00", "") for line in fh), delimiter=";"):
                        if len(row) >= 2 and row[0].strip():
                            target[row[0].strip()] = collapse(row[1]) or ""
        return tables

    def municipality_codes(self, names: Iterable[str]) -> set[str]:
        wanted = set(names)
        if not wanted:
            return set()
        if not self.municipios:
            raise SourceError("cnpj: filtering by city name needs the Municipios table in the directory")
        codes = {code for code, name in self.municipios.items() if fold(name) in wanted}
        unknown = wanted - {fold(self.municipios[c]) for c in codes}
        if unknown:
            raise SourceError(f"cnpj: unknown municipality name(s) {sorted(unknown)} (not in Municipios)")
        return codes


class _EstablishmentFilter:
    """Raw-bytes prefilter plus the exact per-field test."""

    def __init__(self, flt: LeadFilter, city_codes: set[str]) -> None:
        self.flt = flt
        self.city_codes = frozenset(city_codes)
        groups: list[tuple[bytes, ...]] = []
        if flt.regions:
            groups.append(tuple(f'";"{u}";"'.encode("latin-1") for u in flt.regions))
        if self.city_codes:
            groups.append(tuple(f'";"{c}";"'.encode("latin-1") for c in self.city_codes))
        if flt.activities:
            if flt.include_secondary:
                groups.append(tuple(a.encode("latin-1") for a in flt.activities))
            else:
                groups.append(tuple(f'";"{a}'.encode("latin-1") for a in flt.activities))
        self.groups = groups
        self.statuses = flt.statuses
        self.is_trivial = not groups and flt.statuses is None

    def prefilter(self, raw: bytes) -> bool:
        for group in self.groups:
            for token in group:
                if token in raw:
                    break
            else:
                return False
        return True

    def accepts(self, f: list[str]) -> bool:
        flt = self.flt
        if self.statuses is not None and BR_STATUS_BY_CODE.get(f[E_SITUACAO], f[E_SITUACAO]) not in self.statuses:
            return False
        if flt.regions and f[E_UF] not in flt.regions:
            return False
        if self.city_codes and f[E_MUNICIPIO] not in self.city_codes:
            return False
        return not flt.activities or flt.activity_ok(f[E_CNAE], f[E_CNAE_SEC])


def _text(raw: bytes | str) -> str:
    line = raw.decode("latin-1") if type(raw) is bytes else raw
    if "\x00" in line:
        line = line.replace("\x00", "")
    return line.rstrip("\r\n")


PROGRESS_ROWS = 100_000  # establishment lines between two progress reports


def _scan_establishments(
    files: list[DataFile], check: _EstablishmentFilter, on_progress: Callable[[int], None] | None = None
) -> Iterator[list[Establishment] | DroppedLead]:
    """The matching establishments, in lists (a clean block at a time when there is no filter),
    and the malformed rows, in file order. ``on_progress`` hears the lines read so far, every
    ``PROGRESS_ROWS`` or so and at the end of each file."""
    expected = len(ESTAB_COLUMNS)
    quotes = 2 * expected
    prefilter = None if not check.groups else check.prefilter
    trivial = check.is_trivial
    accepts = check.accepts

    def exact(label: str, line_no: int, raw: bytes) -> Establishment | DroppedLead | None:
        """The establishment of a raw line that passed the prefilter, its rejection, or ``None``."""
        line = _text(raw)
        if not line.strip():
            return None
        fields = split_line(line, expected)
        if len(fields) != expected:
            return dropped(
                "malformed_row",
                f"Estabelecimentos row has {len(fields)} columns, expected {expected}",
                source_file=label,
                source_line=line_no,
                raw={"line": line[:2000]},
            )
        if trivial or accepts(fields):
            return label, line_no, fields[0].strip().zfill(8).encode("latin-1"), raw
        return None

    read_before = 0  # lines of the files before this one
    for data in files:
        label = data.label
        matched: list[Establishment] = []
        report_at, last_line = PROGRESS_ROWS, 0
        for line_no, raw in record_runs(data, expected if trivial else None):
            last_line = line_no + len(raw) - 1 if type(raw) is list else line_no
            if on_progress is not None and last_line >= report_at:
                on_progress(read_before + last_line)
                report_at = last_line + PROGRESS_ROWS
            if type(raw) is list:  # a clean block, no filter: its lines decoded
                if matched:
                    yield matched
                    matched = []
                yield [(label, i, line[1:9].encode("latin-1") if line[9:12] == '";"' else _key(line), line)
                       for i, line in enumerate(raw, line_no)]
                continue
            if trivial and raw.count(b'"') == quotes and raw[:1] == b'"' and raw[9:12] == b'";"':
                matched.append((label, line_no, raw[1:9], raw))  # well formed, no filter: no parsing yet
                continue
            if prefilter is not None and not prefilter(raw):
                continue
            item = exact(label, line_no, raw)
            if isinstance(item, DroppedLead):
                if matched:
                    yield matched
                    matched = []
                yield item
            elif item is not None:
                matched.append(item)
                if len(matched) >= 1000:
                    yield matched
                    matched = []
        if matched:
            yield matched
        read_before += last_line
        if on_progress is not None:
            on_progress(read_before)


def _key(line: str) -> bytes:
    return split_line(line, len(ESTAB_COLUMNS))[0].strip().zfill(8).encode("latin-1")


def _malformed(label: str, line_no: int, raw: bytes | str) -> DroppedLead:
    expected = len(ESTAB_COLUMNS)
    found = len(estab_fields(raw, expected))
    return dropped("malformed_row", f"Estabelecimentos row has {found} columns, expected {expected}",
                   source_file=label, source_line=line_no, raw={"line": _text(raw)[:2000]})


def _emit(
    establishments: Iterable[Establishment], rows: CompanyRows, build: Builder
) -> Iterator[CompanyRecord | DroppedLead]:
    expected = len(ESTAB_COLUMNS)
    empresa, simples, socios = rows.empresas.get, rows.simples.get, rows.socios.get
    for label, line_no, key, raw in establishments:
        f = estab_fields(raw, expected)
        if len(f) != expected:
            yield _malformed(label, line_no, raw)
            continue
        yield build(f, label, line_no, empresa(key), simples(key), socios(key))


def _company_rows(files: ReceitaFiles, chunk: list[Establishment]) -> CompanyRows:
    """The company rows of the establishments of ``chunk``, read whole block by whole block when
    they are many (a quarter of the publication's establishments or more)."""
    keys = {m[2] for m in chunk}
    return CompanyRows.read(files, keys, clean_blocks=4 * len(keys) >= estimated_rows(files["estabelecimentos"]))


def estimated_rows(files: list[DataFile]) -> int:
    """Rough number of records in ``files`` from their uncompressed sizes (~250 bytes a row)."""
    total = 0
    for data in files:
        if data.member is not None:
            with zipfile.ZipFile(data.path) as zf:
                total += zf.getinfo(data.member).file_size
        else:
            total += data.path.stat().st_size * (5 if data.path.suffix.lower() == ".gz" else 1)
    return total // 250


def iter_cnpj(
    directory: Path,
    filters: RunFilters,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    spill_dir: Path | None = None,
    as_json: bool = False,
    workers: int = 1,
    on_progress: Callable[[int], None] | None = None,
) -> Iterator[CompanyRecord | str | DroppedLead]:
    """Leads of a Receita publication directory, filtered; at most ``filters.limit`` records.

    Up to ``chunk_size`` matched establishments are joined in memory; beyond, on disk under
    ``spill_dir`` (default: the system's temporary directory). With ``as_json`` each lead comes
    as the JSON text of its ``CompanyRecord`` (``receita_json``), not as a model. A join on disk
    uses ``workers`` processes (``receita_parallel``); the items are the same whatever their number.
    ``on_progress`` hears how many Estabelecimentos lines were read so far (a national scan takes
    minutes before its first lead).
    """
    files = find_receita_files(directory)
    tables = CodeTables.load(files)
    flt = LeadFilter.from_run(filters, country="BR")
    city_codes = set(flt.city_codes) | tables.municipality_codes(flt.city_names)
    check = _EstablishmentFilter(flt, city_codes)
    limit = flt.limit
    if limit == 0:
        return
    emit = make_emitter(tables, as_json=as_json)
    chunk: list[Establishment] = []
    scan = _scan_establishments(files["estabelecimentos"], check, on_progress)
    for item in scan:
        if isinstance(item, DroppedLead):
            yield item
            continue
        chunk += item
        if limit is not None and len(chunk) >= limit:
            del chunk[limit:]
            break
        if len(chunk) > chunk_size:
            break
    else:
        yield from emit(chunk, _company_rows(files, chunk))
        return
    if len(chunk) <= chunk_size:  # the limit was reached
        yield from emit(chunk, _company_rows(files, chunk))
        return
    partitions = partition_count(files)
    parallel = workers > 1
    with Spill(partitions, spill_dir, companies_elsewhere=parallel) as spill:
        writer = None
        if parallel:
            from .receita_parallel import CompanySidesWriter, join_in_parallel

            writer = CompanySidesWriter(directory, spill)  # the company files are read meanwhile
        try:
            matched = len(chunk)
            spill.add_establishments(chunk)
            del chunk
            rejects: list[DroppedLead] = []
            for item in scan:
                if isinstance(item, DroppedLead):
                    rejects.append(item)  # a few: malformed rows of a whole publication
                    if len(rejects) >= 1000:
                        yield from rejects
                        rejects.clear()
                    continue
                if limit is not None and matched + len(item) >= limit:
                    spill.add_establishments(item[: limit - matched])
                    break
                spill.add_establishments(item)
                matched += len(item)
            yield from rejects
            if writer is None:
                spill.add_company_rows(company_lines(files, None))
                for rows, establishments in spill.joined():
                    yield from emit(establishments, rows)
                return
            writer.wait()
            yield from join_in_parallel(directory, spill, emit, as_json=as_json, workers=workers)
        finally:
            if writer is not None:
                writer.stop()


PARTITION_ROWS = 100_000  # establishments per partition of a join on disk, about


def partition_count(files: ReceitaFiles) -> int:
    """Partitions of a join on disk: from the size of the publication only (so the items' order
    does not depend on how many processes join them), a multiple of 4, at most 256."""
    wanted = -(-estimated_rows(files["estabelecimentos"]) // PARTITION_ROWS)
    return min(256, max(4, -(-wanted // 4) * 4))


def make_emitter(tables: CodeTables, *, as_json: bool) -> Callable[[Iterable[Establishment], CompanyRows],
                                                                   Iterator[CompanyRecord | str | DroppedLead]]:
    """What turns joined establishments into leads (models, or with ``as_json`` their JSON text)."""
    build = company_builder(tables)
    if as_json:
        return json_records(tables, build, _malformed)

    def emit(items: Iterable[Establishment], rows: CompanyRows) -> Iterator[CompanyRecord | str | DroppedLead]:
        return _emit(items, rows, build)

    return emit
