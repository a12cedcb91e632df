"""The Receita JSON fast path: the text it builds validates as the very record the model path builds."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest

from services.extractor.publishing import BatchEncoder
from services.extractor.sources import iter_source
from services.extractor.sources.cnpj_files import iter_cnpj
from services.extractor.sources.records import lead_key_of
from shared.bus import decode
from shared.events import Envelope, LeadsExtracted, LeadsRejected, RunFilters, decode_event
from shared.registry_ids import check_digits
from shared.schemas import CompanyRecord, DroppedLead
from tests.shared_data import SHARED_DATA

CNPJ_DIR = SHARED_DATA / "cnpj"
pytestmark = pytest.mark.skipif(not CNPJ_DIR.is_dir(), reason=f"shared sample data not found at {CNPJ_DIR}")


def _q(fields: list[str]) -> bytes:
    return (";".join(f'"{f}"' for f in fields) + "\n").encode("latin-1")


def _estab(basico: str, ordem: str, **over: str) -> list[str]:
    row = [basico, ordem, check_digits(basico + ordem) if basico.isalnum() else "00", "1", "FANTASIA", "02",
           "20200101", "00", "", "", "20150310", "6201501", "6202300,4711302", "RUA", "DAS FLORES", "10", "",
           "CENTRO", "01310100", "SP", "7107", "11", "987654321", "11", "33334444", "", "", "contato@x.com.br",
           "", ""]
    names = {"matriz": 3, "fantasia": 4, "situacao": 5, "data_situacao": 6, "motivo": 7, "cidade_ext": 8,
             "pais": 9, "inicio": 10, "cnae": 11, "cnae_sec": 12, "complemento": 16, "uf": 19, "municipio": 20,
             "ddd1": 21, "tel1": 22, "ddd2": 23, "tel2": 24, "ddd_fax": 25, "fax": 26, "email": 27,
             "especial": 28, "data_especial": 29}
    for key, value in over.items():
        row[names[key]] = value
    return row


def _both(directory: Path, filters: RunFilters, **kw: object) -> tuple[list[object], list[object]]:
    models = list(iter_cnpj(directory, filters, **kw))  # type: ignore[arg-type]
    texts = list(iter_cnpj(directory, filters, as_json=True, **kw))  # type: ignore[arg-type]
    return models, texts


def _assert_same(models: list[object], texts: list[object]) -> int:
    """Same items in the same order; every text validates as the model built for it. Returns the leads."""
    assert len(models) == len(texts)
    leads = 0
    for model, text in zip(models, texts, strict=True):
        if isinstance(model, CompanyRecord):
            assert isinstance(text, str)
            assert CompanyRecord.model_validate_json(text) == model
            assert json.loads(text) == model.model_dump(mode="json")  # the same members, none extra
            assert lead_key_of(text) == model.lead_key
            leads += 1
        else:
            assert isinstance(model, DroppedLead) and model == text
    return leads


def test_json_of_the_real_sample_files_validates_as_the_model_records(tmp_path: Path) -> None:
    for filters in (RunFilters(), RunFilters(status=["*"]), RunFilters(uf=["DF"], cnae=["62"], include_secondary=True)):
        models, texts = _both(CNPJ_DIR, filters)
        assert _assert_same(models, texts) >= 1
    published = list(iter_source(f"cnpj:{CNPJ_DIR}", RunFilters(), as_json=True))
    [text] = published
    assert isinstance(text, str)
    event = LeadsExtracted.model_validate_json(f'{{"run_id":"r","batch":0,"companies":[{text}]}}')
    assert event.companies[0].registry_id == "33683111000280" and len(event.companies[0].partners) == 6


def test_json_of_the_reference_company_matches_the_reference_response(tmp_path: Path) -> None:
    """The OKBR row written from the reference JSON, joined with the REAL Empresas0/Socios0 rows."""
    receita = tmp_path / "cnpj"
    shutil.copytree(CNPJ_DIR, receita)
    ref = json.loads((CNPJ_DIR / "expected_response_19131243000197.json").read_text())
    row = _estab(ref["cnpj"][:8], ref["cnpj"][8:12], fantasia="", complemento=ref["complemento"],
                 municipio=str(ref["codigo_municipio"]), ddd1=ref["ddd_telefone_1"][:2],
                 tel1=ref["ddd_telefone_1"][2:], ddd2="", tel2="", email="")
    with zipfile.ZipFile(receita / "Estabelecimentos1.zip", "w") as zf:
        zf.writestr("Estabelecimentos1", _q(row))
    (receita / "Municipios1").write_bytes(_q([str(ref["codigo_municipio"]), ref["municipio"]]))
    models, texts = _both(receita, RunFilters(uf=["SP"]))
    assert _assert_same(models, texts) == 1
    lead = CompanyRecord.model_validate_json(texts[0])  # type: ignore[arg-type]
    assert lead.registry_id == ref["cnpj"] and lead.legal_name == ref["razao_social"]
    assert lead.capital == ref["capital_social"] and lead.size == ref["porte"]
    assert lead.address.city == ref["municipio"] and lead.phones == ["11 23851939"]
    assert [p.name for p in lead.partners] == ["FERNANDA CAMPAGNUCCI PEREIRA"]


def _branchy_rows() -> list[bytes]:
    """Rows that take every branch of both builders: phones, extra members, odd values, dirty lines."""
    rows = [
        _estab("10000001", "0001"),
        _estab("10000001", "0002", matriz="2", tel1="", ddd2=""),  # a branch: second phone alone, no DDD
        _estab("10000002", "0001", ddd1="", tel2="", email="", cnae_sec="", fantasia=""),
        _estab("10000003", "0001", tel1="", tel2="", situacao="08", motivo="01", data_situacao="00000000"),
        _estab("10000004", "0001", ddd_fax="11", fax="30304040", especial="INTERVENCAO", data_especial="20210505"),
        _estab("10000005", "0001", uf="EX", municipio="9707", cidade_ext="LISBOA", pais="607"),
        _estab("10000006", "0001", situacao="", inicio="", cnae="", municipio="", uf=""),
        _estab("10000007", "0001", fantasia="CAFÉ & CIA 'ÁGUA' <B>", cnae_sec="6201501,,4711302"),
        _estab("12ABC345", "01DE", fantasia="ALFANUMERICO"),
        _estab("10000008", "0001", situacao="99", motivo="77", municipio="0001"),
    ]
    return [_q(r) for r in rows]


def _dirty_rows() -> list[bytes]:
    return [
        _q(_estab("20000001", "0001", fantasia="LOJA\x00  DO   ZE ")),  # NUL, runs of spaces, padding
        _q(_estab("20000002", "0001", fantasia="BAR \\ RESTAURANTE")),  # a backslash
        b'"20000003";"0001";"' + check_digits("200000030001").encode() + b'";"1";"DIZ ""OI""";"02";"20200101";'
        + b";".join(b'""' for _ in range(23)) + b"\n",  # escaped quotes inside a field
        _q(_estab("20000004", "0001", complemento="SALA 1; ANDAR 2")),  # a separator inside a field
        _q(_estab("20000005", "0001", fantasia="TAB\tHERE")),
        _q(_estab("20000006", "0001"))[:-1] + b"\r\n",  # CRLF
        _q(_estab("20000007", "0001")[:12]),  # malformed: too few columns
        b"\n",
        _q(_estab(" 2000008", "1", fantasia=" X ")),  # padded key fields
    ]


