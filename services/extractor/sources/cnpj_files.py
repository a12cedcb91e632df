"""Receita Federal CNPJ open data (``cnpj:DIR``): the official zips (or their plain members).

Streaming join in three steps, memory bounded by ``chunk_size`` whatever the file sizes:

1. stream Estabelecimentos; a raw-bytes prefilter (UF / municipality / CNAE tokens) skips most
   lines before any decoding, then the exact filters run on the split fields; matching lines are
   kept as text (one string each) until the chunk is full or the limit is reached;
2. stream Empresas, Simples and Socios keeping only the rows of the chunk's ``cnpj_basico`` set;
3. emit one ``CompanyRecord`` per kept establishment, in file order; then go on with step 1.

A filtered or limited hunt fits in one chunk, so each file is read once. An unfiltered import of
more than ``chunk_size`` establishments re-reads the (smaller) company files once per chunk.
"""

from __future__ import annotations

import csv
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from shared.events import RunFilters
from shared.schemas import CompanyRecord, DroppedLead

from .errors import SourceError
from .filters import BR_STATUS_BY_CODE, LeadFilter
from .receita_layout import (
    AGE_BAND,
    E_BAIRRO,
    E_CEP,
    E_CIDADE_EXT,
    E_CNAE,
    E_CNAE_SEC,
    E_COMPL,
    E_DATA_SIT_ESPECIAL,
    E_DATA_SITUACAO,
    E_DDD1,
    E_DDD2,
    E_DDD_FAX,
    E_EMAIL,
    E_FANTASIA,
    E_FAX,
    E_INICIO,
    E_LOGR,
    E_MATRIZ,
    E_MOTIVO,
    E_MUNICIPIO,
    E_NUMERO,
    E_PAIS,
    E_SIT_ESPECIAL,
    E_SITUACAO,
    E_TEL1,
    E_TEL2,
    E_TIPO_LOGR,
    E_UF,
    ESTAB_COLUMNS,
    PARTNER_KIND,
    PORTE,
    file_kind,
    split_line,
)
from .records import dropped, make_partner, wrap_address, wrap_company
from .text_streams import DataFile
from .values import collapse, fold, iso_date, parse_money

DEFAULT_CHUNK_SIZE = 200_000
_NATUREZA_CACHE_MISS = None
_FLAGS = {"S": True, "N": False, "s": True, "n": False}
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
            with zipfile.ZipFile(path) as zf:
                members = sorted(i.filename for i in zf.infolist() if not i.is_dir())
            for member in members:
                kind = zip_kind or file_kind(Path(member).name)
                if kind:
                    found.by_kind.setdefault(kind, []).append(DataFile(path, member))
        elif kind := file_kind(path.name):
            found.by_kind.setdefault(kind, []).append(DataFile(path))
    if not found["estabelecimentos"]:
        raise SourceError(f"cnpj: no Estabelecimentos file in {directory} (expected Estabelecimentos*.zip)")
    return found


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


class _Match(NamedTuple):
    file_label: str
    line_no: int
    raw: bytes  # the record as read (latin-1), decoded again when emitted
    key: bytes  # cnpj_basico


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


def _lines(data: DataFile) -> Iterator[tuple[int, bytes]]:
    """(line number, record bytes) with NULs and line ends stripped; records spanning lines joined."""
    with data.open_binary() as fh:
        line_no = 0
        pending = b""
        for raw in fh:
            line_no += 1
            if pending:
                raw = pending + raw
                pending = b""
            if raw.count(b'"') & 1:
                pending = raw
                continue
            yield line_no, raw
        if pending:
            yield line_no, pending


def _text(raw: bytes) -> str:
    line = raw.decode("latin-1")
    if "\x00" in line:
        line = line.replace("\x00", "")
    return line.rstrip("\r\n")


def _scan_establishments(
    files: list[DataFile], check: _EstablishmentFilter
) -> Iterator[_Match | DroppedLead]:
    expected = len(ESTAB_COLUMNS)
    quotes = 2 * expected
    prefilter = None if not check.groups else check.prefilter
    trivial = check.is_trivial
    accepts = check.accepts
    for data in files:
        label = data.label
        for line_no, raw in _lines(data):
            if trivial and raw.count(b'"') == quotes and raw[:1] == b'"' and raw[9:12] == b'";"':
                yield _Match(label, line_no, raw, raw[1:9])  # well formed, no filter: no parsing yet
                continue
            if prefilter is not None and not prefilter(raw):
                continue
            line = _text(raw)
            if not line.strip():
                continue
            fields = split_line(line, expected)
            if len(fields) != expected:
                yield dropped(
                    "malformed_row",
                    f"Estabelecimentos row has {len(fields)} columns, expected {expected}",
                    source_file=label,
                    source_line=line_no,
                    raw={"line": line[:2000]},
                )
                continue
            if trivial or accepts(fields):
                yield _Match(label, line_no, raw, fields[0].strip().zfill(8).encode("latin-1"))


