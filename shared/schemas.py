"""Domain records carried inside events. Pure data: no behaviour, no I/O.

A lead grows as it moves down the pipeline:
CompanyRecord (extractor) -> CleanedLead (cleaner) -> ScoredLead (scorer v1)
-> Enrichment (enricher) -> FinalScore (scorer v2).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.vocabulary import Bucket


class Record(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Partner(Record):
    """A partner (sócio) of a company."""

    name: str
    kind: Literal["PJ", "PF", "foreign", "unknown"] = "unknown"
    document: str | None = None  # CPF masked (***NNNNNN**) or CNPJ
    qualification: str | None = None
    joined_on: str | None = None  # ISO date
    age_band: str | None = None


class Address(Record):
    street_type: str | None = None
    street: str | None = None
    number: str | None = None
    complement: str | None = None
    district: str | None = None
    postal_code: str | None = None
    city: str | None = None
    city_code: str | None = None
    state: str | None = None  # UF in Brazil, department in France
    country: str = "BR"


class CompanyRecord(Record):
    """One company as read from a registry source, before any cleaning."""

    lead_key: str  # "<country>:<registry id>", e.g. "BR:19131243000197"
    country: str = "BR"
    registry_id: str  # CNPJ (14 chars) / SIRET (14 digits) / SIREN (9 digits)
    source: str  # "csv", "cnpj", "sirene", "casadosdados"
    source_file: str | None = None
    source_line: int | None = None
    legal_name: str | None = None  # razão social / denomination
    trade_name: str | None = None  # nome fantasia / enseigne
    status: str | None = None  # ATIVA, SUSPENSA, INAPTA, BAIXADA, NULA / A, F
    status_date: str | None = None
    opened_on: str | None = None  # ISO date
    activity_main: str | None = None  # CNAE (7 digits) or NAF ("62.01Z")
    activity_main_name: str | None = None
    activities_secondary: list[str] = Field(default_factory=list)
    legal_nature: str | None = None  # code, e.g. "2135"
    legal_nature_name: str | None = None
    size: str | None = None  # porte code/description
    capital: float | None = None
    head_office: bool | None = None
    address: Address = Field(default_factory=Address)
    phones: list[str] = Field(default_factory=list)  # raw, e.g. "11 987654321" or "(11) 3333-4444"
    emails: list[str] = Field(default_factory=list)  # raw
    website: str | None = None
    simples: bool | None = None
    mei: bool | None = None
    partners: list[Partner] = Field(default_factory=list)
    extra: dict[str, str] = Field(default_factory=dict)


class Phone(Record):
    e164: str
    kind: Literal["mobile", "fixed", "unknown"] = "unknown"
    whatsapp: bool = False
    raw: str | None = None
    shared_count: int = 1  # how many companies of the run carry this phone


class Email(Record):
    address: str
    domain: str
    free_mail: bool = False
    role: bool = False  # contato@, financeiro@ ...


class Reason(Record):
    """Why something happened to a lead: a flag, a drop, or score points."""

    code: str  # e.g. "mei", "accountant_like", "repeated_phone", "icp_cnae_match"
    detail: str = ""
    points: int = 0


class CleanedLead(Record):
    company: CompanyRecord
    phones: list[Phone] = Field(default_factory=list)
    emails: list[Email] = Field(default_factory=list)
    flags: list[Reason] = Field(default_factory=list)  # accountant_like, repeated_phone, ...
    website_candidates: list[str] = Field(default_factory=list)  # domains, best first
    merged_from: list[str] = Field(default_factory=list)  # lead keys merged into this one
    trace_id: str | None = None

    @property
    def lead_key(self) -> str:
        return self.company.lead_key


class DroppedLead(Record):
    """A lead removed at some stage (MEI, invalid id, duplicate, malformed row)."""

    lead_key: str | None = None
    stage: str
    reason: Reason
    source_file: str | None = None
    source_line: int | None = None
    raw: dict[str, str] | None = None


class ScoredLead(Record):
    lead: CleanedLead
    score: int  # 0..100, v1
    reasons: list[Reason] = Field(default_factory=list)
    rank: int = 0  # 1 = best of the run
    enrich: bool = False  # selected for enrichment (top X%)
    bucket: str | None = None  # v1 bucket (hot/warm/nurture/parked), final for leads not enriched


class Technology(Record):
    name: str
    version: str | None = None
    categories: list[str] = Field(default_factory=list)
    confidence: int = 100


class Enrichment(Record):
    lead_key: str
    status: Literal["ok", "no_site", "error", "budget_exceeded", "skipped"] = "ok"
    site: str | None = None  # final URL of the verified homepage
    domain: str | None = None
    verified: bool = False
    verified_by: list[str] = Field(default_factory=list)  # "registry_id", "phone", "name", "email_domain"
    discovered_by: str | None = None  # "email_domain", "search", "guess", "registry"
    confidence: float = 0.0
    emails: list[str] = Field(default_factory=list)
    phones: list[str] = Field(default_factory=list)  # E.164
    whatsapp: list[str] = Field(default_factory=list)  # E.164 or wa.me URLs
    socials: dict[str, str] = Field(default_factory=dict)  # instagram/linkedin/facebook/youtube -> URL
    google_maps_url: str | None = None
    jsonld: dict[str, str] = Field(default_factory=dict)
    title: str | None = None
    description: str | None = None
    technologies: list[Technology] = Field(default_factory=list)
    pages_fetched: int = 0
    bytes_fetched: int = 0
    rendered: bool = False  # browser fallback used
    reused: bool = False  # taken from the vault within TTL
    fetched_at: str | None = None  # ISO datetime
    error: str | None = None
    text_excerpt: str | None = None  # the homepage's visible text, spaces collapsed, at most 2,000 characters


class FinalScore(Record):
    lead_key: str
    score: int  # v2
    bucket: Bucket
    reasons: list[Reason] = Field(default_factory=list)


class ApiCall(Record):
    """One outbound call (registry API, search provider, website fetch)."""

    service: str
    endpoint: str
    method: str = "GET"
    status: int | None = None
    latency_ms: float = 0.0
    bytes: int = 0
    cache_hit: bool = False
    error: str | None = None
    lead_key: str | None = None
    tokens: int = 0  # an LLM call's tokens (prompt + completion)

