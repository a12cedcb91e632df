"""Receita codes (porte, municipality, natureza jurídica) leave the cleaner as words."""

from __future__ import annotations

import msgspec
import pytest

from services.cleaner.logic import clean_run
from shared.receita_codes import legal_nature_name, municipality, size_name
from shared.schemas import Address, CompanyRecord
from shared.wire import records
from tests.unit.test_cleaner_run import company


def _decoded(**fields: object) -> CompanyRecord:
    result = clean_run([company(1, **fields)])
    assert len(result.leads) == 1, result.dropped
    return result.leads[0].company


def test_a_receita_size_code_city_code_and_legal_nature_are_decoded_by_the_cleaner() -> None:
    c = _decoded(size="01", legal_nature="2062", address=Address(city="7107"))
    assert c.size == "MICRO EMPRESA"
    assert (c.address.city, c.address.city_code, c.address.state) == ("SAO PAULO", "7107", "SP")
    assert (c.legal_nature, c.legal_nature_name) == ("2062", "Sociedade Empresária Limitada")


@pytest.mark.parametrize(("code", "words"), [("00", "NAO INFORMADO"), ("1", "MICRO EMPRESA"),
                                             ("03", "EMPRESA DE PEQUENO PORTE"), ("05", "DEMAIS")])
def test_every_size_code_has_its_words(code: str, words: str) -> None:
    assert _decoded(size=code).size == words


def test_a_city_given_only_by_its_ibge_code_gets_its_name_and_known_values_are_kept() -> None:
    by_ibge = _decoded(address=Address(city_code="3304557", state="RJ"))
    assert (by_ibge.address.city, by_ibge.address.city_code, by_ibge.address.state) == (
        "RIO DE JANEIRO", "3304557", "RJ")
    kept = _decoded(size="DEMAIS", legal_nature="2062", legal_nature_name="LTDA (from the source)",
                    address=Address(city="Campinas", state="SP"))
    assert (kept.size, kept.legal_nature_name, kept.address.city) == ("DEMAIS", "LTDA (from the source)", "Campinas")
    unknown = _decoded(size="07", legal_nature="9999", address=Address(city="0000"))
    assert (unknown.size, unknown.legal_nature_name, unknown.address.city) == ("07", None, "0000")


def test_the_wire_records_mirror_is_decoded_like_the_models() -> None:
    model = company(2, size="03", legal_nature="206-2", address=Address(city="9701"))
    mirror = msgspec.json.decode(model.model_dump_json(), type=records.CompanyRecord)
    from_model = clean_run([model]).leads[0].company
    from_mirror = clean_run([mirror]).leads[0].company
    assert from_mirror.size == from_model.size == "EMPRESA DE PEQUENO PORTE"
    assert from_mirror.address.city == from_model.address.city == "BRASILIA"
    assert from_mirror.legal_nature_name == from_model.legal_nature_name == "Sociedade Empresária Limitada"


def test_a_foreign_company_keeps_its_values() -> None:
    c = company(3, size="01", address=Address(city="7107"))
    c.country, c.lead_key, c.registry_id = "FR", "FR:732829320", "732829320"
    out = clean_run([c]).leads[0].company
    assert (out.size, out.address.city) == ("01", "7107")


def test_the_shipped_tables_answer_for_every_municipality_and_the_business_natures() -> None:
    assert municipality("7107") == ("SAO PAULO", "SP", "7107") == municipality("3550308")
    assert municipality("4123")[:2] == ("BELO HORIZONTE", "MG")
    assert municipality("SAO PAULO") is None and municipality("35503") is None
    assert sum(1 for code in range(10_000) if municipality(f"{code:04d}")) > 5500
    assert legal_nature_name("2135") == "Empresário (Individual)"
    assert legal_nature_name("230-5") == "Empresa Individual de Responsabilidade Limitada (de Natureza Empresária)"
    assert size_name("01") == "MICRO EMPRESA" and size_name("MICRO") is None