def _rows_for_keys(files: list[DataFile], keys: set[bytes]) -> Iterator[tuple[bytes, bytes]]:
    """(key, raw record) of a company-level file for the ``cnpj_basico``s in ``keys``.

    The key is sliced from the raw bytes of a well-formed line; other lines are parsed to find it.
    """
    for data in files:
        for _, raw in _lines(data):
            if raw[:1] == b'"' and raw[9:12] == b'";"':
                key = raw[1:9]
            else:
                first = _text(raw).split(";", 1)[0].strip().strip('"')
                if not first:
                    continue
                key = first.zfill(8).encode("latin-1")
            if key in keys:
                yield key, raw


def _fields(raw: bytes, expected: int) -> list[str] | None:
    fields = split_line(_text(raw), expected)
    return fields if len(fields) == expected else None


class _Joiner:
    """Company-level data for one chunk of establishments, kept as raw records until emitted."""

    def __init__(self, files: ReceitaFiles, keys: set[bytes]) -> None:
        self.empresas: dict[bytes, bytes] = dict(_rows_for_keys(files["empresas"], keys))
        self.simples: dict[bytes, tuple[bool | None, bool | None]] = {}
        for key, raw in _rows_for_keys(files["simples"], keys):
            f = _fields(raw, 7)
            if f is not None:
                self.simples[key] = (_FLAGS.get(f[1].strip()), _FLAGS.get(f[4].strip()))
        self.socios: dict[bytes, list[bytes]] = {}
        for key, raw in _rows_for_keys(files["socios"], keys):
            self.socios.setdefault(key, []).append(raw)

    def empresa(self, key: bytes) -> list[str] | None:
        raw = self.empresas.get(key)
        return None if raw is None else _fields(raw, 7)

    def partners(self, key: bytes) -> list[list[str]] | None:
        raws = self.socios.get(key)
        if not raws:
            return None
        return [f for f in (_fields(r, 11) for r in raws) if f is not None]


def _partners(rows: list[list[str]], tables: CodeTables) -> list[Any]:
    out = []
    for r in rows:
        name = collapse(r[2])
        if not name:
            continue
        out.append(
            make_partner(
                name=name,
                kind=PARTNER_KIND.get(r[1].strip(), "unknown"),
                document=r[3].strip() or None,
                qualification=tables.qualificacoes.get(r[4].strip(), r[4].strip() or None),
                joined_on=iso_date(r[5]),
                age_band=AGE_BAND.get(r[10].strip()) if r[10].strip() else None,
            )
        )
    return out


_DATES: dict[str, str | None] = {}


def _date(value: str) -> str | None:
    """``iso_date`` memoised: a publication holds a few tens of thousands of distinct dates."""
    try:
        return _DATES[value]
    except KeyError:
        if len(_DATES) > 200_000:
            _DATES.clear()
        result = _DATES[value] = iso_date(value)
        return result


def is_clean_line(line: str) -> bool:
    """No field of this quoted line has padding or a run of spaces."""
    return "  " not in line and '" ' not in line and ' "' not in line and "\t" not in line


def _normal_cnpj(basico: str, ordem: str, dv: str) -> str:
    basico, ordem, dv = basico.strip(), ordem.strip(), dv.strip()
    if basico.isdigit():
        basico = basico.zfill(8)
    if ordem.isdigit():
        ordem = ordem.zfill(4)
    return (basico + ordem + dv.zfill(2)).upper()


