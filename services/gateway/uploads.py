"""Files the gateway hands to the csv source: companies picked in the UI written in Receita-like
columns, and CSVs uploaded for reprocessing. Both live under ``<data_dir>/uploads``."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from pathlib import Path

from services.extractor.sources.csv_columns import detect_columns
from services.projector.models import Company
from shared.schemas import CleanedLead

RECEITA_COLUMNS = [
    "cnpj", "razao_social", "nome_fantasia", "situacao_cadastral", "data_inicio_atividade",
    "cnae_fiscal_principal", "cnae_fiscal_secundaria", "natureza_juridica", "porte_empresa", "capital_social",
    "logradouro", "numero", "complemento", "bairro", "cep", "uf", "municipio", "telefone", "correio_eletronico",
    "site",
]
MAX_UPLOAD_BYTES = 200 * 1024 * 1024
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class BadUpload(ValueError):
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


def save_uploaded_csv(data_dir: Path, name: str, content: bytes) -> tuple[Path, int]:
    """Check that ``content`` is a CSV with a registry id column, save it; returns (path, data rows)."""
    if not content.strip():
        raise BadUpload("the file is empty")
    if len(content) > MAX_UPLOAD_BYTES:
        raise BadUpload(f"the file is over {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = content.decode("latin-1")
    head = text[:65536]
    try:
        dialect = csv.Sniffer().sniff(head.splitlines()[0], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel  # type: ignore[assignment]
    reader = csv.reader(io.StringIO(text), dialect)
    header = next(reader, [])
    columns = detect_columns(header)
    if not ({"cnpj", "siret", "siren"} & columns.keys()):
        raise BadUpload(f"no registry id column (cnpj, registry_id, siret, siren) in header {header[:8]}")
    rows = sum(1 for row in reader if any(cell.strip() for cell in row))
    if rows == 0:
        raise BadUpload("the file has a header but no rows")
    path = _stamped(data_dir, name)
    path.write_bytes(content)
    return path, rows
