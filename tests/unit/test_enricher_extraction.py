"""Contacts extraction from HTML: table-driven over the forms sites really use."""

from __future__ import annotations

import pytest

from services.enricher.extraction import contact_links, extract_contacts

BASE = "https://www.acme.com.br/"


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        ('<a href="mailto:contato@acme.com.br?subject=Oi">fale</a>', "contato@acme.com.br"),
        ("<p>Escreva para vendas@acme.com.br hoje</p>", "vendas@acme.com.br"),
        ("<p>vendas [at] acme [dot] com [dot] br</p>", "vendas@acme.com.br"),
        ("<p>vendas(at)acme.com.br</p>", "vendas@acme.com.br"),
        ("<p>sac arroba acme ponto com ponto br</p>", "sac@acme.com.br"),
        ("<p>comercial at acme dot com</p>", "comercial@acme.com"),
        ("<p>financeiro{at}acme.com.br</p>", "financeiro@acme.com.br"),
    ],
)
def test_emails_are_found_in_plain_and_obfuscated_forms(snippet: str, expected: str) -> None:
    pc = extract_contacts(f"<html><body>{snippet}</body></html>", BASE)
    assert expected in pc.emails


def test_image_names_that_look_like_emails_are_dropped() -> None:
    html = '<img src="/img/logo@2x.png"><p>icon@3x.webp e foto@2x.jpg</p><p>ok@acme.com.br</p>'
    pc = extract_contacts(html, BASE)
    assert pc.emails == ["ok@acme.com.br"]


@pytest.mark.parametrize(
    "href",
    [
        "https://wa.me/5511987654321",
        "https://wa.me/+55%2011%2098765-4321",
        "https://api.whatsapp.com/send?phone=5511987654321&text=Oi",
        "https://web.whatsapp.com/send?phone=5511987654321",
        "https://api.whatsapp.com/send/?phone=5511987654321",
    ],
)
def test_whatsapp_links_give_e164_numbers(href: str) -> None:
    pc = extract_contacts(f'<a href="{href}">WhatsApp</a>', BASE)
    assert pc.whatsapp == ["+5511987654321"]


@pytest.mark.parametrize(
    ("href", "kind"),
    [
        ("https://www.instagram.com/acmebr/", "instagram"),
        ("https://www.linkedin.com/company/acme-brasil/", "linkedin"),
        ("https://facebook.com/acmebrasil", "facebook"),
        ("https://www.youtube.com/@acmebr", "youtube"),
    ],
)
def test_social_profiles_are_found(href: str, kind: str) -> None:
    pc = extract_contacts(f'<a href="{href}">x</a>', BASE)
    assert pc.socials[kind] == href.rstrip("/")


def test_share_buttons_are_not_social_profiles() -> None:
    html = '<a href="https://www.facebook.com/sharer/sharer.php?u=x">s</a><a href="https://www.linkedin.com/feed/">f</a>'
    assert extract_contacts(html, BASE).socials == {}


@pytest.mark.parametrize(
    "url",
    [
        "https://www.google.com/maps/place/Acme/@-23.5,-46.6,17z",
        "https://goo.gl/maps/AbCdEf123",
        "https://maps.app.goo.gl/XyZ987",
    ],
)
def test_google_maps_urls_are_found(url: str) -> None:
    assert extract_contacts(f'<a href="{url}">mapa</a>', BASE).google_maps_url == url


def test_maps_iframe_is_found() -> None:
    html = '<iframe src="https://www.google.com/maps/embed?pb=!1m18"></iframe>'
    assert extract_contacts(html, BASE).google_maps_url.startswith("https://www.google.com/maps/embed")


@pytest.mark.parametrize(
    ("text", "e164"),
    [
        ("(11) 3333-4444", "+551133334444"),
        ("+55 11 98765-4321", "+5511987654321"),
        ("11 987654321", "+5511987654321"),
        ('<a href="tel:+551133334444">ligue</a>', "+551133334444"),
    ],
)
def test_brazilian_phones_are_normalised_to_e164(text: str, e164: str) -> None:
    assert e164 in extract_contacts(f"<p>{text}</p>", BASE).phones


def test_jsonld_organization_fields_are_read() -> None:
    html = """<script type="application/ld+json">{"@context":"https://schema.org","@graph":[
      {"@type":"WebSite","name":"site"},
      {"@type":["Organization","LocalBusiness"],"name":"Acme Ltda","telephone":"+55 11 3333-4444",
       "email":"mailto:ola@acme.com.br","taxID":"19.131.243/0001-97",
       "address":{"@type":"PostalAddress","streetAddress":"Rua A, 1","addressLocality":"São Paulo"},
       "sameAs":["https://www.instagram.com/acme","https://www.linkedin.com/company/acme"]}]}</script>"""
    pc = extract_contacts(html, BASE)
    assert pc.jsonld["name"] == "Acme Ltda"
    assert pc.jsonld["taxID"] == "19.131.243/0001-97"
    assert "São Paulo" in pc.jsonld["address"]
    assert "ola@acme.com.br" in pc.emails
    assert "+551133334444" in pc.phones
    assert pc.socials["instagram"] == "https://www.instagram.com/acme"
    assert "19131243000197" in pc.registry_ids


def test_title_description_and_contact_links() -> None:
    html = """<html><head><title> Acme  Brasil </title><meta name="description" content="Peças"></head>
    <body><a href="/contato">Fale conosco</a><a href="/produtos">Produtos</a>
    <a href="https://other.com/contato">x</a><a href="/quem-somos">Sobre</a></body></html>"""
    pc = extract_contacts(html, BASE)
    assert pc.title == "Acme Brasil"
    assert pc.description == "Peças"
    assert contact_links(pc, BASE) == ["https://www.acme.com.br/contato", "https://www.acme.com.br/quem-somos"]
