"""The Exports page's API on SQLite and PostgreSQL: each export with when it was created, its filter in
words, rows, size and checksum; and the Casa dos Dados export files a run asked for, with the
provider's status as last seen."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.gateway.app import create_app
from services.gateway.export_listing import filter_in_words
from shared.config import Settings
from shared.events import Event, ExportCompleted, ExportRequested, RunRequested, SourceExportUpdated
from tests.factories import T0
from tests.fixtures.vaults import VAULTS, project, vault_for

RUN = "r-casa"
SHA = "ab" * 32


def exports_events() -> list[Event]:
    """A run's hot export (written), a vault filter's export (written), one still requested, and three
    Casa dos Dados export files: one being processed, one downloaded, one failed."""
    casa = [("uuid-busy", "requested", None, ""), ("uuid-busy", "aguardando_processamento", 45, ""),
            ("uuid-busy", "processando", 45, ""),
            ("uuid-done", "requested", None, ""), ("uuid-done", "processado", 12, ""),
            ("uuid-done", "downloaded", None, ""),
            ("uuid-bad", "requested", None, ""),
            ("uuid-bad", "failed", None, "export uuid-bad not processed after 3 polls")]
    return [
        RunRequested(run_id=RUN, source="casadosdados", label="casa <b>hunt</b>"),
        *[SourceExportUpdated(provider="casadosdados", request_id=uid, run_id=RUN, name=f"hunter-{uid}",
                              status=status, rows=rows, message=message) for uid, status, rows, message in casa],
        ExportRequested(export_id="r-casa-hot", run_id=RUN, segment="hot", origin="run"),
        ExportCompleted(export_id="r-casa-hot", run_id=RUN, segment="hot", rows=3, bytes=2048, sha256=SHA,
                        files={"csv": "/nowhere/hunter_hot.csv"}, path="/nowhere"),
        ExportRequested(export_id="vault-warm", segment="all",
                        vault_filter={"bucket": "warm", "uf": "SP", "min_score": 60, "has_site": True}),
        ExportCompleted(export_id="vault-warm", segment="all", rows=7, bytes=4096, sha256="cd" * 32,
                        files={"csv": "/nowhere/a.csv", "parquet": "/nowhere/a.parquet"}, path="/nowhere"),
        ExportRequested(export_id="vault-pending", segment="all", vault_filter={"q": "<script>x</script>"}),
    ]


@pytest.fixture(params=VAULTS)
def settings(request: pytest.FixtureRequest, tmp_path: Path, nats_url: str) -> Iterator[Settings]:
    yield from vault_for(request.param, tmp_path, nats_url)


def test_exports_list_when_created_the_filter_in_words_rows_size_and_checksum(settings: Settings) -> None:
    project(settings, exports_events())
    with TestClient(create_app(settings)) as client:
        listed = {e["export_id"]: e for e in client.get("/api/exports").json()}
        only_run = client.get("/api/exports", params={"run_id": RUN}).json()
    assert set(listed) == {"r-casa-hot", "vault-warm", "vault-pending"}
    hot, warm, pending = listed["r-casa-hot"], listed["vault-warm"], listed["vault-pending"]
    assert hot["created_at"] == T0.isoformat() and hot["filter_words"] == f"hot leads of run {RUN}"
    assert (hot["status"], hot["rows"], hot["bytes"], hot["sha256"]) == ("completed", 3, 2048, SHA)
    assert warm["vault_filter"] == {"bucket": "warm", "uf": "SP", "min_score": 60, "has_site": True}
    assert warm["filter_words"] == "bucket warm, score ≥ 60, UF SP, with a site"
    assert sorted(warm["files"]) == ["csv", "parquet"] and warm["rows"] == 7
    assert pending["status"] == "requested" and pending["filter_words"] == "matching “<script>x</script>”"
    assert [e["export_id"] for e in only_run] == ["r-casa-hot"]


def test_casa_dos_dados_export_files_are_listed_with_the_providers_status(settings: Settings) -> None:
    project(settings, exports_events())
    with TestClient(create_app(settings)) as client:
        asked = {x["request_id"]: x for x in client.get("/api/source-exports").json()}
        assert client.get("/api/source-exports", params={"run_id": "other"}).json() == []
    assert set(asked) == {"uuid-busy", "uuid-done", "uuid-bad"}
    busy, done, bad = asked["uuid-busy"], asked["uuid-done"], asked["uuid-bad"]
    assert (busy["provider"], busy["run_id"], busy["status"], busy["rows"], busy["in_progress"]) == (
        "casadosdados", RUN, "processando", 45, True)
    assert busy["status_words"] == "being processed by the provider" and busy["requested_at"] == T0.isoformat()
    assert (done["status"], done["rows"], done["in_progress"]) == ("downloaded", 12, False)  # rows kept from the list
    assert bad["status"] == "failed" and "not processed after 3 polls" in bad["message"]


def test_a_filter_reads_as_words() -> None:
    assert filter_in_words({}, run_id=None, segment="all") == "the whole vault"
    assert filter_in_words({"run_id": "r1"}, run_id=None, segment="all") == "leads of run r1"
    assert filter_in_words({"min_score": 60, "max_score": 80, "has_whatsapp": False, "include_do_not_contact": True,
                            "accountant_like": True, "technology": "WordPress", "city": "Campinas", "cnae": "62",
                            "status": "contacted"}, run_id=None, segment="all") == (
        "score 60–80, city Campinas, CNAE 62, using WordPress, funnel status contacted, without WhatsApp, "
        "accountant-like contacts only, do-not-contact leads included")
