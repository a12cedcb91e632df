"""Apply stream events to the vault. Pure function of the events: no wall clock, no randomness,
so replaying the stream rebuilds the same vault. One transaction per batch; the checkpoint
(last applied stream sequence) is written in the same transaction, so a redelivered event
changes nothing."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete, select
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

from services.projector.db import canonical_json
from services.projector.models import (
    ApiCallRow,
    Checkpoint,
    Company,
    ConfigRow,
    DroppedRow,
    EnrichmentRow,
    ErrorRow,
    ExportRow,
    ExportStatusSnapshot,
    IcpProfileRow,
    Lead,
    LogRow,
    Partner,
    Run,
    RunStepRow,
)
from shared.bus import decode
from shared.events import (
    ApiCallsRecorded,
    ConfigSaved,
    DeadLettered,
    Envelope,
    Event,
    ExportCompleted,
    ExportRequested,
    IcpProfileSaved,
    LeadEnriched,
    LeadRescored,
    LeadsCleaned,
    LeadsExtracted,
    LeadsRejected,
    LeadsScored,
    LeadStatusChanged,
    LogRecorded,
    RunCancelled,
    RunRequested,
    RunStep,
    UnknownEvent,
    decode_event,
)
from shared.schemas import CleanedLead

RawEvent = tuple[int, str, bytes]  # (stream seq, subject, data)
TERMINAL = {"completed", "failed", "cancelled"}


class Projection:
    def __init__(self, engine: Engine, name: str = "projector") -> None:
        self.engine = engine
        self.name = name
        self._pending: dict[tuple[type[Any], Any], Any] = {}
        self._handlers: dict[type[Event], Callable[[Session, int, Envelope, Any], None]] = {
            RunRequested: self._run_requested,
            RunCancelled: self._run_cancelled,
            RunStep: self._run_step,
            LeadsExtracted: lambda *_: None,  # companies are projected once cleaned
            LeadsRejected: self._leads_rejected,
            LeadsCleaned: self._leads_cleaned,
            LeadsScored: self._leads_scored,
            LeadEnriched: self._lead_enriched,
            LeadRescored: self._lead_rescored,
            ExportRequested: self._export_requested,
            ExportCompleted: self._export_completed,
            ApiCallsRecorded: self._api_calls,
            LogRecorded: self._log,
            DeadLettered: self._dead_lettered,
            IcpProfileSaved: self._icp_saved,
            LeadStatusChanged: self._lead_status,
            ConfigSaved: self._config_saved,
        }

    def _get(self, s: Session, model: type[Any], pk: Any) -> Any:
        """Row by primary key, including rows added earlier in this (unflushed) batch."""
        found = self._pending.get((model, pk))
        return found if found is not None else s.get(model, pk)

    def _new(self, s: Session, row: Any, pk: Any) -> Any:
        s.add(row)
        self._pending[(type(row), pk)] = row
        return row

    def checkpoint(self) -> int:
        with Session(self.engine) as s:
            cp = s.get(Checkpoint, self.name)
            return cp.seq if cp else 0

    def apply(self, batch: Iterable[RawEvent]) -> int:
        """Apply one batch in one transaction; returns how many events had an effect."""
        applied = 0
        self._pending = {}
        with Session(self.engine, autoflush=False) as s:
            cp = s.get(Checkpoint, self.name) or Checkpoint(name=self.name, seq=0)
            last = cp.seq
            for seq, subject, data in batch:
                if seq <= last:
                    continue
                self._apply_one(s, seq, subject, data)
                last = seq
                applied += 1
            if applied:
                cp.seq = last
                s.add(cp)
                s.commit()
        return applied

    def _apply_one(self, s: Session, seq: int, subject: str, data: bytes) -> None:
        try:
            env = decode(data)
            event = decode_event(env)
        except (ValidationError, UnknownEvent, ValueError) as exc:
            s.add(ErrorRow(seq=seq, kind="projection", stage="projector", subject=subject,
                           reason=f"{type(exc).__name__}: {str(exc)[:500]}",
                           raw=data[:2000].decode("utf-8", "replace"), occurred_at=""))
            return
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(s, seq, env, event)

    # ---- helpers --------------------------------------------------------------------------

    @staticmethod
    def _when(env: Envelope) -> str:
        return env.occurred_at.isoformat()

    @staticmethod
    def _prefetch(s: Session, model: type[SQLModel], keys: list[tuple[Any, ...]]) -> None:
        """Load rows into the session's identity map in one query instead of one per key."""
        if not keys:
            return
        pk = list(model.__table__.primary_key.columns)  # type: ignore[attr-defined]
        if len(pk) == 1:
            col = getattr(model, pk[0].name)
            for chunk in range(0, len(keys), 500):
                list(s.exec(select(model).where(col.in_([k[0] for k in keys[chunk:chunk + 500]]))).scalars())
        else:
            first, second = (getattr(model, c.name) for c in pk[:2])
            by_first: dict[Any, list[Any]] = {}
            for k in keys:
                by_first.setdefault(k[0], []).append(k[1])
            for a, bs in by_first.items():
                for chunk in range(0, len(bs), 500):
                    list(s.exec(select(model).where(first == a, second.in_(bs[chunk:chunk + 500]))).scalars())

    def _lead(self, s: Session, run_id: str, lead_key: str) -> Lead:
        row = self._get(s, Lead, (run_id, lead_key))
        if row is None:
            row = self._new(s, Lead(run_id=run_id, lead_key=lead_key), (run_id, lead_key))
        return row

    def _run(self, s: Session, run_id: str) -> Run:
        row = self._get(s, Run, run_id)
        if row is None:
            row = self._new(s, Run(run_id=run_id, source="unknown"), run_id)
        return row

    # ---- runs -----------------------------------------------------------------------------

    def _run_requested(self, s: Session, seq: int, env: Envelope, e: RunRequested) -> None:
        row = self._run(s, e.run_id)
        row.source = e.source
        row.label = e.label
        row.filters = canonical_json(e.filters.model_dump(mode="json"))
        row.enrich_top = e.enrich_top
        row.icp = e.icp
        row.requested_at = self._when(env)

    def _run_cancelled(self, s: Session, seq: int, env: Envelope, e: RunCancelled) -> None:
        row = self._run(s, e.run_id)
        if row.status not in TERMINAL:
            row.status, row.finished_at, row.message = "cancelled", self._when(env), e.reason

    def _run_step(self, s: Session, seq: int, env: Envelope, e: RunStep) -> None:
        s.add(RunStepRow(seq=seq, run_id=e.run_id, stage=e.stage, status=e.status,
                         counts=canonical_json(e.counts), message=e.message, occurred_at=self._when(env)))
        run = self._run(s, e.run_id)
        counts = json.loads(run.counts)
        for k, v in e.counts.items():
            counts[f"{e.stage}.{k}"] = v
        run.counts = canonical_json(counts)
        if e.status == "failed":
            s.add(ErrorRow(seq=seq, kind="step_failed", stage=e.stage, run_id=e.run_id,
                           reason=e.message or "failed", occurred_at=self._when(env)))
        if e.stage == "run" and e.status in TERMINAL:
            if run.status not in TERMINAL:
                run.status, run.finished_at, run.message = e.status, self._when(env), e.message
        elif run.status == "requested":
            run.status = "running"

    # ---- leads ----------------------------------------------------------------------------

    def _leads_rejected(self, s: Session, seq: int, env: Envelope, e: LeadsRejected) -> None:
        for i, d in enumerate(e.rejected):
            s.add(DroppedRow(seq=seq, idx=i, run_id=e.run_id, stage=d.stage or e.stage, lead_key=d.lead_key,
                             reason=d.reason.code, detail=d.reason.detail, source_file=d.source_file,
                             source_line=d.source_line))

    def _leads_cleaned(self, s: Session, seq: int, env: Envelope, e: LeadsCleaned) -> None:
        when = self._when(env)
        keys = [(lead.lead_key,) for lead in e.leads]
        self._prefetch(s, Company, keys)
        self._prefetch(s, Lead, [(e.run_id, k[0]) for k in keys])
        for lead in e.leads:
            self._upsert_company(s, lead, e.run_id, when)
            row = self._lead(s, e.run_id, lead.lead_key)
            row.trace_id = lead.trace_id
            row.updated_at = when

    def _upsert_company(self, s: Session, lead: CleanedLead, run_id: str, when: str) -> None:
        c = lead.company
        row = self._get(s, Company, c.lead_key)
        if row is None:
            row = self._new(s, Company(lead_key=c.lead_key, country=c.country, registry_id=c.registry_id,
                                       first_run=run_id), c.lead_key)
        flags = {f.code for f in lead.flags}
        mobile = next((p.e164 for p in lead.phones if p.whatsapp), None)
        row.legal_name, row.trade_name, row.status = c.legal_name, c.trade_name, c.status
        row.activity_main, row.opened_on, row.capital = c.activity_main, c.opened_on, c.capital
        row.size, row.legal_nature = c.size, c.legal_nature
        row.city, row.state = c.address.city, c.address.state
        row.phone = lead.phones[0].e164 if lead.phones else None
        row.whatsapp = mobile
        row.email = lead.emails[0].address if lead.emails else None
        row.accountant_like = "accountant_like" in flags
        row.repeated_phone = "repeated_phone" in flags
        row.source, row.last_run, row.updated_at = c.source, run_id, when
        row.data = canonical_json(lead.model_dump(mode="json"))
        if c.partners:
            s.flush()  # partners added earlier in this batch must exist before they are replaced
            s.exec(delete(Partner).where(Partner.lead_key == c.lead_key))  # type: ignore[arg-type]
            seen: set[tuple[str, str]] = set()
            for p in c.partners:
                pk = (p.name, p.document or "")
                if pk in seen:
                    continue
                seen.add(pk)
                s.add(Partner(lead_key=c.lead_key, name=p.name, document=p.document or "", kind=p.kind,
                              qualification=p.qualification, joined_on=p.joined_on))

    def _leads_scored(self, s: Session, seq: int, env: Envelope, e: LeadsScored) -> None:
        when = self._when(env)
        self._prefetch(s, Lead, [(e.run_id, sl.lead.lead_key) for sl in e.leads])
        for sl in e.leads:
            row = self._lead(s, e.run_id, sl.lead.lead_key)
            row.score_v1, row.rank, row.enrich = sl.score, sl.rank, sl.enrich
            row.trace_id = row.trace_id or sl.lead.trace_id
            if not row.enriched:  # a v2 score that arrived first wins
                row.score, row.bucket = sl.score, sl.bucket
                row.reasons = canonical_json([r.model_dump(mode="json") for r in sl.reasons])
            row.has_whatsapp = row.has_whatsapp or any(p.whatsapp for p in sl.lead.phones)
            row.updated_at = when

    def _lead_enriched(self, s: Session, seq: int, env: Envelope, e: LeadEnriched) -> None:
        en = e.enrichment
        techs = ",".join(sorted(t.name for t in en.technologies))
        row = self._get(s, EnrichmentRow, en.lead_key)
        if row is None:
            row = self._new(s, EnrichmentRow(lead_key=en.lead_key, status=en.status), en.lead_key)
        if not (en.reused and row.fetched_at):  # a reuse does not overwrite the fetched record
            row.domain, row.site, row.status, row.verified = en.domain, en.site, en.status, en.verified
            row.fetched_at, row.technologies = en.fetched_at, techs
            row.data = canonical_json(en.model_dump(mode="json"))
        row.reused, row.run_id = en.reused, e.run_id
        lead = self._lead(s, e.run_id, en.lead_key)
        lead.has_site = bool(en.site and en.verified)
        lead.has_whatsapp = lead.has_whatsapp or bool(en.whatsapp)
        lead.technologies = techs
        lead.updated_at = self._when(env)

    def _lead_rescored(self, s: Session, seq: int, env: Envelope, e: LeadRescored) -> None:
        row = self._lead(s, e.run_id, e.final.lead_key)
        row.score, row.bucket, row.enriched = e.final.score, e.final.bucket, True
        row.reasons = canonical_json([r.model_dump(mode="json") for r in e.final.reasons])
        row.updated_at = self._when(env)

    # ---- exports, observability -----------------------------------------------------------

    def _export_requested(self, s: Session, seq: int, env: Envelope, e: ExportRequested) -> None:
        row = self._get(s, ExportRow, e.export_id) or self._new(
            s, ExportRow(export_id=e.export_id, segment=e.segment, status="requested"), e.export_id)
        row.run_id, row.requested_at = e.run_id, self._when(env)
        s.add(ExportStatusSnapshot(seq=seq, export_id=e.export_id, status="requested", occurred_at=self._when(env)))

    def _export_completed(self, s: Session, seq: int, env: Envelope, e: ExportCompleted) -> None:
        row = self._get(s, ExportRow, e.export_id) or self._new(
            s, ExportRow(export_id=e.export_id, segment=e.segment, status=e.status), e.export_id)
        row.run_id, row.segment, row.status, row.path = e.run_id, e.segment, e.status, e.path
        row.files, row.rows, row.bytes = canonical_json(e.files), e.rows, e.bytes
        row.sha256, row.error, row.completed_at = e.sha256, e.error, self._when(env)
        s.add(ExportStatusSnapshot(seq=seq, export_id=e.export_id, status=e.status, rows=e.rows,
                                   occurred_at=self._when(env)))

    def _api_calls(self, s: Session, seq: int, env: Envelope, e: ApiCallsRecorded) -> None:
        when = self._when(env)
        for i, c in enumerate(e.calls):
            s.add(ApiCallRow(seq=seq, idx=i, run_id=e.run_id, service=c.service, endpoint=c.endpoint[:1000],
                             method=c.method, status=c.status, latency_ms=round(c.latency_ms, 3), bytes=c.bytes,
                             cache_hit=c.cache_hit, error=c.error, lead_key=c.lead_key, occurred_at=when))

    def _log(self, s: Session, seq: int, env: Envelope, e: LogRecorded) -> None:
        s.add(LogRow(seq=seq, service=e.service, level=e.level, message=e.message[:2000], run_id=e.run_id,
                     lead_key=e.lead_key, trace_id=e.trace_id, fields=canonical_json(e.fields),
                     occurred_at=self._when(env)))

    def _dead_lettered(self, s: Session, seq: int, env: Envelope, e: DeadLettered) -> None:
        s.add(ErrorRow(seq=seq, kind="dead_letter", stage=e.stage, run_id=e.run_id, subject=e.subject,
                       reason=e.reason, raw=e.raw, occurred_at=self._when(env)))

    def _icp_saved(self, s: Session, seq: int, env: Envelope, e: IcpProfileSaved) -> None:
        row = self._get(s, IcpProfileRow, e.name) or self._new(s, IcpProfileRow(name=e.name), e.name)
        row.profile, row.updated_at = canonical_json(e.profile), self._when(env)

    def _lead_status(self, s: Session, seq: int, env: Envelope, e: LeadStatusChanged) -> None:
        row = self._lead(s, e.run_id, e.lead_key)
        if e.status:
            row.status = e.status
        if e.note:
            stamp = self._when(env)[:16].replace("T", " ")
            row.notes = (row.notes + "\n" if row.notes else "") + f"[{stamp}{' ' + e.by if e.by else ''}] {e.note}"
        row.updated_at = self._when(env)

    def _config_saved(self, s: Session, seq: int, env: Envelope, e: ConfigSaved) -> None:
        row = self._get(s, ConfigRow, e.key) or self._new(s, ConfigRow(key=e.key), e.key)
        row.value, row.secret, row.updated_at = e.value, e.secret, self._when(env)
