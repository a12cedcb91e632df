"""The contact-page extraction finds the same contacts as the full one: e-mails, phones, WhatsApp, socials,
the Maps URL and JSON-LD (what the enricher merges from a site's secondary pages)."""

from __future__ import annotations

import random

import pytest

from hunter.demo.sample_data import generate_bench_sites, generate_world
from hunter.demo.site_pages import render_site_response
from services.enricher.extraction import (
    _AT_TOKEN_RE,
    _NUMBER_RUN_RE,
    PageContacts,
    _at_tokens,
    _number_runs,
    extract_contacts,
    extract_page_contacts,
)


def contacts(pc: PageContacts) -> dict[str, object]:
    return {"emails": pc.emails, "phones": pc.phones, "whatsapp": pc.whatsapp, "socials": pc.socials,
            "google_maps_url": pc.google_maps_url, "jsonld": pc.jsonld}


def demo_pages() -> list[tuple[str, str]]:
    """Every HTML page of the demo farm's company sites and of some bench sites, with its URL."""
    pages = []
    sites = generate_world(120, seed=11).sites + generate_bench_sites(40)
    for spec in sites:
        if spec.get("role") == "directory":
            continue
        for path in ("/", spec.get("contact_path", "/contato"), "/sobre", "/quem-somos"):
            resp = render_site_response(spec, path)
            if resp.status == 200:
                pages.append((f"https://{spec['domain']}{path}", resp.body.decode()))
    return pages


TRICKY = [
    # relative links on a social/WhatsApp/Maps host: the base decides
    ("https://www.facebook.com/acme/about", '<a href="/acme">fb</a><a href="photos">p</a>'),
    ("https://wa.me/5519987654321", '<a href="?text=oi">chat</a>'),
    ("https://www.google.com/maps/place/x", '<a href="/maps/place/acme">mapa</a>'),
    ("https://acme.com.br/contato?ref=whatsapp.com/send", '<a href="x">x</a>'),
    # entities, tabs and case folds in hrefs
    ("https://acme.com.br/contato", '<a href="https://wa&#46;me/5519987654321">w</a>'
                                    '<a href="https://www.insta&#103;ram.com/acme">i</a>'),
    ("https://acme.com.br/contato", '<a href="https://wa.\tme/5519987654321">w</a>'
                                    '<a href="https://INSTAGRAM.COM/Acme">i</a><a href="//youtu.be/abc">y</a>'),
    ("https://acme.com.br/contato", '<a href="https://api.whatſapp.com/send?phone=5519987654321">w</a>'),
    ("https://acme.com.br/contato", '<a href="HTTPS://MAPS.APP.GOO.GL/abc">m</a>'
                                    '<iframe src="https://www.google.com/maps/embed?pb=1"></iframe>'),
    ("https://acme.com.br/contato", '<a href="https://linkedin.com/company/acme">l</a>'
                                    '<a href="https://x.com/acme">x</a><a href="https://tiktok.com/@acme">t</a>'
                                    '<a href="https://fb.com/acme">f</a><a href="https://facebook.com/sharer.php">s</a>'),
    # contacts in text, attributes, markup and JSON-LD
    ("https://acme.com.br/contato", '<p>vendas [at] acme [dot] com [dot] br · (19) 3232-4545</p>'
                                    '<div data-email="sac@acme.com.br"></div><p>WA.ME/5519987654321</p>'
                                    '<script type="application/ld+json">{"@type": "LocalBusiness", "name": "Acme",'
                                    ' "telephone": "+55 19 3232-1000", "email": "mailto:oi@acme.com.br",'
                                    ' "sameAs": ["https://instagram.com/acme"], "taxID": "19.131.243/0001-97"}'
                                    '</script>'),
    ("https://acme.com.br/contato", '<p>Ligue \u2013 (11) 98765\u20114321 ou \uff08\uff11\uff11\uff09 3232-4545 '
                                    '\u201cmaps\u201d Maps: https://maps.google.com/?q=acme</p>'),
]


def _noise_page(rng: random.Random) -> str:
    parts = ['<a href="https://wa.me/55119{}">w</a>', '<a href="/p/{}">p</a>', "<p>(11) 9{}-1234</p>",
             '<a href="mailto:c{}@acme.com.br">m</a>', '<a href="https://instagram.com/a{}">i</a>',
             '<a href="https://goo.gl/maps/{}">m</a>', "<p>x{}@acme.com.br</p>", "<script>var a='{}@b.co'</script>",
             '<a href="tel:+55113232{}">t</a>', "<p>Seção {} – negócio</p>"]
    return "<html><body>" + "".join(rng.choice(parts).format(rng.randint(1000, 9999)) for _ in range(40)) + \
        "</body></html>"


def test_the_demo_farm_pages_give_the_same_contacts_both_ways() -> None:
    pages = demo_pages()
    assert len(pages) > 300
    found = 0
    for url, page in pages:
        full = contacts(extract_contacts(page, url))
        assert contacts(extract_page_contacts(page, url)) == full, url
        found += bool(full["emails"] or full["phones"] or full["whatsapp"])
    assert found > len(pages) // 3  # the pages do hold contacts


@pytest.mark.parametrize(("url", "page"), TRICKY)
def test_tricky_pages_give_the_same_contacts_both_ways(url: str, page: str) -> None:
    full = contacts(extract_contacts(f"<html><body>{page}</body></html>", url))
    assert contacts(extract_page_contacts(f"<html><body>{page}</body></html>", url)) == full


def test_random_pages_give_the_same_contacts_both_ways() -> None:
    rng = random.Random(3)
    for _ in range(200):
        page = _noise_page(rng)
        assert contacts(extract_page_contacts(page, "https://acme.com.br/contato")) == \
            contacts(extract_contacts(page, "https://acme.com.br/contato"))


def test_the_contact_page_extraction_leaves_out_what_is_not_merged() -> None:
    page = ('<html><head><title>Contato</title><meta name="description" content="d"></head><body>'
            '<a href="/sobre">Sobre</a> CNPJ 19.131.243/0001-97</body></html>')
    pc = extract_page_contacts(page, "https://acme.com.br/contato")
    assert (pc.title, pc.description, pc.links, pc.text, pc.registry_ids) == (None, None, [], "", [])


def test_number_runs_equal_the_unicode_regex_on_any_text() -> None:
    rng = random.Random(8)
    alphabets = ["0123456789 ./-()+ab", "0123456789 ./-()+çãé\t\x1c", "0123456789 ./-()+\xa0\x85é",
                 "0123456789 ./-()+\u0663\uff11\u2013\u3000"]
    for _ in range(400):
        alphabet = rng.choice(alphabets)
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 300)))
        assert _number_runs(text) == [m.span() for m in _NUMBER_RUN_RE.finditer(text)], repr(text)


def test_at_tokens_equal_the_token_regex_on_any_text() -> None:
    rng = random.Random(9)
    words = ["at", "AT", "arroba", "ArRoBa", " ", "(", ")", "[", "]", "{", "}", "\xa0", "\x85", "\x1c", "é", "À",
             "x", "\u2013", "\u3000", "\u212a"]
    for _ in range(400):
        text = "".join(rng.choice(words) for _ in range(rng.randint(0, 120)))
        # every token the regex finds is found (a token sharing a delimiter with the previous one too)
        tokens = _at_tokens(text)
        assert {m.start() for m in _AT_TOKEN_RE.finditer(text)} <= set(tokens), repr(text)
        assert all(_AT_TOKEN_RE.match(text, i) for i in tokens), repr(text)
