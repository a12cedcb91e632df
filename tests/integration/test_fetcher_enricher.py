"""The Enricher end to end over a loopback 'proxy' serving sites by Host and a loopback search API."""

from __future__ import annotations

import json

import pytest

from services.enricher.logic import Enricher
from shared.config import Settings
from shared.schemas import Address, CleanedLead, CompanyRecord, Email, Enrichment, Phone, ScoredLead

from .test_fetcher_loopback import LoopbackServer, html


def lead(registry_id: str, trade: str, *, email: str | None = None, phone: str | None = None,
         city: str = "Campinas", uf: str = "SP") -> ScoredLead:
    company = CompanyRecord(lead_key=f"BR:{registry_id}", registry_id=registry_id, source="csv",
                            trade_name=trade, legal_name=trade + " LTDA",
                            address=Address(city=city, state=uf))
    emails = [Email(address=email, domain=email.split("@")[1])] if email else []
    phones = [Phone(e164=phone)] if phone else []
    cands = [email.split("@")[1]] if email else []
    return ScoredLead(lead=CleanedLead(company=company, emails=emails, phones=phones, website_candidates=cands),
                      score=80, enrich=True)


@pytest.fixture
def farm():
    with LoopbackServer() as proxy, LoopbackServer() as search:
        yield proxy, search


def make_settings(proxy: LoopbackServer, search: LoopbackServer, tmp_path, **kw) -> Settings:
    env = {"HUNTER_HTTP_PROXY": proxy.url, "SEARCH_BASE_URL": search.url, "SERPER_API_KEY": "k123",
           "FETCH_SCHEMES": "http", "HUNTER_DATA_DIR": str(tmp_path), "FETCH_RETRIES": 0,
           "FETCH_CONNECT_TIMEOUT": 2, "FETCH_READ_TIMEOUT": 5}
    env.update(kw)
    return Settings(**env)


ACME_HOME = """<html><head><title>Acme Peças Industriais</title>
<script src="https://www.googletagmanager.com/gtag/js?id=G-1"></script></head><body>
<a href="/contato">Contato</a> <a href="https://www.instagram.com/acmepecas/">ig</a>
<footer>Acme Peças Industriais LTDA · CNPJ 19.131.243/0001-97</footer></body></html>"""
ACME_CONTACT = """<html><body><p>vendas [at] acme.com.br</p><p>(19) 3232-4545</p>
<a href="https://wa.me/5519987654321">WhatsApp</a>
<a href="https://maps.app.goo.gl/abc123">Como chegar</a></body></html>"""


async def test_discovery_via_email_domain_verified_by_cnpj(farm, tmp_path) -> None:
    proxy, search = farm
    proxy.routes[("acme.com.br", "/")] = html(ACME_HOME, Server="nginx/1.24.0")
    proxy.routes[("acme.com.br", "/contato")] = html(ACME_CONTACT)
    async with Enricher(make_settings(proxy, search, tmp_path)) as enricher:
        out = await enricher.enrich(lead("19131243000197", "Acme Peças", email="joao@acme.com.br"), run_id="r1")
    e = out.enrichment
    assert e.status == "ok" and e.discovered_by == "email_domain" and e.domain == "acme.com.br"
    assert "registry_id" in e.verified_by and e.verified and e.confidence > 0.9
    assert "vendas@acme.com.br" in e.emails and "+551932324545" in e.phones
    assert e.whatsapp == ["+5519987654321"] and e.google_maps_url == "https://maps.app.goo.gl/abc123"
    assert e.socials["instagram"] == "https://www.instagram.com/acmepecas"
    assert {"Google Analytics", "Nginx"} <= {t.name for t in e.technologies}
    assert e.pages_fetched == 2
    assert all(c.service == "enricher" and c.lead_key == "BR:19131243000197" for c in out.api_calls)
    assert not search.posts  # no search needed


