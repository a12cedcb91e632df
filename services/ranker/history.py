"""What the stream says about leads, as the ranker needs it: each lead's latest v1 score (with its
cleaned lead), enrichment and v2 score, and the funnel's status changes. Pure: events go in one by
one (in stream order per subject), nothing is read here."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from services.ranker.features import LeadFacts
from services.ranker.labels import DEFAULT_NO_REPLY_DAYS, FunnelEvent, Label, funnel_event_of, outcome_labels
from services.ranker.model import RankerConfig, TrainingReport, train
from shared.events import Envelope, LeadEnriched, LeadRescored, LeadsScored, decode_event
from shared.schemas import Enrichment, FinalScore, ScoredLead

# what the ranker reads from the stream (each a subject filter)
SUBJECTS = ("lead.scored.*", "lead.enriched.*", "lead.rescored.*", "lead.status.*")


@dataclass
class LeadBook:
    scored: dict[str, ScoredLead] = field(default_factory=dict)
    enrichment: dict[str, Enrichment] = field(default_factory=dict)
    final: dict[str, FinalScore] = field(default_factory=dict)
    funnel: list[FunnelEvent] = field(default_factory=list)

    def add(self, seq: int, env: Envelope) -> None:
        """Take one event in (types the ranker does not read are ignored)."""
        if env.type == "LeadStatusChanged":
            change = funnel_event_of(env, seq)
            if change is not None:
                self.funnel.append(change)
            return
        if env.type not in ("LeadsScored", "LeadEnriched", "LeadRescored"):
            return
        event = decode_event(env)
        if isinstance(event, LeadsScored):
            for lead in event.leads:
                self.scored[lead.lead.lead_key] = lead
        elif isinstance(event, LeadEnriched):
            self.scored.setdefault(event.lead.lead.lead_key, event.lead)
            self.enrichment[event.enrichment.lead_key] = event.enrichment
        elif isinstance(event, LeadRescored):
            self.final[event.final.lead_key] = event.final

    def facts(self, lead_key: str) -> LeadFacts:
        return LeadFacts(lead_key, self.scored.get(lead_key), self.enrichment.get(lead_key), self.final.get(lead_key))

    def leads(self) -> list[str]:
        return sorted(self.scored)

    def labels(self, as_of: datetime, no_reply_days: float = DEFAULT_NO_REPLY_DAYS) -> dict[str, Label]:
        return outcome_labels(self.funnel, as_of, no_reply_days)


def train_from_book(book: LeadBook, as_of: datetime, cfg: RankerConfig,
                    no_reply_days: float = DEFAULT_NO_REPLY_DAYS) -> TrainingReport:
    """Train on the book's outcomes as of ``as_of``: leads the stream has no features for are left out."""
    labels = [lab for key, lab in sorted(book.labels(as_of, no_reply_days).items()) if key in book.scored]
    return train([book.facts(lab.lead_key) for lab in labels], [lab.positive for lab in labels], as_of.date(), cfg)
