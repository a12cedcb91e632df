"""Registry ids: CNPJ (numeric and alphanumeric), SIREN/SIRET with the La Poste exception."""

from __future__ import annotations

import pytest

from services.cleaner.identifiers import (
    InvalidRegistryId,
    cnpj_is_valid,
    normalize_registry_id,
    siren_is_valid,
    siret_is_valid,
)


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("33000167000101", "33000167000101"),
        ("00000000000191", "00000000000191"),
        ("00360305000104", "00360305000104"),
        ("19131243000197", "19131243000197"),
        ("33683111000280", "33683111000280"),
        ("19.131.243/0001-97", "19131243000197"),
        (" 33.683.111/0002-80 ", "33683111000280"),
        ("12ABC34501DE35", "12ABC34501DE35"),
        ("12.abc.345/01de-35", "12ABC34501DE35"),
    ],
)
def test_valid_cnpjs_are_accepted_and_normalised(raw: str, normalised: str) -> None:
    assert normalize_registry_id("BR", raw) == normalised


@pytest.mark.parametrize(
    "raw",
    [
        "19131243000198",  # wrong DV2
        "19131243000187",  # wrong DV1
        "12ABC34501DE36",
        "00000000000000",
        "1913124300019",  # 13 digits
        "191312430001970",
        "19131243",  # cnpj_basico alone
        "12ABC34501DEAB",  # letters in the check digits
        "12ABC34501DE3!",
        "",
    ],
)
def test_invalid_cnpjs_are_rejected(raw: str) -> None:
    with pytest.raises(InvalidRegistryId):
        normalize_registry_id("BR", raw)


def test_cnpj_check_uses_ascii_minus_48_for_letters() -> None:
    assert cnpj_is_valid("12ABC34501DE35")
    assert not cnpj_is_valid("12abc34501de35")  # normalisation upper-cases before the check


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("732829320", "732829320"),
        ("732 829 320", "732829320"),
        ("404833048", "404833048"),
        ("73282932000074", "73282932000074"),
        ("732 829 320 00074", "73282932000074"),
        ("35600000000048", "35600000000048"),  # La Poste head office: plain Luhn
        ("35600000012341", "35600000012341"),  # La Poste establishment: digit sum % 5 == 0, not Luhn
    ],
)
def test_valid_siren_and_siret_are_accepted(raw: str, normalised: str) -> None:
    assert normalize_registry_id("FR", raw) == normalised


@pytest.mark.parametrize(
    "raw", ["732829321", "73282932000075", "35600000012345", "7328293200007", "73282932A", "12345678"]
)
def test_invalid_siren_and_siret_are_rejected(raw: str) -> None:
    with pytest.raises(InvalidRegistryId):
        normalize_registry_id("FR", raw)


def test_la_poste_rule_replaces_luhn_only_for_356000000_sirets() -> None:
    assert siret_is_valid("35600000012341") and not siret_is_valid("35600000012342")
    assert siren_is_valid("356000000")
    assert not siret_is_valid("73282932000075")


def test_unknown_countries_are_accepted_as_given() -> None:
    assert normalize_registry_id("DE", " hrb 1234 ") == "HRB1234"
