"""Generic CSV source: the demo's Receita-named header, aliases, overrides, encodings."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from services.extractor.sources import SourceError, iter_source
from services.extractor.sources.csv_source import iter_csv
from shared.events import RunFilters
from shared.schemas import CompanyRecord, DroppedLead

DEMO_HEADER = (
    "cnpj,razao_social,nome_fantasia,situacao_cadastral,data_inicio_atividade,cnae_fiscal_principal,"
    "cnae_fiscal_secundaria,natureza_juridica,porte_empresa,capital_social,opcao_simples,opcao_mei,"
    "logradouro,numero,complemento,bairro,cep,uf,municipio,ddd_1,telefone_1,ddd_2,telefone_2,"
    "correio_eletronico,site"
)
DEMO_ROWS = [
    '33683111000280,SERVICO FEDERAL DE PROCESSAMENTO DE DADOS (SERPRO),REGIONAL BRASILIA-DF,ATIVA,19670630,'
    '6204000,"6201501,6202300",2011,05,"1061004829,23",N,N,L2 SGAN,601,MODULO G,ASA NORTE,70836900,DF,'
    'BRASILIA,61,21234567,61,987654321,contato@serpro.gov.br,https://www.serpro.gov.br',
    '19131243000197,OPEN KNOWLEDGE BRASIL,,ATIVA,2013-10-03,9430800,,3999,05,0.00,N,S,AVENIDA PAULISTA,37,'
    'ANDAR 4,BELA VISTA,01311902,SP,São Paulo,11,23851939,,,,',
    '00000000000191,BANCO DO BRASIL SA,DIRECAO GERAL,BAIXADA,19660801,6422100,,2038,05,120000000000.00,N,N,'
    'SAUN,5,,ASA NORTE,70040912,DF,BRASILIA,61,34939002,,,,',
]


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def _leads(items: list[CompanyRecord | DroppedLead]) -> list[CompanyRecord]:
    return [i for i in items if isinstance(i, CompanyRecord)]


@pytest.fixture
def demo_csv(tmp_path: Path) -> Path:
    return _write(tmp_path / "demo.csv", "\n".join([DEMO_HEADER, *DEMO_ROWS]) + "\n")


def test_demo_header_with_receita_column_names_imports_every_field(demo_csv: Path) -> None:
    items = list(iter_source(f"csv:{demo_csv}", RunFilters()))
    assert not [i for i in items if isinstance(i, DroppedLead)]
    serpro, okbr = _leads(items)  # Banco do Brasil is BAIXADA: filtered by the default status
    assert serpro.lead_key == "BR:33683111000280" and serpro.source == "csv"
    assert serpro.legal_name == "SERVICO FEDERAL DE PROCESSAMENTO DE DADOS (SERPRO)"
    assert serpro.trade_name == "REGIONAL BRASILIA-DF" and serpro.status == "ATIVA"
    assert serpro.opened_on == "1967-06-30" and okbr.opened_on == "2013-10-03"
    assert serpro.activity_main == "6204000" and serpro.activities_secondary == ["6201501", "6202300"]
    assert serpro.legal_nature == "2011" and serpro.size == "05"
    assert serpro.capital == 1061004829.23 and okbr.capital == 0.0
    assert (serpro.simples, serpro.mei, okbr.mei) == (False, False, True)
    assert serpro.address.street == "L2 SGAN" and serpro.address.number == "601"
    assert serpro.address.complement == "MODULO G" and serpro.address.district == "ASA NORTE"
    assert serpro.address.postal_code == "70836900" and serpro.address.state == "DF"
    assert serpro.address.city == "BRASILIA" and okbr.address.city == "São Paulo"
    assert serpro.phones == ["61 21234567", "61 987654321"] and okbr.phones == ["11 23851939"]
    assert serpro.emails == ["contato@serpro.gov.br"] and okbr.emails == []
    assert serpro.website == "https://www.serpro.gov.br" and okbr.website is None
    assert serpro.source_line == 2 and okbr.source_line == 3
    assert CompanyRecord.model_validate(serpro.model_dump()) == serpro


def test_filters_apply_to_csv_rows(demo_csv: Path) -> None:
    def ids(**kw: object) -> list[str]:
        return [r.registry_id for r in _leads(list(iter_csv(demo_csv, RunFilters(**kw))))]

    assert ids(status=["*"]) == ["33683111000280", "19131243000197", "00000000000191"]
    assert ids(city=["sao paulo"]) == ["19131243000197"]
    assert ids(uf=["DF"], status=["ATIVA", "BAIXADA"]) == ["33683111000280", "00000000000191"]
    assert ids(cnae=["6201501"]) == []
    assert ids(cnae=["6201501"], include_secondary=True) == ["33683111000280"]
    assert ids(status=["*"], limit=2) == ["33683111000280", "19131243000197"]


def test_semicolons_latin1_and_portuguese_headers_are_detected(tmp_path: Path) -> None:
    text = (
        "CNPJ;Razão Social;Cidade;Estado;Telefone;E-mail;Situação\n"
        "33.683.111/0002-80;SERPRO;Brasília;DF;(61) 2123-4567, (61) 98765-4321;a@serpro.gov.br;Ativa\n"
    )
    path = _write(tmp_path / "pt.csv", text, encoding="latin-1")
    [lead] = _leads(list(iter_csv(path, RunFilters())))
    assert lead.registry_id == "33683111000280" and lead.legal_name == "SERPRO"
    assert lead.address.city == "Brasília" and lead.address.state == "DF"
    assert lead.phones == ["(61) 2123-4567", "(61) 98765-4321"] and lead.emails == ["a@serpro.gov.br"]


def test_utf8_bom_and_gzip_are_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv.gz"
    with gzip.open(path, "wb") as fh:
        fh.write("\ufeffcnpj,razao_social\n19131243000197,OPEN KNOWLEDGE BRASIL\n".encode())
    [lead] = _leads(list(iter_csv(path, RunFilters(status=[]))))
    assert lead.legal_name == "OPEN KNOWLEDGE BRASIL"


def test_column_mapping_in_the_source_spec_overrides_detection(tmp_path: Path) -> None:
    path = _write(tmp_path / "custom.csv", "Inscricao,Nome,Fone\n19131243000197,OKBR,11 23851939\n")
    with pytest.raises(SourceError, match="no registry id column"):
        list(iter_source(f"csv:{path}", RunFilters()))
    items = list(iter_source(f"csv:{path}?map=cnpj=Inscricao,razao_social=Nome,telefone=Fone", RunFilters(status=[])))
    [lead] = _leads(items)
    assert (lead.registry_id, lead.legal_name, lead.phones) == ("19131243000197", "OKBR", ["11 23851939"])
    [lead] = _leads(list(iter_csv(path, RunFilters(status=[]), mapping={"cnpj": "Inscricao"})))
    assert lead.legal_name == "OKBR" and lead.phones == [] and lead.extra == {"Fone": "11 23851939"}


def test_mapping_to_a_missing_column_is_a_clear_error(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.csv", "cnpj,nome\n19131243000197,X\n")
    with pytest.raises(SourceError, match="'Razao' .* not in the header"):
        list(iter_source(f"csv:{path}?map=razao_social=Razao", RunFilters()))


def test_bad_rows_are_dropped_with_a_reason_and_reading_goes_on(tmp_path: Path) -> None:
    text = (
        "cnpj,razao_social,situacao_cadastral\n"
        "19131243000197,OKBR,ATIVA\n"
        "33683111000281,WRONG DIGITS,ATIVA\n"
        ",NO ID,ATIVA\n"
        "33683111000280,TOO,MANY,COLUMNS\n"
        "00000000000191,BB,02\n"
    )
    items = list(iter_csv(_write(tmp_path / "bad.csv", text), RunFilters()))
    dropped = [i for i in items if isinstance(i, DroppedLead)]
    assert [(d.reason.code, d.source_line) for d in dropped] == [
        ("invalid_registry_id", 3), ("malformed_row", 4), ("malformed_row", 5),
    ]
    assert dropped[0].lead_key == "BR:33683111000281" and dropped[0].raw == {
        "cnpj": "33683111000281", "razao_social": "WRONG DIGITS", "situacao_cadastral": "ATIVA"}
    assert [(r.registry_id, r.status) for r in _leads(items)] == [
        ("19131243000197", "ATIVA"), ("00000000000191", "ATIVA")]


def test_a_siret_column_makes_french_leads(tmp_path: Path) -> None:
    path = _write(tmp_path / "fr.csv", "siret,raison_sociale,ville\n73282932000074,IBM FRANCE,PARIS\n")
    [lead] = _leads(list(iter_csv(path, RunFilters(status=[]))))
    assert (lead.lead_key, lead.country, lead.address.country) == ("FR:73282932000074", "FR", "FR")
