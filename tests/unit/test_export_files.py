from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from services.exporter.files import ExportTooLarge, write_export
from shared.domain.segments import COLUMNS, build_row, select_segment
from shared.schemas import Enrichment, FinalScore, Reason, ScoredLead, Technology
from tests.factories import cleaned_lead


def _rows() -> list[dict]:
    rows = []
    for n in range(1, 6):
        scored = ScoredLead(lead=cleaned_lead(n, accountant=n == 2), score=50 + n, bucket="nurture")
        enrichment = Enrichment(lead_key=scored.lead.lead_key, site=f"http://acme{n}.com.br/", verified=n % 2 == 1,
                                technologies=[Technology(name="WordPress")] if n % 2 else [])
        final = FinalScore(lead_key=scored.lead.lead_key, score=70 + 5 * n, bucket="hot" if n >= 2 else "warm",
                           reasons=[Reason(code="site_verified", points=10)])
        rows.append(build_row(scored, enrichment, final))
    return rows


@pytest.mark.parametrize(("segment", "expected"), [
    ("hot", ["BR:00000000000005", "BR:00000000000004", "BR:00000000000003", "BR:00000000000002"]),
    ("hot_whatsapp", ["BR:00000000000005", "BR:00000000000004", "BR:00000000000003", "BR:00000000000002"]),
    ("no_accountant", ["BR:00000000000005", "BR:00000000000004", "BR:00000000000003", "BR:00000000000001"]),
    ("site_tech", ["BR:00000000000005", "BR:00000000000003", "BR:00000000000001"]),
])
def test_segments_keep_the_right_leads_best_first(segment: str, expected: list[str]) -> None:
    assert [r["lead_key"] for r in select_segment(_rows(), segment)] == expected


def test_unknown_segment_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown segment 'cold'"):
        select_segment(_rows(), "cold")


def test_export_folder_has_csv_parquet_manifest_checksums_and_dictionary(tmp_path: Path) -> None:
    rows = select_segment(_rows(), "hot")
    written = write_export(rows, tmp_path / "x", name="hunter_hot", formats=["csv", "parquet"],
                           manifest={"run_id": "r1", "segment": "hot"}, max_rows=100, bom=True)
    csv_path, pq_path = Path(written.files["csv"]), Path(written.files["parquet"])
    assert csv_path.read_bytes().startswith(b"\xef\xbb\xbf")
    with csv_path.open(encoding="utf-8-sig") as f:
        back = list(csv.DictReader(f))
    assert [r["lead_key"] for r in back] == [r["lead_key"] for r in rows]
    assert list(back[0]) == COLUMNS
    table = pq.read_table(pq_path)
    assert table.num_rows == len(rows) and table.column_names == COLUMNS
    assert table.column("score").to_pylist() == [r["score"] for r in rows]
    sums = dict(line.split("  ")[::-1] for line in (tmp_path / "x" / "sha256.txt").read_text().splitlines())
    assert sums["hunter_hot.csv"] == hashlib.sha256(csv_path.read_bytes()).hexdigest()
    manifest = json.loads((tmp_path / "x" / "manifest.json").read_text())
    assert manifest["rows"] == len(rows) and manifest["columns"] == COLUMNS and manifest["run_id"] == "r1"
    assert "| bucket |" in (tmp_path / "x" / "data_dictionary.md").read_text()


def test_max_export_rows_is_enforced_with_a_clear_message(tmp_path: Path) -> None:
    with pytest.raises(ExportTooLarge, match="MAX_EXPORT_ROWS=2"):
        write_export(_rows(), tmp_path, name="x", formats=["csv"], manifest={}, max_rows=2)


def test_csv_export_neutralises_formulas_but_keeps_phones_and_numbers(tmp_path: Path) -> None:
    rows = _rows()[:1]
    hostile = {"razao_social": '=HYPERLINK("http://evil.example","click")', "nome_fantasia": "+SUM(1,1)",
               "cidade": "-2+3", "cnae": "@SUM(1)", "site": "\t=1", "technologies": "\r=1",
               "phone": "+5511987654321", "whatsapp": "+5511987654321", "instagram": "-2.5"}
    rows[0].update(hostile)
    written = write_export(rows, tmp_path / "x", name="hunter_all", formats=["csv", "parquet"],
                           manifest={}, max_rows=10)
    with Path(written.files["csv"]).open(encoding="utf-8", newline="") as f:
        back = next(csv.DictReader(f))
    for column in ("razao_social", "nome_fantasia", "cidade", "cnae", "site", "technologies"):
        assert back[column] == "'" + hostile[column]
    assert back["phone"] == back["whatsapp"] == "+5511987654321" and back["instagram"] == "-2.5"
    assert back["score"] == str(rows[0]["score"])
    parquet = pq.read_table(written.files["parquet"]).to_pylist()[0]  # not a spreadsheet: the values as found
    assert parquet["razao_social"] == hostile["razao_social"]
