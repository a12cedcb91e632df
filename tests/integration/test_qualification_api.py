"""A lead's qualification and propensity where users see them: the lead page's API, the Vault list (a
propensity and a qualification column) and the exports (CSV and Parquet columns); the table projects the
same event by event as in one batch."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow.parquet as pq
from fastapi.testclient import TestClient

from services.exporter.files import write_export
from services.exporter.vault_rows import vault_rows
from services.gateway.app import create_app
from services.projector.digest import vault_digest
from services.projector.projection import Projection
from shared.config import Settings
from shared.domain.segments import COLUMNS, annotate_row
from shared.events import FeatureContribution, LeadPropensity, LeadQualified, LeadsRanked, SpinNotes
from shared.vault.annotations import lead_annotations
from shared.vault.engine import make_engine
from tests.factories import raw_events, run_events

K1, K2, K3 = "BR:00000000000001", "BR:00000000000002", "BR:00000000000003"
SPIN = SpinNotes(situation="A software house.", problem="Spreadsheets.", implication="Late projects.",
                 need_payoff="Automation.")


def events() -> list:  # type: ignore[type-arg]
    return [
        *run_events("r-q"),
        LeadsRanked(version=1, model_sha256="ab" * 32, batch=0, batches=1, explore_share=0.2, leads=[
            LeadPropensity(lead_key=K1, propensity=0.6137, top_features=[
                FeatureContribution(feature="tech=HubSpot", contribution=0.8),
                FeatureContribution(feature="age=3-12", contribution=0.3)]),
            LeadPropensity(lead_key=K2, propensity=0.12)]),
        LeadQualified(run_id="r-q", lead_key=K1, icp="software-b2b", method="llm", score=83, fit=44, pain=30,
                      data_quality=9, tags=["hiring"], signals=["hiring: vagas"], snapshot="ACME 1 builds software.",
                      spin=SPIN, first_angle="Ask about their open positions.", content_hash="c1", model="m",
                      tokens=420),
        LeadQualified(run_id="r-q", lead_key=K2, icp="software-b2b", score=40, fit=30, pain=0, data_quality=10,
                      tags=["no-site"], snapshot="ACME 2.", content_hash="c2", llm_error="token_budget"),
    ]


def vault(tmp_path: Path, nats_url: str) -> Settings:
    s = Settings(HUNTER_DATA_DIR=tmp_path, NATS_URL=nats_url)
    Projection(make_engine(s.vault_database_url)).apply(raw_events(events()))
    return s


def test_the_lead_page_api_shows_the_qualification(tmp_path: Path, nats_url: str) -> None:
    with TestClient(create_app(vault(tmp_path, nats_url))) as client:
        q = client.get(f"/api/leads/{K1}/qualification").json()
        assert (q["method"], q["score"], q["fit"], q["pain"], q["data_quality"]) == ("llm", 83, 44, 30, 9)
        assert q["spin"]["need_payoff"] == "Automation." and q["first_angle"].startswith("Ask about")
        assert q["tags"] == ["hiring"] and q["signals"] == ["hiring: vagas"] and q["tokens"] == 420
        rules = client.get(f"/api/leads/{K2}/qualification").json()
        assert rules["method"] == "rules" and rules["spin"] is None and rules["llm_error"] == "token_budget"
        missing = client.get(f"/api/leads/{K3}/qualification")
        assert missing.status_code == 404 and "no qualification" in missing.json()["detail"]


def test_the_vault_list_carries_each_lead_s_propensity_and_qualification(tmp_path: Path, nats_url: str) -> None:
    with TestClient(create_app(vault(tmp_path, nats_url))) as client:
        items = {i["lead_key"]: i for i in client.get("/api/leads?limit=10").json()["items"]}
    assert items[K1]["propensity"] == 0.6137 and items[K1]["top_features"] == ["tech=HubSpot", "age=3-12"]
    assert items[K1]["qualification_score"] == 83 and items[K2]["qualification_score"] == 40
    assert items[K3]["propensity"] is None and items[K3]["qualification_score"] is None


def test_exports_carry_the_propensity_and_qualification_columns(tmp_path: Path, nats_url: str) -> None:
    engine = make_engine(vault(tmp_path, nats_url).vault_database_url)
    rows = vault_rows(engine, {}).rows
    found = lead_annotations(engine, [r["lead_key"] for r in rows])
    rows = [annotate_row(dict(r), found.get(r["lead_key"], {})) for r in rows]
    written = write_export(rows, tmp_path / "x", name="all", formats=["csv", "parquet"], manifest={}, max_rows=10)
    with Path(written.files["csv"]).open(encoding="utf-8") as f:
        back = {r["lead_key"]: r for r in csv.DictReader(f)}
    assert list(next(iter(back.values()))) == COLUMNS
    assert back[K1]["propensity"] == "0.6137" and back[K1]["propensity_features"] == "tech=HubSpot; age=3-12"
    assert back[K1]["qualification_score"] == "83" and back[K1]["qualification_method"] == "llm"
    assert back[K1]["qualification_first_angle"].startswith("Ask about")
    assert back[K2]["propensity"] == "0.12" and back[K2]["qualification_first_angle"] == ""
    assert back[K3]["propensity"] == "" and back[K3]["qualification_score"] == ""
    table = pq.read_table(written.files["parquet"]).to_pylist()
    by_key = {r["lead_key"]: r for r in table}
    assert by_key[K1]["propensity"] == 0.6137 and by_key[K1]["qualification_score"] == 83
    assert by_key[K3]["propensity"] is None


def test_qualifications_project_the_same_event_by_event_as_in_one_batch(tmp_path: Path) -> None:
    raw = raw_events(events())
    one = make_engine(f"sqlite:///{tmp_path / 'one.db'}")
    Projection(one).apply(raw)
    each = make_engine(f"sqlite:///{tmp_path / 'each.db'}")
    projection = Projection(each)
    for event in raw:
        projection.apply([event])
    assert vault_digest(one) == vault_digest(each)
