"""The event envelope and every event type, with its subject and schema version.

Subjects carry the run id as a token (``lead.cleaned.<run_id>``) so that a stage can read
one run's events back from the stream, and a consumer can filter on one stage's steps
(``run.step.*.extract``).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

from shared.funnel import ActivityKind, FunnelState
from shared.schemas import (
    ApiCall,
    CleanedLead,
    CompanyRecord,
    DroppedLead,
    Enrichment,
    FinalScore,
    ScoredLead,
)

STREAM_NAME = "HUNTER"
STREAM_SUBJECTS = ["run.>", "lead.>", "enrich.>", "export.>", "obs.>", "dlq.>", "icp.>", "config.>", "ranking.>"]
EVENT_NAMESPACE = uuid.UUID("6f1c9a52-3a8e-4c1e-9a55-2f8d1b7e4c10")


class Subjects:
    """Every subject name, in one place. ``*`` patterns are for subscriptions."""

    RUN_REQUESTED = "run.requested.{run_id}"
    RUN_CANCELLED = "run.cancelled.{run_id}"
    RUN_STEP = "run.step.{run_id}.{stage}"
    LEAD_EXTRACTED = "lead.extracted.{run_id}"
    LEAD_REJECTED = "lead.rejected.{run_id}"
    LEAD_CLEANED = "lead.cleaned.{run_id}"
    LEAD_SCORED = "lead.scored.{run_id}"
    ENRICH_REQUESTED = "enrich.requested.{run_id}"
    LEAD_ENRICHED = "lead.enriched.{run_id}"
    LEAD_RESCORED = "lead.rescored.{run_id}"
    EXPORT_REQUESTED = "export.requested.{run_id}"
    EXPORT_COMPLETED = "export.completed.{run_id}"
    SOURCE_EXPORT = "export.provider.{run_id}"  # a provider-side export a source asked for (Casa dos Dados)
    API_CALLS = "obs.api_call.{service}"
    LOG = "obs.log.{service}"
    DEAD_LETTER = "dlq.{stage}"
    ICP_SAVED = "icp.saved.{name}"
    LEAD_STATUS = "lead.status.{run_id}"  # v2 events: the lead's token in place of the run
    LEAD_ACTIVITY = "lead.activity.{lead}"
    CONFIG_SAVED = "config.saved.{key}"
    RANKING_REQUESTED = "ranking.requested"
    RANKING_TRAINED = "ranking.trained"
    LEADS_RANKED = "ranking.leads"
    LEAD_QUALIFIED = "lead.qualified.{lead}"  # the lead's token: its latest qualification is the subject's last
    # plain NATS, outside the stream (not events): what the enricher replicas spent per run
    BUDGET_SHARE = "coord.enricher.budget"
    # plain NATS request/reply: a dry run asks the extractor to count a source's matching rows
    PLAN_REQUEST = "rpc.extractor.plan"
    # plain NATS request/reply: which of these lead keys have an enrichment in the vault within its TTL
    # (the scorer asks, one enricher replica answers; JSON {"keys": [...]} both ways)
    ENRICH_REUSABLE = "coord.enricher.reusable"

    @staticmethod
    def step_pattern(stage: str) -> str:
        return f"run.step.*.{stage}"


def subject_token(value: str) -> str:
    """Make a value safe as one subject token (no dots, spaces or wildcards)."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in value) or "_"


class Event(BaseModel):
    """Base of every event payload."""

    model_config = ConfigDict(extra="ignore")
    TYPE: ClassVar[str]
    VERSION: ClassVar[int] = 1
    SUBJECT: ClassVar[str]


# ---- runs -------------------------------------------------------------------------------------

StageName = Literal[
    "run", "extract", "clean", "score", "enrich", "rescore", "export", "project"
]


class RunFilters(BaseModel):
    model_config = ConfigDict(extra="ignore")
    uf: list[str] = Field(default_factory=list)
    city: list[str] = Field(default_factory=list)
    cnae: list[str] = Field(default_factory=list)
    naf: list[str] = Field(default_factory=list)
    include_secondary: bool = False
    status: list[str] = Field(default_factory=lambda: ["ATIVA"])
    limit: int | None = None


