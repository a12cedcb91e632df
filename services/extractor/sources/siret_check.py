"""SIREN / SIRET validation: Luhn, with La Poste's exception (REGISTRIES.md)."""

from __future__ import annotations

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
