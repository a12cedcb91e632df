"""E-mail and phone scans that only look where a match can be find what whole-text regexes find."""

from __future__ import annotations

import random

from services.enricher.extraction import (
    _EMAIL_RE,
    _PHONE_TEXT_RE,
    _email_matches,
    _emails_from_text,
    _phone_matches,
)

TRICKY = (
    "escreva: vendas@acme.com.br, " + "x" * 90 + "@longo.com.br a@b.cc@d.ee joao.silva+lead@sub.dominio.com.br. "
    "(11) 3232-4545 / +55 19 98765-4321 ou 0800 123 4567; 123.456.789-0 e 11999998888 "
    "sac [at] acme [dot] com [dot] br, comercial (arroba) loja ponto com ponto br"
)


def _noise(rng: random.Random, n: int) -> str:
    alphabet = "abcdefghij0123456789 .-@()+[]_%"
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
