"""E-mail and phone scans that only look where a match can be find what whole-text regexes find."""

from __future__ import annotations

import random

from services.enricher.extraction import (
    _DOT_RE,
    _EMAIL_RE,
    _ID_RUN_RE,
    _OBFUSCATED_RE,
    _PHONE_TEXT_RE,
    _REGISTRY_ID_RE,
    _WA_RE,
    _email_matches,
    _emails_from_text,
    _phone_matches,
    _registry_id_matches,
    _wa_matches,
    clean_email,
)

TRICKY = (
    "escreva: vendas@acme.com.br, " + "x" * 90 + "@longo.com.br a@b.cc@d.ee joao.silva+lead@sub.dominio.com.br. "
    "(11) 3232-4545 / +55 19 98765-4321 ou 0800 123 4567; 123.456.789-0 e 11999998888 "
    "sac [at] acme [dot] com [dot] br, comercial (arroba) loja ponto com ponto br"
)


def _noise(rng: random.Random, n: int) -> str:
    alphabet = "abcdefghij0123456789 .-@()+[]_%/"
    return "".join(rng.choice(alphabet) for _ in range(n))


def test_windowed_scans_equal_whole_text_regexes() -> None:
    rng = random.Random(5)
    texts = [TRICKY] + [_noise(rng, 3000) + TRICKY + _noise(rng, 3000) for _ in range(20)]
    for text in texts:
        assert [m.group(0) for m in _email_matches(text)] == [m.group(0) for m in _EMAIL_RE.finditer(text)]
        assert [m.group(0) for m in _phone_matches(text)] == [m.group(0) for m in _PHONE_TEXT_RE.finditer(text)]


def test_obfuscated_emails_are_found_far_into_a_long_text() -> None:
    emails: list[str] = []
    _emails_from_text("palavra " * 5000 + TRICKY, emails)
    assert {"vendas@acme.com.br", "sac@acme.com.br", "comercial@loja.com.br", "joao.silva+lead@sub.dominio.com.br"} \
        <= set(emails)


def test_registry_ids_are_found_inside_the_shared_number_runs() -> None:
    rng = random.Random(7)
    ids = "CNPJ 19.131.243/0001-97, SIREN 732 829 320 e 19131243000197 (+55) 123.456.789 / 12.345.678/0001-95"
    texts = [ids] + [_noise(rng, 2000) + ids + _noise(rng, 2000) for _ in range(20)]
    for text in texts:
        by_id_runs = [m.group(0) for run in _ID_RUN_RE.finditer(text)
                      for m in _REGISTRY_ID_RE.finditer(text, run.start(), run.end())]
        assert [m.group(0) for m in _registry_id_matches(text)] == by_id_runs
    found = {m.group(0) for m in _registry_id_matches(ids)}
    assert found >= {"19.131.243/0001-97", "732 829 320", "12.345.678/0001-95"}


def test_whatsapp_links_are_found_around_their_hosts_as_in_the_whole_page() -> None:
    rng = random.Random(9)
    links = ('<a href="https://wa.me/5511987654321">a</a> '
             '<a href="HTTPS://API.WHATSAPP.COM/send?text=oi&phone=5511912345678">b</a> '
             'http://chat.whatsapp.com/AbCdEf123 https://web.whatsapp.com/send/?phone=+5519988887777 wa.me/semhttps')
    pages = [links] + [_noise(rng, 3000) + links + _noise(rng, 500) + links for _ in range(10)]
    pages.append("İstanbul " + links)  # lower-casing changes the length
    pages.append("ação \u212a\U0001f600 " + links + " olá " + links)  # 2-, 3- and 4-byte characters before hosts
    for html in pages:
        want = [m.group(0) for m in _WA_RE.finditer(html)]
        assert [m.group(0) for m in _wa_matches(html, html.encode("utf-8", "surrogatepass").lower())] == want
        if all(ord(c) < 256 for c in html):
            assert [m.group(0) for m in _wa_matches(html, html.encode("latin-1").lower())] == want
    assert len(_wa_matches(links, links.encode().lower())) == 4


def test_email_candidates_are_tried_where_finditer_would_find_them() -> None:
    rng = random.Random(11)
    alphabet = "abcdeAB09 ...-_%+@@\u212a\u017f\u0130\u00e9;/"  # Kelvin sign, long s, dotted I fold into a-z
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 400)))
        assert [m.span() for m in _email_matches(text)] == [m.span() for m in _EMAIL_RE.finditer(text)], text


def test_obfuscated_emails_found_near_at_tokens_equal_a_whole_text_scan() -> None:
    rng = random.Random(13)
    parts = ["vendas", " [at] ", " (AT) ", " {arroba} ", " at ", " ARROBA ", "acme", " [dot] ", " ponto ", ".com",
             " ", "\t", "x", "at", "[", ")", "loja", "br", "\u00e9"]
    for _ in range(300):
        text = "".join(rng.choice(parts) for _ in range(rng.randint(1, 60)))
        windowed: list[str] = []
        _emails_from_text(text, windowed)
        whole: list[str] = []
        for m in _OBFUSCATED_RE.finditer(text):
            domain = _DOT_RE.sub(".", m.group(2)).replace(" ", "")
            if "." in domain and (e := clean_email(f"{m.group(1)}@{domain}")) and e not in whole:
                whole.append(e)
        assert set(whole) <= set(windowed), text
