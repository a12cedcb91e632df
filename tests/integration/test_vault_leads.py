"""The vault as users live in it: one row per lead (a company across runs) and a funnel per lead,
moved by events through the API, on SQLite and on PostgreSQL (when it answers)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.exporter.vault_rows import vault_rows
from services.gateway.app import create_app
from services.projector.projection import Projection
from shared.bus import connect_bus
from shared.config import Settings
from shared.events import (
    Event,
    LeadEnriched,
    LeadRescored,
    LeadsCleaned,
    LeadsScored,
    LeadStatusChanged,
    RunRequested,
    RunStep,
)
from shared.schemas import Enrichment, FinalScore, Reason, ScoredLead
from shared.vault.engine import make_engine
from tests.factories import cleaned_lead
from tests.fixtures.postgres import POSTGRES, postgres_schema

KEYS = [f"BR:{i:014d}" for i in range(1, 7)]


def bucket_of(score: int) -> str:
    return "hot" if score >= 80 else "warm" if score >= 60 else "nurture" if score >= 40 else "parked"


def hunt(run: str, scores: list[int]) -> list[Event]:
    """A run over the same six companies (the second a WhatsApp-less accountant), scored ``scores``."""
    leads = [cleaned_lead(i, accountant=i == 2) for i in range(1, 7)]
    scored = [ScoredLead(lead=lead, score=s, rank=i + 1, enrich=False, bucket=bucket_of(s))
              for i, (lead, s) in enumerate(zip(leads, scores, strict=True))]
    rescored = min(100, scores[0] + 3)
    return [
        RunRequested(run_id=run, source="csv:x.csv"),
        LeadsCleaned(run_id=run, batch=0, leads=leads),
        LeadsScored(run_id=run, batch=0, icp="software-b2b", leads=scored),
        LeadRescored(run_id=run, final=FinalScore(lead_key=KEYS[0], score=rescored, bucket=bucket_of(rescored),
                                                  reasons=[Reason(code="site_verified", points=3)])),
        RunStep(run_id=run, stage="run", status="completed"),
    ]


class Vault:
    """A gateway over a vault the test projects from the stream when it says so (no projector process)."""

    def __init__(self, settings: Settings, nats_url: str) -> None:
        self.settings, self.nats_url = settings, nats_url
        self.engine = make_engine(settings.vault_database_url)
        self.projection = Projection(self.engine)

    def publish(self, events: list[Event]) -> None:
        async def send() -> None:
            async with connect_bus(self.nats_url, name="test") as bus:
                for e in events:
                    await bus.publish(e, stage=getattr(e, "stage", "x"), **(
                        {"run_id": e.lead_key} if isinstance(e, LeadStatusChanged) else {}))

        asyncio.run(send())

    def project(self) -> None:
        """Apply what the stream holds past the vault's checkpoint (what the projector would do)."""
        async def read() -> list[tuple[int, str, bytes]]:
            async with connect_bus(self.nats_url, name="test") as bus:
                return [(seq, subject, data) async for seq, subject, data, _ in
                        bus.read(start_seq=self.projection.checkpoint() + 1, raw=True)]  # type: ignore[misc]

        self.projection.apply(asyncio.run(read()))

    def client(self, **settings: Any) -> TestClient:
        values = {"HUNTER_DATA_DIR": self.settings.data_dir, "NATS_URL": self.nats_url,
                  "HUNTER_VAULT_URL": self.settings.vault_database_url, **settings}
        return TestClient(create_app(Settings(**values)))


@pytest.fixture(params=["sqlite", "postgres"])
def vault(request: pytest.FixtureRequest, tmp_path: Path, fresh_nats_url: str) -> Iterator[Vault]:
    if request.param == "sqlite":
        yield Vault(Settings(HUNTER_DATA_DIR=tmp_path, NATS_URL=fresh_nats_url), fresh_nats_url)
        return
    with postgres_schema() as schema:
        url = f"{POSTGRES}?options=-csearch_path%3D{schema}"
        v = Vault(Settings(HUNTER_DATA_DIR=tmp_path, NATS_URL=fresh_nats_url, HUNTER_VAULT_URL=url), fresh_nats_url)
        try:
            yield v
        finally:
            v.engine.dispose()


