"""msgspec mirrors of the event schemas, for the projector's fast decoding path.

The mirrors are *generated* from the pydantic models of ``shared/`` (``shared.wire.mirrors``, the
tuple flavour: same fields, types and defaults), so a schema change needs no second edit here.
They are not tracked by the garbage collector (``gc=False``: a decoded event holds no reference
cycle), which keeps the collector's passes short while a batch holds hundreds of thousands of
them. ``canonical`` writes the vault's JSON columns: sorted keys, compact, UTF-8 — byte for byte
what ``shared.vault.engine.canonical_json`` writes for the same value."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import msgspec

from shared.events import EVENT_TYPES
from shared.schemas import Enrichment, Reason
from shared.wire.mirrors import FLOAT_FIELDS as _FLOAT_FIELDS
from shared.wire.mirrors import OMIT_NONE, struct_of

EVENT_STRUCTS: dict[str, type[msgspec.Struct]] = {name: struct_of(cls) for name, cls in EVENT_TYPES.items()}
ReasonStruct = struct_of(Reason)
EnrichmentStruct = struct_of(Enrichment)


# ---- views: what the vault keeps of the biggest events (the decoder skips the rest) ---------------


class _PhoneView(msgspec.Struct, gc=False):
    whatsapp: bool = False


class _CompanyKey(msgspec.Struct, gc=False):
    lead_key: str


class _LeadView(msgspec.Struct, gc=False):
    company: _CompanyKey
    phones: tuple[_PhoneView, ...] = ()
    trace_id: str | None = None


class _ScoredLeadView(msgspec.Struct, kw_only=True, gc=False):
    lead: _LeadView
    score: int
    reasons: tuple[ReasonStruct, ...] = ()  # type: ignore[valid-type]
    rank: int = 0
    enrich: bool = False
    bucket: str | None = None


class LeadsScoredView(msgspec.Struct, gc=False):
    run_id: str
    batch: int
    icp: str
    leads: tuple[_ScoredLeadView, ...]


class LeadEnrichedView(msgspec.Struct, gc=False):
    run_id: str
    enrichment: EnrichmentStruct  # type: ignore[valid-type]


VIEWS: dict[str, type[msgspec.Struct]] = {**EVENT_STRUCTS, "LeadsScored": LeadsScoredView,
                                          "LeadEnriched": LeadEnrichedView}


def envelope_struct(payload: type[msgspec.Struct]) -> type[msgspec.Struct]:
    """The wire envelope (``shared.events.Envelope``) with a typed payload."""
    return msgspec.defstruct(f"{payload.__name__}Envelope", [
        ("event_id", str), ("type", str), ("occurred_at", datetime), ("payload", payload),
        ("version", int, 1), ("run_id", str | None, None), ("lead_key", str | None, None),
        ("causation_id", str | None, None), ("correlation_id", str | None, None),
    ], kw_only=True, gc=False)


# ---- canonical JSON ------------------------------------------------------------------------------

_encoder = msgspec.json.Encoder(order="sorted")


def _plain_float(x: float) -> bool:
    """Spelled the same by msgspec and json (no exponent; finite)."""
    return x == 0 or 1e-4 <= abs(x) < 1e16


def _plain(value: Any) -> bool:
    kind = type(value)
    if kind in _NO_FLOATS:
        return True
    if kind is float:
        return _plain_float(value)
    if kind is list or kind is tuple:
        values = value
    elif kind is dict:
        values = value.values()
    else:
        fields = _FLOAT_FIELDS.get(kind)
        if fields is None:  # a hand-written view: look at every field
            fields = value.__struct_fields__ if isinstance(value, msgspec.Struct) else ()
        values = [getattr(value, f) for f in fields]
    for v in values:  # (a loop: all() of a generator costs twice as much here)
        t = type(v)
        if t is float:  # (_plain_float, inline)
            if not (v == 0 or 1e-4 <= abs(v) < 1e16):
                return False
        elif t not in _NO_FLOATS and not _plain(v):
            return False
    return True


_NO_FLOATS = {str, int, bool, type(None), bytes} | {s for s, fields in _FLOAT_FIELDS.items() if not fields}


def canonical(value: Any) -> str:
    """Sorted-keys compact JSON of a struct / list / dict: byte for byte ``shared.vault.engine.canonical_json`` of its
    builtin form (msgspec and json spell floats alike but for exponents: those go through json)."""
    omitted = OMIT_NONE.get(type(value), ())
    if not omitted and _plain(value):
        return _encoder.encode(value).decode()
    builtins = msgspec.to_builtins(value)
    for name in omitted:
        if builtins.get(name, 0) is None:
            del builtins[name]
    return json.dumps(builtins, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
