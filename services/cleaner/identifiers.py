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


def cnpj_is_valid(cnpj: str) -> bool:
    """Check digits of a 14-character CNPJ, numeric or alphanumeric."""
    return is_valid_cnpj(cnpj)


luhn_is_valid = luhn_ok
siren_is_valid = is_valid_siren
siret_is_valid = is_valid_siret


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