def test_the_vault_lists_one_row_per_lead_with_its_latest_run_and_how_many_runs_saw_it(vault: Vault) -> None:
    vault.publish(hunt("r1", [90, 85, 70, 50, 30, 10]))
    vault.publish(hunt("r2", [40, 88, 75, 55, 35, 65]))
    vault.publish(hunt("r3", [20, 20, 20, 20, 20, 20])[:1])  # requested, nothing scored yet
    vault.project()
    with vault.client() as client:
        page = client.get("/api/leads", params={"limit": 100}).json()
        assert page["total"] == 6 == len(page["items"])
        first = next(x for x in page["items"] if x["lead_key"] == KEYS[0])
        assert (first["latest_run_id"], first["runs_seen"], first["score"], first["status"]) == ("r2", 2, 43, "new")
        assert [x["score"] for x in page["items"]] == [88, 75, 65, 55, 43, 35]  # the latest run's final scores
        assert client.get("/api/leads", params={"bucket": "hot"}).json()["total"] == 1
        in_r1 = client.get("/api/leads", params={"run_id": "r1", "limit": 100}).json()
        assert in_r1["total"] == 6 and {x["latest_run_id"] for x in in_r1["items"]} == {"r2"}
        assert client.get("/api/leads", params={"run_id": "r3"}).json()["total"] == 0
        history = client.get(f"/api/leads/{KEYS[0]}").json()["runs"]
        assert [(r["run_id"], r["score"]) for r in history] == [("r1", 93), ("r2", 43)]


FILTERS: list[dict[str, Any]] = [
    {}, {"bucket": "warm"}, {"run_id": "r1"}, {"min_score": 50, "uf": "SP"}, {"accountant_like": True},
    {"status": "won"}, {"status": "do_not_contact"}, {"include_do_not_contact": True}, {"q": "acme"},
    {"run_id": "r2", "max_score": 60, "cnae": "6201"},
]


def test_every_count_equals_the_rows_of_the_export_of_the_same_filter(vault: Vault) -> None:
    vault.publish(hunt("r1", [90, 85, 70, 50, 30, 10]))
    vault.publish(hunt("r2", [40, 88, 75, 55, 35, 65])[:3])
    vault.publish([LeadStatusChanged(lead_key=KEYS[1], status="won"),
                   LeadStatusChanged(lead_key=KEYS[2], status="do_not_contact"),
                   LeadStatusChanged(lead_key=KEYS[3], status="do_not_contact")])
    vault.project()
    with vault.client() as client:
        for flt in FILTERS:
            page = client.get("/api/leads", params=flt).json()
            exported = vault_rows(vault.engine, flt)
            assert page["total"] == len(exported.rows), flt
            if "status" not in flt and "include_do_not_contact" not in flt:
                opted_out = client.get("/api/leads", params={**flt, "status": "do_not_contact"}).json()["total"]
                assert opted_out == exported.left_out_do_not_contact, flt
            assert sorted(x["lead_key"] for x in page["items"]) == [r["lead_key"] for r in exported.rows], flt
    assert vault_rows(vault.engine, {}).left_out_do_not_contact == 2
    assert vault_rows(vault.engine, {"include_do_not_contact": True}).left_out_do_not_contact == 0


def test_a_refused_move_is_a_409_with_the_allowed_next_states_and_a_closed_lead_reopens_only_explicitly(
    vault: Vault,
) -> None:
    vault.publish(hunt("r1", [90, 85, 70, 50, 30, 10]))
    vault.project()
    lead = f"/api/leads/{KEYS[0]}"
    with vault.client() as client:
        refused = client.post(f"{lead}/status", json={"status": "won"})
        assert refused.status_code == 409
        assert refused.json()["detail"]["allowed"] == ["queued", "contacted", "lost", "do_not_contact"]
        assert refused.json()["detail"]["current"] == "new"
        for state in ("contacted", "replied", "won"):
            assert client.post(f"{lead}/status", json={"status": state}).status_code == 202
            vault.project()
        assert client.get(lead).json()["funnel"] == {"state": "won", "allowed_next": ["do_not_contact"], "closed": True,
                                                     "reopen_to": ["new", "queued", "contacted"],
                                                     "since": client.get(lead).json()["current"]["status_at"]}
        closed = client.post(f"{lead}/status", json={"status": "contacted"})
        assert closed.status_code == 409 and closed.json()["detail"]["allowed"] == ["do_not_contact"]
        assert client.post(f"{lead}/status", json={"status": "won", "reopen": True}).status_code == 409
        assert client.post(f"{lead}/status", json={"reopen": True, "note": "x"}).status_code == 422
        assert client.post(f"{lead}/status", json={"status": "contacted", "reopen": True}).status_code == 202
        vault.project()
        assert client.get(lead).json()["funnel"]["state"] == "contacted"


