"""msgspec mirrors of the lead records of ``shared.schemas``, for the run-level hot path.

The cleaner and the scorer hold a whole run in memory; pydantic models cost ~25 us a lead to
validate from JSON and several microseconds each to build, msgspec Structs a tenth of that.
Generated from the pydantic records (``shared.wire.mirrors``, with lists): same names, fields,
field order and defaults, so the JSON is the same bytes
and the pure functions read either kind with the same attribute names (``kind_of`` picks the
constructors that match the input). ``gc=False``: these are trees of plain values, never cycles,
so the cyclic collector need not track them.

Decoding is strict (no string-to-number coercion); the wire codec falls back to the pydantic
path for anything these types refuse, so what is accepted or dead-lettered does not change.
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec

from shared import events, schemas
from shared.wire.mirrors import Extras, add_extras, struct_of


class _Record(msgspec.Struct, kw_only=True, gc=False):
    pass


class _LeadOfCompany(_Record, kw_only=True):
    """What the cleaned lead's mirror adds to its model's fields: ``lead_key`` (its company's)."""

    @property
    def lead_key(self) -> str:
        return self.company.lead_key  # type: ignore[attr-defined, no-any-return]


class _Batch(_Record, kw_only=True):
    TYPE: ClassVar[str]
    VERSION: ClassVar[int] = 1
    SUBJECT: ClassVar[str]


_BATCH_EVENTS = (events.LeadsExtracted, events.LeadsRejected, events.LeadsCleaned, events.LeadsScored)
add_extras(list, Extras(
    bases={schemas.CleanedLead: (_LeadOfCompany,), **{e: (_Batch,) for e in _BATCH_EVENTS}},
    namespaces={e: {"TYPE": e.TYPE, "VERSION": e.VERSION, "SUBJECT": e.SUBJECT} for e in _BATCH_EVENTS},
))

# The mirrors, generated from the models (``shared.wire.mirrors``, list flavour): same names, fields,
# field order, types and defaults. mypy sees them as Any (they are made at run time).
if TYPE_CHECKING:
    Partner = Address = CompanyRecord = Phone = Email = Reason = CleanedLead = DroppedLead = ScoredLead = Any
    LeadsExtracted = LeadsRejected = LeadsCleaned = LeadsScored = Any
else:
    Partner = struct_of(schemas.Partner, sequence=list)
    Address = struct_of(schemas.Address, sequence=list)
    CompanyRecord = struct_of(schemas.CompanyRecord, sequence=list)
    Phone = struct_of(schemas.Phone, sequence=list)
    Email = struct_of(schemas.Email, sequence=list)
    Reason = struct_of(schemas.Reason, sequence=list)
    CleanedLead = struct_of(schemas.CleanedLead, sequence=list)
    DroppedLead = struct_of(schemas.DroppedLead, sequence=list)
    ScoredLead = struct_of(schemas.ScoredLead, sequence=list)
    # ---- batch events (payloads of shared.events' batch events) ----------------------------------
    LeadsExtracted = struct_of(events.LeadsExtracted, sequence=list)
    LeadsRejected = struct_of(events.LeadsRejected, sequence=list)
    LeadsCleaned = struct_of(events.LeadsCleaned, sequence=list)
    LeadsScored = struct_of(events.LeadsScored, sequence=list)


# ---- wire-only forms: a lead passed through as the JSON it arrived as ---------------------------


class ScoredLeadOnWire(_Record, kw_only=True):
    """``ScoredLead`` whose lead is the cleaned lead's JSON as it was read (``msgspec.Raw``):
    written back as the same bytes instead of being encoded again (same JSON as ``ScoredLead``
    for a lead the cleaner wrote)."""

    lead: msgspec.Raw
    score: int
    reasons: list[Reason] = []
    rank: int = 0
    enrich: bool = False
    bucket: str | None = None

    @property
    def lead_key(self) -> str:
        return _LEAD_KEY.decode(self.lead).company.lead_key  # type: ignore[no-any-return]


class LeadsScoredOnWire(_Batch, kw_only=True):
    TYPE: ClassVar[str] = "LeadsScored"
    SUBJECT: ClassVar[str] = "lead.scored.{run_id}"
    run_id: str
    batch: int
    icp: str
    leads: list[ScoredLeadOnWire]


class LeadsCleanedRaw(_Batch, kw_only=True):
    """``LeadsCleaned`` with each lead left as its JSON (read alongside the decoded batch)."""

    TYPE: ClassVar[str] = "LeadsCleaned"
    SUBJECT: ClassVar[str] = "lead.cleaned.{run_id}"
    run_id: str
    batch: int
    leads: list[msgspec.Raw]


def kind_of(record: object) -> ModuleType:
    """The module whose record classes match ``record``'s kind: this one or ``shared.schemas``."""
    return _THIS if isinstance(record, msgspec.Struct) else schemas


def to_struct(model: Any, cls: type[Any]) -> Any:
    """A pydantic record (or event) as its mirror (already validated: a plain conversion)."""
    return msgspec.convert(model.model_dump(), cls)


def to_model(struct: Any, cls: type[Any]) -> Any:
    """A mirror back as the pydantic record (or event) ``cls``."""
    return cls.model_validate(msgspec.to_builtins(struct))


def replace(record: Any, **changes: Any) -> Any:
    """A copy of ``record`` (either kind) with some fields changed."""
    if isinstance(record, msgspec.Struct):
        return msgspec.structs.replace(record, **changes)
    return record.model_copy(update=changes)


def field_names(record: Any) -> tuple[str, ...]:
    cls = type(record)
    return cls.__struct_fields__ if isinstance(record, msgspec.Struct) else tuple(cls.model_fields)


def dump_json(record: Any) -> bytes:
    """The record's JSON (the same bytes for both kinds)."""
    if isinstance(record, msgspec.Struct):
        return _ENCODER.encode(record)
    return record.model_dump_json().encode()  # type: ignore[no-any-return]


class _KeyOnly(msgspec.Struct):
    lead_key: str


class _LeadKeyOnly(msgspec.Struct):
    company: _KeyOnly


_ENCODER = msgspec.json.Encoder()
_LEAD_KEY = msgspec.json.Decoder(_LeadKeyOnly)
this_module = _THIS = __import__(__name__, fromlist=["_"])
