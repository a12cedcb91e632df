"""Decode stream messages fast.

Current-version events are validated in one pydantic pass over the raw JSON, into a *view*: the
event itself, or for big events a slimmer model holding only what the vault keeps (the JSON parser
skips the rest). Older versions take the generic path (envelope, then upcasting). Events the vault
does not project are not decoded at all."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from shared.bus import decode
from shared.events import EVENT_TYPES, Envelope, Event, decode_event
from shared.schemas import Enrichment, Reason

_TYPE_MARK = b'"type":"'
NOT_PROJECTED = frozenset({"LeadsExtracted", "EnrichmentRequested"})  # companies are projected once cleaned


class _View(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _PhoneView(_View):
    whatsapp: bool = False


class _CompanyView(_View):
    lead_key: str


class _CleanedLeadView(_View):
    company: _CompanyView
    phones: list[_PhoneView] = Field(default_factory=list)
    trace_id: str | None = None

    @property
    def lead_key(self) -> str:
        return self.company.lead_key


class _ScoredLeadView(_View):
    lead: _CleanedLeadView
    score: int
    reasons: list[Reason] = Field(default_factory=list)
    rank: int = 0
    enrich: bool = False
    bucket: str | None = None


class LeadsScoredView(_View):
    run_id: str
    batch: int
    icp: str
    leads: list[_ScoredLeadView]


class LeadEnrichedView(_View):
    run_id: str
    enrichment: Enrichment


VIEWS: dict[str, type[BaseModel]] = {**EVENT_TYPES, "LeadsScored": LeadsScoredView, "LeadEnriched": LeadEnrichedView}


def _typed_envelope(cls: type[BaseModel]) -> type[Envelope]:
    return create_model(f"{cls.__name__}Envelope", __base__=Envelope, payload=(cls, ...))  # type: ignore[call-overload]


_TYPED: dict[str, type[Envelope]] = {name: _typed_envelope(cls) for name, cls in VIEWS.items()}


def type_of(data: bytes) -> str | None:
    """The envelope's type, read from the raw JSON without parsing it (None: not found)."""
    start = data.find(_TYPE_MARK)
    if start < 0:
        return None
    start += len(_TYPE_MARK)
    end = data.find(b'"', start)
    return data[start:end].decode("ascii", "replace") if end > 0 else None


def decode_message(data: bytes) -> tuple[Envelope, Any]:
    """The envelope and its event (or view of it). Raises like :func:`shared.events.decode_event`."""
    name = type_of(data)
    typed = _TYPED.get(name) if name else None
    if typed is not None:
        try:
            env: Any = typed.model_validate_json(data)
        except ValidationError:
            env = None
        if env is not None and env.type == name and env.version == EVENT_TYPES[name].VERSION:
            return env, env.payload
    env = decode(data)
    event: Event = decode_event(env)
    return env, event
