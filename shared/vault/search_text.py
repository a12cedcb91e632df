"""The normalised free-text search column of a company: names and registry id, upper-cased and
ASCII-folded, so that the vault's ``q`` filter is one LIKE over one (indexed) column."""

from __future__ import annotations

import re
import unicodedata

SEPARATOR = "\n"  # never in a needle (whitespace is collapsed), so a match never spans two fields
_REGISTRY_LIKE = re.compile(r"^[\d.\-/ ]+$")


def fold(text: str) -> str:
    """Upper case without accents, whitespace collapsed: ``"  São  Paulo"`` -> ``"SAO PAULO"``."""
    if text.isascii():  # nothing to decompose (the common case, and 10x cheaper)
        return " ".join(text.upper().split())
    decomposed = unicodedata.normalize("NFKD", text)
    ascii_only = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(ascii_only.upper().split())


def search_text(legal_name: str | None, trade_name: str | None, registry_id: str | None) -> str:
    return SEPARATOR.join(fold(v or "") for v in (legal_name, trade_name, registry_id))


def search_needle(q: str) -> str:
    """What to look for in ``search_text``; a formatted registry id (``12.345.678/0001-90``) is
    looked for by its digits."""
    if _REGISTRY_LIKE.match(q.strip()) and sum(c.isdigit() for c in q) >= 3:
        return "".join(c for c in q if c.isdigit())
    return fold(q)
