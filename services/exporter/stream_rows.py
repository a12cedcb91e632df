"""Export rows for one run, read from the stream: its scored, enriched and rescored events."""

from __future__ import annotations

from shared.bus import Bus
from shared.domain.segments import Row, build_row
from shared.events import LeadEnriched, LeadRescored, LeadsScored, Subjects, subject_token
from shared.schemas import Enrichment, FinalScore, ScoredLead


async def run_rows(bus: Bus, run: str) -> list[Row]:
    """One export row per lead of the run, from the run's scored, enriched and rescored events."""
    token = subject_token(run)
    scored: dict[str, ScoredLead] = {}
    enrichments: dict[str, Enrichment] = {}
    finals: dict[str, FinalScore] = {}
    async for stored in bus.read(Subjects.LEAD_SCORED.format(run_id=token)):
        event = stored.event_as(LeadsScored)
        scored.update((s.lead.lead_key, s) for s in event.leads)
    async for stored in bus.read(Subjects.LEAD_ENRICHED.format(run_id=token)):
        event = stored.event_as(LeadEnriched)
        enrichments[event.enrichment.lead_key] = event.enrichment
    async for stored in bus.read(Subjects.LEAD_RESCORED.format(run_id=token)):
        event = stored.event_as(LeadRescored)
        finals[event.final.lead_key] = event.final
    return [build_row(s, enrichments.get(k), finals.get(k)) for k, s in sorted(scored.items())]
