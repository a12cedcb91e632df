"""The msgspec mirrors of the lead records: same JSON, same decisions, same wire events as pydantic."""

from __future__ import annotations

import random
from datetime import date
from typing import Any

import msgspec
import msgspec.inspect
import pytest
from pydantic import BaseModel, Field

from services.cleaner.logic import clean_run
from services.scorer.logic import score_leads, score_v1
from shared import events, schemas
from shared.bus import encode
from shared.domain.icp import load_icp
from shared.events import LeadsCleaned, LeadsExtracted, RunStep, envelope
from shared.schemas import Address, CleanedLead, CompanyRecord, DroppedLead, Partner, ScoredLead
from shared.wire import records
from shared.wire.batch_codec import decode_as, decode_mirror, encode_event
from shared.wire.mirrors import struct_of
from tests.unit.test_cleaner_run import _mixed_run, cnpj, company

ICP = load_icp("software-b2b")
AS_OF = date(2026, 11, 1)


def _ugly_run(n: int = 400, seed: int = 7) -> list[CompanyRecord]:
    """Every shape the cleaner branches on: punctuated / invalid ids, duplicates, MEI, 0xx and legacy
    phones, invalid DDDs, spaces and capitals in e-mails, accountants, shared phones and e-mails."""
    rnd = random.Random(seed)
    phones = ["0xx11 98765-{:04d}", "(011) 3{:03d}-4444", "11 8765-{:04d}", "30 9{:04d}-1234", "+55 21 9{:04d}-5555",
              "0800 123 {:04d}", "11 3333-4444", "999{}", "0 15 11 9{:04d}-4321", "11 3{:03d}-1111 / 11 98888-7777"]
    emails = ["Contato@ACME{}.com.br", " vendas @ acme{}.com.br", "x{}@gmail.com", "fiscal@silvacontabilidade.com.br",
              "bad{}@", "contato@shared.com.br", "mailto:info@empresa{}.fr", "joão{}@exemplo.com.br"]
    out = []
    for i in range(n):
        basico = 1000 + (i - 1 if i % 9 == 8 else i)
        rid = cnpj(basico, 1 + (i % 7 == 3))
        if i % 13 == 0:
            rid = f"{rid[:2]}.{rid[2:5]}.{rid[5:8]}/{rid[8:12]}-{rid[12:]}"
        if i % 31 == 0:
            rid = rid[:-1] + str((int(rid[-1]) + 1) % 10)
        fields: dict[str, Any] = {
            "registry_id": rid,
            "legal_name": rnd.choice(["ACME SISTEMAS LTDA", f"EMPRESA {basico} LTDA", "JOAO DA SILVA 12345678901",
                                      "Escritório Contábil Silva"]),
            "legal_nature": rnd.choice(["2062", "2135", "213-5"]),
            "mei": rnd.choice([None, None, True, False]),
            "activity_main": rnd.choice(["6201501", "6920601", "4711302", "62.01Z", None]),
            "activities_secondary": rnd.choice([[], ["6311900"]]),
            "head_office": rnd.choice([True, False, None]),
            "capital": rnd.choice([None, 1000.0, 250000.5, 3e7]),
            "opened_on": rnd.choice([None, "2015-03-01", "bad-date", "2026-10-01"]),
            "status": rnd.choice(["ATIVA", "BAIXADA", None]),
            "website": rnd.choice([None, "https://www.Acme.com.br/contato", "gmail.com"]),
            "phones": [rnd.choice(phones).format(rnd.randint(0, 999)) for _ in range(rnd.randint(0, 3))],
            "emails": [rnd.choice(emails).format(rnd.randint(0, 20)) for _ in range(rnd.randint(0, 2))],
            "partners": rnd.choice([[], [Partner(name="JOAO", document="***123456**")]]),
            "extra": rnd.choice([{}, {"k": "v"}]),
            "address": Address(state=rnd.choice(["SP", "RJ", None]), city=rnd.choice(["SAO PAULO", None])),
        }
        if i % 17 == 0:
            fields.update(country="FR", registry_id="73282932000074", activity_main="62.01Z",
                          address=Address(postal_code="75008"))
        out.append(company(basico, **fields))
    return out


def _mirrored(models: list[Any], cls: type[Any]) -> list[Any]:
    return [records.to_struct(m, cls) for m in models]


@pytest.mark.parametrize("run", [_mixed_run(), _ugly_run()], ids=["mixed", "ugly"])
def test_clean_and_score_give_the_same_results_on_mirrors_as_on_models(run: list[CompanyRecord]) -> None:
    models = clean_run(run)
    mirrors = clean_run(_mirrored(run, records.CompanyRecord))
    assert all(isinstance(lead, records.CleanedLead) for lead in mirrors.leads)
    assert mirrors.counts == models.counts
    assert msgspec.to_builtins(mirrors.leads) == [lead.model_dump() for lead in models.leads]
    assert msgspec.to_builtins(mirrors.dropped) == [d.model_dump() for d in models.dropped]
    for top in (0.0, 0.3):
        scored_models = score_leads(models.leads, ICP, AS_OF, top)
        scored_mirrors = score_leads(mirrors.leads, ICP, AS_OF, top)
        assert all(isinstance(s, records.ScoredLead) for s in scored_mirrors)
        assert msgspec.to_builtins(scored_mirrors) == [s.model_dump() for s in scored_models]
    lead = mirrors.leads[0]
    assert isinstance(score_v1(lead, ICP, as_of=AS_OF)[1][0], records.Reason)


