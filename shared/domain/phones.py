"""Phone normalisation: raw registry strings -> E.164, kind (mobile/fixed) and WhatsApp capability.

Brazilian registry phones come as DDD + number in many shapes ("11 987654321", "(11) 3333-4444",
"011 33334444", "0xx11 98765-4321", "+55 11 98765 4321"). Well-formed Brazilian numbers take a
regex fast path built from the ``phonenumbers`` metadata itself (same patterns the library uses
to type a number), so the result is identical to the library's; everything else goes through
``phonenumbers.parse``. Results are cached per distinct (raw, country).

Decisions:
- WhatsApp-capable = mobile. In Brazil only 9-digit mobiles starting with 9 after the DDD count
  (the 8-digit ``7xxxxxxx`` radio/trunked "mobiles" the library still types as mobile do not).
- Legacy 8-digit mobiles ("11 87654321", subscriber starting 6, 8 or 9) predate ANATEL's ninth
  digit (completed 2016). The library calls them invalid; we keep them, rewritten to the current
  number (9 prepended, which is exactly what the migration did), typed ``mobile`` but NOT
  WhatsApp-capable: the registry row is old and the number may no longer belong to the company.
- Numbers the library calls invalid (and that are not legacy mobiles) are dropped by the caller.
- Toll-free, shared-cost and similar valid numbers are kept with kind ``unknown``.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Literal, NamedTuple

import phonenumbers
from phonenumbers import NumberParseException, PhoneMetadata, PhoneNumberType

PhoneKind = Literal["mobile", "fixed", "unknown"]


class ParsedPhone(NamedTuple):
    e164: str
    kind: PhoneKind
    whatsapp: bool
    legacy: bool = False  # 8-digit Brazilian mobile rewritten with the ninth digit


_BR_META = PhoneMetadata.metadata_for_region("BR")
_BR_FIXED = re.compile(_BR_META.fixed_line.national_number_pattern)
_BR_MOBILE = re.compile(_BR_META.mobile.national_number_pattern)
# Carrier-selection codes accepted after the trunk "0" ("0 15 11 98765 4321"), from the metadata.
_BR_CARRIER = re.compile(r"1[245]|2[1-35]|31|4[13]|[56]5|99")
_PUNCTUATION = str.maketrans("", "", " \t().-")
_ZERO_XX = re.compile(r"0\s*x\s*x", re.IGNORECASE)
_MULTI_SEPARATORS = re.compile(r"\s*[/;,|]\s*|\s+(?:ou|or|e)\s+", re.IGNORECASE)

_KINDS: dict[int, PhoneKind] = {
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.FIXED_LINE: "fixed",
}


_SEPARATOR_CHARS = frozenset("/;,|oOeE")  # a field without any of these holds one number at most


def split_raw_phones(raw: str) -> list[str]:
    """One registry field may hold several numbers: "11 3333-4444 / 11 98765-4321"."""
    if _SEPARATOR_CHARS.isdisjoint(raw) or _MULTI_SEPARATORS.search(raw) is None:
        return [raw.strip()] if raw.strip() else []
    return [part.strip() for part in _MULTI_SEPARATORS.split(raw) if part.strip()]


def _classify_br_national(national: str) -> ParsedPhone | None:
    """Type a Brazilian national significant number (DDD + subscriber) with the library's patterns."""
    if len(national) == 11:  # the fixed-line pattern has 10 digits: only a mobile can match
        if _BR_MOBILE.fullmatch(national):
            return ParsedPhone("+55" + national, "mobile", True)
        return None
    if _BR_FIXED.fullmatch(national):
        return ParsedPhone("+55" + national, "fixed", False)
    if _BR_MOBILE.fullmatch(national):
        # 11 digits = DDD + 9 + 8 digits; the 10-digit "7xxxxxxx" mobiles are not WhatsApp-capable.
        return ParsedPhone("+55" + national, "mobile", len(national) == 11)
    if len(national) == 10 and national[2] in "689":
        upgraded = national[:2] + "9" + national[2:]
        if _BR_MOBILE.fullmatch(upgraded):
            return ParsedPhone("+55" + upgraded, "mobile", False, legacy=True)
    return None


