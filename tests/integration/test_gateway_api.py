from __future__ import annotations

import asyncio
import itertools
import json
import random
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from hunter.demo_run import DEMO_CSV
from services.extractor.sources.csv_source import iter_csv
from services.gateway.app import create_app
from services.gateway.lead_pages import LEAD_ROWID, match_rowids, page_of_matches, page_rowids
from services.gateway.queries import count_leads
from services.gateway.run_events import RunFeeds
from services.projector.projection import Projection
from shared.bus import connect_bus, encode
from shared.config import Settings
from shared.events import (
    ConfigSaved,
    Event,
    ExportCompleted,
    ExportRequested,
    IcpProfileSaved,
    LeadsCleaned,
    LeadStatusChanged,
    RunCancelled,
    RunRequested,
    RunStep,
    Subjects,
    envelope,
)
from shared.registry_ids import build_cnpj
from shared.schemas import CleanedLead, CompanyRecord, Partner
from shared.secrets import new_key, reveal
from shared.vault.access import open_writer
from shared.vault.engine import make_engine
from shared.vault.filters import SORTS, LeadFilter, lead_conditions
from shared.vault.schema import Company, Lead, LeadCurrent
from shared.vault.search_text import search_text
from tests.factories import cleaned_lead, raw_events, run_events
from tests.fixtures.vaults import VAULTS, vault_for


@pytest.fixture(params=VAULTS)
def settings(request: pytest.FixtureRequest, tmp_path: Path, nats_url: str) -> Iterator[Settings]:
    """A vault holding one run, on SQLite and on PostgreSQL (when it answers)."""
    for s in vault_for(request.param, tmp_path, nats_url):
        Projection(make_engine(s.vault_database_url)).apply(raw_events(run_events("r-api")))
        yield s


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


def test_a_saved_enrich_top_default_applies_to_runs_that_do_not_set_it(settings: Settings, nats_url: str) -> None:
    saved = ConfigSaved(key="enrich_top_default", value="0.35")
    Projection(make_engine(settings.vault_database_url)).apply(
        [(400, "config.saved.enrich_top_default", encode(envelope(saved)))])
    with TestClient(create_app(settings)) as client:
        defaulted = client.post("/api/runs", json={"source": "csv:x.csv"}).json()["run_id"]
        explicit = client.post("/api/runs", json={"source": "csv:x.csv", "enrich_top": 0.1}).json()["run_id"]
        uploaded = client.post("/api/runs/upload", files={"file": ("a.csv", b"cnpj;razao_social\n1;A\n")}).json()

    async def enrich_top(run_id: str) -> float:
        async with connect_bus(nats_url) as bus:
            stored = await bus.last(Subjects.RUN_REQUESTED.format(run_id=run_id))
            assert stored is not None
            return stored.event().enrich_top

    assert asyncio.run(enrich_top(defaulted)) == 0.35
    assert asyncio.run(enrich_top(explicit)) == 0.1
    assert asyncio.run(enrich_top(uploaded["run_id"])) == 0.35


def test_basic_auth_refuses_without_credentials(tmp_path: Path, nats_url: str) -> None:
    s = Settings(HUNTER_DATA_DIR=tmp_path, NATS_URL=nats_url, BASIC_AUTH_USER="ana", BASIC_AUTH_PASS="s3cret")
    open_writer(s.vault_database_url).dispose()  # the vault, as the projector creates it
    with TestClient(create_app(s)) as client:
        assert client.get("/api/runs").status_code == 401
        assert client.get("/api/runs", auth=("ana", "wrong")).status_code == 401
        assert client.get("/api/runs", auth=("ana", "s3cret")).status_code == 200


def test_probes_answer_without_credentials_and_say_only_whether_nats_is_connected(
    tmp_path: Path, nats_url: str
) -> None:
    s = Settings(HUNTER_DATA_DIR=tmp_path, NATS_URL=nats_url, BASIC_AUTH_USER="ana", BASIC_AUTH_PASS="s3cret")
    with TestClient(create_app(s)) as client:
        assert client.get("/livez").status_code == 200
        ready = client.get("/readyz")
        assert (ready.status_code, ready.text) == (200, "ok\n")
        assert client.get("/api/runs").status_code == 401  # the API stays behind basic auth
        client.app.state.gateway.bus = None  # as before the lifespan connected
        assert client.get("/readyz").status_code == 503