@pytest.mark.parametrize(("model_cls", "mirror_cls"), [
    (CompanyRecord, records.CompanyRecord), (CleanedLead, records.CleanedLead), (DroppedLead, records.DroppedLead),
])
def test_mirrors_write_the_same_json_as_the_models(model_cls: type[Any], mirror_cls: type[Any]) -> None:
    result = clean_run(_ugly_run())
    items = {CompanyRecord: _ugly_run(), CleanedLead: result.leads, DroppedLead: result.dropped}[model_cls]
    assert items
    for item in items:
        mirror = records.to_struct(item, mirror_cls)
        assert records.dump_json(mirror) == item.model_dump_json().encode()
        assert records.to_model(mirror, model_cls) == item


def test_scored_mirrors_write_the_same_json_as_the_models() -> None:
    leads = clean_run(_ugly_run()).leads
    for scored in score_leads(leads, ICP, AS_OF, 0.2):
        assert records.dump_json(records.to_struct(scored, records.ScoredLead)) == scored.model_dump_json().encode()
        assert isinstance(scored, ScoredLead)


def test_mirror_batches_encode_and_decode_like_the_generic_path() -> None:
    leads = clean_run(_ugly_run(60)).leads
    event = LeadsCleaned(run_id="r1", batch=2, leads=leads)
    mirror = records.to_struct(event, records.LeadsCleaned)
    fast, slow = encode_event(mirror, key=("r1", 2)), encode_event(event, key=("r1", 2))
    assert (fast.subject, fast.envelope.event_id) == (slow.subject, slow.envelope.event_id)
    assert decode_as(fast.data, LeadsCleaned) == event
    assert decode_mirror(slow.data, records.LeadsCleaned) == mirror
    assert decode_mirror(encode(envelope(event, key=("x",))), records.LeadsCleaned) == mirror


def test_mirror_decoding_keeps_pydantic_coercions_and_refusals() -> None:
    company = {"lead_key": "BR:1", "registry_id": "1", "source": "csv", "capital": "1000.5", "source_line": "12"}
    data = encode(envelope(LeadsExtracted(run_id="r", batch=0, companies=[]), key=("x",))).replace(
        b'"companies":[]', b'"companies":[' + msgspec.json.encode(company) + b"]")
    decoded = decode_mirror(data, records.LeadsExtracted)  # msgspec refuses "1000.5", pydantic coerces it
    assert (decoded.companies[0].capital, decoded.companies[0].source_line) == (1000.5, 12)
    with pytest.raises(ValueError, match="expected LeadsExtracted"):
        decode_mirror(encode(envelope(RunStep(run_id="r", stage="extract", status="completed"), key=("x",))),
                      records.LeadsExtracted)
    bad = data.replace(b'"source":"csv"', b'"source":null')
    with pytest.raises(ValueError):
        decode_mirror(bad, records.LeadsExtracted)


_MIRRORED = [
    (schemas.Partner, records.Partner), (schemas.Address, records.Address),
    (schemas.CompanyRecord, records.CompanyRecord), (schemas.Phone, records.Phone), (schemas.Email, records.Email),
    (schemas.Reason, records.Reason), (schemas.CleanedLead, records.CleanedLead),
    (schemas.DroppedLead, records.DroppedLead), (schemas.ScoredLead, records.ScoredLead),
    (events.LeadsExtracted, records.LeadsExtracted), (events.LeadsRejected, records.LeadsRejected),
    (events.LeadsCleaned, records.LeadsCleaned), (events.LeadsScored, records.LeadsScored),
]


@pytest.mark.parametrize(("model_cls", "mirror_cls"), _MIRRORED, ids=lambda c: getattr(c, "__name__", ""))
def test_each_mirror_has_its_models_fields_in_order_with_the_same_defaults(model_cls: Any, mirror_cls: Any) -> None:
    info = msgspec.inspect.type_info(mirror_cls)
    assert mirror_cls.__name__ == model_cls.__name__
    assert [f.name for f in info.fields] == list(model_cls.model_fields)
    for f in info.fields:
        model_field = model_cls.model_fields[f.name]
        assert f.required == model_field.is_required(), f.name
        if not f.required:
            default = f.default if f.default is not msgspec.NODEFAULT else f.default_factory()
            expected = model_field.get_default(call_default_factory=True)
            assert msgspec.to_builtins(default) == (
                expected.model_dump() if isinstance(expected, BaseModel) else expected), f.name
    for name in ("TYPE", "VERSION", "SUBJECT"):
        if hasattr(model_cls, "SUBJECT"):
            assert getattr(mirror_cls, name) == getattr(model_cls, name)


def test_a_schema_change_reaches_the_mirror_without_a_second_edit() -> None:
    class Extended(schemas.Reason):
        weight: float = 0.5
        tags: list[str] = Field(default_factory=list)

    mirror = struct_of(Extended, sequence=list)
    assert mirror.__struct_fields__ == ("code", "detail", "points", "weight", "tags")
    item = Extended(code="x", tags=["a"])
    assert msgspec.json.encode(msgspec.convert(item.model_dump(), mirror)) == item.model_dump_json().encode()
    assert type(msgspec.convert(item.model_dump(), struct_of(Extended)).tags) is tuple  # the projector's flavour
