"""Names compared accents and case aside (cities, CSV headers): the one folding rule of the registry readers."""

from __future__ import annotations

import unicodedata


def fold(value: str) -> str:
    """Accent- and case-insensitive key for a name: ``São  Paulo`` -> ``SAO PAULO``."""
    if not value.isascii():
        value = unicodedata.normalize("NFKD", value)
        value = "".join(c for c in value if not unicodedata.combining(c))
    return " ".join(value.upper().replace("-", " ").replace("'", " ").split())