@pytest.fixture(params=VAULTS)
def no_vault_yet(request: pytest.FixtureRequest, tmp_path: Path, nats_url: str) -> Iterator[Settings]:
    """Settings of a vault the projector has not created: no SQLite file, or an empty PostgreSQL schema."""
    yield from vault_for(request.param, tmp_path, nats_url)


def test_before_the_projector_creates_the_vault_the_api_says_so_and_creates_nothing(
    no_vault_yet: Settings, tmp_path: Path
) -> None:
    s = no_vault_yet
    with TestClient(create_app(s)) as client:
        assert client.get("/livez").status_code == 200
        runs = client.get("/api/runs")
        assert runs.status_code == 503
        assert "no vault" in runs.json()["detail"] and "projector creates it" in runs.json()["detail"]
        assert not (tmp_path / "vault.db").exists()  # a reader never creates the vault
        open_writer(s.vault_database_url).dispose()  # the projector starts
        assert client.get("/api/runs").json() == []


def test_production_mode_refuses_to_start_without_a_password(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="BASIC_AUTH"):
        create_app(Settings(HUNTER_DATA_DIR=tmp_path, HUNTER_PRODUCTION=True))


# ---- the rest of the API --------------------------------------------------------------------

def _read_last(nats_url: str, subject: str) -> Event:
    async def read() -> Event:
        async with connect_bus(nats_url) as bus:
            stored = await bus.last(subject)
            assert stored is not None, f"nothing on {subject}"
            return stored.event()

    return asyncio.run(read())


def _publish(nats_url: str, events: list[Event]) -> None:
    async def send() -> None:
        async with connect_bus(nats_url) as bus:
            for e in events:
                await bus.publish(e, stage=getattr(e, "stage", "x"))

    asyncio.run(send())


def _partner_company(n: int, registry_id: str, partner: str, cpf: str) -> CleanedLead:
    lead = cleaned_lead(n)
    lead.company.lead_key, lead.company.registry_id = f"BR:{registry_id}", registry_id
    lead.company.status, lead.company.legal_name = "ATIVA", f"PARTNER CO {n}"
    lead.company.partners = [Partner(name=partner, kind="PF", document=cpf, qualification="Socio-Administrador")]
    return lead


@pytest.fixture
def partner_settings(settings: Settings) -> Settings:
    ana = [_partner_company(11, build_cnpj("29975288", "0001"), "ANA MARIA SOUZA", "***123456**"),
           _partner_company(12, build_cnpj("91805888", "0001"), "ANA MARIA SOUZA", "***123456**"),
           _partner_company(13, build_cnpj("11222333", "0001"), "JOAO PEREIRA", "***987654**")]
    Projection(make_engine(settings.vault_database_url)).apply(
        raw_events([LeadsCleaned(run_id="r-partners", batch=0, leads=ana)], start=100))
    return settings


