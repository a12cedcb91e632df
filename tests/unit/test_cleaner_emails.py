"""E-mail normalisation: spaces, capitals, free-mail vs corporate, role addresses, fast path."""

from __future__ import annotations

import pytest

from services.cleaner.emails import (
    _fast_validate,
    _library_validate,
    is_role_local_part,
    normalize_email,
    parse_email_field,
    split_raw_emails,
)
from shared.domain.emails import is_free_mail_domain


@pytest.mark.parametrize(
    ("raw", "address", "domain"),
    [
        (" Contato@Empresa.COM.BR ", "contato@empresa.com.br", "empresa.com.br"),
        ("CONTATO@EMPRESA.COM.BR", "contato@empresa.com.br", "empresa.com.br"),
        ("joao silva @ hotmail.com.br", "joaosilva@hotmail.com.br", "hotmail.com.br"),
        ("mailto:Info@Acme.fr", "info@acme.fr", "acme.fr"),
        ("<vendas@acme.com.br>", "vendas@acme.com.br", "acme.com.br"),
        ("João@Padaria.com.br", "joão@padaria.com.br", "padaria.com.br"),
        ("a@x.c", "a@x.c", "x.c"),
    ],
)
def test_addresses_are_stripped_lowercased_and_checked_without_dns(raw: str, address: str, domain: str) -> None:
    parsed = normalize_email(raw)
    assert parsed is not None
    assert (parsed.address, parsed.domain) == (address, domain)


@pytest.mark.parametrize(
    "raw", ["", "contato", "x@@acme.com", "a..b@acme.com", "a.@acme.com", "a@localhost", "a@acme.test", "a@1.2.3.4"]
)
def test_invalid_addresses_are_rejected(raw: str) -> None:
    assert normalize_email(raw) is None


@pytest.mark.parametrize(
    ("domain", "free"),
    [
        ("gmail.com", True),
        ("hotmail.com", True),
        ("hotmail.com.br", True),
        ("outlook.com", True),
        ("yahoo.com.br", True),
        ("bol.com.br", True),
        ("uol.com.br", True),
        ("terra.com.br", True),
        ("ig.com.br", True),
        ("live.com", True),
        ("icloud.com", True),
        ("orange.fr", True),
        ("acme.com.br", False),
        ("empresaterra.com.br", False),
        ("mail.acme.com.br", False),
        ("gmail-solutions.com", False),
    ],
)
def test_free_mail_domains_are_told_from_corporate_ones(domain: str, free: bool) -> None:
    assert is_free_mail_domain(domain) is free


@pytest.mark.parametrize(
    ("local", "role"),
    [
        ("contato", True),
        ("contact", True),
        ("financeiro", True),
        ("comercial", True),
        ("vendas", True),
        ("vendas2", True),
        ("contato.sp", True),
        ("sac", True),
        ("atendimento", True),
        ("info", True),
        ("admin", True),
        ("joao.silva", False),
        ("mariana", False),
        ("contatoso", False),
    ],
)
def test_role_addresses_are_flagged(local: str, role: bool) -> None:
    assert is_role_local_part(local) is role


def test_parsed_email_carries_free_role_and_accountant_markers() -> None:
    parsed = normalize_email("Financeiro@SilvaContabilidade.com.br")
    assert parsed is not None
    assert (parsed.free_mail, parsed.role, parsed.accountant_domain) == (False, True, "contab")


def test_a_field_with_several_addresses_is_split() -> None:
    assert split_raw_emails("a@x.com; b@y.com,c@z.com") == ["a@x.com", "b@y.com", "c@z.com"]


@pytest.mark.parametrize(
    "address",
    [
        "contato@empresa.com.br",
        "joao.silva+news@sub.empresa.io",
        "_x@acme.com",
        "a-@acme.com",
        "a@x--y.com",
        "a@xn--bcher-kva.com",
        "a@acme.onion",
        "a@b.technology",
        "x" * 65 + "@acme.com",
    ],
)
def test_fast_path_agrees_with_email_validator(address: str) -> None:
    fast = _fast_validate(address)
    if fast is not None:
        assert fast == _library_validate(address)


def _generated_addresses(n: int, seed: int) -> list[str]:
    import random

    rnd = random.Random(seed)
    local_chars = "abcxyz019._%+-'!#"
    label_chars = "abcmnz0189-_"
    tlds = ["com", "br", "io", "technology", "onion", "local", "test", "x", "c0m", "invalid", "example", "com.br"]
    out = []
    for _ in range(n):
        plain = rnd.random() < 0.7  # mostly the shapes the fast path takes, then everything else
        chars, label_chars_here = (local_chars[:9], label_chars[:9]) if plain else (local_chars, label_chars)
        local = "".join(rnd.choice(chars) for _ in range(rnd.choice([1, 3, 8, 20, 64, 65])))
        labels = ["".join(rnd.choice(label_chars_here) for _ in range(rnd.choice([1, 2, 5, 12, 63, 64])))
                  for _ in range(rnd.randint(1, 3))]
        address = f"{local}@{'.'.join(labels)}.{rnd.choice(tlds)}"
        if rnd.random() < 0.05:
            address = address.replace("@", "@@" if rnd.random() < 0.5 else ".@")
        out.append(address)
    return out


def test_fast_path_agrees_with_email_validator_on_many_generated_addresses() -> None:
    fast_checked = 0
    for address in _generated_addresses(6000, seed=26):
        fast = _fast_validate(address)
        if fast is not None:
            fast_checked += 1
            assert fast == _library_validate(address), address
        assert parse_email_field(address) == ((address, normalize_email(address)),)
    assert fast_checked > 1000
