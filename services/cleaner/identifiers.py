"""Registry identifiers: Brazilian CNPJ (numeric and alphanumeric) and French SIREN/SIRET.

``normalize_registry_id(country, raw)`` returns the canonical id or raises ``InvalidRegistryId``
with a human-readable reason. Countries without a known checksum are accepted as given
(whitespace removed, upper-cased).
"""

from __future__ import annotations

import re

from shared.registry_ids import is_valid_cnpj, is_valid_siren, is_valid_siret, luhn_ok

_CNPJ_SHAPE = re.compile(r"[0-9A-Z]{12}[0-9]{2}")
_SEPARATORS = re.compile(r"[\s./\-]+")


class InvalidRegistryId(ValueError):
    """The identifier is malformed or its check digits do not match."""


def _numeric_cnpj_ok(value: str) -> bool:
    """``shared.registry_ids.is_valid_cnpj`` for 14 ASCII digits, unrolled (the registry's usual shape)."""
    d = value.encode()
    if d[:12] == d[:1] * 12:
        return False
    r = (5 * d[0] + 4 * d[1] + 3 * d[2] + 2 * d[3] + 9 * d[4] + 8 * d[5] + 7 * d[6] + 6 * d[7] + 5 * d[8]
         + 4 * d[9] + 3 * d[10] + 2 * d[11] - 48 * 58) % 11  # 48 * sum(weights): the digits' ASCII offset
    dv1 = 0 if r < 2 else 11 - r
    if dv1 != d[12] - 48:
        return False
    r = (6 * d[0] + 5 * d[1] + 4 * d[2] + 3 * d[3] + 2 * d[4] + 9 * d[5] + 8 * d[6] + 7 * d[7] + 6 * d[8]
         + 5 * d[9] + 4 * d[10] + 3 * d[11] + 2 * d[12] - 48 * 64) % 11
    return (0 if r < 2 else 11 - r) == d[13] - 48


def cnpj_is_valid(cnpj: str) -> bool:
    """Check digits of a 14-character CNPJ, numeric or alphanumeric."""
    if len(cnpj) == 14 and cnpj.isascii() and cnpj.isdigit():
        return _numeric_cnpj_ok(cnpj)
    return is_valid_cnpj(cnpj)


luhn_is_valid = luhn_ok
siren_is_valid = is_valid_siren
siret_is_valid = is_valid_siret


def normalize_registry_id(country: str, raw: str) -> str:
    """Canonical registry id for ``country`` ("BR" CNPJ, "FR" SIREN/SIRET), or InvalidRegistryId."""
    raw = raw or ""
    digits_only = raw.isascii() and raw.isdigit()
    value = raw if digits_only else _SEPARATORS.sub("", raw).upper()
    country = (country or "").upper()
    if not value:
        raise InvalidRegistryId("empty registry id")
    if country == "BR":
        if len(value) != 14:
            raise InvalidRegistryId(f"CNPJ {raw!r} must have 14 characters, has {len(value)}")
        if digits_only:
            if not _numeric_cnpj_ok(value):
                raise InvalidRegistryId(f"CNPJ {raw!r} check digits do not match")
            return value
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
