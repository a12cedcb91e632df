"""Leads for the ranker's tests: facts built from the pipeline's records, and a small world whose
outcomes depend on a technology and the region (which the ICP score does not see)."""

from __future__ import annotations

import random
from datetime import date

from services.ranker.features import LeadFacts
from shared.schemas import (
    Address,
    CleanedLead,
    CompanyRecord,
    Email,
    Enrichment,
    FinalScore,
    Phone,
    Reason,
    ScoredLead,
    Technology,
)

AS_OF = date(2026, 11, 1)


def facts(n: int, *, cnae: str = "6201501", size: str = "01", uf: str = "SP", capital: float = 100_000.0,
          opened: str = "2018-05-01", techs: tuple[str, ...] = (), mobile: bool = True, score: int = 60) -> LeadFacts:
    key = f"BR:{n:014d}"
    company = CompanyRecord(lead_key=key, registry_id=f"{n:014d}", source="csv", activity_main=cnae, size=size,
                            legal_nature="2062", capital=capital, opened_on=opened, address=Address(state=uf))
    lead = CleanedLead(company=company, phones=[Phone(e164=f"+55119{n:08d}", kind="mobile" if mobile else "fixed",
                                                      whatsapp=mobile)],
                       emails=[Email(address=f"a@x{n}.com.br", domain=f"x{n}.com.br")])
    scored = ScoredLead(lead=lead, score=score, reasons=[Reason(code="icp_activity_main", points=30)])
    enrichment = Enrichment(lead_key=key, status="ok" if techs else "no_site", site="https://x/" if techs else None,
                            verified=bool(techs), technologies=[Technology(name=t, categories=["CRM"]) for t in techs])
    return LeadFacts(key, scored, enrichment, FinalScore(lead_key=key, score=score, bucket="warm"))


def world(n: int, seed: int = 1) -> tuple[list[LeadFacts], list[bool]]:
    """Leads whose outcome depends on a technology and the region, which the ICP score does not see."""
    rng = random.Random(seed)
    out, labels = [], []
    for i in range(n):
        crm, uf = rng.random() < 0.4, rng.choice(["SP", "RJ", "MG"])
        f = facts(i, techs=("HubSpot",) if crm else ("Wix",), uf=uf, size=rng.choice(["01", "03", "05"]),
                  capital=rng.choice([10_000.0, 100_000.0, 1_000_000.0]), score=rng.randint(30, 90))
        p = 0.1 + 0.5 * crm + 0.2 * (uf == "SP")
        out.append(f)
        labels.append(rng.random() < p)
    return out, labels
