"""SIRENE stock files (``sirene:PATH``): StockEtablissement joined with StockUniteLegale.

``PATH`` is a StockEtablissement file (CSV, ``.csv.gz``, ``.zip`` or Parquet), a directory holding
one, or ``ETAB_PATH,UL_PATH``. Without an explicit legal-unit file, one named like
``*UniteLegale*`` / ``*unite*legale*`` beside the establishment file is used when present.

Establishments are filtered (NAF prefixes from ``RunFilters.naf``, departments from
``RunFilters.uf``, communes by INSEE code or name from ``RunFilters.city``, and
``etatAdministratifEtablissement``: ``A`` unless the status filter says otherwise) on the raw row
values, SIRETs are Luhn-checked (``invalid_registry_id``), and a record is built only for the rows
kept. They are joined with their legal unit so memory stays bounded: a hunt of up to ``chunk_size``
establishments in memory (the legal-unit file streamed once, parsing only the lines whose SIREN is
wanted), a bigger one on disk (``sirene_spill``: both files read once, partition by partition).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from shared.events import RunFilters
from shared.registry_ids import is_valid_siret
from shared.schemas import CompanyRecord, DroppedLead

from .errors import SourceError
from .filters import LeadFilter
from .records import dropped, make_address, make_company
from .sirene_layout import UNITE_LEGALE_FIELDS, Layout, choose_layout, column_index
from .sirene_spill import CsvUnitLines, Match, SireneSpill, partitions_for
from .text_streams import DataFile, data_files
from .values import collapse, iso_date

DEFAULT_CHUNK_SIZE = 20_000
_TABULAR = (".csv", ".gz", ".zip", ".parquet", ".pq", ".txt")
Row = list[Any]


def _is_parquet(path: Path) -> bool:
    return path.suffix.lower() in (".parquet", ".pq")


def _csv_member(path: Path) -> DataFile:
    files = data_files(path)
    csvs = [f for f in files if f.name.lower().endswith((".csv", ".txt")) or "." not in f.name]
    return (csvs or files)[0]


@contextmanager
def open_table(path: Path) -> Iterator[tuple[str, list[str], Iterator[tuple[int, Row]]]]:
    """(label, stripped header, rows with their line number) of a CSV or Parquet file."""
    if not path.exists():
        raise SourceError(f"sirene: file not found: {path}")
    if _is_parquet(path):
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(path)
        header = [name.strip() for name in pf.schema_arrow.names]

        def parquet_rows() -> Iterator[tuple[int, Row]]:
            line = 0
            for batch in pf.iter_batches(batch_size=50_000):
                columns = [
                    [None if v is None else str(v) for v in col.to_pylist()] for col in batch.columns
                ]
                for row in zip(*columns, strict=True):
                    line += 1
                    yield line, list(row)

        yield path.name, header, parquet_rows()
        return
    data = _csv_member(path)
    with data.open_text(encoding="utf-8-sig", errors="replace") as fh:
        reader = csv.reader(fh)
        header = [h.strip() for h in next(reader, [])]

        def csv_rows() -> Iterator[tuple[int, Row]]:
            for row in reader:
                if row:
                    yield reader.line_num, row

        yield data.label, header, csv_rows()


def _department(city_code: str, postal_code: str) -> str | None:
    code = city_code or postal_code
    if len(code) < 2:
        return None
    return code[:3] if code.startswith("97") or code.startswith("98") else code[:2]


def _legal_name(u: dict[str, str]) -> str | None:
    if u.get("denomination"):
        return collapse(u["denomination"])
    last = u.get("usage_name") or u.get("last_name") or ""
    first = u.get("first_name") or u.get("first_name_1") or ""
    return collapse(f"{first} {last}")


def _get(row: Row, idx: dict[str, int], name: str) -> str:
    i = idx.get(name)
    if i is None:
        return ""
    v = row[i]
    return v.strip() if v else ""


class _Located(NamedTuple):
    """What the filters look at, read from a row before any record is built."""

    status: str | None
    activity: str
    city_code: str
    city: str | None
    department: str | None


def _located(row: Row, idx: dict[str, int], layout: Layout) -> _Located:
    g = lambda name: _get(row, idx, name)  # noqa: E731
    city_code = g("city_code") or (g("department") + g("commune") if layout.inline_name else "")
    activity = g("activity")
    if layout.inline_name and len(activity) == 5 and activity[:4].isdigit():
        activity = f"{activity[:2]}.{activity[2:]}"  # APET700 "6201Z" -> "62.01Z"
    return _Located(
        status="A" if layout.all_active else (g("status") or None),
        activity=activity,
        city_code=city_code,
        city=collapse(g("city")),
        department=g("department") or _department(city_code, g("postal_code")),
    )


def _build(row: Row, idx: dict[str, int], layout: Layout, siret: str, label: str, line: int,
           at: _Located | None = None) -> CompanyRecord:
    g = lambda name: _get(row, idx, name)  # noqa: E731
    at = at or _located(row, idx, layout)
    head = g("head_office").lower()
    number = " ".join(p for p in (g("number"), g("number_suffix")) if p)
    extra = {
        key: g(field)
        for key, field in (
            ("diffusion", "diffusion"), ("nomenclature", "nomenclature"), ("activity_naf25", "activity_naf25"),
            ("workforce", "workforce"), ("company_category", "company_category"),
        )
        if g(field)
    }
    values: dict[str, Any] = {
        "lead_key": "FR:" + siret,
        "country": "FR",
        "registry_id": siret,
        "source": "sirene",
        "source_file": label,
        "source_line": line,
        "legal_name": collapse(g("legal_name")),
        "trade_name": collapse(g("sign")) or collapse(g("usual_name")),
        "status": at.status,
        "status_date": iso_date(g("status_date")),
        "opened_on": iso_date(g("created")),
        "activity_main": at.activity or None,
        "activity_main_name": collapse(g("activity_name")),
        "legal_nature": g("legal_nature") or None,
        "legal_nature_name": collapse(g("legal_nature_name")),
        "size": g("workforce") or None,
        "head_office": head in ("true", "1", "o") if head else None,
        "address": make_address(
            street_type=collapse(g("street_type")),
            street=collapse(g("street")),
            number=number or None,
            complement=collapse(g("complement")),
            postal_code=g("postal_code") or None,
            city=at.city,
            city_code=at.city_code or None,
            state=at.department,
            country="FR",
        ),
        "phones": [g("phone")] if g("phone") else [],
        "extra": extra,
    }
    return make_company(values)


def _accepts(flt: LeadFilter, at: _Located) -> bool:
    return (
        flt.status_ok(at.status)
        and flt.region_ok(at.department)
        and flt.city_ok(at.city_code or None, at.city)
        and flt.activity_ok(at.activity or None)
    )


class _Reading:
    """How the rows of an establishment file are read (known once its header is)."""

    label = ""
    idx: dict[str, int]
    layout: Layout

    def build(self, match: Match) -> CompanyRecord:
        _, siret, line, row = match
        return _build(row, self.idx, self.layout, siret, self.label, line)


def _matches(path: Path, flt: LeadFilter, reading: _Reading) -> Iterator[Match | DroppedLead]:
    """The rows the hunt keeps, raw (``reading.build`` makes their records), and the rejected ones."""
    with open_table(path) as (label, header, rows):
        layout = choose_layout(header, label)
        idx = column_index(header, layout.fields)
        reading.label, reading.idx, reading.layout = label, idx, layout
        width = len(header)
        for line, row in rows:
            if len(row) != width:
                yield dropped(
                    "malformed_row", f"row has {len(row)} columns, header has {width}",
                    source_file=label, source_line=line, raw=dict(zip(header, row, strict=False)),
                )
                continue
            siret = _get(row, idx, "siret") or (_get(row, idx, "siren") + _get(row, idx, "nic"))
            if not is_valid_siret(siret):
                yield dropped(
                    "invalid_registry_id", f"SIRET {siret!r} fails the Luhn check",
                    source_file=label, source_line=line, lead_key=f"FR:{siret}",
                    raw={h: (v or "") for h, v in zip(header, row, strict=True) if v},
                )
                continue
            if _accepts(flt, _located(row, idx, layout)):  # a record is built only for the rows kept
                yield siret[:9].encode(), siret, line, row


def _parquet_units(path: Path, sirens: set[str] | None = None) -> Iterator[dict[str, str]]:
    """Legal-unit fields of a Parquet file: of ``sirens`` only (``is_in``), or every unit."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    names = {n.strip(): n for n in pf.schema_arrow.names}
    cols = {f: names[c] for f, c in UNITE_LEGALE_FIELDS.items() if c in names}
    if "siren" not in cols:
        raise SourceError(f"sirene {path.name}: legal-unit file has no siren column")
    wanted = None if sirens is None else pa.array(sorted(sirens))
    for batch in pf.iter_batches(batch_size=200_000, columns=list(cols.values())):
        table = pa.Table.from_batches([batch])
        if wanted is not None:
            table = table.filter(pc.is_in(pc.cast(table[cols["siren"]], pa.string()), value_set=wanted))
        for rec in table.to_pylist():
            yield {f: "" if rec[c] is None else str(rec[c]).strip() for f, c in cols.items()}


