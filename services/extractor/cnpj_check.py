"""CNPJ check digits, numeric and alphanumeric (Receita's 2026 format).

Each of the first 12 characters is worth ``ord(c) - 48`` (so ``'0'..'9'`` -> 0..9 and
``'A'..'Z'`` -> 17..42); the two check digits stay numeric.
"""

from __future__ import annotations

import re

_DV1_WEIGHTS = (5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)
_DV2_WEIGHTS = (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)
_BASE_RE = re.compile(r"^[0-9A-Z]{12}$")
_CNPJ_RE = re.compile(r"^[0-9A-Z]{12}[0-9]{2}$")
_NOT_ALNUM = re.compile(r"[^0-9A-Za-z]")


def _digit(chars: str, weights: tuple[int, ...]) -> int:
    r = sum((ord(c) - 48) * w for c, w in zip(chars, weights, strict=True)) % 11
    return 0 if r < 2 else 11 - r


def check_digits(base12: str) -> str:
    """The two check digits of a 12-character CNPJ base (basico + ordem)."""
    base12 = base12.upper()
    if not _BASE_RE.match(base12):
        raise ValueError(f"a CNPJ base is 12 digits or capital letters, got {base12!r}")
    dv1 = _digit(base12, _DV1_WEIGHTS)
    dv2 = _digit(base12 + str(dv1), _DV2_WEIGHTS)
    return f"{dv1}{dv2}"


def build_cnpj(basico: str, ordem: str, dv: str | None = None) -> str:
    """The 14-character CNPJ from its parts; the check digits are computed when not given."""
    basico = basico.strip().upper()
    ordem = ordem.strip().upper()
    if basico.isdigit():
        basico = basico.zfill(8)
    if ordem.isdigit():
        ordem = ordem.zfill(4)
    base = basico + ordem
    if dv is None or not dv.strip():
        return base + check_digits(base)
    return base + dv.strip().zfill(2)


def clean_cnpj(value: str) -> str:
    """Strip punctuation (``33.683.111/0002-80``) and restore leading zeros lost by spreadsheets."""
    text = _NOT_ALNUM.sub("", value).upper()
    if text.isdigit() and 11 <= len(text) < 14:
        text = text.zfill(14)
    return text


def is_valid_cnpj(value: str) -> bool:
    """True when ``value`` (already cleaned, 14 characters) carries the right check digits."""
    if not _CNPJ_RE.match(value) or value[:12] == value[0] * 12:
        return False
    return check_digits(value[:12]) == value[12:]