def build_company(
    f: list[str],
    *,
    empresa: list[str] | None,
    simples: tuple[bool | None, bool | None] | None,
    socios: list[list[str]] | None,
    tables: CodeTables,
    source_file: str,
    source_line: int,
    clean: bool = False,
) -> CompanyRecord:
    """One lead from an Estabelecimentos row and its company-level rows (already split).

    This is the hot loop of a national import: ``clean`` says the caller checked that the line has
    no padded field and no run of spaces (``is_clean_line``), so values are used as published;
    otherwise every field is collapsed first. The record is assembled without validation, every
    field set and typed.
    """
    if not clean:
        f = [collapse(v) or "" for v in f]
    cnpj = f[0] + f[1] + f[2]
    if len(cnpj) != 14 or not cnpj.isalnum() or not (cnpj.isdigit() or cnpj.isupper()):
        cnpj = _normal_cnpj(f[0], f[1], f[2])
    situacao = f[E_SITUACAO]
    cnae = f[E_CNAE]
    phones = []
    if f[E_TEL1]:
        phones.append(f"{f[E_DDD1]} {f[E_TEL1]}" if f[E_DDD1] else f[E_TEL1])
    if f[E_TEL2]:
        phones.append(f"{f[E_DDD2]} {f[E_TEL2]}" if f[E_DDD2] else f[E_TEL2])
    email = f[E_EMAIL]
    city_code = f[E_MUNICIPIO]
    uf = f[E_UF]
    extra: dict[str, str] = {}
    motivo = f[E_MOTIVO]
    if motivo and motivo != "00" and motivo != "0":
        extra["status_reason"] = tables.motivos.get(motivo, motivo)
    if f[E_FAX]:
        extra["fax"] = f"{f[E_DDD_FAX]} {f[E_FAX]}".strip()
    if f[E_SIT_ESPECIAL]:
        extra["special_status"] = collapse(f[E_SIT_ESPECIAL]) or ""
        extra["special_status_date"] = iso_date(f[E_DATA_SIT_ESPECIAL]) or ""
    city = tables.municipios.get(city_code) or (city_code or None)
    if uf == "EX":
        city = collapse(f[E_CIDADE_EXT]) or city
        if f[E_PAIS]:
            extra["country_name"] = tables.paises.get(f[E_PAIS], f[E_PAIS])
    secondary = f[E_CNAE_SEC]
    address = wrap_address({
        "street_type": f[E_TIPO_LOGR] or None,
        "street": f[E_LOGR] or None,
        "number": f[E_NUMERO] or None,
        "complement": f[E_COMPL] or None,
        "district": f[E_BAIRRO] or None,
        "postal_code": f[E_CEP] or None,
        "city": city,
        "city_code": city_code or None,
        "state": uf or None,
        "country": "BR",
    })
    if empresa is not None:
        natureza = empresa[2]
        porte = empresa[5]
        legal_name = collapse(empresa[1])
        legal_nature = natureza or None
        legal_nature_name = _NATUREZA_CACHE_MISS if not natureza else tables.naturezas.get(natureza)
        money = empresa[4]
        try:
            capital = float(money.replace(",", ".")) if money.count(",") == 1 and "." not in money else None
        except ValueError:
            capital = None
        if capital is None:
            capital = parse_money(money)
        size = PORTE.get(porte, porte or None)
    else:
        legal_name = legal_nature = legal_nature_name = size = None
        capital = None
    return wrap_company({
        "lead_key": "BR:" + cnpj,
        "country": "BR",
        "registry_id": cnpj,
        "source": "cnpj",
        "source_file": source_file,
        "source_line": source_line,
        "legal_name": legal_name,
        "trade_name": f[E_FANTASIA] or None,
        "status": BR_STATUS_BY_CODE.get(situacao, situacao or None),
        "status_date": _date(f[E_DATA_SITUACAO]),
        "opened_on": _date(f[E_INICIO]),
        "activity_main": cnae or None,
        "activity_main_name": tables.cnaes.get(cnae),
        "activities_secondary": secondary.split(",") if secondary else [],
        "legal_nature": legal_nature,
        "legal_nature_name": legal_nature_name,
        "size": size,
        "capital": capital,
        "head_office": f[E_MATRIZ] == "1",
        "address": address,
        "phones": phones,
        "emails": [email] if email else [],
        "website": None,
        "simples": None if simples is None else simples[0],
        "mei": None if simples is None else simples[1],
        "partners": _partners(socios, tables) if socios else [],
        "extra": extra,
    })


def _emit(chunk: list[_Match], files: ReceitaFiles, tables: CodeTables) -> Iterator[CompanyRecord]:
    join = _Joiner(files, {m.key for m in chunk})
    expected = len(ESTAB_COLUMNS)
    for m in chunk:
        line = _text(m.raw)
        yield build_company(
            split_line(line, expected),
            clean=is_clean_line(line),
            empresa=join.empresa(m.key),
            simples=join.simples.get(m.key),
            socios=join.partners(m.key),
            tables=tables,
            source_file=m.file_label,
            source_line=m.line_no,
        )


def iter_cnpj(
    directory: Path, filters: RunFilters, *, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> Iterator[CompanyRecord | DroppedLead]:
    """Leads of a Receita publication directory, filtered; at most ``filters.limit`` records."""
    files = find_receita_files(directory)
    tables = CodeTables.load(files)
    flt = LeadFilter.from_run(filters, country="BR")
    city_codes = set(flt.city_codes) | tables.municipality_codes(flt.city_names)
    check = _EstablishmentFilter(flt, city_codes)
    limit = flt.limit
    if limit == 0:
        return
    matched = 0
    chunk: list[_Match] = []
    for item in _scan_establishments(files["estabelecimentos"], check):
        if isinstance(item, DroppedLead):
            yield item
            continue
        chunk.append(item)
        matched += 1
        if limit is not None and matched >= limit:
            break
        if len(chunk) >= chunk_size:
            yield from _emit(chunk, files, tables)
            chunk = []
    if chunk:
        yield from _emit(chunk, files, tables)
