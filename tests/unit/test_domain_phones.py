"""Phone normalisation: Brazilian registry shapes, legacy mobiles, fast path == library."""

from __future__ import annotations

import pytest

from shared.domain.phones import (
    br_phone_verdict,
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


_VERDICT_SHAPES = [*_SHAPES, "{d}{s}", "+55({d}){s}", "({d}) {a}-{b}", "{d} {a} {b}"]
_VERDICT_SUBSCRIBERS = [*_SUBSCRIBERS, "30012345", "3001234567", "80012345", "900123456", "50012345", "12345678",
                        "1234567", "0123456789"]


def test_fast_verdicts_are_the_librarys_for_every_ddd_including_invalid_numbers() -> None:
    """A decided fast verdict (valid with its type, or invalid: None) is what the library answers."""
    decided = invalid = 0
    for ddd in [*_DDDS, "0", "00", "1", "9"]:
        for sub in _VERDICT_SUBSCRIBERS:
            for shape in _VERDICT_SHAPES:
                raw = shape.format(d=ddd, s=sub, a=sub[: len(sub) // 2], b=sub[len(sub) // 2:])
                known, fast = br_phone_verdict(raw)
                if known:
                    decided += 1
                    invalid += fast is None
                    assert fast == parse_phone_library(raw, "BR"), raw
                    assert normalize_phone(raw, "BR") == fast
    assert decided > 6000 and invalid > 1500


@pytest.mark.parametrize("raw", ["30 91234-5678", "(20) 3333-4444", "10 98765-4321", "+55 23 98765 4321"])
def test_numbers_of_unassigned_ddds_are_invalid_without_asking_the_library(raw: str) -> None:
    assert br_phone_verdict(raw) == (True, None)
    assert parse_phone_library(raw, "BR") is None


@pytest.mark.parametrize("raw", ["90 98765-4321", "3003 1234 56", "55 2222 3333", "0800 123 4567"])
def test_shapes_the_library_may_read_otherwise_are_left_to_it(raw: str) -> None:
    assert br_phone_verdict(raw)[0] is False or br_phone_verdict(raw)[1] is not None


def test_fast_verdicts_are_the_librarys_for_many_generated_numbers() -> None:
    """Random digits in every registry shape (separators, trunk and carrier prefixes, +55, 0xx,
    wrong lengths): each decided fast verdict is the library's, and a field parses as its numbers do.
    Tabs are left out: the fast path reads "11\t3333-4444" as a number, the library does not."""
    import random

    rnd = random.Random(20261126)
    prefixes = ["", "", "", "0", "0xx", "0 XX ", "+55 ", "+55", "55 ", "0 15 ", "015", "0 21 ", "+1 ", "90 "]
    seps = [" ", "-", "", ".", "  ", " - ", "/"]
    decided = 0
    for _ in range(20000):
        ddd = rnd.choice([*_DDDS, f"{rnd.randint(0, 99):02d}", str(rnd.randint(0, 9))])
        n = rnd.choice([7, 8, 8, 9, 9, 9, 10])
        first = rnd.choice("0123456789" if rnd.random() < 0.3 else "2345789")
        sub = first + "".join(rnd.choice("0123456789") for _ in range(n - 1))
        cut = rnd.randint(1, n - 1)
        ddd_shape = rnd.choice(["{d}", "({d})", "({d}) ", "{d} "])
        raw = rnd.choice(prefixes) + ddd_shape.format(d=ddd) + sub[:cut] + rnd.choice(seps) + sub[cut:]
        if rnd.random() < 0.05:
            raw = f"  {raw} "
        known, fast = br_phone_verdict(raw)
        if known:
            decided += 1
            assert fast == parse_phone_library(raw, "BR"), raw
        expected = fast if known else parse_phone_library(raw, "BR")
        assert normalize_phone(raw, "BR") == expected, raw
        assert parse_phone_field(raw, "BR") == tuple((r, normalize_phone(r, "BR")) for r in split_raw_phones(raw)), raw
    assert decided > 5000
