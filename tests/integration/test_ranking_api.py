"""The vault's ranking tables and ``/api/ranking``: the cold start says so, a training shows its model,
the next leads in order with the explored places marked, and each lead's propensity and top features."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.gateway.app import create_app
from services.projector.digest import vault_digest
from services.projector.projection import Projection
from shared.bus import connect_bus
from shared.config import Settings
from shared.events import (
    FeatureContribution,
    FeatureImportance,
    LeadPropensity,
    LeadsRanked,
    RankingRequested,
    RankingTrained,
    Subjects,
)
from shared.vault.engine import build_indexes, create_tables, make_engine
from tests.factories import raw_events, run_events
from tests.fixtures.postgres import POSTGRES, postgres_schema

AS_OF = datetime(2026, 11, 1, tzinfo=UTC).isoformat()
K1, K2, K3 = "BR:00000000000001", "BR:00000000000002", "BR:00000000000003"


def cold() -> RankingTrained:
    return RankingTrained(version=1, status="cold_start", trigger="request", trigger_seq=9, as_of=AS_OF, labelled=12,
                          reason="12 outcomes, fewer than 30: ranking by ICP score")


def trained() -> list[RankingTrained | LeadsRanked]:
    return [
        RankingTrained(version=2, status="trained", trigger="outcomes", trigger_seq=40, as_of=AS_OF,
                       model_kind="logistic", labelled=31, positives=9, negatives=22, cv_auc=0.71,
                       cv_precision_at_10=0.5, candidates={"logistic C=0.05": 0.71},
                       importances=[FeatureImportance(feature="tech=HubSpot", importance=0.4)],
                       model_sha256="ab" * 32, model_file="ab.model"),
        LeadsRanked(version=2, model_sha256="ab" * 32, batch=0, batches=1, explore_share=0.2, leads=[
            LeadPropensity(lead_key=K1, propensity=0.61, next_rank=2,
                           top_features=[FeatureContribution(feature="tech=HubSpot", contribution=0.8)]),
            LeadPropensity(lead_key=K2, propensity=0.12, next_rank=1, explored=True),
            LeadPropensity(lead_key=K3, propensity=0.30),
        ]),
    ]


def vault(tmp_path: Path, nats_url: str, events: list) -> Settings:  # type: ignore[type-arg]
    s = Settings(HUNTER_DATA_DIR=tmp_path, NATS_URL=nats_url)
    Projection(make_engine(s.vault_database_url)).apply(raw_events([*run_events("r-rank"), *events]))
    return s


def test_without_a_model_the_api_says_the_icp_score_ranks(tmp_path: Path, nats_url: str) -> None:
    with TestClient(create_app(vault(tmp_path, nats_url, [cold()]))) as client:
        body = client.get("/api/ranking").json()
        assert body["status"] == "cold_start" and body["next"] == [] and body["model"] is None
        assert body["message"].startswith("cold start: 12 outcomes, fewer than 30")
        assert body["latest"]["reason"].startswith("12 outcomes")
        assert client.get(f"/api/ranking/leads/{K1}").status_code == 404


def test_a_training_shows_its_model_the_next_leads_and_each_lead_s_propensity(tmp_path: Path, nats_url: str) -> None:
    with TestClient(create_app(vault(tmp_path, nats_url, [cold(), *trained()]))) as client:
        body = client.get("/api/ranking").json()
        assert body["status"] == "trained" and body["model"]["version"] == 2
        assert body["model"]["importances"] == [{"feature": "tech=HubSpot", "importance": 0.4}]
        assert [t["version"] for t in body["trainings"]] == [2, 1] and body["explore_share"] == 0.2
        assert [(n["lead_key"], n["next_rank"], n["explored"]) for n in body["next"]] == [(K2, 1, True), (K1, 2, False)]
        assert body["next"][1]["legal_name"] == "ACME 1"  # joined with the company
        lead = client.get(f"/api/ranking/leads/{K1}").json()
        assert lead["propensity"] == 0.61 and lead["top_features"] == [{"feature": "tech=HubSpot", "contribution": 0.8}]


def test_the_ranking_tables_project_the_same_event_by_event_as_in_one_batch(tmp_path: Path) -> None:
    events = raw_events([*run_events("r-rank"), cold(), *trained()])
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    one = make_engine(f"sqlite:///{tmp_path / 'a' / 'vault.db'}")
    Projection(one).apply(events)
    each = make_engine(f"sqlite:///{tmp_path / 'b' / 'vault.db'}")
    projection = Projection(each)
    for event in events:
        projection.apply([event])
    assert vault_digest(one) == vault_digest(each)


@pytest.mark.parametrize("engine_kind", ["sqlite", "postgresql"])
def test_a_replay_into_a_fresh_vault_gives_the_ranking_tables_of_the_live_one(tmp_path: Path, engine_kind: str) -> None:
    newer = LeadsRanked(version=3, model_sha256="cd" * 32, batch=0, batches=1, explore_share=0.2, leads=[
        LeadPropensity(lead_key=K1, propensity=0.2), LeadPropensity(lead_key=K3, propensity=0.7, next_rank=1)])
    events = raw_events([*run_events("r-rank"), cold(), *trained(), newer])
    live = make_engine(f"sqlite:///{tmp_path / 'live.db'}")
    projection = Projection(live)
    for event in events:
        projection.apply([event])
    with contextlib.ExitStack() as stack:
        if engine_kind == "sqlite":
            bulk = make_engine(f"sqlite:///{tmp_path / 'bulk.db'}", bulk=True)
        else:
            schema = stack.enter_context(postgres_schema())
            bulk = make_engine(POSTGRES, create=False, bulk=True).execution_options(
                schema_translate_map={None: schema})
            create_tables(bulk, indexes=False)
        replay = Projection(bulk, fresh=True)
        for start in range(0, len(events), 3):
            replay.apply(events[start:start + 3])
        replay.finish()
        build_indexes(bulk)
        assert vault_digest(bulk) == vault_digest(live)
        bulk.dispose()


def test_train_now_publishes_a_ranking_request(tmp_path: Path, nats_url: str) -> None:
    with TestClient(create_app(vault(tmp_path, nats_url, []))) as client:
        seq = client.post("/api/ranking/train").json()["seq"]

    async def last() -> tuple[int, str] | None:
        async with connect_bus(nats_url, name="test-ranking-api") as bus:
            stored = await bus.last(Subjects.RANKING_REQUESTED)
            return (stored.seq, stored.envelope.type) if stored else None

    assert asyncio.run(last()) == (seq, RankingRequested.TYPE)
