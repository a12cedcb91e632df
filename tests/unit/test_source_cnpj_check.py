import pytest

from shared.registry_ids import build_cnpj, check_digits, clean_cnpj, is_valid_cnpj


@pytest.mark.parametrize(
    "cnpj", ["33000167000101", "00000000000191", "00360305000104", "19131243000197", "33683111000280"]
)
def test_real_cnpjs_have_valid_check_digits(cnpj: str) -> None:
    assert is_valid_cnpj(cnpj)
    assert check_digits(cnpj[:12]) == cnpj[12:]


def test_alphanumeric_cnpj_check_digits_use_ascii_minus_48() -> None:
    assert check_digits("12ABC34501DE") == "35"
    assert is_valid_cnpj("12ABC34501DE35")
    assert not is_valid_cnpj("12ABC34501DE36")


def test_build_cnpj_pads_numeric_parts_and_computes_missing_digits() -> None:
    assert build_cnpj("33683111", "0002", "80") == "33683111000280"
    assert build_cnpj("191312", "1", None) == "001913120001" + check_digits("001913120001")
    assert build_cnpj("12abc345", "01de") == "12ABC34501DE35"


def test_clean_cnpj_strips_punctuation_and_restores_leading_zeros() -> None:
    assert clean_cnpj("33.683.111/0002-80") == "33683111000280"
    assert clean_cnpj("191") == "191"
    assert clean_cnpj("360305000104") == "00360305000104"


@pytest.mark.parametrize("bad", ["33683111000281", "1234", "00000000000000", "11111111111111", "12ABC34501DEXX"])
def test_wrong_or_degenerate_cnpjs_are_invalid(bad: str) -> None:
    assert not is_valid_cnpj(bad)
