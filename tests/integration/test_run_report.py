"""The run report over a projected vault, on SQLite and PostgreSQL: funnel, coverage, quality score,
timeline, API calls, rejects and KPI targets judged MET / NOT MET (the API and the CLI's words)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hunter.cli import print_report
from services.gateway.app import create_app
from services.projector.projection import Projection
from shared.bus import encode
from shared.config import Settings
from shared.events import (
    ApiCallsRecorded,
    Event,
    IcpProfileSaved,
    KpiTargets,
    LeadEnriched,
    LeadRescored,
    LeadsCleaned,
    LeadsRejected,
    LeadsScored,
    RunRequested,
    RunStep,
    envelope,
    subject_for,
)
from shared.schemas import ApiCall, DroppedLead, Enrichment, FinalScore, Reason, ScoredLead
from shared.vault.engine import make_engine
from tests.factories import T0, cleaned_lead
from tests.fixtures.postgres import POSTGRES, postgres_schema

RUN = "r-report"


def report_events(targets: KpiTargets | None, *, icp: str | None = None) -> list[tuple[float, Event]]:
    """A run of 4 leads (2 rejected rows read, 1 MEI dropped), 2 enriched (one with a site, e-mail and
    WhatsApp), 1 hot; each event at a time offset in seconds from T0."""
    leads = [cleaned_lead(i) for i in range(1, 5)]
    scored = [ScoredLead(lead=lead, score=90 - 10 * i, rank=i + 1, bucket="hot" if i == 0 else "warm",
                         enrich=i < 2) for i, lead in enumerate(leads)]
    key1, key2 = leads[0].company.lead_key, leads[1].company.lead_key
    site = Enrichment(lead_key=key1, status="ok", site="https://acme1.example/", domain="acme1.example", verified=True,
                      emails=["vendas@acme1.example"], whatsapp=["+5511987654321"],
                      socials={"instagram": "https://instagram.com/acme1"})
    bare = Enrichment(lead_key=key2, status="no_site")
    calls = [ApiCall(service="enricher", endpoint="https://acme1.example/", status=200, latency_ms=40.0, bytes=5000),
             ApiCall(service="enricher", endpoint="https://acme1.example/contato", status=500, latency_ms=80.0,
                     bytes=100, error="http_500"),
             ApiCall(service="search", endpoint="https://search.example/", status=200, latency_ms=300.0, bytes=900)]
    return [
        (0, RunRequested(run_id=RUN, source="csv:x.csv", icp=icp, targets=targets)),
        (1, RunStep(run_id=RUN, stage="extract", status="started")),
        (3, RunStep(run_id=RUN, stage="extract", status="completed", counts={"extracted": 5, "rejected": 2})),
        (3, LeadsRejected(run_id=RUN, stage="extract", batch=0, rejected=[
            DroppedLead(stage="extract", reason=Reason(code="malformed_row"), source_file="x.csv", source_line=3),
            DroppedLead(stage="extract", reason=Reason(code="malformed_row"), source_file="x.csv", source_line=9)])),
        (4, RunStep(run_id=RUN, stage="clean", status="started")),
        (4, LeadsRejected(run_id=RUN, stage="clean", batch=0, rejected=[
            DroppedLead(lead_key="BR:99", stage="clean", reason=Reason(code="mei"))])),
        (4, LeadsCleaned(run_id=RUN, batch=0, leads=leads)),
        (5, RunStep(run_id=RUN, stage="clean", status="completed", counts={"in": 5, "out": 4})),
        (5, LeadsScored(run_id=RUN, batch=0, icp="software-b2b", leads=scored)),
        (6, RunStep(run_id=RUN, stage="score", status="completed",
                    counts={"scored": 4, "selected_for_enrichment": 2})),
        (6, RunStep(run_id=RUN, stage="enrich", status="started", counts={"expected": 2})),
        (8, LeadEnriched(run_id=RUN, lead=scored[0], enrichment=site, expected_total=2)),
        (8, LeadEnriched(run_id=RUN, lead=scored[1], enrichment=bare, expected_total=2)),
        (8, ApiCallsRecorded(run_id=RUN, service="enricher", calls=calls)),
        (10, RunStep(run_id=RUN, stage="enrich", status="completed", counts={"enriched": 2, "expected": 2})),
        (10, LeadRescored(run_id=RUN, final=FinalScore(lead_key=key1, score=95, bucket="hot"))),
        (10, LeadRescored(run_id=RUN, final=FinalScore(lead_key=key2, score=70, bucket="warm"))),
        (10, RunStep(run_id=RUN, stage="rescore", status="completed", counts={"rescored": 2})),
        (12, RunStep(run_id=RUN, stage="run", status="completed")),
    ]


def project(url: str, events: list[tuple[float, Event]], *, before: list[Event] = ()) -> None:
    items = [(0.0, e) for e in before] + events
    raw = []
    for seq, (offset, e) in enumerate(items, start=1):
        env = envelope(e, key=(seq,), occurred_at=T0 + timedelta(seconds=offset))
        raw.append((seq, subject_for(e, stage=getattr(e, "stage", "x"), name="x", service="x"), encode(env)))
    engine = make_engine(url)
    Projection(engine).apply(raw)
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def vault_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'vault.db'}"
        return
    with postgres_schema() as schema:
        yield f"{POSTGRES}?options=-csearch_path%3D{schema}"


def report(url: str, tmp_path: Path, nats_url: str) -> dict:
    settings = Settings(HUNTER_DATA_DIR=tmp_path, HUNTER_VAULT_URL=url, NATS_URL=nats_url)
    with TestClient(create_app(settings)) as client:
        assert client.get("/api/runs/nope/report").status_code == 404
        r = client.get(f"/api/runs/{RUN}/report")
        assert r.status_code == 200, r.text
        return r.json()


def test_the_report_counts_the_funnel_coverage_timeline_calls_and_rejects(vault_url: str, tmp_path: Path,
                                                                         nats_url: str) -> None:
    project(vault_url, report_events(None))
    r = report(vault_url, tmp_path, nats_url)
    funnel = {f["step"]: f["count"] for f in r["funnel"]}
    assert funnel == {"read": 7, "valid": 5, "cleaned": 4, "scored": 4, "selected": 2, "enriched": 2,
                      "with_site": 1, "with_email": 2, "with_whatsapp": 2, "hot": 1}
    # cleaned_lead gives every lead a registry e-mail and a WhatsApp mobile; the site adds socials to lead 1
    assert r["coverage"]["site"] == {"leads": 1, "rate": 0.25}
    assert r["coverage"]["socials"]["leads"] == 1 and r["coverage"]["whatsapp"]["leads"] == 4
    assert r["reject_rate"] == round(2 / 7, 4)
    expected_quality = round(100 * sum(w * r["coverage"][k]["rate"] for k, w in r["quality_weights"].items())
                             * (1 - 2 / 7), 1)
    assert r["quality_score"] == pytest.approx(expected_quality, abs=0.1)
    stages = {s["stage"]: s for s in r["timeline"]}
    assert stages["extract"]["seconds"] == 2.0 and stages["extract"]["rows_per_s"] == 2.5
    assert stages["enrich"]["seconds"] == 4.0 and stages["enrich"]["status"] == "completed"
    assert r["seconds"] == 12.0 and r["rows_per_s"] == round(7 / 12, 1)
    calls = {c["service"]: c for c in r["api_calls"]}
    assert calls["enricher"]["calls"] == 2 and calls["enricher"]["errors"] == 1 and calls["search"]["calls"] == 1
    budgets = {b["budget"]: b for b in r["budgets"]}
    assert budgets["requests"]["used"] == 2 and budgets["bytes"]["used"] == 5100 and budgets["seconds"]["used"] == 4.0
    assert [(x["reason"], x["rows"]) for x in r["rejects"]] == [("malformed_row", 2), ("mei", 1)]
    assert r["kpi"] == {"targets": [], "overall": None}


def test_targets_met_and_not_met_are_judged_each_and_overall(vault_url: str, tmp_path: Path, nats_url: str) -> None:
    targets = KpiTargets(min_leads=4, min_hot=2, max_reject_rate=0.5, min_enriched_with_site_rate=0.5)
    project(vault_url, report_events(targets))
    kpi = report(vault_url, tmp_path, nats_url)["kpi"]
    status = {t["target"]: (t["actual"], t["status"]) for t in kpi["targets"]}
    assert status == {"min_leads": (4, "MET"), "min_hot": (1, "NOT MET"),
                      "max_reject_rate": (round(2 / 7, 4), "MET"), "min_enriched_with_site_rate": (0.5, "MET")}
    assert kpi["overall"] == "NOT MET"


def test_an_icp_profiles_targets_apply_and_the_hunts_own_win(tmp_path: Path, nats_url: str) -> None:
    url = f"sqlite:///{tmp_path / 'vault.db'}"
    profile = {"name": "picky", "targets": {"min_leads": 10, "min_hot": 1}}
    project(url, report_events(KpiTargets(min_leads=3), icp="picky"),
            before=[IcpProfileSaved(name="picky", profile=profile)])
    kpi = report(url, tmp_path, nats_url)["kpi"]
    assert {t["target"]: t["status"] for t in kpi["targets"]} == {"min_leads": "MET", "min_hot": "MET"}
    assert kpi["overall"] == "MET"


def test_the_cli_prints_the_report_in_words(tmp_path: Path, nats_url: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'vault.db'}"
    project(url, report_events(KpiTargets(min_hot=5)))
    print_report(report(url, tmp_path, nats_url))
    out = capsys.readouterr().out
    assert "rows read" in out and "hot" in out and "quality score" in out
    assert "KPI hot leads >= 5: 1 -> NOT MET" in out and "KPIs NOT MET" in out
