"""A directory's page (a known directory/marketplace/social host, or a page listing several companies'
registry ids) verifies nothing: neither its site nor its contacts are the lead's."""

from __future__ import annotations

import json

from hunter.demo.sample_data import DATA_DIR, DIRECTORY_DOMAIN, DIRECTORY_DOMAIN_2
from hunter.demo.site_pages import render_site_response
from services.enricher.discovery import registry_roots, verify_page
from services.enricher.extraction import extract_contacts
from shared.schemas import Address, CleanedLead, CompanyRecord, Phone, ScoredLead

SITES = json.loads((DATA_DIR / "sites.json").read_text(encoding="utf-8"))
DIRECTORIES = [s for s in SITES if s.get("role") == "directory"]


def lead(cnpj: str, name: str, phone: str | None = None) -> ScoredLead:
    company = CompanyRecord(lead_key=f"BR:{cnpj}", registry_id=cnpj, source="csv", trade_name=name,
                            legal_name=name + " LTDA", address=Address(city="Sao Paulo", state="SP"))
    phones = [Phone(e164=phone)] if phone else []
    return ScoredLead(lead=CleanedLead(company=company, phones=phones), score=80, enrich=True)


def verify(the_lead: ScoredLead, html: str, domain: str, how: str = "search"):
    pc = extract_contacts(html, f"http://{domain}/", "BR")
    return verify_page(the_lead, pc, html, domain, discovered_by=how)


def test_the_farm_directories_verify_none_of_the_companies_they_list() -> None:
    assert {d["domain"] for d in DIRECTORIES} == {DIRECTORY_DOMAIN, DIRECTORY_DOMAIN_2}
    for directory in DIRECTORIES:
        home = render_site_response(directory, "/", host=directory["domain"]).body.decode()
        listed = [item for item in directory["listings"] if item["cnpj"] in home]
        assert len(listed) >= 10
        for item in listed:
            v = verify(lead(item["cnpj"], item["trade_name"] or item["name"], item["phone"]), home,
                       directory["domain"])
            assert not v.verified and v.listing is not None, (directory["domain"], item["cnpj"], v)
            assert v.confidence == 0.0


def test_a_page_listing_other_companies_ids_verifies_nothing_even_with_the_leads_id_name_and_phone() -> None:
    page = """<html><head><title>Acme Pecas Industriais - CNPJ 19.131.243/0001-97</title></head><body>
    <h1>Acme Pecas Industriais</h1><p>Telefone (19) 3232-4545</p><h2>Outras empresas</h2><ul>
    <li>Beta Comercio - CNPJ 11.222.333/0001-81</li><li>Gama Servicos - CNPJ 11.444.777/0001-61</li></ul>
    <a href="mailto:contato@guia-local.example">contato</a></body></html>"""
    v = verify(lead("19131243000197", "Acme Pecas Industriais", "+551932324545"), page, "guialocal.example")
    assert not v.verified and "2 other companies" in (v.listing or "")


def test_ids_only_in_the_markup_links_count_as_listed() -> None:
    page = """<html><head><title>Empresas</title></head><body><ul>
    <li><a href="/empresa/19131243000197">Acme Pecas Industriais</a></li>
    <li><a href="/empresa/11222333000181">Beta</a></li><li><a href="/empresa/11444777000161">Gama</a></li>
    </ul></body></html>"""
    v = verify(lead("19131243000197", "Acme Pecas Industriais"), page, "consulta.example")
    assert not v.verified and v.listing


def test_a_company_page_showing_its_branches_and_one_partner_still_verifies() -> None:
    page = """<html><head><title>Acme Pecas Industriais</title></head><body>
    <footer>Matriz CNPJ 19.131.243/0001-97 · Filial CNPJ 19.131.243/0002-78 ·
    Site por Agencia Web CNPJ 11.222.333/0001-81</footer></body></html>"""
    v = verify(lead("19131243000197", "Acme Pecas Industriais"), page, "acmepecas.com.br")
    assert v.verified and "registry_id" in v.evidence and v.listing is None


def test_a_known_directory_host_verifies_nothing() -> None:
    page = "<html><head><title>ACME PECAS INDUSTRIAIS LTDA - CNPJ 19.131.243/0001-97</title></head></html>"
    for host in ("cnpj.biz", "www.econodata.com.br", "facebook.com", "loja.mercadolivre.com.br"):
        v = verify(lead("19131243000197", "Acme Pecas Industriais"), page, host, how="email_domain")
        assert not v.verified and "directory, marketplace or social host" in (v.listing or ""), host


def test_registry_roots_count_companies_not_establishments_nor_invalid_numbers() -> None:
    ids = ["19.131.243/0001-97", "19131243000278", "11222333000181", "11222333000182", "12345678901234"]
    assert registry_roots(ids, "BR") == {"19131243", "11222333"}
    assert registry_roots(["732 829 320", "73282932000074", "123456789"], "FR") == {"732829320"}