def test_leads_are_filtered_sorted_and_paginated(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        by_name = client.get("/api/leads", params={"run_id": "r-api", "sort": "-name", "limit": 2}).json()
        assert by_name["total"] == 4 and [x["legal_name"] for x in by_name["items"]] == ["ACME 4", "ACME 3"]
        page2 = client.get("/api/leads", params={"run_id": "r-api", "sort": "-name", "limit": 2, "offset": 2}).json()
        assert [x["legal_name"] for x in page2["items"]] == ["ACME 2", "ACME 1"]
        ranged = client.get("/api/leads", params={"min_score": 70, "max_score": 80, "uf": "sp", "cnae": "6201"}).json()
        assert sorted(x["score"] for x in ranged["items"]) == [70, 80]
        assert client.get("/api/leads", params={"has_whatsapp": True, "city": "sao paulo"}).json()["total"] == 4
        bad = client.get("/api/leads", params={"min_score": 90, "max_score": 10})
        assert bad.status_code == 422 and "min_score" in bad.text
        assert client.get("/api/leads", params={"bucket": "cold"}).json()["detail"][0]["loc"] == ["query", "bucket"]
        assert client.get("/api/leads", params={"sort": "random"}).status_code == 422


def test_free_text_search_ignores_case_and_accents_and_finds_a_formatted_registry_id(settings: Settings) -> None:
    bakery = cleaned_lead(5)
    bakery.company.legal_name, bakery.company.trade_name = "Padaria São João Ltda", "Pão Quente"
    Projection(make_engine(settings.vault_database_url)).apply(
        raw_events([LeadsCleaned(run_id="r-api", batch=1, leads=[bakery])], start=200))
    with TestClient(create_app(settings)) as client:
        def found(q: str) -> list[str]:
            page = client.get("/api/leads", params={"q": q}).json()
            assert page["total"] == len(page["items"]) and page["total_capped"] is False
            return [x["lead_key"] for x in page["items"]]

        assert found("sao joao") == found("PÃO quente") == found("00.000.000/0000-05") == ["BR:00000000000005"]
        assert found("acme 2") == ["BR:00000000000002"]
        assert found("ltda pao") == []  # a match never spans the legal and the trade name
        assert found("100%") == []


def test_a_vault_from_before_the_search_column_is_upgraded_and_searchable(settings: Settings) -> None:
    engine = make_engine(settings.vault_database_url)
    with engine.begin() as conn:  # the schema as an older version left it
        conn.exec_driver_sql("DROP INDEX ix_companies_search_text")
        conn.exec_driver_sql("ALTER TABLE companies DROP COLUMN search_text")
    Projection(engine)
    with TestClient(create_app(settings)) as client:
        page = client.get("/api/leads", params={"q": "acme 3"}).json()
        assert [x["lead_key"] for x in page["items"]] == ["BR:00000000000003"]


def test_the_lead_count_stops_at_its_cap_and_says_so(settings: Settings) -> None:
    engine = make_engine(settings.vault_database_url)
    with Session(engine) as s:
        assert count_leads(s, LeadFilter(run_id="r-api"), cap=2) == (3, True)
        assert count_leads(s, LeadFilter(run_id="r-api"), cap=4) == (4, False)
        assert count_leads(s, LeadFilter(run_id="r-api", uf="SP", q="acme"), cap=3) == (4, True)


def _bulk_vault(engine: Engine, n: int = 240) -> None:
    """Companies with repeated names and cities, a third of them leads of two runs, one lead with no company."""
    rnd = random.Random(5)
    places = [("SP", "SAO PAULO"), ("SP", "CAMPINAS"), ("RJ", "NITEROI"), ("MG", "BELO HORIZONTE"), ("SP", None)]
    companies, leads = [], []
    for i in range(n):
        uf, city = places[i % len(places)]
        key, name = f"BR:{i:014d}", f"CO {rnd.randint(0, 40)} LTDA"
        companies.append({"lead_key": key, "country": "BR", "registry_id": f"{i:014d}", "legal_name": name,
                          "city": city, "state": uf, "activity_main": rnd.choice(["6201501", "6202300", "4711302"]),
                          "accountant_like": i % 7 == 0, "search_text": search_text(name, None, f"{i:014d}")})
    current: dict[str, dict[str, object]] = {}
    for i, run in [(i, "r-a") for i in range(n + 1)] + [(i, "r-b") for i in range(0, n, 3)]:
        score = rnd.choice([None, *range(0, 101, 5)])
        leads.append({"run_id": run, "lead_key": f"BR:{i:014d}" if i < n else "BR:orphan", "score": score,
                      "bucket": None if score is None else "hot" if score >= 80 else "warm", "reasons": "[]",
                      "has_site": i % 2 == 0, "has_whatsapp": i % 3 == 0, "technologies": "Shopify" if i % 4 else "",
                      "updated_at": f"2026-11-0{1 + i % 3}T12:00:00"})
        seen = current.get(leads[-1]["lead_key"])  # type: ignore[arg-type]
        current[leads[-1]["lead_key"]] = {**leads[-1], "latest_run_id": run,  # type: ignore[index]
                                          "runs_seen": 1 + (seen["runs_seen"] if seen else 0),  # type: ignore[operator]
                                          "status": ("new", "won", "do_not_contact")[i % 11 % 3]}
    for row in current.values():
        del row["run_id"]
    with engine.begin() as conn:
        conn.execute(Company.__table__.insert(), companies)  # type: ignore[attr-defined]
        conn.execute(Lead.__table__.insert(), leads)  # type: ignore[attr-defined]
        conn.execute(LeadCurrent.__table__.insert(), list(current.values()))  # type: ignore[attr-defined]


def test_every_way_of_reading_a_page_gives_the_same_leads_in_the_same_order(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'vault.db'}")
    _bulk_vault(engine)
    filters = [LeadFilter(), LeadFilter(bucket="hot"), LeadFilter(uf="SP", min_score=40), LeadFilter(city="campinas"),
               LeadFilter(cnae="6201", has_whatsapp=True), LeadFilter(run_id="r-b", technology="shop"),
               LeadFilter(q="co 1", accountant_like=False), LeadFilter(uf="rj"), LeadFilter(status="won"),
               LeadFilter(include_do_not_contact=True, min_score=50), LeadFilter(run_id="r-a", bucket="warm")]
    for flt, sort, offset in itertools.product(filters, SORTS, (0, 7, 40)):
        plain = select(LEAD_ROWID).select_from(LeadCurrent).join(  # type: ignore[arg-type]
            Company, Company.lead_key == LeadCurrent.lead_key)
        with Session(engine) as s:
            expected = list(s.execute(plain.where(*lead_conditions(flt)).order_by(*SORTS[sort])
                                      .offset(offset).limit(10)).scalars())
            found, rowids = match_rowids(s, flt, cap=10_000)
            assert rowids is not None and (found, False) == count_leads(s, flt, cap=10_000)
            among_matches = page_of_matches(s, rowids, sort=sort, limit=10, offset=offset)
            in_sort_order = page_rowids(s, flt, sort=sort, limit=10, offset=offset, found=10**6)
            filtered_first = page_rowids(s, flt, sort=sort, limit=10, offset=offset, found=0)
        assert among_matches == in_sort_order == filtered_first == expected, (flt, sort, offset)
        assert expected or offset, (flt, sort)
    with Session(engine) as s:
        assert match_rowids(s, LeadFilter(), cap=100) == (101, None)


def test_watchers_of_a_run_share_one_feed_and_each_gets_every_step(nats_url: str) -> None:
    run, cancelled = f"r-fan-{uuid.uuid4().hex[:6]}", f"r-cancel-{uuid.uuid4().hex[:6]}"

    async def scenario() -> None:
        async with connect_bus(nats_url, name="test-feeds") as bus:
            feeds = RunFeeds(bus)
            await bus.publish(RunStep(run_id=run, stage="extract", status="completed"), stage="extract")
            first = feeds.watch(run)
            assert await anext(first) == "retry: 2000\n\n" and '"stage":"extract"' in await anext(first)
            second = feeds.watch(run)  # joins the same feed: the history it has read, then live
            assert list(feeds.feeds) == [run]
            seq = await bus.publish(RunStep(run_id=run, stage="clean", status="completed"), stage="clean")
            await bus.publish(RunStep(run_id=run, stage="run", status="completed"), stage="run")
            rest_of_first = "".join([f async for f in first])
            all_of_second = "".join([f async for f in second])
            assert '"stage":"extract"' not in rest_of_first and '"stage":"extract"' in all_of_second
            done = "event: end\ndata: " + json.dumps({"run_id": run, "status": "completed"}, separators=(",", ":"))
            for text in (rest_of_first, all_of_second):
                assert '"stage":"clean"' in text and text.endswith(done + "\n\n")
            assert feeds.feeds == {}  # closed with its last watcher
            resumed = "".join([f async for f in feeds.watch(run, after_seq=seq)])
            assert '"stage":"clean"' not in resumed and '"stage":"run"' in resumed and feeds.feeds == {}
            await bus.publish(RunCancelled(run_id=cancelled, reason="stop"), key=(cancelled,))
            ended = "".join([f async for f in feeds.watch(cancelled)])
            end = {"run_id": cancelled, "status": "cancelled", "reason": "stop"}
            assert ended.endswith("event: end\ndata: " + json.dumps(end, separators=(",", ":")) + "\n\n")

    asyncio.run(scenario())


def test_run_events_stream_the_history_then_end_after_the_final_step(settings: Settings, nats_url: str) -> None:
    run = f"r-sse-{uuid.uuid4().hex[:6]}"
    _publish(nats_url, [RunStep(run_id=run, stage="extract", status="completed", counts={"extracted": 5}),
                        RunStep(run_id=run, stage="clean", status="completed", counts={"kept": 4}),
                        RunStep(run_id=run, stage="run", status="completed", counts={"leads": 4})])
    with TestClient(create_app(settings)) as client, client.stream("GET", f"/api/runs/{run}/events") as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        text = "".join(r.iter_text())
    frames = [f for f in text.split("\n\n") if f.startswith("id:")]
    assert text.rstrip().endswith("event: end\ndata: " + json.dumps({"run_id": run, "status": "completed"},
                                                                     separators=(",", ":")))
    steps = [json.loads(f.split("data: ", 1)[1]) for f in frames]
    assert [(s["stage"], s["status"]) for s in steps] == [("extract", "completed"), ("clean", "completed"),
                                                          ("run", "completed")]
    assert steps[0]["counts"] == {"extracted": 5}
    resume_after = int(frames[0].split("\n")[0].removeprefix("id: "))
    with TestClient(create_app(settings)) as client:
        text = client.get(f"/api/runs/{run}/events", headers={"Last-Event-ID": str(resume_after)}).text
    assert '"stage":"extract"' not in text and '"stage":"clean"' in text and "event: end" in text


def test_setting_a_lead_status_and_note_publishes_lead_status_changed(settings: Settings, nats_url: str) -> None:
    with TestClient(create_app(settings)) as client:
        r = client.post("/api/leads/BR:00000000000002/status", json={"status": "contacted", "note": "called Ana"})
        assert r.status_code == 202 and r.json()["previous"] == "new" and r.json()["actor"] == "api"
        assert client.post("/api/leads/BR:00000000000002/status", json={"status": "maybe"}).status_code == 422
        assert client.post("/api/leads/BR:00000000000002/status", json={}).status_code == 422
        assert client.post("/api/leads/BR:404/status", json={"status": "queued"}).status_code == 404
    event = _read_last(nats_url, "lead.status.BR_00000000000002")  # lead-level: the lead's token, not a run's
    assert isinstance(event, LeadStatusChanged)
    assert (event.lead_key, event.status, event.note, event.run_id) == (
        "BR:00000000000002", "contacted", "called Ana", None)


def test_people_are_found_by_name_or_cpf_and_their_companies_imported_as_a_csv_run(
    partner_settings: Settings, nats_url: str
) -> None:
    with TestClient(create_app(partner_settings)) as client:
        by_name = client.get("/api/partners", params={"q": "maria"}).json()
        assert [p["name"] for p in by_name] == ["ANA MARIA SOUZA"] and len(by_name[0]["companies"]) == 2
        by_cpf = client.get("/api/partners", params={"q": "987.654"}).json()
        assert [p["name"] for p in by_cpf] == ["JOAO PEREIRA"]
        assert client.get("/api/partners", params={"q": "an"}).status_code == 422
        keys = [c["lead_key"] for c in by_name[0]["companies"]]
        r = client.post("/api/partners/import", json={"lead_keys": keys})
        assert r.status_code == 202 and r.json()["companies"] == 2
        assert client.post("/api/partners/import", json={"lead_keys": ["BR:nope"]}).status_code == 404
    event = _read_last(nats_url, f"run.requested.{r.json()['run_id']}")
    assert isinstance(event, RunRequested) and event.source.startswith("csv:")
    path = Path(event.source.removeprefix("csv:"))
    assert path.parent == (partner_settings.data_dir / "uploads").resolve()
    records = list(iter_csv(path, event.filters))
    assert sorted(f"BR:{r.registry_id}" for r in records if isinstance(r, CompanyRecord)) == sorted(keys)


def test_icp_templates_are_listed_and_a_saved_profile_is_validated_and_published(
    settings: Settings, nats_url: str
) -> None:
    with TestClient(create_app(settings)) as client:
        listed = client.get("/api/icp").json()
        assert "software-b2b" in listed["templates"]
        template = client.get("/api/icp/software-b2b").json()
        assert template["origin"] == "template" and template["profile"]["target_activities"]
        r = client.put("/api/icp/my-saas", json={"regions": ["SP"], "weights": {"whatsapp": 20}})
        assert r.status_code == 202
        bad = client.put("/api/icp/my-saas", json={"weights": {"telepathy": 5}})
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][:2] == ["body", "weights"]
        assert client.put("/api/icp/Bad Name", json={}).status_code == 422
        assert client.get("/api/icp/nope-nope").status_code == 404
    event = _read_last(nats_url, "icp.saved.my-saas")
    assert isinstance(event, IcpProfileSaved) and event.profile["weights"] == {"whatsapp": 20}