def _legal_units(path: Path, sirens: set[str]) -> dict[str, dict[str, str]]:
    """Legal-unit fields for the wanted SIRENs only (raw line prefilter on CSV, ``is_in`` on Parquet)."""
    found: dict[str, dict[str, str]] = {}
    if _is_parquet(path):
        for u in _parquet_units(path, sirens):
            found[u["siren"]] = u
        return found
    data = _csv_member(path)
    keys = {s.encode() for s in sirens}
    with data.open_binary() as fh:
        header = [h.strip() for h in next(csv.reader([fh.readline().decode("utf-8-sig", "replace")]), [])]
        idx = column_index(header, UNITE_LEGALE_FIELDS)
        if "siren" not in idx:
            raise SourceError(f"sirene {data.label}: legal-unit file has no siren column")
        first = idx["siren"] == 0
        for raw in fh:
            if first and raw[:9] not in keys and raw[1:10] not in keys:
                continue
            row = next(csv.reader([raw.decode("utf-8", "replace")]), [])
            if len(row) != len(header):
                continue
            u = {f: row[i].strip() for f, i in idx.items()}
            if u["siren"] in sirens:
                found[u["siren"]] = u
    return found


def _with_legal_unit(rec: CompanyRecord, u: dict[str, str] | None) -> CompanyRecord:
    if u is None:
        return rec
    d = rec.__dict__
    d["legal_name"] = _legal_name(u) or d["legal_name"]
    d["legal_nature"] = u.get("legal_nature") or d["legal_nature"]
    if u.get("company_category"):
        d["extra"]["company_category"] = u["company_category"]
    if u.get("acronym"):
        d["extra"]["acronym"] = u["acronym"]
    if u.get("status"):
        d["extra"]["legal_unit_status"] = u["status"]
    rec.__pydantic_fields_set__.update(("legal_name", "legal_nature"))
    return rec