def _company_files(directory: Path, basicos: list[str], dirty: bool) -> None:
    capitals = ["1061004829,23", "0,00", "1.500,50", "", "012,5", "7,", "abc", "10,5"]
    porte = ["01", "03", "05", "00", "", "07"]
    empresas = [_q([b, f"EMPRESA {b}", "2062" if i % 3 else "", "49", capitals[i % len(capitals)],
                    porte[i % len(porte)], ""]) for i, b in enumerate(basicos)]
    if dirty:  # an Empresas row to trim and collapse: that file is read line by line
        empresas.append(_q(["20000001", "ZE  LTDA ", "2135", "50", "1.500,50", "01", ""]))
    (directory / "Empresas0").write_bytes(b"".join(empresas))
    (directory / "Simples").write_bytes(b"".join(
        _q([b, "S" if i % 2 else "N", "", "", ["S", "N", "", "X"][i % 4], "", ""]) for i, b in enumerate(basicos)))
    (directory / "Socios0").write_bytes(b"".join(
        _q([b, str(1 + i % 3), f"SOCIO {b}", "***123456**", "49", "20150101", "", "", "", "00", str(i % 10)])
        for i, b in enumerate(basicos[::2])))
    (directory / "Municipios").write_bytes(_q(["7107", "SÃO PAULO"]) + _q(["9707", "EXTERIOR"]))
    (directory / "Cnaes").write_bytes(_q(["6201501", "Desenvolvimento de programas"]))
    (directory / "Naturezas").write_bytes(_q(["2062", "Sociedade Empresária Limitada"]))
    (directory / "Motivos").write_bytes(_q(["01", "EXTINCAO POR ENCERRAMENTO"]))
    (directory / "Paises").write_bytes(_q(["607", "PORTUGAL"]))
    (directory / "Qualificacoes").write_bytes(_q(["49", "Sócio-Administrador"]))