async def test_discovery_via_search_ignores_social_and_directory_results(farm, tmp_path) -> None:
    proxy, search = farm
    search.routes[("*", "/search")] = (200, {"Content-Type": "application/json"}, json.dumps({"organic": [
        {"title": "Padaria Boa | Facebook", "link": "https://www.facebook.com/padariaboa", "position": 1},
        {"title": "PADARIA BOA LTDA - CNPJ", "link": "https://cnpj.biz/12345678000195", "position": 2},
        {"title": "Guia", "link": "https://www.empresasdirectory.com/padaria-boa", "position": 3},
        {"title": "Padaria Boa", "link": "https://padariaboa.com.br/", "position": 4},
    ]}).encode())
    proxy.routes[("padariaboa.com.br", "/")] = html(
        "<html><head><title>Bem-vindo</title></head><body>Pães e doces. Ligue (11) 98765-4321</body></html>")
    proxy.routes[("cnpj.biz", "*")] = html("12.345.678/0001-95 Padaria Boa")
    async with Enricher(make_settings(proxy, search, tmp_path)) as enricher:
        out = await enricher.enrich(lead("12345678000195", "Padaria Boa", phone="+5511987654321",
                                         city="São Paulo"), run_id="r1")
    e = out.enrichment
    assert e.status == "ok" and e.discovered_by == "search" and e.domain == "padariaboa.com.br"
    assert e.verified_by == ["phone"]
    assert e.socials["facebook"] == "https://www.facebook.com/padariaboa"
    path, headers, body = search.posts[0]
    assert path == "/search" and headers["X-API-KEY"] == "k123"
    assert body == {"q": "Padaria Boa São Paulo SP", "gl": "br", "num": 10}
    assert not any(h == "cnpj.biz" for h, _ in proxy.hits)
    assert any(c.service == "search" for c in out.api_calls)


async def test_discovery_via_guessed_domain_verified_by_name(farm, tmp_path) -> None:
    proxy, search = farm
    search.routes[("*", "/search")] = (200, {"Content-Type": "application/json"}, b'{"organic": []}')
    proxy.routes[("metalurgicaforte.com.br", "/")] = html(
        "<html><head><title>Metalúrgica Forte - Estruturas metálicas</title></head><body>Bem-vindo</body></html>")
    async with Enricher(make_settings(proxy, search, tmp_path)) as enricher:
        out = await enricher.enrich(lead("11222333000181", "Metalúrgica Forte"), run_id="r1")
    e = out.enrichment
    assert e.status == "ok" and e.discovered_by == "guess" and e.domain == "metalurgicaforte.com.br"
    assert e.verified_by == ["name"]


async def test_unverifiable_site_gives_no_site(farm, tmp_path) -> None:
    proxy, search = farm
    proxy.routes[("semnome.com.br", "/")] = html("<html><title>Outra coisa</title><body>x</body></html>")
    async with Enricher(make_settings(proxy, search, tmp_path, SEARCH_BASE_URL=None)) as enricher:
        out = await enricher.enrich(lead("11222333000181", "Sem Nome"), run_id="r1")
    assert out.enrichment.status == "no_site" and out.enrichment.error


async def test_budget_exceeded_and_vault_reuse(farm, tmp_path) -> None:
    proxy, search = farm
    proxy.routes[("acme.com.br", "/")] = html(ACME_HOME)
    settings = make_settings(proxy, search, tmp_path, RUN_BUDGET_REQUESTS=1, SEARCH_BASE_URL=None)
    async with Enricher(settings) as enricher:
        first = await enricher.enrich(lead("19131243000197", "Acme", email="a@acme.com.br"), run_id="r1")
        second = await enricher.enrich(lead("19131243000197", "Acme", email="a@acme.com.br"), run_id="r1")
    assert first.enrichment.status == "budget_exceeded"
    assert second.enrichment.status == "budget_exceeded" and not second.api_calls

    async def vault(key: str, domain: str | None) -> Enrichment | None:
        return Enrichment(lead_key=key, site="http://acme.com.br/", domain=domain) if domain else None

    async with Enricher(make_settings(proxy, search, tmp_path), vault_lookup=vault) as enricher:
        out = await enricher.enrich(lead("19131243000197", "Acme", email="a@acme.com.br"), run_id="r2")
    assert out.enrichment.reused and out.enrichment.domain == "acme.com.br" and not out.api_calls


async def test_a_reuse_only_lead_is_never_fetched(farm, tmp_path) -> None:
    proxy, search = farm
    proxy.routes[("acme.com.br", "/")] = html(ACME_HOME)
    previous = Enrichment(lead_key="BR:19131243000197", status="ok", site="http://acme.com.br/", domain="acme.com.br",
                          verified=True, emails=["vendas@acme.com.br"])

    async def vault(key: str, domain: str | None) -> Enrichment | None:
        return previous if key == "BR:19131243000197" else None

    async with Enricher(make_settings(proxy, search, tmp_path), vault_lookup=vault) as enricher:
        kept = await enricher.enrich(lead("19131243000197", "Acme Peças", email="joao@acme.com.br"), run_id="r1",
                                     reuse_only=True)
        missing = await enricher.enrich(lead("11222333000181", "Beta", email="ana@acme.com.br"), run_id="r1",
                                        reuse_only=True)
    assert kept.enrichment.reused and kept.enrichment.emails == ["vendas@acme.com.br"]
    assert missing.enrichment.status == "skipped" and not missing.api_calls
    assert not proxy.hits and not search.posts
