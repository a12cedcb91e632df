"""Receita CNPJ open data, read from the real sample files as published."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest

from services.extractor.sources import SourceError, iter_source
from services.extractor.sources.cnpj_files import iter_cnpj
from services.extractor.sources.receita_join import MAX_RECORD_LINES
from shared.events import RunFilters
from shared.registry_ids import check_digits
from shared.schemas import CompanyRecord, DroppedLead
from tests.shared_data import SHARED_DATA

DATA = SHARED_DATA
CNPJ_DIR = DATA / "cnpj"
pytestmark = pytest.mark.skipif(not CNPJ_DIR.is_dir(), reason=f"shared sample data not found at {CNPJ_DIR}")


def _q(fields: list[str]) -> bytes:
    return (";".join(f'"{f}"' for f in fields) + "\n").encode("latin-1")


def _estab(basico: str, ordem: str, **over: str) -> list[str]:
    row = [basico, ordem, check_digits(basico + ordem), "1", "FANTASIA", "02", "20200101", "00", "", "",
           "20150310", "6201501", "6202300,4711302", "RUA", "DAS  FLORES", "10", "", "CENTRO", "01310100",
           "SP", "7107", "11", "987654321", "11", "33334444", "", "", "contato@x.com.br", "", ""]
    names = {"uf": 19, "municipio": 20, "situacao": 5, "cnae": 11, "cnae_sec": 12, "fantasia": 4}
    for key, value in over.items():
        row[names[key]] = value
    return row


def _write_zip(path: Path, member: str, rows: list[bytes]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(member, b"".join(rows))


def _leads(items: list[CompanyRecord | DroppedLead]) -> list[CompanyRecord]:
    return [i for i in items if isinstance(i, CompanyRecord)]


@pytest.fixture
def receita_copy(tmp_path: Path) -> Path:
    """The real sample zips copied to a temporary directory that a test may add files to."""
    target = tmp_path / "cnpj"
    shutil.copytree(CNPJ_DIR, target)
    return target


def test_real_sample_files_import_as_one_joined_and_decoded_lead() -> None:
    items = list(iter_source(f"cnpj:{CNPJ_DIR}", RunFilters()))
    assert not [i for i in items if isinstance(i, DroppedLead)]
    [lead] = _leads(items)
    assert lead.lead_key == "BR:33683111000280" and lead.registry_id == "33683111000280"
    assert lead.legal_name == "SERVICO FEDERAL DE PROCESSAMENTO DE DADOS (SERPRO)"
    assert lead.trade_name == "REGIONAL BRASILIA-DF"
    assert (lead.status, lead.status_date, lead.opened_on) == ("ATIVA", "2004-05-22", "1967-06-30")
    assert lead.activity_main == "6204000"
    assert lead.activity_main_name == "Consultoria em tecnologia da informação"
    assert lead.activities_secondary == ["6201501", "6202300", "6203100", "6209100", "6311900"]
    assert (lead.legal_nature, lead.legal_nature_name) == ("2011", "Empresa Pública")
    assert lead.capital == 1061004829.23 and lead.size == "DEMAIS"
    assert lead.head_office is False
    assert (lead.simples, lead.mei) == (True, False)
    assert lead.address.model_dump() == {
        "street_type": "AVENIDA", "street": "L2 SGAN", "number": "601", "complement": "MODULO G",
        "district": "ASA NORTE", "postal_code": "70836900", "city": "BRASILIA", "city_code": "9701",
        "state": "DF", "country": "BR",
    }
    assert [p.name for p in lead.partners][:2] == ["ANDRE DE CESERO", "ANTONIO DE PADUA FERREIRA PASSOS"]
    assert len(lead.partners) == 6
    gileno = next(p for p in lead.partners if p.name == "GILENO GURJAO BARRETO")
    assert (gileno.kind, gileno.document, gileno.qualification) == ("PF", "***099595**", "Presidente")
    assert (gileno.joined_on, gileno.age_band) == ("2020-02-03", "Entre 41 a 50 anos")
    assert CompanyRecord.model_validate(lead.model_dump()) == lead


def test_decoded_fields_match_the_reference_json_of_19131243000197(receita_copy: Path) -> None:
    """The sample has no Estabelecimentos row for OKBR: one is written from the reference JSON (in
    the official format), and joined with the REAL Empresas0/Socios0 rows."""
    ref = json.loads((CNPJ_DIR / "expected_response_19131243000197.json").read_text())
    row = [
        ref["cnpj"][:8], ref["cnpj"][8:12], ref["cnpj"][12:], str(ref["identificador_matriz_filial"]),
        ref["nome_fantasia"], f"{ref['situacao_cadastral']:02d}", ref["data_situacao_cadastral"].replace("-", ""),
        f"{ref['motivo_situacao_cadastral']:02d}", "", "", ref["data_inicio_atividade"].replace("-", ""),
        str(ref["cnae_fiscal"]), ",".join(str(c["codigo"]) for c in ref["cnaes_secundarios"]),
        ref["descricao_tipo_de_logradouro"], ref["logradouro"], ref["numero"], ref["complemento"], ref["bairro"],
        ref["cep"], ref["uf"], str(ref["codigo_municipio"]), ref["ddd_telefone_1"][:2], ref["ddd_telefone_1"][2:],
        "", "", "", "", "", "", "",
    ]
    _write_zip(receita_copy / "Estabelecimentos1.zip", "Estabelecimentos1", [_q(row)])
    (receita_copy / "Municipios1").write_bytes(_q([str(ref["codigo_municipio"]), ref["municipio"]]))
    (receita_copy / "Cnaes1").write_bytes(_q([str(ref["cnae_fiscal"]), ref["cnae_fiscal_descricao"]]))

    leads = _leads(list(iter_source(f"cnpj:{receita_copy}", RunFilters(uf=["SP"]))))
    [lead] = leads
    assert lead.registry_id == ref["cnpj"]
    assert lead.legal_name == ref["razao_social"]  # from the real Empresas0
    assert lead.capital == ref["capital_social"] and lead.size == ref["porte"]
    assert lead.legal_nature == str(ref["codigo_natureza_juridica"])
    assert lead.trade_name is None and ref["nome_fantasia"] == ""
    assert lead.status == ref["descricao_situacao_cadastral"]
    assert lead.status_date == ref["data_situacao_cadastral"]
    assert lead.opened_on == ref["data_inicio_atividade"]
    assert lead.activity_main == str(ref["cnae_fiscal"])
    assert lead.activity_main_name == ref["cnae_fiscal_descricao"]  # latin-1 round trip
    assert lead.activities_secondary == [str(c["codigo"]) for c in ref["cnaes_secundarios"]]
    assert lead.head_office is (ref["descricao_identificador_matriz_filial"] == "MATRIZ")
    assert lead.address.state == ref["uf"] and lead.address.city == ref["municipio"]
    assert lead.address.postal_code == ref["cep"] and lead.address.district == ref["bairro"]
    assert lead.address.street == ref["logradouro"] and lead.address.number == ref["numero"]
    assert lead.address.complement == ref["complemento"]
    assert lead.phones == ["11 23851939"]
    assert lead.simples is None and lead.mei is None and ref["opcao_pelo_mei"] is None
    # the real Socios0 row for this company (the reference JSON is a later snapshot of the board)
    assert [p.name for p in lead.partners] == ["FERNANDA CAMPAGNUCCI PEREIRA"]
    assert lead.partners[0].qualification == ref["qsa"][0]["qualificacao_socio"] == "Presidente"


def test_filters_select_by_uf_city_name_cnae_and_status(tmp_path: Path) -> None:
    rows = [
        _estab("11111111", "0001"),
        _estab("22222222", "0001", uf="RJ", municipio="6001"),
        _estab("33333333", "0001", situacao="08"),
        _estab("44444444", "0001", cnae="4711302", cnae_sec="6201501"),
    ]
    _write_zip(tmp_path / "Estabelecimentos0.zip", "K3241.K03200Y0.D40511.ESTABELE", [_q(r) for r in rows])
    (tmp_path / "Municipios.txt").write_bytes(_q(["7107", "SÃO PAULO"]) + _q(["6001", "RIO DE JANEIRO"]))

    def keys(**kw: object) -> list[str]:
        return [r.registry_id[:8] for r in _leads(list(iter_cnpj(tmp_path, RunFilters(**kw))))]

    assert keys() == ["11111111", "22222222", "44444444"]  # default: ATIVA only
    assert keys(status=["*"]) == ["11111111", "22222222", "33333333", "44444444"]
    assert keys(status=["BAIXADA"]) == ["33333333"]
    assert keys(uf=["rj"]) == ["22222222"]
    assert keys(city=["sao paulo"]) == ["11111111", "44444444"]
    assert keys(city=["6001"]) == ["22222222"]
    assert keys(cnae=["62.01-5/01"]) == ["11111111", "22222222"]
    assert keys(cnae=["6201501"], include_secondary=True) == ["11111111", "22222222", "44444444"]
    assert keys(cnae=["47"]) == ["44444444"]
    assert keys(uf=["SP"], limit=1) == ["11111111"]


def test_unknown_city_name_is_a_source_error(tmp_path: Path) -> None:
    _write_zip(tmp_path / "Estabelecimentos0.zip", "E", [_q(_estab("11111111", "0001"))])
    (tmp_path / "Municipios").write_bytes(_q(["7107", "SAO PAULO"]))
    with pytest.raises(SourceError, match="ATLANTIS"):
        list(iter_cnpj(tmp_path, RunFilters(city=["Atlantis"])))


def test_rows_without_30_columns_are_dropped_as_malformed_and_reading_goes_on(tmp_path: Path) -> None:
    good, short = _estab("11111111", "0001"), _estab("22222222", "0001")[:12]
    lines = [_q(good), _q(short), b"\n", _q(_estab("33333333", "0001"))]
    (tmp_path / "Estabelecimentos0").write_bytes(b"".join(lines))
    items = list(iter_cnpj(tmp_path, RunFilters()))
    [bad] = [i for i in items if isinstance(i, DroppedLead)]
    assert bad.stage == "extract" and bad.reason.code == "malformed_row"
    assert "12 columns" in bad.reason.detail
    assert bad.source_file == "Estabelecimentos0" and bad.source_line == 2
    assert bad.raw and "22222222" in bad.raw["line"]
    assert [r.registry_id[:8] for r in _leads(items)] == ["11111111", "33333333"]


def test_a_stray_quote_costs_at_most_its_own_row(tmp_path: Path) -> None:
    stray = _q(_estab("22222222", "0001")).replace(b'"contato@x.com.br"', b'"contato"@x.com.br"')
    after = [_q(_estab(f"{30_000_000 + i}", "0001")) for i in range(MAX_RECORD_LINES + 5)]
    for tail in (after[:2], after):  # the file ends with the quote open / it stays open past the cap
        (tmp_path / "Estabelecimentos0").write_bytes(b"".join([_q(_estab("11111111", "0001")), stray, *tail]))
        for as_json in (False, True):
            items = list(iter_cnpj(tmp_path, RunFilters(status=["*"]), as_json=as_json))
            rejected = [(r.reason.code, r.source_line) for r in items if isinstance(r, DroppedLead)]
            assert rejected in ([], [("malformed_row", 2)])  # the stray row alone, if anything
            leads = [i if isinstance(i, str) else i.registry_id for i in items if not isinstance(i, DroppedLead)]
            assert len(leads) + len(rejected) == 2 + len(tail)
            assert all(any(f"{30_000_000 + i}" in lead for lead in leads) for i in range(len(tail)))


def test_a_quoted_field_over_a_few_lines_is_still_one_record() -> None:
    from services.extractor.sources.receita_join import _RecordJoiner

    joiner = _RecordJoiner()
    lines = [b'"1";"RUA A', b"BLOCO 2", b'APTO 3";"SP"', b'"2";"RUA B";"RJ"']
    out = [r for n, raw in enumerate(lines, 1) for r in joiner.feed(n, raw)] + list(joiner.flush())
    assert out == [(3, b'"1";"RUA A\nBLOCO 2\nAPTO 3";"SP"'), (4, b'"2";"RUA B";"RJ"')]


def test_nul_bytes_and_runs_of_spaces_are_cleaned_and_alphanumeric_cnpjs_kept(tmp_path: Path) -> None:
    row = _estab("12ABC345", "01DE", fantasia="LOJA\x00  DO   ZE ")
    (tmp_path / "Estabelecimentos0").write_bytes(_q(row))
    (tmp_path / "Empresas0").write_bytes(_q(["12ABC345", "ZE  LTDA", "2062", "49", "1.500,50", "01", ""]))
    [lead] = _leads(list(iter_cnpj(tmp_path, RunFilters())))
    assert lead.lead_key == "BR:12ABC34501DE35"
    assert lead.trade_name == "LOJA DO ZE" and lead.address.street == "DAS FLORES"
    assert lead.legal_name == "ZE LTDA" and lead.capital == 1500.5 and lead.size == "MICRO EMPRESA"
    assert lead.phones == ["11 987654321", "11 33334444"] and lead.emails == ["contato@x.com.br"]


def test_join_on_disk_matches_the_in_memory_join_when_the_hunt_overflows_a_chunk(tmp_path: Path) -> None:
    basicos = [f"{10_000_000 + i}" for i in range(25)]
    estab = [_q(_estab(b, "0001")) for b in basicos] + [_q(_estab(basicos[3], "0002"))]
    estab.insert(10, _q(_estab("99999999", "0001")[:12]))  # malformed, between the chunks
    (tmp_path / "Estabelecimentos0").write_bytes(b"".join(estab))
    (tmp_path / "Empresas0").write_bytes(b"".join(_q([b, f"EMPRESA {b}", "2062", "49", "0,00", "05", ""])
                                                  for b in reversed(basicos)))
    (tmp_path / "Simples").write_bytes(b"".join(_q([b, "S", "", "", "S" if int(b) % 2 else "N", "", ""])
                                                for b in basicos))
    (tmp_path / "Socios0").write_bytes(b"".join(_q([b, "2", f"SOCIO {b}", "***1**", "49", "20150101", "", "", "",
                                                    "00", "4"]) for b in basicos[::5]))
    in_memory = list(iter_cnpj(tmp_path, RunFilters()))
    on_disk = list(iter_cnpj(tmp_path, RunFilters(), chunk_size=4, spill_dir=tmp_path))
    assert len(_leads(on_disk)) == 26
    by_key = sorted(_leads(in_memory), key=lambda r: r.registry_id)
    assert sorted(_leads(on_disk), key=lambda r: r.registry_id) == by_key
    assert [CompanyRecord.model_validate_json(r.model_dump_json()) for r in by_key] == by_key  # valid as built
    by_id = {r.registry_id[:12]: r for r in _leads(on_disk)}
    assert by_id[basicos[3] + "0002"].legal_name == f"EMPRESA {basicos[3]}"
    assert [by_id[b + "0001"].mei for b in basicos] == [bool(int(b) % 2) for b in basicos]
    assert by_id[basicos[5] + "0001"].partners[0].name == f"SOCIO {basicos[5]}"
    [bad] = [i for i in on_disk if isinstance(i, DroppedLead)]
    assert bad.source_line == 11 and bad.reason.code == "malformed_row"
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == []  # the spill is removed
    assert len(_leads(list(iter_cnpj(tmp_path, RunFilters(limit=9), chunk_size=4, spill_dir=tmp_path)))) == 9


def test_limit_caps_the_records_and_stops_reading(tmp_path: Path) -> None:
    (tmp_path / "Estabelecimentos0").write_bytes(b"".join(_q(_estab(f"{10_000_000 + i}", "0001"))
                                                          for i in range(50)))
    leads = _leads(list(iter_cnpj(tmp_path, RunFilters(limit=7))))
    assert len(leads) == 7 and leads[-1].source_line == 7


def test_missing_directory_or_missing_estabelecimentos_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not found"):
        iter_source(f"cnpj:{tmp_path / 'nope'}", RunFilters())
    (tmp_path / "Empresas0").write_bytes(b"")
    with pytest.raises(SourceError, match="no Estabelecimentos"):
        iter_source(f"cnpj:{tmp_path}", RunFilters())