def find_legal_unit_file(etab: Path) -> Path | None:
    """A StockUniteLegale file beside ``etab`` (``StockUniteLegale*`` preferred), if any."""
    candidates = sorted(
        p for p in etab.parent.iterdir()
        if p.is_file() and p != etab and p.name.lower().endswith(_TABULAR)
        and "unitelegale" in p.name.lower().replace("_", "").replace("s", "")
    )
    candidates.sort(key=lambda p: (not p.name.startswith("StockUniteLegale"), p.name))
    return candidates[0] if candidates else None


def resolve_paths(spec: str) -> tuple[Path, Path | None]:
    """``ETAB[,UL]`` or a directory -> (establishment file, legal-unit file or None)."""
    etab_text, _, ul_text = spec.partition(",")
    etab = Path(etab_text.strip())
    if etab.is_dir():
        files = sorted(
            p for p in etab.iterdir()
            if p.is_file() and "etablissement" in p.name.lower() and p.name.lower().endswith(_TABULAR)
            and "historique" not in p.name.lower()
        )
        if not files:
            raise SourceError(f"sirene: no StockEtablissement file in directory {etab}")
        etab = files[0]
    if not etab.exists():
        raise SourceError(f"sirene: file not found: {etab}")
    if ul_text.strip():
        ul = Path(ul_text.strip())
        if not ul.exists():
            raise SourceError(f"sirene: legal-unit file not found: {ul}")
        return etab, ul
    return etab, find_legal_unit_file(etab)


def iter_sirene(
    spec: str, filters: RunFilters, *, chunk_size: int = DEFAULT_CHUNK_SIZE, spill_dir: Path | None = None
) -> Iterator[CompanyRecord | DroppedLead]:
    """Leads of a SIRENE stock, filtered, at most ``filters.limit`` records. Up to ``chunk_size``
    matched establishments are joined with their legal units in memory (in file order); beyond, on
    disk under ``spill_dir`` (``sirene_spill``: partition by partition)."""
    etab, ul = resolve_paths(spec)
    flt = LeadFilter.from_run(filters, country="FR", activity="naf")
    if flt.limit == 0:
        return
    emitted = 0
    reading = _Reading()
    matches = _matches(etab, flt, reading)
    chunk: list[Match] = []

    def flush() -> Iterator[CompanyRecord]:
        units = _legal_units(ul, {m[1][:9] for m in chunk}) if ul else {}
        for m in chunk:
            yield _with_legal_unit(reading.build(m), units.get(m[1][:9]))
        chunk.clear()

    for item in matches:
        if isinstance(item, DroppedLead):
            yield item
            continue
        chunk.append(item)
        emitted += 1
        if flt.limit is not None and emitted >= flt.limit:
            break
        if len(chunk) >= chunk_size:
            if ul is None:
                yield from flush()
                continue
            yield from _join_on_disk(chunk, matches, ul, reading, flt.limit, emitted, spill_dir)
            return
    yield from flush()


def _join_on_disk(chunk: list[Match], rest: Iterator[Match | DroppedLead], ul: Path, reading: _Reading,
                  limit: int | None, emitted: int, spill_dir: Path | None) -> Iterator[CompanyRecord | DroppedLead]:
    units: Iterable[tuple[bytes, Any]]
    if _is_parquet(ul):
        units, parse = ((u["siren"].encode(), u) for u in _parquet_units(ul)), lambda u: u
    else:
        lines = CsvUnitLines(_csv_member(ul), UNITE_LEGALE_FIELDS, column_index)
        units, parse = lines, lines.parse
    with SireneSpill(partitions_for(ul), spill_dir) as spill:
        spill.add_matches(chunk)
        chunk.clear()
        if limit is None or emitted < limit:
            for item in rest:
                if isinstance(item, DroppedLead):
                    yield item
                    continue
                spill.add_matches((item,))
                emitted += 1
                if limit is not None and emitted >= limit:
                    break
        spill.add_units(units)
        for by_siren, partition in spill.joined():
            for m in partition:
                raw = by_siren.get(m[0])
                yield _with_legal_unit(reading.build(m), None if raw is None else parse(raw))
