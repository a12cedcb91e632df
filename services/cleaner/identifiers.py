"""Registry identifiers: Brazilian CNPJ (numeric and alphanumeric) and French SIREN/SIRET.

``normalize_registry_id(country, raw)`` returns the canonical id or raises ``InvalidRegistryId``
with a human-readable reason. Countries without a known checksum are accepted as given
(whitespace removed, upper-cased).
"""

from __future__ import annotations

import re
from operator import mul

_CNPJ_DV1_WEIGHTS = (5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)
_CNPJ_DV2_WEIGHTS = (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)
_CNPJ_SHAPE = re.compile(r"[0-9A-Z]{12}[0-9]{2}")
_SEPARATORS = re.compile(r"[\s./\-]+")
_LA_POSTE_PREFIX = "356000000"
_LA_POSTE_HEAD_OFFICE = "35600000000048"


class InvalidRegistryId(ValueError):
    """The identifier is malformed or its check digits do not match."""


def _cnpj_check_digit(values: list[int], weights: tuple[int, ...]) -> int:
    r = sum(map(mul, values, weights)) % 11
    return 0 if r < 2 else 11 - r


def cnpj_is_valid(cnpj: str) -> bool:
    """Check digits of a 14-character CNPJ, numeric or alphanumeric (value = ASCII code - 48)."""
    if not _CNPJ_SHAPE.fullmatch(cnpj) or cnpj == "0" * 14:
        return False
    values = [c - 48 for c in cnpj.encode("ascii")]  # "0".."9" -> 0..9, "A".."Z" -> 17..42
    dv1 = _cnpj_check_digit(values[:12], _CNPJ_DV1_WEIGHTS)
    if dv1 != values[12]:
        return False
    return _cnpj_check_digit(values[:13], _CNPJ_DV2_WEIGHTS) == values[13]


def luhn_is_valid(digits: str) -> bool:
    if not digits.isdigit():
        return False
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = ord(c) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def siren_is_valid(siren: str) -> bool:
    return len(siren) == 9 and luhn_is_valid(siren)


def siret_is_valid(siret: str) -> bool:
    """SIRET = SIREN + NIC, Luhn; La Poste establishments (356000000…) use digit sum % 5 instead."""
    if len(siret) != 14 or not siret.isdigit():
        return False
    if siret.startswith(_LA_POSTE_PREFIX) and siret != _LA_POSTE_HEAD_OFFICE:
        return sum(ord(c) - 48 for c in siret) % 5 == 0
    return luhn_is_valid(siret)


def normalize_registry_id(country: str, raw: str) -> str:
    """Canonical registry id for ``country`` ("BR" CNPJ, "FR" SIREN/SIRET), or InvalidRegistryId."""
    raw = raw or ""
    value = raw if raw.isascii() and raw.isdigit() else _SEPARATORS.sub("", raw).upper()
    country = (country or "").upper()
    if not value:
        raise InvalidRegistryId("empty registry id")
    if country == "BR":
        if len(value) != 14:
            raise InvalidRegistryId(f"CNPJ {raw!r} must have 14 characters, has {len(value)}")
        if not _CNPJ_SHAPE.fullmatch(value):
            raise InvalidRegistryId(f"CNPJ {raw!r} has invalid characters")
        if not cnpj_is_valid(value):
            raise InvalidRegistryId(f"CNPJ {raw!r} check digits do not match")
        return value
    if country == "FR":
        if not value.isdigit():
            raise InvalidRegistryId(f"French id {raw!r} must contain only digits")
        if len(value) == 9:
            if not siren_is_valid(value):
                raise InvalidRegistryId(f"SIREN {raw!r} fails the Luhn check")
            return value
        if len(value) == 14:
            if not siret_is_valid(value):
                raise InvalidRegistryId(f"SIRET {raw!r} fails its checksum (Luhn, La Poste digit sum)")
            return value
        raise InvalidRegistryId(f"French id {raw!r} must be a SIREN (9 digits) or SIRET (14 digits)")
    return value
