"""Small builders of events and records for tests."""

from __future__ import annotations

from datetime import UTC, datetime

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
from shared.schemas import CleanedLead, CompanyRecord, DroppedLead, Email, FinalScore, Phone, Reason, ScoredLead

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def cleaned_lead(n: int, *, city: str = "SAO PAULO", uf: str = "SP", accountant: bool = False) -> CleanedLead:
    company = CompanyRecord(lead_key=f"BR:{n:014d}", registry_id=f"{n:014d}", source="csv", legal_name=f"ACME {n}",
                            activity_main="6201501")
    company.address.city, company.address.state = city, uf
    flags = [Reason(code="accountant_like", detail="e-mail")] if accountant else []
    return CleanedLead(company=company, phones=[Phone(e164=f"+55119{n:08d}", kind="mobile", whatsapp=True)],
                       emails=[Email(address=f"contato@acme{n}.com.br", domain=f"acme{n}.com.br")], flags=flags)


def run_events(run: str = "r1", n: int = 4) -> list[Event]:
    leads = [cleaned_lead(i, accountant=i == 3) for i in range(1, n + 1)]
    scored = [ScoredLead(lead=lead, score=90 - 10 * i, rank=i + 1, bucket="hot" if i == 0 else "warm",
                         enrich=i == 0) for i, lead in enumerate(leads)]
    return [
        RunRequested(run_id=run, source="csv:x.csv"),
        RunStep(run_id=run, stage="extract", status="completed", counts={"extracted": n + 1}),
        LeadsRejected(run_id=run, stage="clean", batch=0, rejected=[
            DroppedLead(lead_key="BR:99", stage="clean", reason=Reason(code="mei", detail="opcao_mei=S"))]),
        LeadsCleaned(run_id=run, batch=0, leads=leads),
        LeadsScored(run_id=run, batch=0, icp="software-b2b", leads=scored),
        LeadRescored(run_id=run, final=FinalScore(lead_key="BR:00000000000001", score=95, bucket="hot",
                                                  reasons=[Reason(code="site_verified", points=10)])),
        RunStep(run_id=run, stage="run", status="completed"),
    ]


def raw_events(events: list[Event], start: int = 1) -> list[tuple[int, str, bytes]]:
    out = []
    for seq, e in enumerate(events, start=start):
        env = envelope(e, key=(seq,), occurred_at=T0)
        out.append((seq, subject_for(e, stage=getattr(e, "stage", "x"), lead=getattr(e, "lead_key", None) or "x"),
                    encode(env)))
    return out
