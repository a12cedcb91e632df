"""Request bodies of the API (validated: a bad field is a 422 naming the field)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, model_validator

from shared.domain.segments import SEGMENTS
from shared.events import KpiTargets, RunFilters
from shared.funnel import ActivityKind, FunnelState
from shared.vault.filters import LeadFilter

Format = Literal["csv", "parquet"]
MAX_OFFSET = 1_000_000_000  # list offsets past it are refused (422), well inside SQLite's 64-bit integers


class Problem(BaseModel):
    """An error: ``detail`` says what was wrong (a sentence, or a list of fields for a 422)."""

    detail: str | list[dict[str, object]]


# answers any operation may give, documented once for all (OpenAPI ``responses``)
COMMON_RESPONSES: dict[int | str, dict[str, object]] = {
    400: {"model": Problem, "description": "a body that is not JSON/form data at all"},
    401: {"model": Problem, "description": "basic auth is configured and the credentials are missing or wrong"},
    403: {"model": Problem, "description": "a write from another site's page (Origin/Referer)"},
    413: {"model": Problem, "description": "a body over the limit (MAX_UPLOAD_BYTES for uploads, 4 MB otherwise)"},
}
NOT_FOUND: dict[int | str, dict[str, object]] = {404: {"model": Problem, "description": "no such item (yet)"}}
Segment = Literal[tuple(SEGMENTS)]  # type: ignore[valid-type]


class RunCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: str = Field(min_length=3, pattern=r"^(csv|cnpj|sirene|casadosdados)(:|$)",
                        description='"csv:PATH", "cnpj:DIR", "sirene:PATH" or "casadosdados"')
    filters: RunFilters = Field(default_factory=RunFilters)
    enrich_top: float = Field(default=0.2, ge=0.0, le=1.0)
    icp: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_\-]*$")
    segments: list[Segment] = Field(default_factory=lambda: ["hot"], min_length=1)  # type: ignore[valid-type]
    formats: list[Format] = Field(default_factory=lambda: ["csv"], min_length=1)
    label: str | None = Field(default=None, max_length=200)
    targets: KpiTargets | None = Field(default=None, description="KPI targets the run report judges (MET / NOT MET)")

    @model_validator(mode="after")
    def _known_source(self) -> RunCreate:
        kind = self.source.split(":", 1)[0]
        if kind not in {"csv", "cnpj", "sirene", "casadosdados"}:
            raise ValueError(f"unknown source kind {kind!r}; use csv:PATH, cnpj:DIR, sirene:PATH or casadosdados")
        return self


class BatchCreate(RunCreate):
    """One run per activity code: a hunt's fields, each run with one CNAE (or NAF) code of ``codes``."""

    kind: Literal["cnae", "naf"] = "cnae"
    codes: list[str] = Field(min_length=1, max_length=200, description="one run per code")

    @model_validator(mode="after")
    def _codes(self) -> BatchCreate:
        bad = [c for c in self.codes if not c.strip() or not all(ch.isalnum() or ch in ".-/" for ch in c.strip())]
        if bad:
            raise ValueError(f"not an activity code: {', '.join(repr(c) for c in bad[:5])}")
        return self


class ExportCreate(BaseModel):
    """A run's segment (``run_id``) or any vault filter (``vault_filter``; then ``segment`` applies on top)."""

    model_config = ConfigDict(extra="forbid")
    run_id: str | None = None
    vault_filter: LeadFilter | None = None
    segment: Segment = "all"  # type: ignore[valid-type]
    formats: list[Format] = Field(default_factory=lambda: ["csv"], min_length=1)
    bom: bool = False


class StatusChange(BaseModel):
    """A move along the lead's funnel (validated against its current state) and/or a note."""

    model_config = ConfigDict(extra="forbid")
    status: FunnelState | None = None
    reopen: bool = Field(default=False, description="reopen a closed lead (won, lost, do_not_contact)")
    note: str | None = Field(default=None, max_length=4000)
    run_id: str | None = Field(default=None, description="the run the person was looking at (context only)")

    @model_validator(mode="after")
    def _something(self) -> StatusChange:
        if self.status is None and not (self.note or "").strip():
            raise ValueError("give a status, a note, or both")
        if self.reopen and self.status is None:
            raise ValueError("a reopen needs the status to reopen to")
        return self


class ActivityCreate(BaseModel):
    """Something done or planned on a lead: a note, call, e-mail, WhatsApp, meeting, or a task with its due date."""

    model_config = ConfigDict(extra="forbid")
    kind: ActivityKind
    text: str = Field(default="", max_length=4000)
    due_on: date | None = Field(default=None, description="tasks: the day it is due (YYYY-MM-DD)")
    run_id: str | None = Field(default=None, description="the run the person was looking at (context only)")

    @model_validator(mode="after")
    def _due_date_for_tasks(self) -> ActivityCreate:
        if self.kind == "task" and self.due_on is None:
            raise ValueError("a task needs due_on")
        if self.kind != "task" and self.due_on is not None:
            raise ValueError("only a task has a due_on")
        if self.kind != "task" and not self.text.strip():
            raise ValueError(f"a {self.kind} needs a text")
        return self


class PartnerImport(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lead_keys: list[str] = Field(min_length=1, max_length=10_000)
    enrich_top: float = Field(default=0.5, ge=0.0, le=1.0)
    icp: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_\-]*$")
    label: str | None = Field(default=None, max_length=200)


class ConfigUpdate(BaseModel):
    """Settings saved from the UI. Keys left out are unchanged; secrets are never shown back."""

    model_config = ConfigDict(extra="forbid")
    webhook_url: HttpUrl | Literal[""] | None = None
    webhook_secret: str | None = Field(default=None, max_length=500)
    serper_api_key: str | None = Field(default=None, max_length=500)
    casa_dos_dados_api_key: str | None = Field(default=None, max_length=500)
    enrich_top_default: float | None = Field(default=None, ge=0.0, le=1.0)
    fetch_pages_per_site: int | None = Field(default=None, ge=1, le=20)
    enable_playwright: bool | None = None


SECRET_KEYS = frozenset({"webhook_secret", "serper_api_key", "casa_dos_dados_api_key"})