@pytest.mark.parametrize("dirty", [False, True], ids=["clean-block", "line-by-line"])
def test_json_of_every_branch_validates_as_the_model_record(tmp_path: Path, dirty: bool) -> None:
    rows = _branchy_rows() + (_dirty_rows() if dirty else [])
    (tmp_path / "Estabelecimentos0").write_bytes(b"".join(rows))
    basicos = [f"1000000{i}" for i in range(1, 9)] + ["12ABC345"] + [f"2000000{i}" for i in range(1, 9)]
    _company_files(tmp_path, basicos, dirty)
    models, texts = _both(tmp_path, RunFilters(status=["*"]))
    assert _assert_same(models, texts) == (17 if dirty else 10)
    rejected = [t for t in texts if isinstance(t, DroppedLead)]
    assert [(r.source_file, r.reason.code) for r in rejected] == ([("Estabelecimentos0", "malformed_row")] * dirty)
    by_key = {CompanyRecord.model_validate_json(t).registry_id[:8]: CompanyRecord.model_validate_json(t)
              for t in texts if isinstance(t, str)}
    assert by_key["10000004"].extra == {"fax": "11 30304040", "special_status": "INTERVENCAO",
                                        "special_status_date": "2021-05-05"}
    assert by_key["10000005"].address.city == "LISBOA" and by_key["10000005"].extra["country_name"] == "PORTUGAL"
    assert by_key["12ABC345"].lead_key == "BR:12ABC34501DE35"
    for filters in (RunFilters(), RunFilters(uf=["SP"], cnae=["4711302"], include_secondary=True), RunFilters(limit=3)):
        _assert_same(*_both(tmp_path, filters))
    on_disk = _both(tmp_path, RunFilters(status=["*"]), chunk_size=2, spill_dir=tmp_path)
    assert _assert_same(*on_disk) == (17 if dirty else 10)


def test_lead_keys_are_sliced_from_the_text_or_parsed_when_escaped() -> None:
    assert lead_key_of('{"lead_key":"BR:33683111000280","country":"BR"}') == "BR:33683111000280"
    assert lead_key_of('{"country":"BR","lead_key":"BR:1"}') == "BR:1"
    assert lead_key_of('{"lead_key":"BR:\\u00c9X","country":"BR"}') == "BR:\u00c9X"


class _Bus:
    def headers(self, env: Envelope) -> dict[str, str]:
        return {"Nats-Msg-Id": env.event_id}


def test_batches_of_json_text_and_of_models_are_the_same_events(tmp_path: Path) -> None:
    rows = _branchy_rows() + _dirty_rows()
    (tmp_path / "Estabelecimentos0").write_bytes(b"".join(rows))
    _company_files(tmp_path, [f"1000000{i}" for i in range(1, 9)] + [f"2000000{i}" for i in range(1, 9)], True)
    batches = {}
    for as_json in (False, True):
        items = iter_cnpj(tmp_path, RunFilters(status=["*"]), as_json=as_json)
        encoder = BatchEncoder(_Bus(), "run-1", items, batch_size=4, max_bytes=3000)  # type: ignore[arg-type]
        messages = []
        while out := encoder.next():
            messages += out
        batches[as_json] = [decode_event(decode(m.data)) for m in messages]
        extracted = [e for e in batches[as_json] if isinstance(e, LeadsExtracted)]
        assert sum(len(e.companies) for e in extracted) == 17
        assert max(len(e.companies) for e in extracted) < 4  # too big for one message: halved
        assert [e.batch for e in extracted] == list(range(len(extracted)))
        observed = [c.lead_key for m in messages if m.field_name == "companies" for c in m.event.companies]
        assert observed == [c.lead_key for e in extracted for c in e.companies]  # what the bus's observers see
    assert batches[True] == batches[False]
    assert sum(isinstance(e, LeadsRejected) for e in batches[True]) == 1
