"""Phone normalisation: Brazilian registry shapes, legacy mobiles, fast path == library."""

from __future__ import annotations

import pytest

from services.cleaner.phones import (
    normalize_phone,
    parse_br_phone_fast,
    parse_phone_field,
    parse_phone_library,
    split_raw_phones,
)


@pytest.mark.parametrize(
    ("raw", "e164", "kind", "whatsapp"),
    [
        ("11 987654321", "+5511987654321", "mobile", True),
        ("(11) 98765-4321", "+5511987654321", "mobile", True),
        ("0xx11 98765-4321", "+5511987654321", "mobile", True),
        ("0XX(11) 98765-4321", "+5511987654321", "mobile", True),
        ("+55 11 98765 4321", "+5511987654321", "mobile", True),
        ("+55(11)987654321", "+5511987654321", "mobile", True),
        ("55 11 987654321", "+5511987654321", "mobile", True),
        ("011 987654321", "+5511987654321", "mobile", True),
        ("0 15 11 98765 4321", "+5511987654321", "mobile", True),
        ("(11) 3333-4444", "+551133334444", "fixed", False),
        ("011 33334444", "+551133334444", "fixed", False),
        ("(011) 3333-4444", "+551133334444", "fixed", False),
        ("1133334444", "+551133334444", "fixed", False),
        ("21 2222 3333", "+552122223333", "fixed", False),
        ("55 3222 3333", "+555532223333", "fixed", False),  # DDD 55 (Santa Maria), not the country code
        ("11 77654321", "+551177654321", "mobile", False),  # 8-digit "7" mobile: typed mobile, no WhatsApp
        ("0800 123 4567", "+558001234567", "unknown", False),  # toll-free: kept, kind unknown
    ],
)
def test_brazilian_registry_phones_normalise_to_e164(raw: str, e164: str, kind: str, whatsapp: bool) -> None:
    parsed = normalize_phone(raw, "BR")
    assert parsed is not None
    assert (parsed.e164, parsed.kind, parsed.whatsapp) == (e164, kind, whatsapp)


@pytest.mark.parametrize(
    ("raw", "e164"),
    [("11 87654321", "+5511987654321"), ("(21) 8888-7777", "+5521988887777"), ("+55 11 6543-2109", "+5511965432109")],
)
def test_legacy_8_digit_mobiles_get_the_ninth_digit_but_no_whatsapp(raw: str, e164: str) -> None:
    parsed = normalize_phone(raw, "BR")
    assert parsed is not None
    assert (parsed.e164, parsed.kind, parsed.whatsapp, parsed.legacy) == (e164, "mobile", False, True)


@pytest.mark.parametrize("raw", ["123", "11 1234 5678", "00 0000 0000", "abc", "", "   ", "(00) 98765-4321", "9999"])
def test_impossible_numbers_are_rejected(raw: str) -> None:
    assert normalize_phone(raw, "BR") is None


@pytest.mark.parametrize(
    ("raw", "country", "e164", "kind", "whatsapp"),
    [
        ("01 42 68 53 00", "FR", "+33142685300", "fixed", False),
        ("06 12 34 56 78", "FR", "+33612345678", "mobile", True),
        ("+33 6 12 34 56 78", "FR", "+33612345678", "mobile", True),
        ("+33 1 42 68 53 00", "BR", "+33142685300", "fixed", False),
    ],
)
def test_other_countries_use_the_library_and_mobiles_are_whatsapp_capable(
    raw: str, country: str, e164: str, kind: str, whatsapp: bool
) -> None:
    parsed = normalize_phone(raw, country)
    assert parsed is not None
    assert (parsed.e164, parsed.kind, parsed.whatsapp) == (e164, kind, whatsapp)


@pytest.mark.parametrize(
    ("field", "parts"),
    [
        ("11 3333-4444 / 11 98765-4321", ["11 3333-4444", "11 98765-4321"]),
        ("11 3333-4444; 11 98765-4321", ["11 3333-4444", "11 98765-4321"]),
        ("11 3333-4444 ou 11 98765-4321", ["11 3333-4444", "11 98765-4321"]),
        (" 11 3333-4444 ", ["11 3333-4444"]),
        ("", []),
    ],
)
def test_a_field_with_several_numbers_is_split(field: str, parts: list[str]) -> None:
    assert split_raw_phones(field) == parts
    assert [raw for raw, _ in parse_phone_field(field, "BR")] == parts


_DDDS = range(10, 100)
_SUBSCRIBERS = ["33334444", "23456789", "53456789", "987654321", "912345678", "77654321", "87654321", "67654321"]
_SHAPES = ["{d} {s}", "({d}) {s}", "0{d} {s}", "0xx{d} {s}", "+55 {d} {s}", "55{d}{s}", "0 21 {d} {s}"]


def test_fast_path_agrees_with_phonenumbers_for_every_ddd() -> None:
    checked = 0
    for ddd in _DDDS:
        for sub in _SUBSCRIBERS:
            for shape in _SHAPES:
                raw = shape.format(d=ddd, s=sub)
                fast = parse_br_phone_fast(raw)
                if fast is not None:
                    checked += 1
                    assert fast == parse_phone_library(raw, "BR"), raw
    assert checked > 2000


@pytest.mark.parametrize("raw", ["11 3333-4444 ramal 22", "+1 212 555 0100", "0800 123 4567", "4004-0001"])
def test_shapes_outside_the_fast_path_fall_back_to_the_library(raw: str) -> None:
    assert parse_br_phone_fast(raw) is None
    assert normalize_phone(raw, "BR") == parse_phone_library(raw, "BR")
