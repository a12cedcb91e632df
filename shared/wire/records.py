"""msgspec mirrors of the lead records of ``shared.schemas``, for the run-level hot path.

The cleaner and the scorer hold a whole run in memory; pydantic models cost ~25 us a lead to
validate from JSON and several microseconds each to build, msgspec Structs a tenth of that. Same
names, fields, field order and defaults as the pydantic records, so the JSON is the same bytes
and the pure functions read either kind with the same attribute names (``kind_of`` picks the
constructors that match the input). ``gc=False``: these are trees of plain values, never cycles,
so the cyclic collector need not track them.

Decoding is strict (no string-to-number coercion); the wire codec falls back to the pydantic
path for anything these types refuse, so what is accepted or dead-lettered does not change.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, ClassVar, Literal

import msgspec

from shared import schemas


class _Record(msgspec.Struct, kw_only=True, gc=False):
    pass


class Partner(_Record, kw_only=True):
    name: str
    kind: Literal["PJ", "PF", "foreign", "unknown"] = "unknown"
    document: str | None = None
    qualification: str | None = None
    joined_on: str | None = None
    age_band: str | None = None


class Address(_Record, kw_only=True):
    street_type: str | None = None
    street: str | None = None
    number: str | None = None
    complement: str | None = None
    district: str | None = None
    postal_code: str | None = None
    city: str | None = None
    city_code: str | None = None
    state: str | None = None
    country: str = "BR"


class CompanyRecord(_Record, kw_only=True):
    lead_key: str
    country: str = "BR"
    registry_id: str
    source: str
    source_file: str | None = None
    source_line: int | None = None
    legal_name: str | None = None
    trade_name: str | None = None
    status: str | None = None
    status_date: str | None = None
    opened_on: str | None = None
    activity_main: str | None = None
    activity_main_name: str | None = None
    activities_secondary: list[str] = []
    legal_nature: str | None = None
    legal_nature_name: str | None = None
    size: str | None = None
    capital: float | None = None
    head_office: bool | None = None
    address: Address = msgspec.field(default_factory=Address)
    phones: list[str] = []
    emails: list[str] = []
    website: str | None = None
    simples: bool | None = None
    mei: bool | None = None
    partners: list[Partner] = []
    extra: dict[str, str] = {}


class Phone(_Record, kw_only=True):
    e164: str
    kind: Literal["mobile", "fixed", "unknown"] = "unknown"
    whatsapp: bool = False
    raw: str | None = None
    shared_count: int = 1


class Email(_Record, kw_only=True):
    address: str
    domain: str
    free_mail: bool = False
    role: bool = False


class Reason(_Record, kw_only=True):
    code: str
    detail: str = ""
    points: int = 0


class CleanedLead(_Record, kw_only=True):
    company: CompanyRecord
    phones: list[Phone] = []
    emails: list[Email] = []
    flags: list[Reason] = []
    website_candidates: list[str] = []
    merged_from: list[str] = []
    trace_id: str | None = None

    @property
    def lead_key(self) -> str:
        return self.company.lead_key


class DroppedLead(_Record, kw_only=True):
    lead_key: str | None = None
    stage: str
    reason: Reason
    source_file: str | None = None
    source_line: int | None = None
    raw: dict[str, str] | None = None


class ScoredLead(_Record, kw_only=True):
    lead: CleanedLead
    score: int
    reasons: list[Reason] = []
    rank: int = 0
    enrich: bool = False
    bucket: str | None = None


# ---- batch events (payloads of shared.events' batch events, same fields in the same order) -------


class _Batch(_Record, kw_only=True):
    TYPE: ClassVar[str]
    VERSION: ClassVar[int] = 1
    SUBJECT: ClassVar[str]


class LeadsExtracted(_Batch, kw_only=True):
    TYPE: ClassVar[str] = "LeadsExtracted"
    SUBJECT: ClassVar[str] = "lead.extracted.{run_id}"
    run_id: str
    batch: int
    companies: list[CompanyRecord]


class LeadsRejected(_Batch, kw_only=True):
    TYPE: ClassVar[str] = "LeadsRejected"
    SUBJECT: ClassVar[str] = "lead.rejected.{run_id}"
    run_id: str
    stage: str
    batch: int
    rejected: list[DroppedLead]


class LeadsCleaned(_Batch, kw_only=True):
    TYPE: ClassVar[str] = "LeadsCleaned"
    SUBJECT: ClassVar[str] = "lead.cleaned.{run_id}"
    run_id: str
    batch: int
    leads: list[CleanedLead]


class LeadsScored(_Batch, kw_only=True):
    TYPE: ClassVar[str] = "LeadsScored"
    SUBJECT: ClassVar[str] = "lead.scored.{run_id}"
    run_id: str
    batch: int
    icp: str
    leads: list[ScoredLead]


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
