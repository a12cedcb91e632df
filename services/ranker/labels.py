"""Outcomes as labels, from the funnel's events. Pure: the clock comes in as ``as_of``.

A lead is **positive** once it reached a positive state (replied, meeting, won), **negative** when
it was lost, opted out after a contact, or was contacted and has not replied within the window
(default 21 days) as of ``as_of``; every other lead is open and is not a label. Events after
``as_of`` are not seen; note-only events (no status) move nothing. Reopening a lead does not erase
an answer it gave: a lead that replied once stays a positive.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.events import Envelope, LeadStatusChanged, decode_event_as
from shared.funnel import NEGATIVE_STATES, POSITIVE_STATES

DEFAULT_NO_REPLY_DAYS = 21.0


@dataclass(frozen=True, slots=True)
class FunnelEvent:
    """One status change of a lead, as the ranker needs it."""

    lead_key: str
    status: str | None
    occurred_at: datetime
    seq: int = 0  # stream order, breaks ties between events of the same instant


@dataclass(frozen=True, slots=True)
class Label:
    lead_key: str
    positive: bool
    decided_at: datetime  # when the outcome became known (first positive, lost, or the window's end)
    reason: str  # "replied", "meeting", "won", "lost", "do_not_contact", "no_reply"


def funnel_event_of(env: Envelope, seq: int = 0) -> FunnelEvent | None:
    """The status change an envelope carries, or None (another event type, or a note only)."""
    if env.type != LeadStatusChanged.TYPE:
        return None
    event = decode_event_as(env, LeadStatusChanged)
    if event.status is None:
        return None
    return FunnelEvent(event.lead_key, event.status, env.occurred_at, seq)


def outcome_labels(events: Iterable[FunnelEvent], as_of: datetime,
                   no_reply_days: float = DEFAULT_NO_REPLY_DAYS) -> dict[str, Label]:
    """Each decided lead's label as of ``as_of`` (lead_key -> Label); open leads are left out."""
    window = timedelta(days=no_reply_days)
    by_lead: dict[str, list[FunnelEvent]] = {}
    for e in events:
        if e.status is not None and e.occurred_at <= as_of:
            by_lead.setdefault(e.lead_key, []).append(e)
    labels: dict[str, Label] = {}
    for key in sorted(by_lead):
        history = sorted(by_lead[key], key=lambda e: (e.occurred_at, e.seq))
        positive = next((e for e in history if e.status in POSITIVE_STATES), None)
        if positive is not None:
            labels[key] = Label(key, True, positive.occurred_at, str(positive.status))
            continue
        last = history[-1]
        contacted = any(e.status == "contacted" for e in history)
        if last.status in NEGATIVE_STATES:
            labels[key] = Label(key, False, last.occurred_at, str(last.status))
        elif last.status == "do_not_contact" and contacted:
            labels[key] = Label(key, False, last.occurred_at, "do_not_contact")
        elif last.status == "contacted" and last.occurred_at + window <= as_of:
            labels[key] = Label(key, False, last.occurred_at + window, "no_reply")
    return labels