def test_the_lead_page_has_the_funnel_and_a_timeline_of_moves_and_activities_with_their_actor(vault: Vault) -> None:
    vault.publish(hunt("r1", [90, 85, 70, 50, 30, 10]))
    vault.project()
    lead = f"/api/leads/{KEYS[1]}"
    with vault.client(BASIC_AUTH_USER="ana", BASIC_AUTH_PASS="s3cret") as client:
        client.auth = ("ana", "s3cret")
        assert client.post(f"{lead}/status", json={"status": "queued", "note": "<b>call</b> monday"}).status_code == 202
        assert client.post(f"{lead}/activities", json={"kind": "call", "text": "no answer"}).status_code == 202
        task = {"kind": "task", "text": "send proposal", "due_on": "2026-12-24"}
        assert client.post(f"{lead}/activities", json=task).status_code == 202
        assert client.post(f"{lead}/activities", json={"kind": "task", "text": "x"}).status_code == 422
        assert client.post(f"{lead}/activities", json={"kind": "fax", "text": "x"}).status_code == 422
        assert client.post(f"{lead}/activities", json={"kind": "note", "text": " "}).status_code == 422
        assert client.post("/api/leads/BR:404/activities", json={"kind": "note", "text": "x"}).status_code == 404
        vault.project()
        page = client.get(lead).json()
    assert page["funnel"]["state"] == "queued"
    assert page["funnel"]["allowed_next"] == ["new", "contacted", "lost", "do_not_contact"]
    timeline = [(t["kind"], t["status"], t["previous"], t["text"], t["due_on"], t["actor"]) for t in page["timeline"]]
    assert timeline == [("task", None, None, "send proposal", "2026-12-24", "ana"),
                        ("call", None, None, "no answer", None, "ana"),
                        ("status", "queued", "new", "<b>call</b> monday", None, "ana")]  # newest first


def test_a_new_run_never_resets_a_lead_s_funnel_state(vault: Vault) -> None:
    vault.publish(hunt("r1", [90, 85, 70, 50, 30, 10]))
    vault.project()
    with vault.client() as client:
        for state in ("contacted", "meeting", "won"):
            assert client.post(f"/api/leads/{KEYS[2]}/status", json={"status": state}).status_code == 202
            vault.project()
        vault.publish(hunt("r2", [91, 86, 71, 51, 31, 11]))  # the same companies hunted again
        vault.project()
        lead = client.get(f"/api/leads/{KEYS[2]}").json()
        assert lead["funnel"]["state"] == "won" and lead["current"]["latest_run_id"] == "r2"
        assert lead["current"]["runs_seen"] == 2 and lead["current"]["score"] == 71
        new = [x["lead_key"] for x in client.get("/api/leads", params={"status": "new", "limit": 100}).json()["items"]]
        assert KEYS[2] not in new and len(new) == 5
        won = client.get("/api/leads", params={"status": "won"}).json()["items"]
        assert [(x["lead_key"], x["status"], x["score"]) for x in won] == [(KEYS[2], "won", 71)]


def test_a_whatsapp_found_on_the_site_in_an_earlier_run_counts_for_the_filter_and_the_export(vault: Vault) -> None:
    """The list shows a lead's WhatsApp from its registry or, failing that, from its site (any run): the
    ``has_whatsapp`` filter means the same, so a later run that did not enrich it still lists it there."""
    def landline_only(events: list[Event]) -> list[Event]:  # the second company: a fixed line, no WhatsApp
        for p in events[1].leads[1].phones:  # type: ignore[attr-defined]
            p.whatsapp, p.kind = False, "fixed"
        return events

    first = landline_only(hunt("r1", [90, 85, 70, 50, 30, 10]))
    landline = first[2].leads[1]  # type: ignore[attr-defined]
    assert landline.lead.lead_key == KEYS[1] and not any(p.whatsapp for p in landline.lead.phones)
    enriched = LeadEnriched(run_id="r1", lead=landline, expected_total=1, enrichment=Enrichment(
        lead_key=KEYS[1], site="http://contab.example/", whatsapp=["+5511987654321"]))
    vault.publish([*first[:3], enriched, *first[3:]])
    vault.publish(landline_only(hunt("r2", [40, 88, 75, 55, 35, 65])))  # the latest run: no enrichment
    vault.project()
    with vault.client() as client:
        listed = client.get("/api/leads", params={"has_whatsapp": True, "limit": 100}).json()
        shown = {x["lead_key"]: x["whatsapp"] for x in listed["items"]}
        assert shown.get(KEYS[1]) == "+5511987654321"
        without = client.get("/api/leads", params={"has_whatsapp": False, "limit": 100}).json()
        assert KEYS[1] not in {x["lead_key"] for x in without["items"]}
        for flt in ({"has_whatsapp": True}, {"has_whatsapp": False}):
            page = client.get("/api/leads", params={**flt, "limit": 100}).json()
            exported = vault_rows(vault.engine, flt)
            assert page["total"] == len(exported.rows) == len(page["items"]), flt
            assert all(bool(r["whatsapp"]) == flt["has_whatsapp"] for r in exported.rows), flt
            assert all(bool(x["whatsapp"]) == flt["has_whatsapp"] for x in page["items"]), flt
