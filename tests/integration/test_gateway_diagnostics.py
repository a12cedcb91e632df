"""Diagnostics, rejects, person search and the WhatsApp column over the API, on SQLite and (when it
answers) PostgreSQL."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.gateway.app import create_app
from services.projector.projection import Projection
from shared.config import Settings
from shared.csv_safety import safe_cell
from shared.events import ApiCallsRecorded, LeadsCleaned, LeadsScored, RunRequested, RunStep
from shared.schemas import ApiCall, CleanedLead, Partner, ScoredLead
from shared.vault.engine import make_engine
from tests.factories import cleaned_lead, run_events
from tests.fixtures.vaults import VAULTS, project, rejected_rows, vault_for, whatsapp_stream


@pytest.fixture(params=VAULTS)
def vault_settings(request: pytest.FixtureRequest, tmp_path: Path, nats_url: str) -> Iterator[Settings]:
    yield from vault_for(request.param, tmp_path, nats_url)



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


def test_rejected_rows_are_listed_with_reason_in_words_file_line_and_run(vault_settings: Settings) -> None:
    project(vault_settings, [*run_events("r-rej"), rejected_rows("r-rej"), rejected_rows("r-other")])
    with TestClient(create_app(vault_settings)) as client:
        page = client.get("/api/rejects", params={"run_id": "r-rej", "limit": 2}).json()
        malformed = client.get("/api/rejects", params={"run_id": "r-rej", "reason": "malformed_row"}).json()
        everything = client.get("/api/rejects").json()
        assert client.get("/api/rejects", params={"limit": 0}).status_code == 422
    assert page["total"] == 6 and len(page["items"]) == 2  # run_events' own MEI drop, and the five above
    assert {r["code"]: r["rows"] for r in page["reasons"]} == {
        "duplicate": 1, "invalid_registry_id": 1, "malformed_row": 2, "mei": 2}
    assert malformed["total"] == 2
    assert {(x["source_file"], x["source_line"], x["run_id"], x["lead_key"]) for x in malformed["items"]} == {
        ("companies.csv", 9, "r-rej", None), ("@evil.csv", 21, "r-rej", "-12")}
    words = {x["reason_code"]: x["reason"] for x in everything["items"]}
    assert words["invalid_registry_id"] == "Registry id fails its check digits"
    assert words["malformed_row"] == "Malformed line in the source file"
    assert words["duplicate"].startswith("Duplicate") and words["mei"].startswith("MEI")
    assert everything["total"] == 11  # both runs


def test_rejected_rows_export_as_csv_that_no_spreadsheet_runs_as_formulas(vault_settings: Settings) -> None:
    project(vault_settings, [*run_events("r-rej"), rejected_rows("r-rej"), rejected_rows("r-other")])
    with TestClient(create_app(vault_settings)) as client:
        r = client.get("/api/rejects.csv", params={"run_id": "r-rej"})
        one = client.get("/api/rejects.csv", params={"run_id": "r-rej", "reason": "mei", "limit": 1})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == 6 == len({(x["source_file"], x["source_line"]) for x in rows})
    evil = next(x for x in rows if x["source_line"] == "21")
    assert evil["detail"] == "'=HYPERLINK(\"http://x.example\",\"click\")" and evil["source_file"] == "'@evil.csv"
    assert evil["lead_key"] == "-12"  # a plain number stays a number
    assert evil["reason"] == "Malformed line in the source file" and evil["reason_code"] == "malformed_row"
    assert len(list(csv.DictReader(io.StringIO(one.text)))) == 1


@pytest.mark.parametrize(("cell", "shown"), [
    ("=1+2", "'=1+2"), ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"), ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\tx", "'\tx"), ("\rx", "'\rx"), ("-12", "-12"), ("+5.5", "+5.5"), ("-0,5", "-0,5"), ("42", "42"),
    ("ACME", "ACME"), (None, ""), (7, "7"),
])
def test_csv_cells_that_start_like_a_formula_get_a_quote_but_plain_numbers_do_not(cell: object, shown: str) -> None:
    out = safe_cell(cell)
    assert ('' if out is None else str(out)) == shown


# ---- Person search ------------------------------------------------------------------------------

def _people_run() -> list[LeadsCleaned]:
    def company(n: int, *partners: str) -> CleanedLead:
        lead = cleaned_lead(n)
        lead.company.partners = [Partner(name=name, kind="PF", document=f"***{n:03d}{i}9**")
                                 for i, name in enumerate(partners)]
        return lead

    return [LeadsCleaned(run_id="r-people", batch=0, leads=[
        company(31, "ANDRE CESERO"), company(32, "Antônio de Pádua", "ANDREA SOUZA"), company(33, "ANTONIO DE PADUA"),
        company(34, "MARIA 100% LTDA_X")])]


def test_person_search_ignores_accents_case_and_word_order(vault_settings: Settings) -> None:
    project(vault_settings, _people_run())
    with TestClient(create_app(vault_settings)) as client:
        def names(q: str) -> list[str]:
            r = client.get("/api/partners", params={"q": q})
            assert r.status_code == 200, r.text
            return sorted(p["name"] for p in r.json())

        assert names("cesero andre") == names("ANDRÉ CESERO") == ["ANDRE CESERO"]
        assert names("Antônio de Pádua") == names("padua antonio") == ["ANTONIO DE PADUA", "Antônio de Pádua"]
        assert names("andre") == ["ANDRE CESERO", "ANDREA SOUZA"]  # a word's start
        assert names("ndre") == [] and names("antonio cesero") == []  # every word, each a word's start
        assert names("100%") == ["MARIA 100% LTDA_X"] and names("ltda_") == ["MARIA 100% LTDA_X"]
        assert names("a_d") == []  # LIKE's wildcards are only characters here
        assert names("03219") == ["ANDREA SOUZA"]  # CPF digits still work


def test_a_vault_from_before_the_folded_partner_names_is_upgraded_and_searchable(vault_settings: Settings) -> None:
    project(vault_settings, _people_run())
    engine = make_engine(vault_settings.vault_database_url)
    with engine.begin() as conn:  # the partners table as an older version left it
        conn.exec_driver_sql("ALTER TABLE partners DROP COLUMN search_name")
    Projection(engine)
    engine.dispose()
    with TestClient(create_app(vault_settings)) as client:
        found = client.get("/api/partners", params={"q": "pádua ANTONIO"}).json()
    assert sorted(p["name"] for p in found) == ["ANTONIO DE PADUA", "Antônio de Pádua"]


# ---- WhatsApp found on the company's site -------------------------------------------------------

def test_the_vault_list_shows_a_whatsapp_found_on_the_site_when_the_registry_has_none(
    vault_settings: Settings,
) -> None:
    project(vault_settings, whatsapp_stream())
    with TestClient(create_app(vault_settings)) as client:
        items = client.get("/api/leads", params={"run_id": "r-wa1", "sort": "name"}).json()["items"]
        later = client.get("/api/leads", params={"run_id": "r-wa2", "sort": "name"}).json()["items"]
    shown = {x["legal_name"]: (x["whatsapp"], x["has_whatsapp"]) for x in items}
    assert shown == {"ACME 41": ("+5511999990041", True),  # the site's latest: the second hunt's
                     "ACME 42": ("+5511987650042", True),  # a reuse keeps what was fetched
                     "ACME 43": ("+5511900000043", True)}  # the registry's wins over the site's
    assert {x["legal_name"]: x["whatsapp"] for x in later} == {k: v[0] for k, v in shown.items()}
