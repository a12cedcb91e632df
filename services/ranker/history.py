"""What the stream says about leads, as the ranker needs it: each lead's latest v1 score (with its
cleaned lead), enrichment and v2 score, and the funnel's status changes. Pure: events go in one by
one (in stream order per subject), nothing is read here."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from services.ranker.explore import next_leads, segment_of
from services.ranker.features import LeadFacts
from services.ranker.labels import DEFAULT_NO_REPLY_DAYS, FunnelEvent, Label, funnel_event_of, outcome_labels
from services.ranker.model import RankerConfig, TrainedModel, TrainingReport, score_leads, train
from shared.events import (
    Envelope,
    FeatureContribution,
    LeadEnriched,
    LeadPropensity,
    LeadRescored,
    LeadsScored,
    decode_event,
)
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


OPEN_STATES = frozenset({"new", "queued"})  # leads the next-leads list may offer


def open_leads(book: LeadBook, as_of: datetime) -> list[str]:
    """Leads nobody has contacted yet (no status, or new/queued as their latest), as of ``as_of``."""
    latest: dict[str, tuple[datetime, int, str]] = {}
    for e in book.funnel:
        if e.status is not None and e.occurred_at <= as_of:
            seen = latest.get(e.lead_key)
            if seen is None or (e.occurred_at, e.seq) >= seen[:2]:
                latest[e.lead_key] = (e.occurred_at, e.seq, e.status)
    return [key for key in book.leads() if key not in latest or latest[key][2] in OPEN_STATES]


def rank_book(book: LeadBook, model: TrainedModel, as_of: datetime, *, n_next: int = 50, explore_share: float = 0.2,
              no_reply_days: float = DEFAULT_NO_REPLY_DAYS, explain_top: int = 2000,
              seed: int = 0) -> list[LeadPropensity]:
    """Every known lead's propensity (the features that moved it for the ``explain_top`` best), and
    the next-leads list among the open ones: exploitation and Thompson-sampled exploration over each
    segment's outcomes so far."""
    keys = book.leads()
    facts = [book.facts(k) for k in keys]
    scores = score_leads(model, facts, explain=0)
    best = sorted(range(len(keys)), key=lambda i: (-scores[i].propensity, keys[i]))[:explain_top]
    explained = dict(zip(best, score_leads(model, [facts[i] for i in best], explain=3), strict=True))
    outcomes: dict[str, list[int]] = {}
    for key, label in book.labels(as_of, no_reply_days).items():
        if key in book.scored:
            counts = outcomes.setdefault(segment_of(book.facts(key)), [0, 0])
            counts[0 if label.positive else 1] += 1
    index = {k: i for i, k in enumerate(keys)}
    candidates = [(k, scores[index[k]].propensity, segment_of(facts[index[k]])) for k in open_leads(book, as_of)]
    picks = next_leads(candidates, {s: (c[0], c[1]) for s, c in outcomes.items()}, n_next,
                       explore_share=explore_share, seed=seed)
    place = {p.lead_key: (n, p.explored) for n, p in enumerate(picks, start=1)}
    out = []
    for i, key in enumerate(keys):
        top = [FeatureContribution(feature=f, contribution=v) for f, v in (explained[i].top_features
                                                                            if i in explained else ())]
        rank, explored = place.get(key, (None, False))
        out.append(LeadPropensity(lead_key=key, propensity=round(scores[i].propensity, 6), top_features=top,
                                  next_rank=rank, explored=explored))
    return out