class KpiTargets(BaseModel):
    """What a run should reach, set by a hunt or its ICP profile; the run report says MET / NOT MET
    for each one set (unset ones are not judged). Rates are fractions (0..1)."""

    model_config = ConfigDict(extra="forbid")
    min_quality_score: float | None = Field(default=None, ge=0, le=100)
    min_leads: int | None = Field(default=None, ge=0)
    min_hot: int | None = Field(default=None, ge=0)
    min_enriched_with_site_rate: float | None = Field(default=None, ge=0, le=1)
    max_reject_rate: float | None = Field(default=None, ge=0, le=1)
    min_rows_per_s: float | None = Field(default=None, ge=0)

    def is_set(self) -> dict[str, float]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class KpiResult(BaseModel):
    """One KPI target judged: its name (a :class:`KpiTargets` field), the goal, what the run reached."""

    name: str
    target: float
    actual: float | None = None  # None: the run gave nothing to measure (e.g. no enriched lead for a rate)
    met: bool


class KpiVerdict(BaseModel):
    """A finished run's KPI targets judged MET / NOT MET, each and overall (``met``: all of them)."""

    met: bool
    targets: list[KpiResult] = Field(default_factory=list)


class PlanRequest(BaseModel):
    """A dry run's question to the extractor (plain NATS request/reply, never stored)."""

    model_config = ConfigDict(extra="forbid")
    source: str
    filters: RunFilters = Field(default_factory=RunFilters)
    seconds: float = Field(default=5.0, gt=0, le=60)


class RunRequested(Event):
    TYPE: ClassVar[str] = "RunRequested"
    SUBJECT: ClassVar[str] = Subjects.RUN_REQUESTED
    run_id: str
    source: str  # "csv:PATH", "cnpj:DIR", "sirene:PATH", "casadosdados"
    filters: RunFilters = Field(default_factory=RunFilters)
    enrich_top: float = 0.2
    icp: str | None = None  # ICP profile name; None = default template
    segments: list[str] = Field(default_factory=lambda: ["hot"])
    formats: list[str] = Field(default_factory=lambda: ["csv"])
    label: str | None = None
    requested_by: str | None = None
    targets: KpiTargets | None = None  # KPI targets of this hunt (over the ICP profile's own)
    batch_id: str | None = None  # one run of a batch (one run per activity code)


class RunCancelled(Event):
    TYPE: ClassVar[str] = "RunCancelled"
    SUBJECT: ClassVar[str] = Subjects.RUN_CANCELLED
    run_id: str
    reason: str = ""


