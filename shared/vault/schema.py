"""The vault's tables. JSON-ish columns are canonical JSON text (sorted keys) so that the
vault's digest is stable and the same schema runs on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import Index, func
from sqlmodel import Field, SQLModel


class Checkpoint(SQLModel, table=True):
    __tablename__ = "checkpoints"
    name: str = Field(primary_key=True)
    seq: int = 0


class Company(SQLModel, table=True):
    __tablename__ = "companies"
    lead_key: str = Field(primary_key=True)
    country: str
    registry_id: str = Field(index=True)
    legal_name: str | None = None
    trade_name: str | None = None
    status: str | None = None
    activity_main: str | None = Field(default=None, index=True)
    opened_on: str | None = None
    capital: float | None = None
    size: str | None = None
    legal_nature: str | None = None
    city: str | None = None
    state: str | None = None
    phone: str | None = None
    whatsapp: str | None = None  # the registry's (a WhatsApp-capable mobile)
    site_whatsapp: str | None = None  # the first WhatsApp its site shows (enrichment), whatever the registry says
    email: str | None = None
    accountant_like: bool = False
    repeated_phone: bool = False
    source: str | None = None
    first_run: str | None = None
    last_run: str | None = None
    updated_at: str | None = None
    data: str = "{}"  # the latest CleanedLead, canonical JSON
    search_text: str = ""  # names and registry id folded for the ``q`` filter (vault/search_text.py)


class Partner(SQLModel, table=True):
    __tablename__ = "partners"
    lead_key: str = Field(primary_key=True)
    name: str = Field(primary_key=True, index=True)
    document: str = Field(default="", primary_key=True)
    kind: str | None = None
    qualification: str | None = None
    joined_on: str | None = None
    search_name: str = ""  # the name folded (search_text.fold) for the Person search


class Lead(SQLModel, table=True):
    """One lead of one run, with its scores, bucket and reasons."""

    __tablename__ = "leads"
    run_id: str = Field(primary_key=True)
    lead_key: str = Field(primary_key=True)
    score_v1: int | None = None
    rank: int | None = None
    enrich: bool = False
    score: int | None = None  # final: v2 when enriched, else v1
    bucket: str | None = None
    reasons: str = "[]"
    enriched: bool = False
    has_site: bool = False
    has_whatsapp: bool = False
    technologies: str = ""  # comma list, for filtering
    trace_id: str | None = None
    updated_at: str | None = None


class LeadCurrent(SQLModel, table=True):
    """One lead (a company) across runs: what the vault list, its count and the exports of a vault
    filter read. Its score columns mirror the per-run row of ``latest_run_id``, the run that scored it
    last (in stream order); ``status`` is its funnel state (``shared.funnel``), which no run resets."""

    __tablename__ = "lead_current"
    lead_key: str = Field(primary_key=True)
    latest_run_id: str | None = None
    runs_seen: int = 0  # runs with a row of this lead in ``leads``
    score_v1: int | None = None
    rank: int | None = None
    enrich: bool = False
    score: int | None = None
    bucket: str | None = None
    reasons: str = "[]"
    enriched: bool = False
    has_site: bool = False
    has_whatsapp: bool = False
    technologies: str = ""
    trace_id: str | None = None
    status: str = "new"  # funnel state
    status_at: str | None = None
    updated_at: str | None = None


class TimelineRow(SQLModel, table=True):
    """A lead's timeline: its funnel changes (``kind`` "status"; a note alone is a "note") and the
    activities recorded on it, with who and when."""

    __tablename__ = "lead_timeline"
    seq: int = Field(primary_key=True)
    lead_key: str
    kind: str  # status, or an activity kind (note, call, email, whatsapp, meeting, task)
    status: str | None = None  # the state moved to (kind "status")
    previous: str | None = None  # the state moved from
    reopen: bool = False
    text: str = ""
    due_on: str | None = None
    actor: str = "api"
    run_id: str | None = None  # the run the person was looking at (context)
    occurred_at: str


class EnrichmentRow(SQLModel, table=True):
    __tablename__ = "enrichments"
    lead_key: str = Field(primary_key=True)
    domain: str | None = Field(default=None, index=True)
    site: str | None = None
    status: str
    verified: bool = False
    reused: bool = False
    fetched_at: str | None = None
    run_id: str | None = None
    technologies: str = ""
    data: str = "{}"


class DroppedRow(SQLModel, table=True):
    __tablename__ = "dropped"
    seq: int = Field(primary_key=True)
    idx: int = Field(primary_key=True)
    run_id: str = Field(index=True)
    stage: str
    lead_key: str | None = None
    reason: str
    detail: str = ""
    source_file: str | None = None
    source_line: int | None = None


class Run(SQLModel, table=True):
    __tablename__ = "runs"
    run_id: str = Field(primary_key=True)
    source: str
    label: str | None = None
    filters: str = "{}"
    enrich_top: float = 0.2
    icp: str | None = None
    status: str = "requested"  # requested, running, completed, failed, cancelled
    requested_at: str | None = None
    finished_at: str | None = None
    counts: str = "{}"
    message: str = ""
    targets: str = "{}"  # the KPI targets set by the hunt (canonical JSON), judged by the run report
    batch_id: str | None = Field(default=None, index=True)  # the batch the run belongs to (one run per code)


class RunStepRow(SQLModel, table=True):
    __tablename__ = "run_steps"
    seq: int = Field(primary_key=True)
    run_id: str = Field(index=True)
    stage: str
    status: str
    counts: str = "{}"
    message: str = ""
    occurred_at: str


class ApiCallRow(SQLModel, table=True):
    __tablename__ = "api_calls"
    seq: int = Field(primary_key=True)
    idx: int = Field(primary_key=True)
    run_id: str | None = Field(default=None, index=True)
    service: str
    endpoint: str
    method: str = "GET"
    status: int | None = None
    latency_ms: float = 0.0
    bytes: int = 0
    cache_hit: bool = False
    error: str | None = None
    lead_key: str | None = None
    occurred_at: str
    tokens: int = 0  # an LLM call's tokens


class ErrorRow(SQLModel, table=True):
    """Dead letters and failed steps."""

    __tablename__ = "errors"
    seq: int = Field(primary_key=True)
    kind: str  # dead_letter, step_failed
    stage: str
    run_id: str | None = Field(default=None, index=True)
    subject: str | None = None
    reason: str
    raw: str = ""
    occurred_at: str


class LogRow(SQLModel, table=True):
    __tablename__ = "logs"
    seq: int = Field(primary_key=True)
    service: str
    level: str
    message: str
    run_id: str | None = Field(default=None, index=True)
    lead_key: str | None = None
    trace_id: str | None = None
    fields: str = "{}"
    occurred_at: str


class ExportRow(SQLModel, table=True):
    __tablename__ = "exports"
    export_id: str = Field(primary_key=True)
    run_id: str | None = Field(default=None, index=True)
    segment: str
    status: str
    path: str | None = None
    files: str = "{}"
    rows: int = 0
    bytes: int = 0
    sha256: str | None = None
    error: str | None = None
    requested_at: str | None = None
    completed_at: str | None = None
    vault_filter: str = "{}"  # the filter the export was asked for (canonical JSON; {} for a run's segment)


class SourceExportRow(SQLModel, table=True):
    """A bulk export a source asked a provider for (Casa dos Dados), with its status as last seen."""

    __tablename__ = "source_exports"
    provider: str = Field(primary_key=True)
    request_id: str = Field(primary_key=True)
    run_id: str | None = Field(default=None, index=True)
    name: str = ""
    status: str
    rows: int | None = None
    message: str = ""
    requested_at: str | None = None
    updated_at: str | None = None


class ExportStatusSnapshot(SQLModel, table=True):
    __tablename__ = "exports_status_snapshots"
    seq: int = Field(primary_key=True)
    export_id: str = Field(index=True)
    status: str
    rows: int = 0
    occurred_at: str


class IcpProfileRow(SQLModel, table=True):
    __tablename__ = "icp_profiles"
    name: str = Field(primary_key=True)
    profile: str = "{}"
    updated_at: str | None = None


class ConfigRow(SQLModel, table=True):
    __tablename__ = "config"
    key: str = Field(primary_key=True)
    value: str = ""
    secret: bool = False
    updated_at: str | None = None


class RankingTrainingRow(SQLModel, table=True):
    """One training of the ranker (RankingTrained)."""

    __tablename__ = "ranking_trainings"
    version: int = Field(primary_key=True)
    status: str = "trained"  # or "cold_start"
    trigger: str = "outcomes"
    trigger_seq: int = 0
    as_of: str = ""
    model_kind: str | None = None
    outcomes: int = 0
    labelled: int = 0
    positives: int = 0
    negatives: int = 0
    leads_known: int = 0
    cv_auc: float | None = None
    cv_precision_at_10: float | None = None
    candidates: str = "{}"  # JSON: candidate -> cross-validated AUC
    importances: str = "[]"  # JSON: [{"feature", "importance"}], biggest first
    model_sha256: str | None = None
    model_file: str | None = None
    reason: str = ""
    trained_at: str = ""


class LeadPropensityRow(SQLModel, table=True):
    """A lead's propensity under the latest model that ranked it (LeadsRanked)."""

    __tablename__ = "lead_propensities"
    lead_key: str = Field(primary_key=True)
    version: int = 0
    propensity: float = 0.0
    top_features: str = "[]"  # JSON: [[feature, log-odds it added], ...]
    next_rank: int | None = Field(default=None, index=True)  # place in the next-leads list
    explored: bool = False


