"""Casa dos Dados source against a real loopback HTTP server speaking the same protocol."""

from __future__ import annotations

import csv
import io
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from services.extractor.sources import SourceError, iter_source
from services.extractor.sources.casadosdados_records import EXPORT_COLUMNS
from shared.config import Settings
from shared.events import RunFilters
from shared.registry_ids import check_digits
from shared.schemas import ApiCall, CompanyRecord

GOOD_KEY, BROKE_KEY = "good-key", "broke-key"


def _company(i: int) -> dict[str, Any]:
    base = f"{20_000_000 + i}0001"
    return {
        "cnpj": base + check_digits(base),
        "razao_social": f"EMPRESA {i} LTDA",
        "nome_fantasia": f"LOJA {i}",
        "porte_empresa": {"codigo": "01", "descricao": "MICRO EMPRESA"},
        "situacao_cadastral": {"situacao_cadastral": "ATIVA", "motivo": "SEM MOTIVO", "data": "2020-01-02"},
        "data_abertura": "2019-05-06",
        "capital_social": 1000.5 + i,
        "matriz_filial": "MATRIZ",
        "natureza_juridica": {"codigo": "2062", "descricao": "Sociedade Empresária Limitada"},
        "atividade_principal": {"codigo": "6201501", "descricao": "Desenvolvimento de programas"},
        "atividade_secundaria": [{"codigo": "6202300", "descricao": "x"}],
        "endereco": {"tipo_logradouro": "RUA", "logradouro": "DAS FLORES", "numero": str(i), "bairro": "CENTRO",
                     "cep": "01310100", "municipio": "SAO PAULO", "uf": "SP",
                     "ibge": {"codigo_municipio": 3550308, "latitude": -23.5, "longitude": -46.6}},
        "contato_telefonico": [{"completo": f"1198765{i:04d}", "ddd": "11", "numero": f"98765{i:04d}"}],
        "contato_email": [{"email": f"contato{i}@empresa{i}.com.br"}],
        "quadro_societario": [{"nome": f"SOCIO {i}", "qualificacao_socio": "Sócio-Administrador", "tipo": "PF"}],
        "mei": {"optante": False}, "simples": {"optante": True},
    }