class RunStep(Event):
    TYPE: ClassVar[str] = "RunStep"
    SUBJECT: ClassVar[str] = Subjects.RUN_STEP
    run_id: str
    stage: StageName
    status: Literal["started", "progress", "completed", "failed", "cancelled"]
    counts: dict[str, int] = Field(default_factory=dict)
    message: str = ""
    # the run's completion (stage "run", completed) judged against its KPI targets; None: none set, or
    # not judged. Left out of the payload when None, so steps stay as they were before it existed.
    kpi: KpiVerdict | None = None
    OMIT_NONE: ClassVar[tuple[str, ...]] = ("kpi",)  # fields left out of the payload when None

    @model_serializer(mode="wrap")
    def _without_unset_kpi(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        out: dict[str, Any] = handler(self)
        for name in self.OMIT_NONE:
            if out.get(name, 0) is None:
                del out[name]
        return out


# ---- leads ------------------------------------------------------------------------------------


class LeadsExtracted(Event):
    TYPE: ClassVar[str] = "LeadsExtracted"
    SUBJECT: ClassVar[str] = Subjects.LEAD_EXTRACTED
    run_id: str
    batch: int
    companies: list[CompanyRecord]


class LeadsRejected(Event):
    TYPE: ClassVar[str] = "LeadsRejected"
    SUBJECT: ClassVar[str] = Subjects.LEAD_REJECTED
    run_id: str
    stage: str
    batch: int
    rejected: list[DroppedLead]


class LeadsCleaned(Event):
    TYPE: ClassVar[str] = "LeadsCleaned"
    SUBJECT: ClassVar[str] = Subjects.LEAD_CLEANED
    run_id: str
    batch: int
    leads: list[CleanedLead]


class LeadsScored(Event):
    TYPE: ClassVar[str] = "LeadsScored"
    SUBJECT: ClassVar[str] = Subjects.LEAD_SCORED
    run_id: str
    batch: int
    icp: str
    leads: list[ScoredLead]


class EnrichmentRequested(Event):
    TYPE: ClassVar[str] = "EnrichmentRequested"
    SUBJECT: ClassVar[str] = Subjects.ENRICH_REQUESTED
    run_id: str
    lead: ScoredLead
    expected_total: int  # how many leads of this run go to enrichment
    # outside the run's top share, sent because the vault holds its enrichment: reused, never fetched
    reuse_only: bool = False


class LeadEnriched(Event):
    TYPE: ClassVar[str] = "LeadEnriched"
    SUBJECT: ClassVar[str] = Subjects.LEAD_ENRICHED
    run_id: str
    lead: ScoredLead
    enrichment: Enrichment
    expected_total: int
    worker: str = ""


class LeadRescored(Event):
    TYPE: ClassVar[str] = "LeadRescored"
    SUBJECT: ClassVar[str] = Subjects.LEAD_RESCORED
    run_id: str
    final: FinalScore


# ---- exports ----------------------------------------------------------------------------------


class ExportRequested(Event):
    TYPE: ClassVar[str] = "ExportRequested"
    SUBJECT: ClassVar[str] = Subjects.EXPORT_REQUESTED
    export_id: str
    run_id: str | None = None
    segment: str = "hot"
    formats: list[str] = Field(default_factory=lambda: ["csv"])
    vault_filter: dict[str, Any] = Field(default_factory=dict)
    origin: Literal["run", "user"] = "user"  # "run": the exporter's own record of a run's export
    bom: bool = False


class ExportCompleted(Event):
    TYPE: ClassVar[str] = "ExportCompleted"
    SUBJECT: ClassVar[str] = Subjects.EXPORT_COMPLETED
    export_id: str
    run_id: str | None = None
    segment: str
    status: Literal["completed", "failed"] = "completed"
    path: str | None = None
    files: dict[str, str] = Field(default_factory=dict)  # format -> file path
    rows: int = 0
    bytes: int = 0
    sha256: str | None = None
    error: str | None = None


class SourceExportUpdated(Event):
    """A bulk export a source asked a provider for, as last seen (Casa dos Dados: the v5 export file,
    then its status on the v4 list until ``processado``, then the download): one event per change,
    so the Exports page lists the requests while the provider processes them."""

    TYPE: ClassVar[str] = "SourceExportUpdated"
    SUBJECT: ClassVar[str] = Subjects.SOURCE_EXPORT
    provider: str  # "casadosdados"
    request_id: str  # the provider's id of the export (arquivo_uuid)
    run_id: str | None = None
    name: str = ""
    # the provider's words (aguardando_processamento, processando, processado) or Hunter's own:
    # requested (created, not listed yet), downloaded, failed
    status: str
    rows: int | None = None  # the provider's row count, when it gives one (quantidade)
    message: str = ""


# ---- observability ----------------------------------------------------------------------------


class ApiCallsRecorded(Event):
    TYPE: ClassVar[str] = "ApiCallsRecorded"
    SUBJECT: ClassVar[str] = Subjects.API_CALLS
    run_id: str | None = None
    calls: list[ApiCall]


class LogRecorded(Event):
    """A warning or error logged by a service. v2: ``context`` holds only the log's own fields
    (v1's ``fields`` repeated service, run, lead and trace ids) and ``span_id`` is its own field."""

    TYPE: ClassVar[str] = "LogRecorded"
    VERSION: ClassVar[int] = 2
    SUBJECT: ClassVar[str] = Subjects.LOG
    service: str
    level: str
    message: str
    run_id: str | None = None
    lead_key: str | None = None
    trace_id: str | None = None
    span_id: str | None = None
    context: dict[str, Any] = Field(default_factory=dict)


class DeadLettered(Event):
    TYPE: ClassVar[str] = "DeadLettered"
    SUBJECT: ClassVar[str] = Subjects.DEAD_LETTER
    stage: str
    subject: str
    reason: str
    raw: str  # the original message body (text, truncated)
    run_id: str | None = None


class IcpProfileSaved(Event):
    TYPE: ClassVar[str] = "IcpProfileSaved"
    SUBJECT: ClassVar[str] = Subjects.ICP_SAVED
    name: str
    profile: dict[str, Any]


LeadStatusName = FunnelState  # the v1 name, kept for readers of older code


class LeadStatusChanged(Event):
    """A person moved a lead (a company, across runs) along its funnel and/or added a note.

    v2 is lead-level: ``run_id`` is only the run the person was looking at (context, may be None).
    v1 (per run, statuses new/contacted/replied/won/lost, ``by``) is upcast. The event is the fact:
    transitions are validated where a person asks for them (the gateway, ``shared.funnel``), never
    on replay, so old streams with any order of statuses still project."""

    TYPE: ClassVar[str] = "LeadStatusChanged"
    VERSION: ClassVar[int] = 2
    SUBJECT: ClassVar[str] = Subjects.LEAD_STATUS
    run_id: str | None = None
    lead_key: str
    status: FunnelState | None = None  # None: note only
    reopen: bool = False  # an explicit reopening of a closed lead (won, lost, do_not_contact)
    note: str | None = None
    actor: str = "api"  # the authenticated user, or "api"


class LeadActivityRecorded(Event):
    """Something a person did or plans on a lead: a note, a call, an e-mail or WhatsApp sent, a
    meeting, a task with a due date. Shown as the lead's timeline; an activity moves no state."""

    TYPE: ClassVar[str] = "LeadActivityRecorded"
    SUBJECT: ClassVar[str] = Subjects.LEAD_ACTIVITY
    run_id: str | None = None
    lead_key: str
    kind: ActivityKind
    text: str = ""
    due_on: str | None = None  # ISO date, tasks only
    actor: str = "api"


class ConfigSaved(Event):
    """A setting saved from the UI. Secret values are stored but never shown back."""

    TYPE: ClassVar[str] = "ConfigSaved"
    SUBJECT: ClassVar[str] = Subjects.CONFIG_SAVED
    key: str
    value: str
    secret: bool = False


# ---- ranking ------------------------------------------------------------------------------------


class RankingRequested(Event):
    """Someone asked the ranker to train now (``hunter rank train``, the UI), whatever the new outcomes."""

    TYPE: ClassVar[str] = "RankingRequested"
    SUBJECT: ClassVar[str] = Subjects.RANKING_REQUESTED
    requested_by: str = "api"


class FeatureImportance(BaseModel):
    feature: str
    importance: float  # mean absolute change in log-odds the feature makes


class RankingTrained(Event):
    """The ranker learned from the funnel's outcomes (or, below the minimum, says the ICP score ranks).

    A training reads the stream up to ``trigger_seq`` and labels outcomes as of ``as_of``: the same
    two give the same model bytes (``model_sha256``), so a replay can check them."""

    TYPE: ClassVar[str] = "RankingTrained"
    SUBJECT: ClassVar[str] = Subjects.RANKING_TRAINED
    version: int  # 1, 2, ... per training of this stream
    status: Literal["trained", "cold_start"]
    trigger: Literal["outcomes", "request"]
    trigger_seq: int
    as_of: str  # ISO 8601 date-time the outcomes were labelled as of
    model_kind: str | None = None  # "logistic" | "hgb"
    outcomes: int = 0  # outcomes decided in the funnel as of ``as_of`` (the trigger counts new ones from it)
    labelled: int = 0  # those of leads the stream has features for: the training set
    positives: int = 0
    negatives: int = 0
    leads_known: int = 0  # leads with features in the stream
    cv_auc: float | None = None
    cv_precision_at_10: float | None = None
    candidates: dict[str, float | None] = Field(default_factory=dict)  # model kind -> cross-validated AUC
    importances: list[FeatureImportance] = Field(default_factory=list)
    columns: int = 0
    model_sha256: str | None = None
    model_file: str | None = None  # name of the model file in the data dir's ranking/ folder
    reason: str = ""


class FeatureContribution(BaseModel):
    feature: str
    contribution: float  # log-odds the feature added to the lead's propensity (negative: took away)


class LeadPropensity(BaseModel):
    lead_key: str
    propensity: float  # 0..1
    top_features: list[FeatureContribution] = Field(default_factory=list)  # biggest moves first
    next_rank: int | None = None  # place in the next-leads list (1 = first), None when not in it
    explored: bool = False  # placed there by exploration (Thompson sampling), not by its propensity


class LeadsRanked(Event):
    """One batch of every known lead's propensity under a training's model, and the next-leads list."""

    TYPE: ClassVar[str] = "LeadsRanked"
    SUBJECT: ClassVar[str] = Subjects.LEADS_RANKED
    version: int  # the RankingTrained it follows
    model_sha256: str
    batch: int
    batches: int
    explore_share: float
    leads: list[LeadPropensity]


# ---- qualification --------------------------------------------------------------------------------


class SpinNotes(BaseModel):
    """SPIN selling notes on a lead (an LLM's reading of its facts)."""

    situation: str
    problem: str
    implication: str
    need_payoff: str


class LeadQualified(Event):
    """A lead qualified from its registry record and its site against the run's ICP: fit (0-50), pain /
    need signals (0-40) and data quality (0-10), tags and a snapshot. ``method`` "llm" adds SPIN notes and a
    first angle; "rules" is the offline qualifier (also what stands when the LLM's reply did not, with
    ``llm_error`` saying why). ``content_hash``: of the facts read, the LLM cache's key with the lead."""

    TYPE: ClassVar[str] = "LeadQualified"
    SUBJECT: ClassVar[str] = Subjects.LEAD_QUALIFIED
    run_id: str | None = None
    lead_key: str
    icp: str
    method: Literal["rules", "llm"] = "rules"
    score: int = Field(ge=0, le=100)  # fit + pain + data_quality
    fit: int = Field(ge=0, le=50)
    pain: int = Field(ge=0, le=40)
    data_quality: int = Field(ge=0, le=10)
    tags: list[str] = Field(default_factory=list)
    signals: list[str] = Field(default_factory=list)  # the facts behind the points, in words
    snapshot: str = ""
    spin: SpinNotes | None = None
    first_angle: str | None = None
    content_hash: str
    model: str | None = None  # the LLM's model name (method "llm", or the one that failed)
    tokens: int = 0  # LLM tokens spent on this qualification (0: rules, or a cached reply)
    cached: bool = False  # the LLM's reply for the same lead and content, reused
    llm_error: str | None = None  # why an LLM result does not stand (invalid twice, timeout, budget...)


EVENT_TYPES: dict[str, type[Event]] = {
    cls.TYPE: cls
    for cls in (
        RunRequested,
        RunCancelled,
        RunStep,
        LeadsExtracted,
        LeadsRejected,
        LeadsCleaned,
        LeadsScored,
        EnrichmentRequested,
        LeadEnriched,
        LeadRescored,
        ExportRequested,
        ExportCompleted,
        SourceExportUpdated,
        ApiCallsRecorded,
        LogRecorded,
        DeadLettered,
        IcpProfileSaved,
        LeadStatusChanged,
        LeadActivityRecorded,
        ConfigSaved,
        RankingRequested,
        RankingTrained,
        LeadsRanked,
        LeadQualified,
    )
}

# ---- upcasters: old payloads read by today's code ------------------------------------------------

_LOG_V1_IDS = ("service", "run_id", "lead_key", "trace_id", "span_id")


def _log_recorded_v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    """v1 kept every structlog field, ids included, in ``fields``; v2 lifts span_id out and keeps the rest."""
    out = {k: v for k, v in payload.items() if k != "fields"}
    fields = dict(payload.get("fields") or {})
    out.setdefault("span_id", fields.get("span_id"))
    out["context"] = {k: v for k, v in fields.items() if k not in _LOG_V1_IDS}
    return out


def _lead_status_v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    """v1 was per run with ``by``; v2 is per lead with ``actor`` (the run stays as context)."""
    out = {k: v for k, v in payload.items() if k != "by"}
    out["actor"] = payload.get("by") or "api"
    return out


# (type, from_version) -> function upgrading a payload dict by one version.
UPCASTERS: dict[tuple[str, int], Callable[[dict[str, Any]], dict[str, Any]]] = {
    ("LogRecorded", 1): _log_recorded_v1_to_v2,
    ("LeadStatusChanged", 1): _lead_status_v1_to_v2,
}


class Envelope(BaseModel):
    """What travels on the wire: metadata around one event payload."""

    model_config = ConfigDict(extra="ignore")
    event_id: str
    type: str
    version: int = 1
    run_id: str | None = None
    lead_key: str | None = None
    occurred_at: datetime
    causation_id: str | None = None
    correlation_id: str | None = None
    payload: dict[str, Any]


class UnknownEvent(ValueError):
    pass


class WrongEventType(ValueError):
    """An event of another type than the one its reader takes (a subscriber's, a subject's): bad input."""


def event_id_for(*parts: object) -> str:
    """A deterministic event id, so that a re-published event is deduplicated by Nats-Msg-Id."""
    return _uuid5(EVENT_NAMESPACE.bytes, "|".join(str(p) for p in parts))


def _uuid5(namespace: bytes, name: str) -> str:
    """``str(uuid.uuid5(namespace, name))`` without the ``UUID`` object (a third of the cost; one id per
    published event): SHA-1 of namespace and name, version 5 and the RFC 4122 variant set in place."""
    digest = bytearray(hashlib.sha1(namespace + name.encode("utf-8")).digest()[:16])  # noqa: S324 - as uuid5
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def envelope(
    event: Event,
    *,
    key: tuple[object, ...] | None = None,
    run_id: str | None = None,
    lead_key: str | None = None,
    causation_id: str | None = None,
    occurred_at: datetime | None = None,
    payload: dict[str, Any] | None = None,
) -> Envelope:
    """Wrap an event. ``key`` makes the event id deterministic (idempotent re-publish). ``payload``: the
    event already in its JSON form (``event.model_dump(mode="json")``), when the caller has it cheaper."""
    run = run_id if run_id is not None else getattr(event, "run_id", None)
    eid = event_id_for(event.TYPE, *key) if key is not None else str(uuid.uuid4())
    return Envelope(
        event_id=eid,
        type=event.TYPE,
        version=event.VERSION,
        run_id=run,
        lead_key=lead_key,
        occurred_at=occurred_at or datetime.now(UTC),
        causation_id=causation_id,
        correlation_id=run,
        payload=payload if payload is not None else event.model_dump(mode="json"),
    )


def subject_for(event: Event, **tokens: str) -> str:
    values = {k: subject_token(v) for k, v in tokens.items()}
    if "run_id" in event.SUBJECT and "run_id" not in values:
        values["run_id"] = subject_token(getattr(event, "run_id", None) or "none")
    return event.SUBJECT.format(**values)


def decode_event(env: Envelope) -> Event:
    """Typed payload of an envelope, upcasting older schema versions first."""
    cls = EVENT_TYPES.get(env.type)
    if cls is None:
        raise UnknownEvent(f"unknown event type {env.type!r}")
    payload, version = env.payload, env.version
    while version < cls.VERSION:
        upcast = UPCASTERS.get((env.type, version))
        if upcast is None:
            raise UnknownEvent(f"no upcaster for {env.type} v{version}")
        payload, version = upcast(payload), version + 1
    if version > cls.VERSION:
        raise UnknownEvent(f"{env.type} v{version} is newer than this release (v{cls.VERSION})")
    return cls.model_validate(payload)


E = TypeVar("E", bound=Event)


def decode_event_as(env: Envelope, cls: type[E]) -> E:
    """:func:`decode_event`, for a reader that takes one type: another raises :class:`WrongEventType`."""
    event = decode_event(env)
    if not isinstance(event, cls):
        raise WrongEventType(f"expected {cls.TYPE}, got {env.type}")
    return event


def new_run_id() -> str:
    return f"run-{datetime.now(UTC):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
