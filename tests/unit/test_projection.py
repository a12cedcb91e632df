from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlmodel import Session, select

from services.projector.db import make_engine
from services.projector.digest import vault_digest
from services.projector.models import Company, DroppedRow, ErrorRow, Lead, Run
from services.projector.projection import Projection
from shared.bus import encode
from shared.events import (
    Event,
    LeadRescored,
    LeadsCleaned,
    LeadsRejected,
    LeadsScored,
    RunRequested,
    RunStep,
    envelope,
    subject_for,
)
from shared.schemas import CleanedLead, CompanyRecord, DroppedLead, FinalScore, Phone, Reason, ScoredLead

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _lead(n: int) -> CleanedLead:
    company = CompanyRecord(lead_key=f"BR:{n:014d}", registry_id=f"{n:014d}", source="csv", legal_name=f"ACME {n}")
    return CleanedLead(company=company, phones=[Phone(e164=f"+55119{n:08d}", kind="mobile", whatsapp=True)])


def _raw(events: list[Event]) -> list[tuple[int, str, bytes]]:
    out = []
    for seq, e in enumerate(events, start=1):
        env = envelope(e, key=(seq,), occurred_at=T0)
        out.append((seq, subject_for(e, stage=getattr(e, "stage", "x")), encode(env)))
    return out


def _events() -> list[Event]:
    run = "r1"
    leads = [_lead(n) for n in range(1, 5)]
    scored = [ScoredLead(lead=lead, score=90 - 10 * i, rank=i + 1, bucket="hot" if i == 0 else "warm",
                         enrich=i == 0) for i, lead in enumerate(leads)]
    return [
        RunRequested(run_id=run, source="csv:x.csv"),
        RunStep(run_id=run, stage="extract", status="completed", counts={"extracted": 5}),
        LeadsRejected(run_id=run, stage="clean", batch=0, rejected=[
            DroppedLead(lead_key="BR:99", stage="clean", reason=Reason(code="mei", detail="opcao_mei=S"))]),
        LeadsCleaned(run_id=run, batch=0, leads=leads),
        LeadsScored(run_id=run, batch=0, icp="software-b2b", leads=scored),
        LeadRescored(run_id=run, final=FinalScore(lead_key="BR:00000000000001", score=95, bucket="hot",
                                                  reasons=[Reason(code="site_verified", points=10)])),
        RunStep(run_id=run, stage="run", status="completed"),
    ]


def test_events_project_into_companies_leads_dropped_and_runs(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'v.db'}")
    assert Projection(engine).apply(_raw(_events())) == 7
    with Session(engine) as s:
        assert len(s.exec(select(Company)).all()) == 4
        leads = {lead.lead_key: lead for lead in s.exec(select(Lead)).all()}
        assert leads["BR:00000000000001"].score == 95 and leads["BR:00000000000001"].enriched
        assert leads["BR:00000000000002"].bucket == "warm"
        assert s.exec(select(DroppedRow)).one().reason == "mei"
        run = s.get(Run, "r1")
        assert run is not None and run.status == "completed" and '"extract.extracted":5' in run.counts


def test_redelivered_events_change_nothing(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'v.db'}")
    projection = Projection(engine)
    raw = _raw(_events())
    projection.apply(raw)
    before = vault_digest(engine)
    assert projection.apply(raw[3:]) == 0
    assert vault_digest(engine) == before


def test_batch_boundaries_do_not_change_the_vault(tmp_path: Path) -> None:
    raw = _raw(_events())
    one = make_engine(f"sqlite:///{tmp_path / 'one.db'}")
    Projection(one).apply(raw)
    many = make_engine(f"sqlite:///{tmp_path / 'many.db'}")
    for event in raw:
        Projection(many).apply([event])
    assert vault_digest(one) == vault_digest(many)


def test_an_undecodable_event_is_recorded_as_an_error_not_a_crash(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'v.db'}")
    Projection(engine).apply([(1, "lead.cleaned.r1", b"{not json"), (2, "lead.cleaned.r1", b'{"type":"Nope"}')])
    with Session(engine) as s:
        errors = s.exec(select(ErrorRow)).all()
    assert [e.kind for e in errors] == ["projection", "projection"]
    assert Projection(engine).checkpoint() == 2