def _export_csv(companies: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    for c in companies:
        e = c["endereco"]
        writer.writerow([
            c["cnpj"], c["razao_social"], c["nome_fantasia"], "ATIVA", "2020-01-02", c["data_abertura"],
            "6201501", "Desenvolvimento de programas", "6202300", "2062", "Sociedade Empresária Limitada",
            "MICRO EMPRESA", f"{c['capital_social']:.2f}".replace(".", ","), "MATRIZ", "S", "N", "RUA",
            e["logradouro"], e["numero"], "", e["bairro"], e["cep"], e["municipio"], "3550308", e["uf"],
            f"(11) 98765-{c['endereco']['numero'].zfill(4)}", f"contato{e['numero']}@x.com.br",
        ])
    return out.getvalue().encode("utf-8")


@dataclass
class FakeCasa:
    """Server state: the data set, export jobs, and every request seen."""

    companies: list[dict[str, Any]]
    ready_after_polls: int = 3
    throttle_first_search: bool = True
    requests: list[tuple[float, str, str, dict[str, Any] | None]] = field(default_factory=list)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    port: int = 0

    def count(self, method: str, path_prefix: str) -> int:
        return sum(1 for _, m, p, _ in self.requests if m == method and p.startswith(path_prefix))


def _handler(state: FakeCasa) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None,
                  raw: bytes | None = None) -> None:
            data = raw if raw is not None else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "text/csv" if raw is not None else "application/json")
            self.send_header("content-length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _handle(self, method: str) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            state.requests.append((time.monotonic(), method, url.path, body))
            if url.path.startswith("/files/"):  # pre-signed download link: no key expected
                if self.headers.get("api-key"):
                    return self._send(400, {"mensagem": "api key leaked to the file host"})
                job = state.jobs[url.path.removeprefix("/files/").removesuffix(".csv")]
                return self._send(200, raw=_export_csv(state.companies[: job["total"] or None]))
            key = self.headers.get("api-key")
            if key == BROKE_KEY:
                return self._send(403, {"mensagem": "Sem saldo para a operação"})
            if key != GOOD_KEY:
                return self._send(401, {"mensagem": "Não autorizado"})
            if method == "POST" and url.path == "/v5/cnpj/pesquisa":
                assert parse_qs(url.query) == {"tipo_resultado": ["completo"]}
                if state.throttle_first_search:
                    state.throttle_first_search = False
                    return self._send(429, {"mensagem": "muitas requisições"}, {"Retry-After": "0.05"})
                rows = [c for c in state.companies if not body.get("uf") or c["endereco"]["uf"].lower() in body["uf"]]
                start = (body["pagina"] - 1) * body["limite"]
                return self._send(200, {"total": len(rows), "cnpjs": rows[start : start + body["limite"]]})
            if method == "POST" and url.path == "/v5/cnpj/pesquisa/arquivo":
                job_id = str(uuid.uuid4())
                state.jobs[job_id] = {"polls": 0, "link_polls": 0, "total": body["total_linhas"]}
                return self._send(200, {"mensagem": "Arquivo criado", "arquivo_uuid": job_id})
            if method == "GET" and url.path == "/v4/cnpj/pesquisa/arquivo":
                if parse_qs(url.query).get("pagina") != ["1"]:
                    return self._send(200, [])
                listing = []
                for job_id, job in state.jobs.items():
                    job["polls"] += 1
                    ready = job["polls"] >= state.ready_after_polls
                    listing.append({"arquivo_uuid": job_id, "nome": "x", "status": "processado" if ready
                                    else "processando", "quantidade": len(state.companies)})
                return self._send(200, listing)
            if method == "GET" and url.path.startswith("/v4/public/cnpj/pesquisa/arquivo/"):
                job = state.jobs.get(url.path.rsplit("/", 1)[1])
                if job is None:
                    return self._send(404, {"mensagem": "não encontrado"})
                job["link_polls"] += 1
                if job["link_polls"] == 1:
                    return self._send(202, {"mensagem": "processando"})
                job_id = url.path.rsplit("/", 1)[1]
                return self._send(200, {"link": f"http://localhost:{state.port}/files/{job_id}.csv"})
            return self._send(404, {"mensagem": "rota desconhecida"})

        def do_GET(self) -> None:  # noqa: N802
            self._handle("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._handle("POST")

    return Handler


@pytest.fixture
def casa() -> Iterator[FakeCasa]:
    state = FakeCasa(companies=[_company(i) for i in range(45)])
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _settings(casa: FakeCasa, tmp_path: Path, key: str = GOOD_KEY, attempts: int = 10) -> Settings:
    return Settings(
        CASA_DOS_DADOS_API_KEY=key,
        CASA_DOS_DADOS_BASE_URL=f"http://127.0.0.1:{casa.port}",
        CASA_EXPORT_POLL_MAX_ATTEMPTS=attempts,
        CASA_EXPORT_POLL_BACKOFF_SECONDS=0.001,
        HUNTER_DATA_DIR=tmp_path,
        CACHE_TTL_HOURS=1,
    )


def _run(source: str, filters: RunFilters, settings: Settings) -> tuple[list[CompanyRecord], list[ApiCall]]:
    calls: list[ApiCall] = []
    items = list(iter_source(source, filters, settings=settings, on_api_call=calls.append))
    return [i for i in items if isinstance(i, CompanyRecord)], calls


def test_search_pages_up_to_the_limit_and_retries_after_a_429(casa: FakeCasa, tmp_path: Path) -> None:
    leads, calls = _run("casadosdados?page_size=20", RunFilters(uf=["SP"], limit=45), _settings(casa, tmp_path))
    assert len(leads) == 45 and len({r.lead_key for r in leads}) == 45
    searches = [(t, body) for t, m, p, body in casa.requests if p == "/v5/cnpj/pesquisa"]
    assert [b["pagina"] for _, b in searches] == [1, 1, 2, 3]  # the first try was throttled
    assert searches[1][0] - searches[0][0] >= 0.05  # Retry-After honoured
    assert searches[0][1]["uf"] == ["sp"] and searches[0][1]["situacao_cadastral"] == ["ATIVA"]
    assert [c.status for c in calls] == [429, 200, 200, 200]
    assert all(c.service == "casadosdados" and c.endpoint == "/v5/cnpj/pesquisa" and c.method == "POST"
               for c in calls)
    assert all(c.bytes > 0 and c.latency_ms > 0 and not c.cache_hit for c in calls)
    first = leads[0]
    assert first.source == "casadosdados" and first.registry_id == _company(0)["cnpj"]
    assert (first.legal_name, first.trade_name, first.status, first.status_date) == (
        "EMPRESA 0 LTDA", "LOJA 0", "ATIVA", "2020-01-02")
    assert (first.activity_main, first.activities_secondary, first.legal_nature) == ("6201501", ["6202300"], "2062")
    assert (first.capital, first.size, first.head_office, first.mei, first.simples) == (
        1000.5, "MICRO EMPRESA", True, False, True)
    assert (first.address.city, first.address.state, first.address.city_code) == ("SAO PAULO", "SP", "3550308")
    assert first.phones == ["11 987650000"] and first.emails == ["contato0@empresa0.com.br"]
    assert first.partners[0].name == "SOCIO 0" and first.partners[0].kind == "PF"


def test_a_repeated_hunt_is_served_from_the_disk_cache(casa: FakeCasa, tmp_path: Path) -> None:
    settings = _settings(casa, tmp_path)
    casa.throttle_first_search = False
    first, _ = _run("casadosdados", RunFilters(uf=["SP"], limit=10), settings)
    served = len(casa.requests)
    again, calls = _run("casadosdados", RunFilters(uf=["SP"], limit=10), settings)
    assert again == first and len(again) == 10
    assert len(casa.requests) == served  # no HTTP call
    assert [(c.cache_hit, c.service) for c in calls] == [(True, "casadosdados")]
    assert len(list((tmp_path / "cache" / "casadosdados").glob("*.jsonl"))) == 1
    other, _ = _run("casadosdados", RunFilters(uf=["SP"], limit=11), settings)  # another query: fetched
    assert len(other) == 11 and len(casa.requests) > served


def test_a_big_hunt_uses_the_export_file_and_waits_until_it_is_ready(casa: FakeCasa, tmp_path: Path) -> None:
    leads, calls = _run("casadosdados", RunFilters(uf=["SP"], limit=5000), _settings(casa, tmp_path))
    assert len(leads) == 45 and leads[0].registry_id == _company(0)["cnpj"]
    assert leads[0].source == "casadosdados" and leads[0].legal_name == "EMPRESA 0 LTDA"
    assert leads[0].capital == 1000.5 and leads[0].address.city == "SAO PAULO"
    assert leads[3].phones == ["(11) 98765-0003"]
    [job] = casa.jobs.values()
    assert job["total"] == 5000 and job["polls"] == casa.ready_after_polls and job["link_polls"] == 2
    endpoints = [(c.method, c.endpoint.split("/arquivo/")[0], c.status) for c in calls]
    assert endpoints == [
        ("POST", "/v5/cnpj/pesquisa/arquivo", 200),
        ("GET", "/v4/cnpj/pesquisa/arquivo", 200), ("GET", "/v4/cnpj/pesquisa/arquivo", 200),
        ("GET", "/v4/cnpj/pesquisa/arquivo", 200),
        ("GET", "/v4/public/cnpj/pesquisa", 202), ("GET", "/v4/public/cnpj/pesquisa", 200),
        ("GET", f"/files/{next(iter(casa.jobs))}.csv", 200),
    ]
    assert calls[-1].bytes > 1000
    assert not list((tmp_path / "cache" / "casadosdados").glob("*.csv"))  # download removed after import


def test_an_export_that_never_gets_ready_fails_after_bounded_polls(casa: FakeCasa, tmp_path: Path) -> None:
    casa.ready_after_polls = 100
    with pytest.raises(SourceError, match="not processed after 3 polls"):
        _run("casadosdados?mode=export", RunFilters(), _settings(casa, tmp_path, attempts=3))
    assert casa.count("GET", "/v4/cnpj/pesquisa/arquivo") == 3
    assert not list((tmp_path / "cache" / "casadosdados").glob("*"))  # nothing cached


def test_a_refused_key_and_an_empty_balance_are_clear_errors(casa: FakeCasa, tmp_path: Path) -> None:
    casa.throttle_first_search = False
    calls: list[ApiCall] = []
    with pytest.raises(SourceError, match="401"):
        list(iter_source("casadosdados", RunFilters(limit=5), settings=_settings(casa, tmp_path, key="wrong"),
                         on_api_call=calls.append))
    assert [c.status for c in calls] == [401]
    with pytest.raises(SourceError, match="Sem saldo"):
        list(iter_source("casadosdados", RunFilters(limit=5), settings=_settings(casa, tmp_path, key=BROKE_KEY)))


def test_no_api_key_is_a_source_error(tmp_path: Path) -> None:
    settings = Settings(HUNTER_DATA_DIR=tmp_path, CASA_DOS_DADOS_API_KEY=None)
    with pytest.raises(SourceError, match="CASA_DOS_DADOS_API_KEY"):
        list(iter_source("casadosdados", RunFilters(limit=5), settings=settings))


async def test_the_extractor_service_uses_a_key_saved_on_the_config_page(
        casa: FakeCasa, fresh_nats_url: str, tmp_path: Path) -> None:
    from hunter.stack import Stack
    from shared.bus import connect_bus
    from shared.events import ConfigSaved, RunRequested, Subjects, subject_token

    from .test_extractor_service import _extract_step

    env = {"CASA_DOS_DADOS_BASE_URL": f"http://127.0.0.1:{casa.port}", "CASA_DOS_DADOS_API_KEY": ""}
    stack = Stack(data_dir=tmp_path / "stack", nats_url=fresh_nats_url, services=["extractor"], gateway=False,
                  env_extra=env)
    stack.start()
    try:
        async with connect_bus(fresh_nats_url, name="test") as bus:
            refused = RunRequested(run_id="casa-nokey", source="casadosdados", filters=RunFilters(limit=5))
            await bus.publish(refused, key=(refused.run_id,))
            failed = await _extract_step(bus, refused.run_id, "completed")
            assert failed.status == "failed" and "Config page" in failed.message

            await bus.publish(ConfigSaved(key="casa_dos_dados_api_key", value=GOOD_KEY, secret=True),
                              subject=Subjects.CONFIG_SAVED.format(key=subject_token("casa_dos_dados_api_key")))
            request = RunRequested(run_id="casa-saved-key", source="casadosdados", filters=RunFilters(limit=5))
            await bus.publish(request, key=(request.run_id,))
            done = await _extract_step(bus, request.run_id, "completed")
            assert done.status == "completed", done.message
            assert done.counts["extracted"] == 5
        assert not stack.crashed()
    finally:
        stack.stop()


def test_an_export_files_status_is_heard_at_each_change_and_its_failure(casa: FakeCasa, tmp_path: Path) -> None:
    from shared.events import SourceExportUpdated

    updates: list[SourceExportUpdated] = []
    items = list(iter_source("casadosdados", RunFilters(uf=["SP"], limit=5000), settings=_settings(casa, tmp_path),
                             on_export=updates.append))
    assert len([i for i in items if isinstance(i, CompanyRecord)]) == 45
    [job_id] = casa.jobs
    assert [(u.provider, u.request_id, u.status, u.rows) for u in updates] == [
        ("casadosdados", job_id, "requested", None), ("casadosdados", job_id, "processando", 45),
        ("casadosdados", job_id, "processado", 45), ("casadosdados", job_id, "downloaded", 45)]
    assert updates[0].message == "Arquivo criado" and updates[0].name.startswith("hunter-")

    casa.ready_after_polls = 100
    updates.clear()
    with pytest.raises(SourceError, match="not processed after 3 polls"):
        list(iter_source("casadosdados?mode=export", RunFilters(), settings=_settings(casa, tmp_path, attempts=3),
                         on_export=updates.append))
    assert [u.status for u in updates] == ["requested", "processando", "failed"]
    assert "not processed after 3 polls" in updates[-1].message


async def test_the_extractor_records_a_casa_export_files_status_for_the_exports_page(
        casa: FakeCasa, fresh_nats_url: str, tmp_path: Path) -> None:
    from hunter.stack import Stack
    from hunter.watch import wait_projected
    from services.gateway.export_listing import list_source_exports
    from shared.bus import connect_bus
    from shared.events import RunRequested, SourceExportUpdated
    from shared.vault.engine import make_engine

    from .test_extractor_service import _extract_step

    env = {"CASA_DOS_DADOS_BASE_URL": f"http://127.0.0.1:{casa.port}", "CASA_DOS_DADOS_API_KEY": GOOD_KEY,
           "CASA_EXPORT_POLL_BACKOFF_SECONDS": "0.3"}
    stack = Stack(data_dir=tmp_path / "stack", nats_url=fresh_nats_url, services=["extractor", "projector"],
                  gateway=False, env_extra=env)
    stack.start()
    vault = f"sqlite:///{tmp_path / 'stack' / 'vault.db'}"
    try:
        async with connect_bus(fresh_nats_url, name="test") as bus:
            request = RunRequested(run_id="casa-export", source="casadosdados?mode=export", filters=RunFilters())
            await bus.publish(request, key=(request.run_id,))
            done = await _extract_step(bus, request.run_id, "completed")
            assert done.status == "completed" and done.counts["extracted"] == 45, done.message
            updates = [s.event() async for s in bus.read("export.provider.casa-export")]
            await wait_projected(bus, vault)
        assert not stack.crashed()
    finally:
        stack.stop()
    [job_id] = casa.jobs
    assert all(isinstance(u, SourceExportUpdated) and u.run_id == "casa-export" and u.request_id == job_id
               for u in updates)
    assert [u.status for u in updates] == ["requested", "processando", "processado", "downloaded"]
    engine = make_engine(vault)
    [row] = list_source_exports(engine)
    engine.dispose()
    assert (row["run_id"], row["request_id"], row["status"], row["rows"]) == ("casa-export", job_id, "downloaded", 45)
