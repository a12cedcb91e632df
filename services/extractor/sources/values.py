"""Small parsers for registry values: dates, money, free text, names."""

from __future__ import annotations

import re

_NULL_DATES = {"", "0", "00000000", "0000-00-00"}
_MONEY_JUNK = re.compile(r"[^0-9,.\-]")


def collapse(value: str | None) -> str | None:
    """Trim, collapse runs of spaces; ``None`` for an empty value."""
    if not value:
        return None
    if "  " in value or "\t" in value or "\n" in value:
        return " ".join(value.split()) or None
    if value[0] == " " or value[-1] == " ":
        return value.strip() or None
    return value


def iso_date(value: str | None) -> str | None:
    """``YYYYMMDD``, ``YYYY-MM-DD`` (maybe with a time) or ``DD/MM/YYYY`` -> ``YYYY-MM-DD``."""
    if not value:
        return None
    if len(value) == 8 and value.isdigit():
        return None if value == "00000000" else f"{value[:4]}-{value[4:6]}-{value[6:]}"
    value = value.strip()
    if value in _NULL_DATES:
        return None
    if len(value) == 8 and value.isdigit():
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    if len(value) >= 10 and value[4] == "-" and value[7] == "-":
        return value[:10]
    if len(value) == 10 and value[2] == "/" and value[5] == "/":
        return f"{value[6:]}-{value[3:5]}-{value[:2]}"
    return None


def parse_money(value: str | None) -> float | None:
    """``1061004829,23``, ``1.234.567,89``, ``1234.56``, ``R$ 10.000`` -> float."""
    if not value:
        return None
    text = _MONEY_JUNK.sub("", value)
    if not text:
        return None
    comma, dot = text.rfind(","), text.rfind(".")
    if comma >= 0 and dot >= 0:
        decimal = "," if comma > dot else "."
        thousands = "." if decimal == "," else ","
        text = text.replace(thousands, "").replace(decimal, ".")
    elif comma >= 0:
        text = text.replace(",", ".") if text.count(",") == 1 else text.replace(",", "")
    elif text.count(".") > 1:
        text = text.replace(".", "")
    try:
        return float(text)
    except ValueError:
        return None


def parse_flag(value: str | None) -> bool | None:
    """S/N, Sim/Não, true/false, 1/0, yes/no -> bool; anything else -> ``None``."""
    if value is None:
        return None
    v = value.strip().upper()
    if v in {"S", "SIM", "TRUE", "1", "Y", "YES", "O", "OUI", "T"}:
        return True
    if v in {"N", "NAO", "NÃO", "FALSE", "0", "NO", "NON", "F"}:
        return False
    return None


def alnum_upper(value: str) -> str:
    """Keep letters and digits only, upper-cased: ``62.01Z`` -> ``6201Z``, ``6204-0/00`` -> ``6204000``."""
    return "".join(c for c in value if c.isalnum()).upper()
