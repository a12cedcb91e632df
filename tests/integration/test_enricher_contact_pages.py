"""Which contact pages the enricher fetches: always (the default), or with FETCH_CONTACT_PAGES=missing
only while the homepage lacks an e-mail or a phone."""

from __future__ import annotations

import pytest

from services.enricher.logic import Enricher
from shared.config import Settings

from .test_fetcher_enricher import lead, make_settings
from .test_fetcher_loopback import LoopbackServer, html

CNPJ = "19131243000197"
FOOTER = "<footer>Acme Peças Industriais LTDA · CNPJ 19.131.243/0001-97</footer>"
CONTACT = """<html><body><p>vendas [at] acme.com.br</p><p>(19) 3232-4545</p>
<a href="https://wa.me/5519987654321">WhatsApp</a></body></html>"""


@pytest.fixture
def farm():
    with LoopbackServer() as proxy, LoopbackServer() as search:
        yield proxy, search


def home(body: str) -> str:
    return (f'<html><head><title>Acme Peças</title></head><body><a href="/contato">Contato</a>'
            f'<a href="/sobre">Sobre</a>{body}{FOOTER}</body></html>')


async def enrich(farm, tmp_path, homepage: str, contact_pages: str = "missing"):  # noqa: ANN201
    proxy, search = farm
    proxy.routes[("acme.com.br", "/")] = html(homepage)
    proxy.routes[("acme.com.br", "/contato")] = html(CONTACT)
    proxy.routes[("acme.com.br", "/sobre")] = html("<html><body>Sobre nós</body></html>")
    settings = make_settings(proxy, search, tmp_path, SEARCH_BASE_URL=None, FETCH_CONTACT_PAGES=contact_pages)
    async with Enricher(settings) as enricher:
        out = await enricher.enrich(lead(CNPJ, "Acme Peças", email="joao@acme.com.br"), run_id="r1")
    return out.enrichment, [path for host, path in proxy.hits if host == "acme.com.br"]


async def test_a_homepage_with_an_email_and_a_phone_is_the_only_page_fetched(farm, tmp_path) -> None:
    e, paths = await enrich(farm, tmp_path, home('<a href="mailto:oi@acme.com.br">e-mail</a> Tel. (19) 3232-1000'))
    assert e.status == "ok" and e.pages_fetched == 1
    assert paths == ["/robots.txt", "/"]
    assert e.emails == ["oi@acme.com.br"] and e.phones == ["+551932321000"]


@pytest.mark.parametrize("body", ['<a href="mailto:oi@acme.com.br">e-mail</a>', "Tel. (19) 3232-1000", ""],
                         ids=["email-only", "phone-only", "neither"])
async def test_the_contact_pages_are_fetched_and_used_while_the_homepage_lacks_an_email_or_a_phone(
        farm, tmp_path, body: str) -> None:
    e, paths = await enrich(farm, tmp_path, home(body))
    assert e.status == "ok" and e.pages_fetched == 3
    assert paths[:2] == ["/robots.txt", "/"] and sorted(paths[2:]) == ["/contato", "/sobre"]  # fetched at once
    assert "vendas@acme.com.br" in e.emails and "+551932324545" in e.phones  # read from /contato
    assert e.whatsapp == ["+5519987654321"]


def test_contact_pages_are_always_fetched_unless_told_otherwise() -> None:
    assert Settings().fetch_contact_pages == "always"


async def test_always_fetching_contact_pages_keeps_the_contacts_found_only_there(farm, tmp_path) -> None:
    e, paths = await enrich(farm, tmp_path, home('<a href="mailto:oi@acme.com.br">e-mail</a> Tel. (19) 3232-1000'),
                            contact_pages="always")
    assert paths[:2] == ["/robots.txt", "/"] and sorted(paths[2:]) == ["/contato", "/sobre"]  # fetched at once
    assert {"oi@acme.com.br", "vendas@acme.com.br"} <= set(e.emails) and "+551932324545" in e.phones
