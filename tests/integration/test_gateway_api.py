from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.gateway.app import create_app
from services.projector.db import make_engine
from services.projector.projection import Projection
from shared.bus import connect_bus
from shared.config import Settings
from shared.events import RunRequested, Subjects
from tests.factories import raw_events, run_events


@pytest.fixture
def settings(tmp_path: Path, nats_url: str) -> Settings:
    s = Settings(HUNTER_DATA_DIR=tmp_path, NATS_URL=nats_url)
    Projection(make_engine(s.vault_database_url)).apply(raw_events(run_events("r-api")))
    return s


def test_health_runs_and_leads_are_served_from_the_vault(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        assert client.get("/health").json() == {"status": "ok", "nats": True}
        run = client.get("/api/runs/r-api").json()
        assert run["status"] == "completed" and run["buckets"] == {"hot": 1, "warm": 3}
        hot = client.get("/api/leads", params={"run_id": "r-api", "bucket": "hot"}).json()
        assert hot["total"] == 1 and hot["items"][0]["lead_key"] == "BR:00000000000001"
        assert client.get("/api/leads", params={"accountant_like": True}).json()["total"] == 1
        assert client.get("/api/leads", params={"q": "acme 2"}).json()["items"][0]["lead_key"].endswith("02")
        lead = client.get("/api/leads/BR:00000000000001").json()
        assert lead["runs"][0]["reasons"][0]["code"] == "site_verified"
        assert client.get("/api/runs/nope").status_code == 404


def test_bad_input_gets_422_with_the_field(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        r = client.post("/api/runs", json={"source": "csv:x.csv", "enrich_top": 7})
        assert r.status_code == 422
        assert r.json()["detail"][0]["loc"][-1] == "enrich_top"
        assert client.get("/api/leads", params={"min_score": 500}).status_code == 422


def test_posting_a_run_publishes_run_requested(settings: Settings, nats_url: str) -> None:
    with TestClient(create_app(settings)) as client:
        r = client.post("/api/runs", json={"source": "csv:x.csv", "filters": {"uf": ["SP"]}, "enrich_top": 0.3})
        assert r.status_code == 202
        run_id = r.json()["run_id"]

    async def read_back() -> RunRequested:
        async with connect_bus(nats_url) as bus:
            stored = await bus.last(Subjects.RUN_REQUESTED.format(run_id=run_id))
            assert stored is not None
            event = stored.event()
            assert isinstance(event, RunRequested)
            return event

    event = asyncio.run(read_back())
    assert event.filters.uf == ["SP"] and event.enrich_top == 0.3


def test_basic_auth_refuses_without_credentials(tmp_path: Path, nats_url: str) -> None:
    s = Settings(HUNTER_DATA_DIR=tmp_path, NATS_URL=nats_url, BASIC_AUTH_USER="ana", BASIC_AUTH_PASS="s3cret")
    with TestClient(create_app(s)) as client:
        assert client.get("/api/runs").status_code == 401
        assert client.get("/api/runs", auth=("ana", "wrong")).status_code == 401
        assert client.get("/api/runs", auth=("ana", "s3cret")).status_code == 200


def test_production_mode_refuses_to_start_without_a_password(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="BASIC_AUTH"):
        create_app(Settings(HUNTER_DATA_DIR=tmp_path, HUNTER_PRODUCTION=True))