def test_an_export_of_the_current_vault_filter_is_requested_and_its_file_downloaded(
    settings: Settings, nats_url: str
) -> None:
    folder = settings.exports_path / "vault" / "x1"
    folder.mkdir(parents=True)
    (folder / "hunter_all.csv").write_text("lead_key\nBR:1\n")
    Projection(make_engine(settings.vault_database_url)).apply(raw_events([
        ExportCompleted(export_id="x1", segment="all", files={"csv": str(folder / "hunter_all.csv"),
                                                              "parquet": "/etc/passwd"}, rows=1, bytes=15),
    ], start=200))
    with TestClient(create_app(settings)) as client:
        r = client.post("/api/exports", json={"vault_filter": {"bucket": "warm", "uf": "SP"}, "formats": ["parquet"]})
        assert r.status_code == 202
        assert client.post("/api/exports", json={"segment": "cold"}).json()["detail"][0]["loc"] == ["body", "segment"]
        assert client.post("/api/exports", json={"formats": ["xlsx"]}).status_code == 422
        assert client.post("/api/exports", json={"vault_filter": {"min_score": 101}}).status_code == 422
        listed = {e["export_id"]: e for e in client.get("/api/exports").json()}
        assert listed["x1"]["rows"] == 1 and listed["x1"]["status"] == "completed"
        download = client.get("/api/exports/x1/download", params={"format": "csv"})
        assert download.status_code == 200 and download.text == "lead_key\nBR:1\n"
        assert client.get("/api/exports/x1/download", params={"format": "parquet"}).status_code == 404
        assert client.get("/api/exports/nope/download").status_code == 404
    event = _read_last(nats_url, "export.requested.none")
    assert isinstance(event, ExportRequested) and event.export_id == r.json()["export_id"]
    assert event.vault_filter == {"bucket": "warm", "uf": "SP"} and event.formats == ["parquet"]


