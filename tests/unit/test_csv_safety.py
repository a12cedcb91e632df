from __future__ import annotations

import pytest

from shared.csv_safety import is_formula_like, safe_cell, safe_row


@pytest.mark.parametrize("text", ["=HYPERLINK(\"http://evil.example\",\"x\")", "+SUM(1,1)", "-2+3", "@SUM(1)",
                                  "\t=1+1", "\r=1+1", "=1", "-", "+", "+55 11 98765-4321", "-1e3x"])
def test_cells_a_spreadsheet_would_run_get_a_leading_quote(text: str) -> None:
    assert is_formula_like(text)
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("value", ["+5511987654321", "+33612345678", "-2.5", "+3", "-10", "1e3", "-.5",
                                   "ACME LTDA", "", "a=b", "contato@acme.com.br", 42, -2.5, True, None])
def test_plain_numbers_phones_and_text_stay_as_they_are(value: object) -> None:
    assert safe_cell(value) == value


def test_safe_row_neutralises_each_cell() -> None:
    assert safe_row({"a": "=1+1", "b": "+5511987654321", "c": 7}) == {"a": "'=1+1", "b": "+5511987654321", "c": 7}