# Indexes for the vault list endpoint's filters and sorts (they change no row, hence no digest). The
# gateway names some of them (``INDEXED BY``): a company sort walks ix_companies_legal_name or
# ix_companies_city, a lead joins through ix_leads_lead_key. Ties sort on lead_key, hence its second place.
_companies, _leads, _current = Company.__table__, Lead.__table__, LeadCurrent.__table__  # type: ignore[attr-defined]
Index("ix_companies_search_text", _companies.c.search_text, _companies.c.lead_key)
Index("ix_companies_upper_city", func.upper(_companies.c.city))  # the city filter: upper(city) = ?
Index("ix_companies_city", _companies.c.city, _companies.c.lead_key)  # the city sort
Index("ix_companies_state", _companies.c.state, _companies.c.lead_key)
Index("ix_companies_legal_name", _companies.c.legal_name, _companies.c.lead_key)
Index("ix_leads_lead_key", _leads.c.lead_key, _leads.c.score)  # a lead's runs (its page)
Index("ix_leads_run_score", _leads.c.run_id, _leads.c.score)
Index("ix_leads_run_bucket_score", _leads.c.run_id, _leads.c.bucket, _leads.c.score)
# the list (one row per lead) walks these. Each ends with status and lead_key, which every list query reads
# (opted-out leads are left out; the run filter probes the leads' primary key), so a count reads no row
_c = _current.c
Index("ix_lead_current_key", _c.lead_key, _c.score, _c.status)
Index("ix_lead_current_score_key", _c.score, _c.lead_key, _c.status)
Index("ix_lead_current_bucket_score", _c.bucket, _c.score, _c.status, _c.lead_key)
Index("ix_lead_current_status_score", _c.status, _c.score, _c.lead_key)
Index("ix_lead_current_updated_key", _c.updated_at, _c.lead_key, _c.status)
Index("ix_lead_timeline_lead", TimelineRow.__table__.c.lead_key, TimelineRow.__table__.c.seq)  # type: ignore[attr-defined]
# older indexes the ones above cover (their leading column), or of the list when it read per-run rows:
# dropped from older vaults
OBSOLETE_INDEXES = ("ix_leads_score", "ix_leads_bucket", "ix_leads_score_key", "ix_leads_bucket_score",
                    "ix_leads_updated_key")

DIGEST_EXCLUDED = {"checkpoints"}


class LeadQualificationRow(SQLModel, table=True):
    """A lead's latest qualification (LeadQualified): fit, pain / need and data quality, tags, the snapshot,
    and with an LLM the SPIN notes and the first angle."""

    __tablename__ = "lead_qualifications"
    lead_key: str = Field(primary_key=True)
    run_id: str | None = None
    icp: str = ""
    method: str = "rules"  # or "llm"
    score: int = 0
    fit: int = 0
    pain: int = 0
    data_quality: int = 0
    tags: str = "[]"  # JSON list
    signals: str = "[]"  # JSON list
    snapshot: str = ""
    spin: str = "{}"  # JSON: situation, problem, implication, need_payoff ({} without an LLM)
    first_angle: str | None = None
    model: str | None = None
    tokens: int = 0
    cached: bool = False
    llm_error: str | None = None
    content_hash: str = ""
    qualified_at: str = ""