def test_an_uploaded_csv_is_saved_and_reprocessed_as_a_run(settings: Settings, nats_url: str) -> None:
    content = DEMO_CSV.read_bytes()
    with TestClient(create_app(settings)) as client:
        r = client.post("/api/runs/upload", files={"file": ("back.csv", content, "text/csv")},
                        data={"enrich_top": "0.3"})
        assert r.status_code == 202 and r.json()["rows"] > 100
        bad = client.post("/api/runs/upload", files={"file": ("x.csv", b"name,city\nA,B\n", "text/csv")})
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "file"]
        assert client.post("/api/runs/upload", data={"enrich_top": "0.3"}).status_code == 422
    event = _read_last(nats_url, f"run.requested.{r.json()['run_id']}")
    assert isinstance(event, RunRequested) and event.enrich_top == 0.3 and event.filters.status == ["*"]
    assert Path(event.source.removeprefix("csv:")).read_bytes() == content


def test_diagnostics_list_steps_errors_and_the_score_distribution(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        steps = client.get("/api/diagnostics/steps", params={"run_id": "r-api"}).json()
        assert [s["stage"] for s in steps["items"]] == ["run", "extract"]
        assert client.get("/api/diagnostics/steps", params={"stage": "clean", "run_id": "r-api"}).json()["total"] == 0
        assert client.get("/api/diagnostics/errors").json()["total"] >= 0
        assert client.get("/api/diagnostics/api_calls", params={"status": "abc"}).status_code == 422
        assert client.get("/api/diagnostics/nope").status_code == 422
        summary = client.get("/api/diagnostics/summary", params={"run_id": "r-api"}).json()
    assert summary["scores"]["buckets"] == {"hot": 1, "warm": 3, "nurture": 0, "parked": 0}
    assert {b["from"]: b["leads"] for b in summary["scores"]["bands"]}[90] == 1


def test_config_saves_settings_and_never_echoes_a_secret(settings: Settings, nats_url: str) -> None:
    key = new_key()
    settings = settings.model_copy(update={"secret_key": key})
    with TestClient(create_app(settings)) as client:
        r = client.put("/api/config", json={"webhook_url": "http://127.0.0.1:9/hook", "webhook_secret": "s3cr3t"})
        assert r.status_code == 202 and r.json()["saved"] == ["webhook_url", "webhook_secret"]
        assert client.put("/api/config", json={"webhook_url": "not a url"}).json()["detail"][0]["loc"][:2] == \
            ["body", "webhook_url"]
        assert client.put("/api/config", json={"colour": "red"}).status_code == 422
    secret = _read_last(nats_url, "config.saved.webhook_secret")
    assert isinstance(secret, ConfigSaved) and secret.secret and "s3cr3t" not in secret.value  # sealed
    assert reveal(secret.value, key) == "s3cr3t"
    url = _read_last(nats_url, "config.saved.webhook_url")
    Projection(make_engine(settings.vault_database_url)).apply(
        [(300 + i, f"config.saved.{e.key}", encode(envelope(e))) for i, e in enumerate([url, secret])])
    with TestClient(create_app(settings)) as client:
        shown = client.get("/api/config").json()
    assert shown["webhook_url"] == {"secret": False, "value": "http://127.0.0.1:9/hook"}
    assert shown["webhook_secret"] == {"secret": True, "set": True}
    assert "s3cr3t" not in json.dumps(shown)


def test_the_ui_docs_and_event_streams_are_behind_basic_auth(tmp_path: Path, nats_url: str) -> None:
    s = Settings(HUNTER_DATA_DIR=tmp_path, NATS_URL=nats_url, BASIC_AUTH_USER="ana", BASIC_AUTH_PASS="s3cret")
    with TestClient(create_app(s)) as client:
        for path in ("/", "/static/app.js", "/docs", "/openapi.json", "/api/runs/x/events", "/api/config"):
            assert client.get(path).status_code == 401, path
        assert "Mission" in client.get("/", auth=("ana", "s3cret")).text
        assert "/api/leads" in client.get("/openapi.json", auth=("ana", "s3cret")).json()["paths"]
        assert client.get("/static/../app.py", auth=("ana", "s3cret")).status_code == 404
        assert client.get("/docs/static/swagger-ui-bundle.js").status_code == 401
        docs = client.get("/docs", auth=("ana", "s3cret")).text
        assert "/docs/static/swagger-ui-bundle.js" in docs and "cdn" not in docs.lower()  # works offline
        bundle = client.get("/docs/static/swagger-ui-bundle.js", auth=("ana", "s3cret"))
        assert bundle.status_code == 200 and "SwaggerUIBundle" in bundle.text
        assert client.get("/docs/static/index.html", auth=("ana", "s3cret")).status_code == 404
