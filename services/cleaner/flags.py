"""Lead-level rules: MEI detection, accountant-like contacts, activity and name normalisation.

MEI rule (a dropped lead, reason code "mei"):
- ``CompanyRecord.mei is True`` (Simples file: opção pelo MEI = S) -> MEI;
- otherwise natureza jurídica 2135 (Empresário Individual, also written "213-5") AND a legal
  name ending with 11 CPF digits ("JOAO DA SILVA 12345678901", "... 123.456.789-01") -> MEI,
  unless the Simples file says explicitly ``mei is False``: the Simples file is the authority, a
  CPF-suffixed empresário individual that is not (or no longer) MEI has outgrown the MEI cap.

Accountant-like contact (a flag, reason code "accountant_like"): the registry's contact is
often the accounting office that filed the company, not the company itself. Evidence:
- an e-mail whose local part or domain contains contab / contador / escritorio / comptab
  ("contato@silvacontabilidade.com.br", "escritorio.fiscal@gmail.com");
- a phone also carried, in the same run, by a company whose main activity is accounting
  (CNAE 6920-6/01, NAF 69.20Z).
A company that is itself an accounting office (main activity 6920-6/01 / 69.20Z), or whose own
name carries the marker, is not flagged: those contacts are its own.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from shared.contracts.vocabulary import LEGAL_FORMS_IN_NAME_COMPARISON
from shared.schemas import CompanyRecord, Reason

ACCOUNTANT_MARKERS = ("contab", "contador", "escritorio", "comptab")
ACCOUNTING_ACTIVITIES = frozenset({"6920601", "6920Z"})
MEI_LEGAL_NATURE = "2135"

_NON_ALNUM = re.compile(r"[^0-9A-Za-z]+")
_CPF_SUFFIX = re.compile(r"(?:^|\D)(\d{3}\.?\d{3}\.?\d{3}-?\d{2})\s*$")
_LEGAL_FORMS = frozenset(form.upper() for form in LEGAL_FORMS_IN_NAME_COMPARISON)


def normalize_activity(code: str | None) -> str:
    """"6201-5/01" -> "6201501", "62.01Z" -> "6201Z"."""
    return _NON_ALNUM.sub("", code or "").upper()


def is_accounting_activity(code: str | None) -> bool:
    return normalize_activity(code) in ACCOUNTING_ACTIVITIES


@lru_cache(maxsize=65536)
def fold_text(text: str) -> str:
    """Lower-case, accents removed: "Escritório Contábil" -> "escritorio contabil"."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def accountant_marker(text: str | None) -> str | None:
    """The first accountant marker found in ``text`` (accent- and case-insensitive), or None."""
    if not text:
        return None
    folded = text.lower() if text.isascii() else fold_text(text)
    for marker in ACCOUNTANT_MARKERS:
        if marker in folded:
            return marker
    return None


def is_accountant_exempt(company: CompanyRecord) -> bool:
    """An accounting office, or a company whose own name carries the marker, owns such contacts."""
    if is_accounting_activity(company.activity_main):
        return True
    return accountant_marker(company.legal_name) is not None or accountant_marker(company.trade_name) is not None


@lru_cache(maxsize=1024)
def _is_mei_nature(legal_nature: str | None) -> bool:
    return _NON_ALNUM.sub("", legal_nature or "") == MEI_LEGAL_NATURE


def mei_reason(company: CompanyRecord) -> Reason | None:
    """Reason(code="mei") when the company is a MEI (see module docstring), else None."""
    if company.mei is True:
        return Reason(code="mei", detail="Simples: opção pelo MEI")
    if company.mei is False:
        return None
    if company.legal_name and _is_mei_nature(company.legal_nature):
        m = _CPF_SUFFIX.search(company.legal_name)
        if m is not None:
            return Reason(
                code="mei",
                detail="natureza jurídica 2135 (empresário individual) with a CPF-suffixed name",
            )
    return None


@lru_cache(maxsize=65536)
def normalize_legal_name(name: str | None) -> str:
    """Compare legal names: accents, case, punctuation and trailing legal forms removed.

    "Acme Sistemas Ltda." and "ACME SISTEMAS LTDA - ME" -> "ACME SISTEMAS".
    """
    if not name:
        return ""
    tokens = _NON_ALNUM.sub(" ", fold_text(name)).upper().split()
    while tokens and tokens[-1] in _LEGAL_FORMS:
        tokens.pop()
    return " ".join(tokens)
