"""Files the gateway hands to the csv source: companies picked in the UI written in Receita-like
columns, and CSVs uploaded for reprocessing. Both live under ``<data_dir>/uploads``."""

from __future__ import annotations

import csv
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from shared.domain.csv_columns import detect_columns
from shared.schemas import CleanedLead
from shared.vault.schema import Company

RECEITA_COLUMNS = [
    "cnpj", "razao_social", "nome_fantasia", "situacao_cadastral", "data_inicio_atividade",
    "cnae_fiscal_principal", "cnae_fiscal_secundaria", "natureza_juridica", "porte_empresa", "capital_social",
    "logradouro", "numero", "complemento", "bairro", "cep", "uf", "municipio", "telefone", "correio_eletronico",
    "site",
]
MAX_UPLOAD_BYTES = 200 * 1024 * 1024
COPY_CHUNK = 1 << 20
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class BadUpload(ValueError):
    pass


class UploadTooLarge(BadUpload):
    pass


def uploads_dir(data_dir: Path) -> Path:
    path = (Path(data_dir) / "uploads").resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _stamped(data_dir: Path, name: str) -> Path:
    safe = _UNSAFE.sub("_", Path(name).name).strip("._") or "upload.csv"
    if not safe.lower().endswith(".csv"):
        safe += ".csv"
    return uploads_dir(data_dir) / f"{datetime.now(UTC):%Y%m%d-%H%M%S-%f}-{safe}"


def receita_row(company: Company) -> dict[str, str]:
    lead = CleanedLead.model_validate_json(company.data)
    c, a = lead.company, lead.company.address
    capital = "" if c.capital is None else f"{c.capital:.2f}".replace(".", ",")
    return {
        "cnpj": c.registry_id, "razao_social": c.legal_name or "", "nome_fantasia": c.trade_name or "",
        "situacao_cadastral": c.status or "", "data_inicio_atividade": (c.opened_on or "").replace("-", ""),
        "cnae_fiscal_principal": c.activity_main or "", "cnae_fiscal_secundaria": ",".join(c.activities_secondary),
        "natureza_juridica": c.legal_nature or "", "porte_empresa": c.size or "", "capital_social": capital,
        "logradouro": " ".join(x for x in (a.street_type, a.street) if x), "numero": a.number or "",
        "complemento": a.complement or "", "bairro": a.district or "", "cep": a.postal_code or "",
        "uf": a.state or "", "municipio": a.city or "",
        "telefone": "; ".join(p.e164 for p in lead.phones) or "; ".join(c.phones),
        "correio_eletronico": "; ".join(e.address for e in lead.emails) or "; ".join(c.emails),
        "site": c.website or "",
    }


def write_companies_csv(data_dir: Path, companies: list[Company], name: str = "companies.csv") -> Path:
    path = _stamped(data_dir, name)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=RECEITA_COLUMNS)
        writer.writeheader()
        for company in sorted(companies, key=lambda c: c.lead_key):
            writer.writerow(receita_row(company))
    return path


def save_uploaded_csv(data_dir: Path, name: str, source: BinaryIO,
                      max_bytes: int = MAX_UPLOAD_BYTES) -> tuple[Path, int]:
    """Copy ``source`` under ``uploads/`` (at most ``max_bytes``, checked while copying) and check that
    it is a CSV with a registry id column whose rows all parse; returns (path, data rows). Blocking:
    call it off the event loop. A refused file is not kept."""
    path = _stamped(data_dir, name)
    try:
        size = 0
        with path.open("wb") as out:
            while chunk := source.read(COPY_CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise UploadTooLarge(f"the file is over the limit of {max_bytes:,} bytes")
                out.write(chunk)
        try:
            rows = _count_rows(path, "utf-8-sig")
        except UnicodeDecodeError:
            rows = _count_rows(path, "latin-1")
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, rows


def _count_rows(path: Path, encoding: str) -> int:
    with path.open(encoding=encoding, newline="") as f:
        head = f.read(65536)
        if not head.strip():
            raise BadUpload("the file is empty")
        try:
            dialect = csv.Sniffer().sniff(head.splitlines()[0], delimiters=",;\t|")
        except csv.Error:
            dialect = csv.excel  # type: ignore[assignment]
        f.seek(0)
        reader = csv.reader(f, dialect)
        try:
            header = next(reader, [])
            columns = detect_columns(header)
            if not ({"cnpj", "siret", "siren"} & columns.keys()):
                raise BadUpload(f"no registry id column (cnpj, registry_id, siret, siren) in header {header[:8]}")
            rows = sum(1 for row in reader if any(cell.strip() for cell in row))
        except csv.Error as exc:  # a field over the csv module's limit, a NUL byte, a stray quote...
            raise BadUpload(f"line {reader.line_num}: {exc}") from exc
    if rows == 0:
        raise BadUpload("the file has a header but no rows")
    return rows
