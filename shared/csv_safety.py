"""CSV cells that spreadsheets will not run as formulas (OWASP "CSV injection").

Excel, LibreOffice and Google Sheets treat a cell beginning with ``=``, ``+``, ``-`` or ``@`` (and,
after trimming, a tab or carriage return) as a formula: ``=HYPERLINK(...)`` in a company name
scraped from the web would become a link, ``-2+3`` a sum. Such a cell is written with a leading
``'``, which the spreadsheet shows as text. Plain numbers (``-2.5``, ``1e3``) and E.164 phones
(``+5511987654321``) stay as they are (comma decimals, ``-0,5``, too), so they still sort and dial.

Use :func:`safe_cell` on every value written to a CSV meant for people, and :func:`safe_row` on a
``csv.DictWriter`` row.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][+-]?\d+)?")  # "-0,5": Brazil's decimals too
_E164 = re.compile(r"\+[1-9]\d{1,14}")


def is_formula_like(text: str) -> bool:
    """Whether a spreadsheet could read ``text`` as a formula: it begins with one of
    ``FORMULA_STARTS`` and is neither a plain number nor an E.164 phone."""
    if not text.startswith(FORMULA_STARTS):
        return False
    return not (_PLAIN_NUMBER.fullmatch(text) or _E164.fullmatch(text))


def safe_cell(value: Any) -> Any:
    """``value`` with a leading ``'`` when it is text a spreadsheet would run; anything else unchanged."""
    if isinstance(value, str) and is_formula_like(value):
        return "'" + value
    return value


def safe_row(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: safe_cell(v) for k, v in row.items()}
