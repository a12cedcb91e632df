"""The enricher publishes lead.enriched with the lead's JSON as its request carried it: the same JSON
a dump of the event gives."""

from __future__ import annotations

import pytest

from services.enricher.enriched_event import enriched_payload
from shared.events import EnrichmentRequested, LeadEnriched, decode_event, envelope
from shared.schemas import (
    Address,
    CleanedLead,
    CompanyRecord,
    Email,
    Enrichment,
    Phone,
    Reason,
    ScoredLead,
    Technology,
)


def _lead(n: int) -> ScoredLead:
    company = CompanyRecord(lead_key=f"BR:{n:014d}", registry_id=f"{n:014d}", source="test", trade_name=f"Acme {n}",
                            legal_name=f"ACME {n} LTDA", address=Address(city="Campinas", state="SP"))
    lead = CleanedLead(company=company, emails=[Email(address=f"contato@acme{n}.com.br", domain=f"acme{n}.com.br")],
                       phones=[Phone(raw="(19) 3333-4444", e164="+551933334444", kind="fixed")],
                       website_candidates=[f"acme{n}.com.br"])
    return ScoredLead(lead=lead, score=80 + n, enrich=True, reasons=[Reason(code="icp_cnae_match", points=30)])


@pytest.mark.parametrize("n", [1, 2, 3])
def test_the_payload_is_the_events_own_dump(n: int) -> None:
    request = EnrichmentRequested(run_id="run-1", lead=_lead(n), expected_total=3)
    cause = envelope(request, key=("run-1", f"BR:{n:014d}"))
    decoded = decode_event(cause)
    enrichment = Enrichment(lead_key=f"BR:{n:014d}", status="ok", emails=[f"vendas@acme{n}.com.br"],
                            technologies=[Technology(name="WordPress", categories=["CMS"], confidence=100)])
    enriched = LeadEnriched(run_id="run-1", lead=decoded.lead, enrichment=enrichment, expected_total=3, worker="w1")
    assert enriched_payload(enriched, cause) == enriched.model_dump(mode="json")


def test_an_older_request_version_gets_a_fresh_dump() -> None:
    request = EnrichmentRequested(run_id="run-1", lead=_lead(1), expected_total=1)
    cause = envelope(request, key=("run-1", "k")).model_copy(update={"version": EnrichmentRequested.VERSION - 1})
    enriched = LeadEnriched(run_id="run-1", lead=request.lead, enrichment=Enrichment(lead_key="k", status="ok"),
                            expected_total=1)
    assert enriched_payload(enriched, cause) is None
