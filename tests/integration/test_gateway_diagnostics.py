"""Diagnostics, rejects and person search over the API, on SQLite and (when it answers) PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.gateway.app import create_app
from services.projector.db import make_engine
from services.projector.projection import Projection
from shared.bus import encode
from shared.config import Settings
from shared.events import ApiCallsRecorded, LeadsScored, RunRequested, RunStep, envelope, subject_for
from shared.schemas import ApiCall, ScoredLead
from tests.factories import T0, cleaned_lead, run_events
from tests.fixtures.postgres import POSTGRES, postgres_schema


@pytest.fixture(params=["sqlite", "postgresql"])
def vault_settings(request: pytest.FixtureRequest, tmp_path: Path, nats_url: str) -> Iterator[Settings]:
    """Settings whose vault is a SQLite file or a throwaway PostgreSQL schema."""
    if request.param == "sqlite":
        yield Settings(HUNTER_DATA_DIR=tmp_path, NATS_URL=nats_url)
        return
    with postgres_schema() as schema:
        yield Settings(HUNTER_DATA_DIR=tmp_path, NATS_URL=nats_url,
                       HUNTER_VAULT_URL=f"{POSTGRES}?options=-csearch_path%3D{schema}")


def project(settings: Settings, events: list, start: int = 1) -> None:  # noqa: ANN001
    stored = []
    for seq, e in enumerate(events, start=start):
        tokens = {"stage": getattr(e, "stage", "x"), "service": "enricher"}
        stored.append((seq, subject_for(e, **tokens), encode(envelope(e, key=(seq,), occurred_at=T0))))
    engine = make_engine(settings.vault_database_url)
    Projection(engine).apply(stored)
    engine.dispose()


def scored_run(run_id: str, scores: list[int]) -> list:  # noqa: ANN001
    bucket = {True: "hot", False: "warm"}
    leads = [ScoredLead(lead=cleaned_lead(i + 1), score=s, rank=i + 1, bucket=bucket[s >= 80])
             for i, s in enumerate(scores)]
    return [RunRequested(run_id=run_id, source="csv:x.csv"), LeadsScored(run_id=run_id, batch=0, icp="x", leads=leads),
            RunStep(run_id=run_id, stage="run", status="completed")]


def test_the_score_bands_add_up_to_the_leads_shown(vault_settings: Settings) -> None:
    scores = [0, 3, 9, 10, 15, 41, 42, 47, 49, 71, 73, 75, 77, 79, 80, 85, 88, 99, 100, 100, 64, 66, 67, 68, 62]
    project(vault_settings, scored_run("r-a", scores))
    project(vault_settings, scored_run("r-b", [s // 2 for s in scores[:10]]), start=100)  # the same companies again
    with TestClient(create_app(vault_settings)) as client:
        one = client.get("/api/diagnostics/summary", params={"run_id": "r-a"}).json()["scores"]
        every = client.get("/api/diagnostics/summary").json()["scores"]
    bands = {b["from"]: b["leads"] for b in one["bands"]}
    assert sum(bands.values()) == len(scores) == sum(one["buckets"].values()) == one["leads"]
    assert bands == {0: 3, 10: 2, 20: 0, 30: 0, 40: 4, 50: 0, 60: 5, 70: 5, 80: 3, 90: 3}
    # without a run: one lead per company, as the Vault lists them (r-b's rows are not counted twice)
    assert sum(b["leads"] for b in every["bands"]) == every["leads"] == len(scores)


def test_the_diagnostics_summary_counts_api_call_errors_and_cache_hits(vault_settings: Settings) -> None:
    calls = [ApiCall(service="enricher", endpoint="http://a.example/", status=200, latency_ms=10, cache_hit=True),
             ApiCall(service="enricher", endpoint="http://b.example/", status=None, latency_ms=30, error="timeout"),
             ApiCall(service="enricher", endpoint="http://c.example/", status=200, latency_ms=20),
             ApiCall(service="search", endpoint="http://s.example/?q=x", status=200, latency_ms=5, cache_hit=True)]
    project(vault_settings, [*run_events("r-api"), ApiCallsRecorded(run_id="r-api", calls=calls)])
    with TestClient(create_app(vault_settings)) as client:
        r = client.get("/api/diagnostics/summary", params={"run_id": "r-api"})
        assert r.status_code == 200, r.text
        assert client.get("/api/diagnostics/summary").status_code == 200
        for table in ("steps", "api_calls", "errors", "logs"):
            assert client.get(f"/api/diagnostics/{table}").status_code == 200
        failed = client.get("/api/diagnostics/api_calls", params={"errors_only": True}).json()
    assert r.json()["api_calls"] == [
        {"service": "enricher", "calls": 3, "errors": 1, "avg_latency_ms": 20.0, "cache_hits": 1},
        {"service": "search", "calls": 1, "errors": 0, "avg_latency_ms": 5.0, "cache_hits": 1}]
    assert failed["total"] == 1 and failed["items"][0]["error"] == "timeout"