_UNDECIDED = (False, None)
# National numbers whose validity the library decides by other types (shared cost 30[03]...,
# premium [59]00..., toll-free 800...), or whose digits it may re-read (trunk / carrier prefix
# 0 or 90, country code 55): a fast "invalid" is only given outside these.
_OTHER_TYPE_PREFIXES = ("300", "303", "500", "800")


def parse_br_phone_fast(raw: str) -> ParsedPhone | None:
    """Fast path for well-formed Brazilian numbers; None means "ask the library"."""
    return br_phone_verdict(raw)[1]


def br_phone_verdict(raw: str) -> tuple[bool, ParsedPhone | None]:
    """(decided, parse) for a Brazilian number: decided=True when the result is the library's
    without asking it, including None for a number it calls invalid (a well-formed 10/11-digit
    number that is no fixed line, mobile or legacy mobile: an unassigned DDD, say)."""
    text = raw.strip()
    if "x" in text or "X" in text:
        text = _ZERO_XX.sub("0", text)
    plus = text.startswith("+")
    if plus:
        text = text[1:]
    # the usual shapes ("11 98765-4321") hold only spaces and dashes: two replaces beat translate
    digits = text.replace(" ", "").replace("-", "")
    if not (digits.isascii() and digits.isdigit()):
        digits = digits.translate(_PUNCTUATION)
        if not (digits.isascii() and digits.isdigit()):
            return _UNDECIDED
    n = len(digits)
    plain = False  # the digits are the national number as the library reads them
    if plus:
        if not digits.startswith("55") or n not in (12, 13):
            return _UNDECIDED
        national = digits[2:]
        plain = True
    elif digits.startswith("0"):
        if n in (11, 12):
            national = digits[1:]
        elif n in (13, 14) and _BR_CARRIER.fullmatch(digits[1:3]):
            national = digits[3:]
        else:
            return _UNDECIDED
    elif n in (10, 11):
        national = digits
        plain = digits[0] != "9" and not digits.startswith("55")
    elif n in (12, 13) and digits.startswith("55"):
        national = digits[2:]
    else:
        return _UNDECIDED
    parsed = _classify_br_national(national)
    if parsed is not None:
        return True, parsed
    if plain and national[0] not in "09" and not national.startswith(_OTHER_TYPE_PREFIXES):
        return True, None
    return _UNDECIDED


def parse_phone_library(raw: str, country: str = "BR") -> ParsedPhone | None:
    """The general path: ``phonenumbers`` parse, validity, type."""
    try:
        number = phonenumbers.parse(raw, country or "BR")
    except NumberParseException:
        return None
    national = phonenumbers.national_significant_number(number)
    if number.country_code == 55:
        if not phonenumbers.is_valid_number(number):
            parsed = _classify_br_national(national)
            return parsed if parsed is not None and parsed.legacy else None
        kind = _KINDS.get(phonenumbers.number_type(number), "unknown")
        whatsapp = kind == "mobile" and len(national) == 11 and national[2] == "9"
    else:
        if not phonenumbers.is_valid_number(number):
            return None
        kind = _KINDS.get(phonenumbers.number_type(number), "unknown")
        whatsapp = kind == "mobile"
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return ParsedPhone(e164, kind, whatsapp)


@lru_cache(maxsize=262144)
def normalize_phone(raw: str, country: str = "BR") -> ParsedPhone | None:
    """E.164, kind and WhatsApp flag of one raw number, or None when it is not a valid number."""
    return _normalize_phone(raw, country)


def _normalize_phone(raw: str, country: str) -> ParsedPhone | None:
    if not raw or not raw.strip():
        return None
    country = (country or "BR").upper()
    if country == "BR":
        decided, fast = br_phone_verdict(raw)
        if decided:
            return fast
    return parse_phone_library(raw, country)


@lru_cache(maxsize=65536)  # ~30 MB full: a national run's phones are mostly distinct, the shared ones stay
def parse_phone_field(field: str, country: str = "BR") -> tuple[tuple[str, ParsedPhone | None], ...]:
    """Every number of one raw registry field, each with its parse (None = invalid)."""
    if _SEPARATOR_CHARS.isdisjoint(field):  # one number at most (split_raw_phones' own shortcut)
        raw = field.strip()
        return ((raw, _normalize_phone(raw, country)),) if raw else ()
    return tuple((raw, _normalize_phone(raw, country)) for raw in split_raw_phones(field))
