"""Write an export folder: data files (CSV, Parquet), manifest.json, sha256.txt, data_dictionary.md."""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.csv_safety import safe_row
from shared.domain.segments import COLUMNS, Row

GENERATOR = "hunter-exporter/0.1"
DESCRIPTIONS = {
    "lead_key": "country:registry id, stable across runs",
    "registry_id": "CNPJ (BR) or SIRET (FR)",
    "razao_social": "legal name", "nome_fantasia": "trade name", "cidade": "city", "uf": "state (UF)",
    "cnae": "main activity code (CNAE/NAF)", "score": "final score 0-100 (v2 when enriched, else v1)",
    "bucket": "hot >= 80, warm 60-79, nurture 40-59, parked < 40",
    "contact_quality": "high: corporate e-mail and mobile; medium: one of them or any phone; low: none",
    "phone": "first phone, E.164", "whatsapp": "WhatsApp-capable number or link", "email": "best e-mail",
    "site": "verified website", "instagram": "Instagram profile", "linkedin": "LinkedIn company page",
    "google_maps_url": "Google Maps link found on the site", "technologies": "technologies detected on the site",
    "accountant_like": "contact looks like the accountant's, not the company's",
    "reasons": "score reasons with their points",
    "propensity": "learned propensity to answer a contact (0-1; empty before the ranker's first model)",
    "propensity_features": "the features that moved the propensity most",
    "qualification_score": "qualification 0-100: fit + pain / need + data quality",
    "qualification_fit": "fit to the ICP, 0-50", "qualification_pain": "pain / need signals, 0-40",
    "qualification_data_quality": "data quality, 0-10", "qualification_method": "rules, or llm",
    "qualification_tags": "qualification tags", "qualification_snapshot": "one paragraph of facts on the lead",
    "qualification_first_angle": "the best first angle of a contact (LLM qualification only)",
}


class ExportTooLarge(ValueError):
    pass


@dataclass
class WrittenExport:
    path: Path
    files: dict[str, str] = field(default_factory=dict)
    rows: int = 0
    bytes: int = 0
    sha256: str = ""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_export(
    rows: list[Row], out_dir: Path, *, name: str, formats: list[str], manifest: dict[str, Any],
    max_rows: int, bom: bool = False,
) -> WrittenExport:
    if len(rows) > max_rows:
        raise ExportTooLarge(f"export has {len(rows)} rows, over MAX_EXPORT_ROWS={max_rows}; narrow the filter")
    out_dir.mkdir(parents=True, exist_ok=True)
    result = WrittenExport(path=out_dir, rows=len(rows))
    for fmt in formats:
        if fmt == "csv":
            path = out_dir / f"{name}.csv"
            with path.open("w", newline="", encoding="utf-8-sig" if bom else "utf-8") as f:
                writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
                writer.writeheader()
                writer.writerows(safe_row(r) for r in rows)  # no cell a spreadsheet would run
        elif fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            path = out_dir / f"{name}.parquet"
            table = pa.Table.from_pylist([{c: r.get(c) for c in COLUMNS} for r in rows],
                                         schema=_arrow_schema(pa))
            pq.write_table(table, path)
        else:
            raise ValueError(f"unknown export format {fmt!r}; use csv or parquet")
        result.files[fmt] = str(path)
        result.bytes += path.stat().st_size
    sums = {Path(p).name: _sha256(Path(p)) for p in result.files.values()}
    (out_dir / "sha256.txt").write_text("".join(f"{h}  {n}\n" for n, h in sorted(sums.items())))
    result.sha256 = sums[Path(result.files[formats[0]]).name] if formats else ""
    (out_dir / "manifest.json").write_text(json.dumps(
        {**manifest, "rows": len(rows), "columns": COLUMNS, "files": sums, "generator": GENERATOR},
        indent=2, sort_keys=True, ensure_ascii=False,
    ))
    (out_dir / "data_dictionary.md").write_text(
        "# Data dictionary\n\n| column | meaning |\n|---|---|\n"
        + "".join(f"| {c} | {DESCRIPTIONS.get(c, '')} |\n" for c in COLUMNS)
    )
    return result


def _arrow_schema(pa: Any) -> Any:
    types = {"score": pa.int64(), "accountant_like": pa.bool_(), "propensity": pa.float64(),
             **{c: pa.int64() for c in ("qualification_score", "qualification_fit", "qualification_pain",
                                        "qualification_data_quality")}}
    return pa.schema([(c, types.get(c, pa.string())) for c in COLUMNS])
