"""Registry identifiers every stage agrees on: CNPJ check digits (numeric and the alphanumeric
format issued since July 2026) and SIREN/SIRET (Luhn, with La Poste's exception). The lead key
is built from these ids, so the rules live in one place.

Each of the first 12 CNPJ characters is worth ``ord(c) - 48`` (so ``'0'..'9'`` -> 0..9 and
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


# ---- France: SIREN / SIRET ---------------------------------------------------------------

_LA_POSTE_SIREN = "356000000"
_LA_POSTE_HEAD_OFFICE = "35600000000048"


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i & 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def is_valid_siren(value: str) -> bool:
    return len(value) == 9 and value.isdigit() and luhn_ok(value)


def is_valid_siret(value: str) -> bool:
    """14 digits, Luhn; La Poste establishments (``356000000…``) use digit sum % 5 instead."""
    if len(value) != 14 or not value.isdigit():
        return False
    if value.startswith(_LA_POSTE_SIREN) and value != _LA_POSTE_HEAD_OFFICE:
        return sum(ord(c) - 48 for c in value) % 5 == 0
    return luhn_ok(value)


def normalize_registry_id(value: str, country: str | None = None) -> tuple[str, str]:
    """(registry id, country) of a typed CNPJ (BR, 14 characters with check digits) or SIREN/SIRET (FR,
    Luhn); a ``ValueError`` saying why otherwise. ``country`` narrows it when given."""
    digits = "".join(c for c in value if c.isalnum()).upper()
    if not digits:
        raise ValueError("a registry id is needed (CNPJ, SIREN or SIRET): Hunter keeps one lead per company")
    if country in (None, "", "BR") and len(digits) == 14 and is_valid_cnpj(clean_cnpj(digits)):
        return clean_cnpj(digits), "BR"
    french = (len(digits) == 9 and is_valid_siren(digits)) or (len(digits) == 14 and is_valid_siret(digits))
    if country in (None, "", "FR") and digits.isdigit() and french:
        return digits, "FR"
    if len(digits) == 14:
        what = {"BR": "a valid CNPJ", "FR": "a valid SIRET"}.get(country or "", "a valid CNPJ nor a valid SIRET")
        raise ValueError(f"{value!r} is not {what} (check digits)")
    if len(digits) == 9 and digits.isdigit():
        raise ValueError(f"{value!r} is not a valid SIREN (check digit)")
    raise ValueError(f"{value!r} is not a CNPJ (14 characters), SIREN (9 digits) or SIRET (14 digits)")
