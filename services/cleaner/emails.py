"""E-mail normalisation: syntax check without DNS, free-mail vs corporate domain, role addresses.

Addresses are stripped of every whitespace character and lower-cased (local part included:
registry data is upper-case and providers treat local parts case-insensitively in practice).
Plain ASCII addresses take a regex fast path whose acceptance is a strict subset of what
``email-validator`` accepts; anything else goes through ``email_validator.validate_email`` with
``check_deliverability=False``. Results are cached per raw address.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

from services.cleaner.flags import accountant_marker
from shared.contracts.vocabulary import FREE_MAIL_LABELS
from shared.domain.emails import registrable_label

# Local parts that name a function, not a person.
ROLE_LOCAL_PARTS = frozenset(
    {
        "contato", "contatos", "contact", "contacts", "contacto", "financeiro", "finance", "financas",
        "comercial", "vendas", "venda", "sales", "sac", "atendimento", "info", "informacoes", "admin",
        "adm", "administrativo", "administracao", "administration", "faleconosco", "fale", "rh",
        "suporte", "support", "office", "escritorio", "hello", "ola", "oi", "ouvidoria", "compras",
        "fiscal", "juridico", "marketing", "noreply", "no-reply", "naoresponda", "secretaria",
        "recepcao", "orcamento", "orcamentos", "pedidos", "diretoria", "geral", "empresa", "mail",
        "email", "webmaster", "postmaster", "nfe", "nf", "notafiscal", "cobranca", "contabil",
        "contabilidade", "loja", "shop", "store", "site", "comunicacao", "imprensa", "press",
        "accueil", "bonjour", "commercial", "direction", "service", "servicecommercial",
        "compta", "comptabilite", "factures", "facturation", "billing", "accounts", "team", "equipe",
    }
)

_MULTI_SEPARATORS = re.compile(r"[;,]+")
_ROLE_TOKEN = re.compile(r"[._+\-]")
_TRAILING_DIGITS = re.compile(r"\d+$")
# Conservative ASCII subset: dot-atom local part without leading/trailing/double dots, LDH labels,
# alphabetic TLD of 2+ letters. Everything it accepts email-validator accepts identically.
_FAST_EMAIL = re.compile(
    r"(?P<local>[a-z0-9_%+\-]+(?:\.[a-z0-9_%+\-]+)*)"
    r"@(?P<domain>(?:[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?\.)+(?P<tld>[a-z]{2,24}))"
)
_SPECIAL_USE = frozenset(SPECIAL_USE_DOMAIN_NAMES)


class ParsedEmail(NamedTuple):
    address: str
    domain: str
    free_mail: bool
    role: bool
    accountant_local: str | None = None  # accountant marker found in the local part
    accountant_domain: str | None = None  # accountant marker found in the domain


def split_raw_emails(raw: str) -> list[str]:
    """One registry field may carry several addresses separated by ';' or ','."""
    if ";" not in raw and "," not in raw:
        return [raw.strip()] if raw.strip() else []
    return [part.strip() for part in _MULTI_SEPARATORS.split(raw) if part.strip()]


def is_role_local_part(local: str) -> bool:
    """contato@, vendas2@, contato.sp@, financeiro-rj@ ... name a function, not a person."""
    local = local.lower()
    if local in ROLE_LOCAL_PARTS:
        return True
    first = _ROLE_TOKEN.split(local, 1)[0]
    return _TRAILING_DIGITS.sub("", first) in ROLE_LOCAL_PARTS


def _fast_validate(address: str) -> tuple[str, str, str] | None:
    """(address, domain, local part) when the conservative regex accepts the address, else None."""
    if len(address) > 254:
        return None
    m = _FAST_EMAIL.fullmatch(address)
    if m is None:
        return None
    local, domain, tld = m.groups()
    if len(local) > 64 or tld in _SPECIAL_USE or "--" in domain:  # "--": IDNA-reserved label shapes
        return None
    return address, domain, local


def _library_validate(address: str) -> tuple[str, str, str] | None:
    try:
        result = validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        return None
    normalized = result.normalized.lower()
    local, domain = normalized.rsplit("@", 1)
    return normalized, domain, local


def clean_email_text(raw: str) -> str:
    text = "".join(raw.split()).lower()
    if text.startswith("mailto:"):
        text = text[7:]
    return text.strip(".<>\"'")


@lru_cache(maxsize=262144)
def normalize_email(raw: str) -> ParsedEmail | None:
    """Normalised address with its domain and flags, or None when the syntax is invalid."""
    return _normalize_email(raw)


@lru_cache(maxsize=65536)
def _domain_facts(domain: str) -> tuple[bool, str | None]:
    """(free mail, accountant marker) of a domain: domains repeat across a run (gmail.com ...)."""
    return registrable_label(domain) in FREE_MAIL_LABELS, accountant_marker(domain)


@lru_cache(maxsize=65536)
def _local_facts(local: str) -> tuple[bool, str | None]:
    """(role address, accountant marker) of a local part: contato@, vendas@ ... repeat."""
    return is_role_local_part(local), accountant_marker(local)


def _normalize_email(raw: str) -> ParsedEmail | None:
    address = clean_email_text(raw)
    if not address:
        return None
    checked = _fast_validate(address) or _library_validate(address)
    if checked is None:
        return None
    address, domain, local = checked
    free, domain_marker = _domain_facts(domain)
    role, local_marker = _local_facts(local)
    return ParsedEmail(address, domain, free, role, local_marker, domain_marker)


@lru_cache(maxsize=65536)  # ~30 MB full: a national run's addresses are mostly distinct, the shared ones stay
def parse_email_field(field: str) -> tuple[tuple[str, ParsedEmail | None], ...]:
    """Every address of one raw registry field, each with its parse (None = invalid)."""
    if ";" not in field and "," not in field:  # one address (split_raw_emails' own shortcut)
        raw = field.strip()
        return ((raw, _normalize_email(raw)),) if raw else ()
    return tuple((raw, _normalize_email(raw)) for raw in split_raw_emails(field))
