"""Free-mail vs corporate e-mail domains: the rule every stage uses (the cleaner flags free-mail
addresses, the scorer counts corporate ones, the enricher never takes a free-mail domain for a
company's site). The providers' labels are ``shared.contracts.vocabulary.FREE_MAIL_LABELS``."""

from __future__ import annotations

from shared.contracts.vocabulary import FREE_MAIL_LABELS

_PUBLIC_SUFFIXES = (
    ".com.br", ".net.br", ".org.br", ".co.uk", ".com.ar", ".com.pt", ".com.mx",
    ".com", ".net", ".org", ".br", ".fr", ".me", ".io", ".de", ".es", ".it", ".pt", ".ru", ".cn", ".ch",
    ".be", ".ca", ".uk", ".us", ".eu", ".info", ".biz",
)
_TWO_LABEL_SUFFIXES = frozenset(s for s in _PUBLIC_SUFFIXES if s.count(".") == 2)
_ONE_LABEL_SUFFIXES = frozenset(s for s in _PUBLIC_SUFFIXES if s.count(".") == 1)


def registrable_label(domain: str) -> str:
    """The label in front of the public suffix (the first of ``_PUBLIC_SUFFIXES`` that matches:
    the two-label ones come first)."""
    labels = domain.rsplit(".", 3)  # a suffix matches only with something in front of it
    if len(labels) >= 3 and (len(labels) > 3 or labels[-3]) and f".{labels[-2]}.{labels[-1]}" in _TWO_LABEL_SUFFIXES:
        return labels[-3]
    if len(labels) >= 2 and (len(labels) > 2 or labels[-2]) and f".{labels[-1]}" in _ONE_LABEL_SUFFIXES:
        return labels[-2]
    return domain.rsplit(".", 2)[-2] if domain.count(".") >= 1 else domain


def is_free_mail_domain(domain: str) -> bool:
    """gmail.com, hotmail.com.br, bol.com.br, yahoo.fr ... (not corporate domains)."""
    return registrable_label(domain.lower().rstrip(".")) in FREE_MAIL_LABELS
