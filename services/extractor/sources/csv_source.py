"""Any CSV of companies (``csv:PATH``), columns found by header name.

``csv:PATH`` auto-detects the columns (see ``csv_columns.ALIASES``). Options go after ``?``:

- ``map=field=Header,field2=Header2`` maps canonical fields to header names
  (``csv:leads.csv?map=cnpj=Documento,razao_social=Nome``);
- ``delimiter=;`` (default: sniffed among ``,`` ``;`` tab ``|``), ``encoding=latin-1`` (default:
  UTF-8, BOM tolerated, latin-1 when the file is not UTF-8), ``country=FR`` (default: BR, FR when
  the id column is a SIRET/SIREN).

``iter_csv(path, filters, mapping={...})`` takes the same mapping as a dict.

Rows whose id is missing or whose column count differs from the header's are dropped as
``malformed_row``; an id with wrong check digits as ``invalid_registry_id``.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from shared.domain.csv_columns import detect_columns
from shared.events import RunFilters
from shared.registry_ids import clean_cnpj, is_valid_cnpj, is_valid_siren, is_valid_siret
from shared.schemas import CompanyRecord, DroppedLead

from .errors import SourceError
from .filters import BR_STATUS_BY_CODE, LeadFilter
from .records import dropped, make_address, make_company
from .text_streams import DataFile, data_files, read_head, sniff_encoding
from .values import alnum_upper, collapse, iso_date, parse_flag, parse_money

_PHONE_SPLIT = re.compile(r"\s*[;,|/]\s*")
_EMAIL_SPLIT = re.compile(r"[;,\s]+")
_LIST_SPLIT = re.compile(r"[;,|\s]+")
_MATRIZ = {"1": True, "MATRIZ": True, "TRUE": True, "S": True, "2": False, "FILIAL": False, "FALSE": False}


@dataclass
class CsvOptions:
    mapping: dict[str, str] = field(default_factory=dict)
    delimiter: str | None = None
    encoding: str | None = None
    country: str | None = None
    source_name: str = "csv"


def parse_csv_spec(spec: str) -> tuple[Path, CsvOptions]:
    """``PATH?map=a=B,c=D&delimiter=;`` -> (path, options)."""
    path_text, _, query = spec.partition("?")
    options = CsvOptions()
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key == "map":
            for pair in value.split(","):
                if pair.strip():
                    canon, sep, column = pair.partition("=")
                    if not sep:
                        raise SourceError(f"csv: bad map entry {pair!r}, expected field=Header")
                    options.mapping[canon.strip()] = column.strip()
        elif key == "delimiter":
            options.delimiter = {"tab": "\t", "\\t": "\t"}.get(value, value)
            if len(options.delimiter) != 1 or options.delimiter in "\"\r\n":
                raise SourceError(f"csv: delimiter must be one character (not a quote or line break), got {value!r}")
        elif key == "encoding":
            try:
                codecs.lookup(value)
            except LookupError:
                raise SourceError(f"csv: unknown encoding {value!r} (e.g. utf-8, latin-1, cp1252)") from None
            options.encoding = value
        elif key == "country":
            options.country = value.upper()
        else:
            raise SourceError(f"csv: unknown option {key!r} (map, delimiter, encoding, country)")
    return Path(path_text), options


def sniff_delimiter(head: str) -> str:
    first = head.splitlines()[0] if head else ""
    return max((",", ";", "\t", "|"), key=first.count)


class _Row:
    """Field access by canonical name over one CSV row."""

    __slots__ = ("cols", "row")

    def __init__(self, cols: dict[str, list[int]], row: list[str]) -> None:
        self.cols, self.row = cols, row

    def get(self, name: str) -> str:
        idx = self.cols.get(name)
        if not idx:
            return ""
        return self.row[idx[0]].strip()

    def all(self, name: str) -> list[str]:
        return [self.row[i].strip() for i in self.cols.get(name, []) if self.row[i].strip()]


def _phones(r: _Row) -> list[str]:
    out: list[str] = []
    for ddd_name, tel_name in (("ddd_1", "telefone_1"), ("ddd_2", "telefone_2")):
        tel = r.get(tel_name)
        if tel:
            ddd = r.get(ddd_name)
            out.append(f"{ddd} {tel}" if ddd else tel)
    for value in r.all("telefone"):
        parts = [p for p in _PHONE_SPLIT.split(value) if p.strip()]
        if "telefone_1" not in r.cols and r.get("ddd_1") and len(parts) == 1:
            parts = [f"{r.get('ddd_1')} {parts[0]}"]
        out.extend(parts)
    seen: set[str] = set()
    return [p for p in out if not (p in seen or seen.add(p))]  # type: ignore[func-returns-value]


def _status(value: str, country: str) -> str | None:
    if not value:
        return None
    v = value.upper()
    if country == "BR" and v.isdigit():
        return BR_STATUS_BY_CODE.get(v.zfill(2), v)
    return v


def _registry_id(r: _Row, country: str) -> tuple[str, str, bool]:
    """(country, id, valid). Empty id when the row has none."""
    if "cnpj" in r.cols and country == "BR":
        cnpj = clean_cnpj(r.get("cnpj"))
        return "BR", cnpj, is_valid_cnpj(cnpj)
    siret = "".join(c for c in r.get("siret") if c.isdigit())
    if siret:
        return country, siret, is_valid_siret(siret)
    siren = "".join(c for c in r.get("siren") if c.isdigit())
    if siren:
        return country, siren, is_valid_siren(siren)
    raw = r.get("cnpj")
    return country, alnum_upper(raw), bool(raw)


def build_csv_company(
    r: _Row, *, country: str, registry_id: str, source: str, source_file: str, source_line: int,
    unmapped: list[tuple[int, str]],
) -> CompanyRecord:
    secondary = [c for c in _LIST_SPLIT.split(r.get("cnae_fiscal_secundaria")) if c]
    emails = [e for v in r.all("email") for e in _EMAIL_SPLIT.split(v) if "@" in e]
    porte = r.get("porte_empresa")
    matriz = r.get("matriz_filial").upper()
    extra = {name: r.row[i].strip() for i, name in unmapped if i < len(r.row) and r.row[i].strip()}
    values: dict[str, Any] = {
        "lead_key": f"{country}:{registry_id}",
        "country": country,
        "registry_id": registry_id,
        "source": source,
        "source_file": source_file,
        "source_line": source_line,
        "legal_name": collapse(r.get("razao_social")),
        "trade_name": collapse(r.get("nome_fantasia")),
        "status": _status(r.get("situacao_cadastral"), country),
        "status_date": iso_date(r.get("data_situacao_cadastral")),
        "opened_on": iso_date(r.get("data_inicio_atividade")),
        "activity_main": r.get("cnae_fiscal_principal") or None,
        "activity_main_name": collapse(r.get("cnae_descricao")),
        "activities_secondary": secondary,
        "legal_nature": r.get("natureza_juridica") or None,
        "legal_nature_name": collapse(r.get("natureza_juridica_descricao")),
        "size": porte or None,
        "capital": parse_money(r.get("capital_social")),
        "head_office": _MATRIZ.get(matriz) if matriz else None,
        "address": make_address(
            street_type=collapse(r.get("tipo_logradouro")),
            street=collapse(r.get("logradouro")),
            number=collapse(r.get("numero")),
            complement=collapse(r.get("complemento")),
            district=collapse(r.get("bairro")),
            postal_code=r.get("cep") or None,
            city=collapse(r.get("municipio")),
            city_code=r.get("codigo_municipio") or None,
            state=r.get("uf").upper() or None,
            country=country,
        ),
        "phones": _phones(r),
        "emails": emails,
        "website": r.get("site") or None,
        "simples": parse_flag(r.get("opcao_simples")),
        "mei": parse_flag(r.get("opcao_mei")),
        "extra": extra,
    }
    return make_company(values)


def _accepts(flt: LeadFilter, rec: CompanyRecord) -> bool:
    addr = rec.address
    return (
        flt.status_ok(rec.status)
        and flt.region_ok(addr.state)
        and flt.city_ok(addr.city_code, addr.city)
        and flt.activity_ok(rec.activity_main, rec.activities_secondary)
    )


def _open_reader(data: DataFile, options: CsvOptions) -> tuple[str, str]:
    head = read_head(data)
    encoding = options.encoding or sniff_encoding(head)
    text = head.decode(encoding, errors="replace")
    delimiter = options.delimiter or sniff_delimiter(text.lstrip("\ufeff"))
    return encoding, delimiter


def iter_csv(
    path: Path,
    filters: RunFilters,
    *,
    mapping: Mapping[str, str] | None = None,
    options: CsvOptions | None = None,
) -> Iterator[CompanyRecord | DroppedLead]:
    """Leads of one CSV file (plain, .gz or .zip), filtered, at most ``filters.limit`` records."""
    options = options or CsvOptions()
    if mapping:
        options.mapping = {**options.mapping, **mapping}
    files = data_files(path)
    flt = LeadFilter.from_run(filters, country=options.country or "BR")
    if flt.limit == 0:
        return
    emitted = rows_seen = 0
    for data in files:
        encoding, delimiter = _open_reader(data, options)
        errors = "strict" if encoding == "latin-1" else "replace"
        with data.open_text(encoding=encoding, errors=errors) as fh:
            reader = csv.reader((line.replace("\x00", "") for line in fh), delimiter=delimiter)
            try:
                header = next(reader, None)
            except csv.Error as exc:
                raise SourceError(f"csv {data.label}: unreadable header line: {exc}") from None
            if header is None:
                continue
            header = [h.lstrip("\ufeff").strip() for h in header]
            try:
                cols = detect_columns(header, options.mapping)
            except (KeyError, LookupError) as exc:
                raise SourceError(f"csv {data.label}: {exc.args[0]}") from exc
            if not {"cnpj", "siret", "siren"} & cols.keys():
                raise SourceError(
                    f"csv {data.label}: no registry id column (cnpj, siret or siren) in header {header}; "
                    "map one with ?map=cnpj=<column>"
                )
            country = options.country or ("BR" if "cnpj" in cols else "FR")
            flt = LeadFilter.from_run(filters, country=country, activity="naf" if country == "FR" else "cnae")
            used = {i for idxs in cols.values() for i in idxs}
            unmapped = [(i, h) for i, h in enumerate(header) if i not in used and h]
            width = len(header)
            for line_no, row in _rows(reader, data.label):
                if isinstance(row, DroppedLead):
                    rows_seen += 1
                    yield row
                    continue
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                rows_seen += 1
                if len(row) != width:
                    if len(row) > width and not any(v.strip() for v in row[width:]):
                        row = row[:width]
                    else:
                        yield dropped(
                            "malformed_row", f"row has {len(row)} columns, header has {width}",
                            source_file=data.label, source_line=line_no,
                            raw=dict(zip(header, row, strict=False)) if len(row) <= width else {"row": str(row)},
                        )
                        continue
                r = _Row(cols, row)
                row_country, registry_id, valid = _registry_id(r, country)
                if not registry_id:
                    yield dropped("malformed_row", "no registry id (cnpj/siret) in row",
                                  source_file=data.label, source_line=line_no, raw=dict(zip(header, row, strict=True)))
                    continue
                if not valid:
                    yield dropped("invalid_registry_id", f"{registry_id!r} fails its check digits",
                                  source_file=data.label, source_line=line_no,
                                  raw=dict(zip(header, row, strict=True)), lead_key=f"{row_country}:{registry_id}")
                    continue
                rec = build_csv_company(
                    r, country=row_country, registry_id=registry_id, source=options.source_name,
                    source_file=data.label, source_line=line_no, unmapped=unmapped,
                )
                if not _accepts(flt, rec):
                    continue
                yield rec
                emitted += 1
                if flt.limit is not None and emitted >= flt.limit:
                    return
    if not rows_seen:
        names = ", ".join(d.label for d in files)
        raise SourceError(f"csv {names}: no data rows (the file is empty or holds only a header)")


def _rows(reader: Any, label: str) -> Iterator[tuple[int, list[str] | DroppedLead]]:
    """(line number, fields) of each row after the header; a row the CSV reader refuses (a field over
    its size limit, a stray quote in strict mode...) comes as its rejection, and reading goes on."""
    while True:
        before = reader.line_num
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if reader.line_num == before:  # nothing consumed: it would fail the same way again
                raise SourceError(f"csv {label}: unreadable at line {before + 1}: {exc}") from None
            yield reader.line_num, dropped("malformed_row", f"row unreadable as CSV: {exc}",
                                           source_file=label, source_line=reader.line_num, raw={})
            continue
        yield reader.line_num, row
