"""Apply stream events to the vault. Pure function of the events: no wall clock, no randomness,
so replaying the stream rebuilds the same vault. One transaction per batch; the checkpoint
(last applied stream sequence) is written in the same transaction, so a redelivered event
changes nothing.

The hot path works on plain dict rows (``rows.py``): a batch loads the rows it touches in bulk,
changes them in memory and writes them back with one statement per table."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import msgspec
from pydantic import ValidationError
from sqlalchemy import bindparam, update
from sqlalchemy.engine import Connection, Engine

from services.projector.decoding import NOT_PROJECTED, decode_message, type_of
from services.projector.rows import AppendRows, StateRows, delete_keys, insert_rows, select_rows, upsert
from services.projector.structs import canonical
from shared.events import Envelope, UnknownEvent
from shared.vault.derived import site_whatsapp
from shared.vault.migrations import upgrade_vault
from shared.vault.schema import (
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
    LeadCurrent,
    LeadPropensityRow,
    LeadQualificationRow,
    LogRow,
    Partner,
    RankingTrainingRow,
    Run,
    RunStepRow,
    SourceExportRow,
    TimelineRow,
)
from shared.vault.search_text import fold, search_text

RawEvent = tuple[int, str, bytes]  # (stream seq, subject, data)


class Decoded(NamedTuple):
    """A batch's events past the checkpoint: their sequences, the projected ones decoded, and the
    error rows of those that could not be."""

    seqs: list[int]
    items: list[tuple[int, Envelope, Any]]
    errors: list[dict[str, Any]]


TERMINAL = {"completed", "failed", "cancelled"}
Handler = Callable[[Connection, int, Envelope, Any], None]
CHECKPOINTS = Checkpoint.__table__  # type: ignore[attr-defined]
PARTNERS = Partner.__table__  # type: ignore[attr-defined]
COMPANIES = Company.__table__  # type: ignore[attr-defined]


# what a lead's current row (``lead_current``) mirrors of its per-run row in its latest run
MIRRORED = ("score_v1", "rank", "enrich", "score", "bucket", "reasons", "enriched", "has_site", "has_whatsapp",
            "technologies", "trace_id", "updated_at")
HOLD_COMPANIES = 100_000  # company rows a replay holds before writing them (about 2-3 KB each)


class Projection:
    def __init__(self, engine: Engine, name: str = "projector",
                 observer: Callable[[Envelope], None] | None = None, *, fresh: bool = False,
                 hold_companies: int = 0) -> None:
        """``fresh``: a bulk load into a new vault whose secondary indexes are built after it (a replay:
        ``make_engine(bulk=True)``, then ``build_indexes``); rows are written whole, not by change.

        ``hold_companies`` (with ``fresh``): company rows are held across batches, up to that many, and
        written from their latest cleaned record only (the last ones by :meth:`finish`). Until then the
        vault lags its checkpoint: only for a vault nobody uses before the load is complete (a replay
        into a file swapped in at the end)."""
        self.engine = engine
        self._held: dict[str, tuple[Any, str, str, str]] | None = {} if fresh and hold_companies > 0 else None
        self._hold = hold_companies
        self.name = name
        if not fresh:
            upgrade_vault(engine)  # a vault from before the search column / list indexes
        self.observer = observer  # sees every decoded envelope (tracing); must not touch the vault
        # a company row is all set from its latest cleaned record, but for what its first one set
        self.companies = StateRows(Company, write_only=("country", "registry_id", "first_run", "site_whatsapp"))
        self._site_whatsapp: dict[str, str | None] = {}  # set by enrichments while companies are written blind
        self.leads, self.runs = StateRows(Lead), StateRows(Run)
        self.current = StateRows(LeadCurrent)
        self.enrichments, self.exports = StateRows(EnrichmentRow), StateRows(ExportRow)
        self.icps, self.config = StateRows(IcpProfileRow), StateRows(ConfigRow)
        self.trainings, self.propensities = StateRows(RankingTrainingRow), StateRows(LeadPropensityRow, write_only=())
        self.steps, self.dropped = AppendRows(RunStepRow), AppendRows(DroppedRow)
        self.api_calls, self.errors = AppendRows(ApiCallRow), AppendRows(ErrorRow)
        self.logs, self.snapshots = AppendRows(LogRow), AppendRows(ExportStatusSnapshot)
        self.timeline = AppendRows(TimelineRow)
        self.source_exports = StateRows(SourceExportRow)
        self.qualifications = StateRows(LeadQualificationRow, write_only=())
        self._state = [self.companies, self.leads, self.current, self.runs, self.enrichments, self.exports,
                       self.icps, self.config, self.trainings, self.propensities, self.source_exports,
                       self.qualifications]
        for state in self._state:
            state.fresh = fresh
        self._append = [self.steps, self.dropped, self.api_calls, self.errors, self.logs, self.snapshots,
                        self.timeline]
        self._partners: dict[str, list[dict[str, Any]]] = {}
        self._fresh_start: bool | None = False if not fresh else None  # decided by the first batch
        self._handlers: dict[str, Handler] = {
            "RunRequested": self._run_requested,
            "RunCancelled": self._run_cancelled,
            "RunStep": self._run_step,
            "LeadsRejected": self._leads_rejected,
            "LeadsCleaned": self._leads_cleaned,
            "LeadsScored": self._leads_scored,
            "LeadEnriched": self._lead_enriched,
            "LeadRescored": self._lead_rescored,
            "ExportRequested": self._export_requested,
            "ExportCompleted": self._export_completed,
            "SourceExportUpdated": self._source_export,
            "ApiCallsRecorded": self._api_calls,
            "LogRecorded": self._log,
            "DeadLettered": self._dead_lettered,
            "IcpProfileSaved": self._icp_saved,
            "LeadStatusChanged": self._lead_status,
            "LeadActivityRecorded": self._lead_activity,
            "ConfigSaved": self._config_saved,
            "RankingTrained": self._ranking_trained,
            "LeadsRanked": self._leads_ranked,
            "LeadQualified": self._lead_qualified,
        }

    def checkpoint(self) -> int:
        with self.engine.connect() as conn:
            return self._checkpoint(conn)

    def _checkpoint(self, conn: Connection) -> int:
        rows = select_rows(conn, CHECKPOINTS, [(self.name,)])
        return int(rows[0]["seq"] or 0) if rows else 0

    def apply(self, batch: Iterable[RawEvent]) -> int:
        """Apply one batch in one transaction; returns how many events were new (past the checkpoint)."""
        with self.engine.begin() as conn:
            start = self._checkpoint(conn)
            return self._apply(conn, start, self.decode(batch, after=start))

    def decode(self, batch: Iterable[RawEvent], *, after: int = 0) -> Decoded:
        """The events of ``batch`` past sequence ``after``, decoded: the first half of :meth:`apply`,
        which a replay runs on the next batch while the previous one is written (it touches no state)."""
        seqs: list[int] = []
        items: list[tuple[int, Envelope, Any]] = []
        errors: list[dict[str, Any]] = []
        last = after
        for seq, subject, data in batch:
            if seq <= last:
                continue
            last = seq
            seqs.append(seq)
            item = self._decode(seq, subject, data, errors)
            if item is not None:
                items.append(item)
        return Decoded(seqs, items, errors)

    def apply_decoded(self, decoded: Decoded) -> int:
        """Apply a batch :meth:`decode` read, in one transaction (what the checkpoint already holds is skipped)."""
        with self.engine.begin() as conn:
            return self._apply(conn, self._checkpoint(conn), decoded)

    def _apply(self, conn: Connection, start: int, decoded: Decoded) -> int:
        seqs, items, errors = decoded
        if seqs and seqs[0] <= start:  # (decoded before an earlier batch reached the checkpoint)
            seqs = [seq for seq in seqs if seq > start]
            items = [item for item in items if item[0] > start]
            errors = [error for error in errors if error["seq"] > start]
        if not seqs:
            return 0
        if self._fresh_start is None:  # a fresh load into a vault nothing was projected into yet
            self._fresh_start = start == 0
            if self._fresh_start:
                for rows in self._state:
                    rows.starts_empty()
        try:
            self.errors.rows.extend(errors)
            self._prefetch(conn, items)
            for seq, env, event in items:
                self._handlers[env.type](conn, seq, env, event)
            self._flush(conn)
        finally:
            for rows in self._state:
                rows.reset()
            for append in self._append:
                append.rows = []
            self._partners = {}
        upsert(conn, CHECKPOINTS, ["name"], [{"name": self.name, "seq": seqs[-1]}])
        return len(seqs)

    def _decode(self, seq: int, subject: str, data: bytes,
                errors: list[dict[str, Any]]) -> tuple[int, Envelope, Any] | None:
        name = type_of(data)
        if name in NOT_PROJECTED:
            return None
        try:
            env, event = decode_message(data, name)
        except (ValidationError, UnknownEvent, ValueError) as exc:  # (msgspec's errors are ValueErrors)
            errors.append({**self.errors.defaults, "seq": seq, "kind": "projection", "stage": "projector",
                           "subject": subject, "reason": f"{type(exc).__name__}: {str(exc)[:500]}",
                           "raw": data[:2000].decode("utf-8", "replace"), "occurred_at": ""})
            return None
        if self.observer is not None:
            self.observer(env)
        return (seq, env, event) if env.type in self._handlers else None

    # ---- helpers --------------------------------------------------------------------------

    @staticmethod
    def _when(env: Envelope) -> str:
        return env.occurred_at.isoformat()

    def _prefetch(self, conn: Connection, decoded: list[tuple[int, Envelope, Any]]) -> None:
        """Load every row the batch will touch, one query per table and chunk of keys."""
        companies: list[tuple[str]] = []
        leads: list[tuple[str, str]] = []
        runs: list[tuple[str]] = []
        enrichments: list[tuple[str]] = []
        current: list[tuple[str]] = []
        blind = self.companies.mode(conn) == "blind"  # (nothing to read in a fresh vault: written blind)
        for _, env, e in decoded:
            run_id = getattr(e, "run_id", None)
            if env.type == "LeadsCleaned":
                if not blind:
                    companies.extend((lead.company.lead_key,) for lead in e.leads)
                leads.extend((run_id, lead.company.lead_key) for lead in e.leads)
            elif env.type == "LeadsScored":
                leads.extend((run_id, sl.lead.company.lead_key) for sl in e.leads)
            elif env.type == "LeadEnriched":
                enrichments.append((e.enrichment.lead_key,))
                leads.append((run_id, e.enrichment.lead_key))
                if not blind:
                    companies.append((e.enrichment.lead_key,))
            elif env.type == "LeadRescored":
                leads.append((run_id, e.final.lead_key))
            elif env.type == "LeadStatusChanged":
                current.append((e.lead_key,))
            elif env.type in ("RunRequested", "RunCancelled", "RunStep"):
                runs.append((run_id,))
        self.companies.load(conn, companies)
        self.leads.load(conn, leads)
        self.current.load(conn, [*current, *((key,) for _, key in leads)])
        self.runs.load(conn, runs)
        self.enrichments.load(conn, enrichments)

    def _flush(self, conn: Connection) -> None:
        if self._held is not None and len(self._held) >= self._hold:
            self._write_held(conn)
        if self._partners:
            delete_keys(conn, PARTNERS, "lead_key", list(self._partners))
            insert_rows(conn, PARTNERS, [p for rows in self._partners.values() for p in rows])
        for rows in self._state:
            rows.flush(conn)
        self._write_site_whatsapp(conn)
        for append in self._append:
            append.flush(conn)

    def _lead(self, conn: Connection, run_id: str, lead_key: str) -> dict[str, Any]:
        """The lead's row of this run; a new one counts in the lead's ``runs_seen``."""
        row, created = self.leads.touch_new(conn, (run_id, lead_key))
        if created:
            current = self.current.touch(conn, (lead_key,))
            current["runs_seen"] += 1
            if current["latest_run_id"] is None:  # seen, not scored yet
                current["latest_run_id"] = run_id
        return row

    def _mirror(self, conn: Connection, row: dict[str, Any], *, scored: bool = False) -> None:
        """Copy a per-run row into the lead's current row when its run is the lead's latest; ``scored``:
        the run has just scored the lead, which makes it the latest."""
        current = self.current.touch(conn, (row["lead_key"],))
        if scored:
            current["latest_run_id"] = row["run_id"]
        if current["latest_run_id"] == row["run_id"]:
            for column in MIRRORED:
                current[column] = row[column]

    def _run(self, conn: Connection, run_id: str) -> dict[str, Any]:
        return self.runs.touch(conn, (run_id,), source="unknown")

    # ---- runs -----------------------------------------------------------------------------

    def _run_requested(self, conn: Connection, seq: int, env: Envelope, e: Any) -> None:
        row = self._run(conn, e.run_id)
        row.update(source=e.source, label=e.label, filters=canonical(e.filters),
                   enrich_top=e.enrich_top, icp=e.icp, requested_at=self._when(env),
                   targets=canonical(_set_fields(e.targets)), batch_id=e.batch_id)

    def _run_cancelled(self, conn: Connection, seq: int, env: Envelope, e: Any) -> None:
        row = self._run(conn, e.run_id)
        if row["status"] not in TERMINAL:
            row.update(status="cancelled", finished_at=self._when(env), message=e.reason)

    def _run_step(self, conn: Connection, seq: int, env: Envelope, e: Any) -> None:
        when = self._when(env)
        self.steps.add(seq=seq, run_id=e.run_id, stage=e.stage, status=e.status, counts=canonical(e.counts),
                       message=e.message, occurred_at=when)
        run = self._run(conn, e.run_id)
        counts = json.loads(run["counts"])
        for k, v in e.counts.items():
            counts[f"{e.stage}.{k}"] = v
        run["counts"] = canonical(counts)
        if e.status == "failed":
            self.errors.add(seq=seq, kind="step_failed", stage=e.stage, run_id=e.run_id,
                            reason=e.message or "failed", occurred_at=when)
        if e.stage == "run" and e.status in TERMINAL:
            if run["status"] not in TERMINAL:
                run.update(status=e.status, finished_at=when, message=e.message)
        elif run["status"] == "requested":
            run["status"] = "running"

    # ---- leads ----------------------------------------------------------------------------

    def _leads_rejected(self, conn: Connection, seq: int, env: Envelope, e: Any) -> None:
        for i, d in enumerate(e.rejected):
            self.dropped.add(seq=seq, idx=i, run_id=e.run_id, stage=d.stage or e.stage, lead_key=d.lead_key,
                             reason=d.reason.code, detail=d.reason.detail, source_file=d.source_file,
                             source_line=d.source_line)

    def _leads_cleaned(self, conn: Connection, seq: int, env: Envelope, e: Any) -> None:
        when, run_id, touch, upsert_company = self._when(env), e.run_id, self._lead, self._upsert_company
        for lead in e.leads:
            upsert_company(conn, lead, run_id, when)
            row = touch(conn, run_id, lead.company.lead_key)
            row["trace_id"], row["updated_at"] = lead.trace_id, when
            self._mirror(conn, row)

    def _upsert_company(self, conn: Connection, lead: Any, run_id: str, when: str) -> None:
        c = lead.company
        if self._held is not None:  # the row is made from the latest record when the rows are written
            held = self._held.get(c.lead_key)
            self._held[c.lead_key] = (lead, run_id, when, held[3] if held else run_id)
        else:
            row = self.companies.touch(conn, (c.lead_key,), country=c.country, registry_id=c.registry_id,
                                       first_run=run_id)
            self._company_row(row, lead, run_id, when)
        if c.partners:  # the latest cleaned record with partners replaces them
            seen: set[tuple[str, str]] = set()
            rows = []
            for p in c.partners:
                pk = (p.name, p.document or "")
                if pk not in seen:
                    seen.add(pk)
                    rows.append({"lead_key": c.lead_key, "name": p.name, "document": p.document or "",
                                 "kind": p.kind, "qualification": p.qualification, "joined_on": p.joined_on,
                                 "search_name": fold(p.name)})
            self._partners[c.lead_key] = rows

    @staticmethod
    def _company_row(row: dict[str, Any], lead: Any, run_id: str, when: str) -> None:
        c = lead.company
        flags = {f.code for f in lead.flags} if lead.flags else ()
        row.update(
            legal_name=c.legal_name, trade_name=c.trade_name, status=c.status, activity_main=c.activity_main,
            opened_on=c.opened_on, capital=c.capital, size=c.size, legal_nature=c.legal_nature,
            city=c.address.city, state=c.address.state,
            phone=lead.phones[0].e164 if lead.phones else None,
            whatsapp=next((p.e164 for p in lead.phones if p.whatsapp), None),
            email=lead.emails[0].address if lead.emails else None,
            accountant_like="accountant_like" in flags, repeated_phone="repeated_phone" in flags,
            source=c.source, last_run=run_id, updated_at=when, data=canonical(lead),
            search_text=search_text(c.legal_name, c.trade_name, c.registry_id),
        )

    def _write_held(self, conn: Connection) -> None:
        """Write the held company rows (each from its latest cleaned record; the first one's run is its
        ``first_run`` unless the vault has the company already)."""
        held, self._held = self._held or {}, {}
        for lead_key, (lead, run_id, when, first_run) in held.items():
            c = lead.company
            row = self.companies.touch(conn, (lead_key,), country=c.country, registry_id=c.registry_id,
                                       first_run=first_run)
            self._company_row(row, lead, run_id, when)
        self.companies.flush(conn)
        self.companies.reset()
        self._write_site_whatsapp(conn)

    def finish(self) -> None:
        """End a load that holds company rows: write what it holds (one transaction)."""
        if self._held:
            with self.engine.begin() as conn:
                self._write_held(conn)

    def _leads_scored(self, conn: Connection, seq: int, env: Envelope, e: Any) -> None:
        when, run_id, touch = self._when(env), e.run_id, self._lead
        for sl in e.leads:
            row = touch(conn, run_id, sl.lead.company.lead_key)
            row.update(score_v1=sl.score, rank=sl.rank, enrich=sl.enrich, updated_at=when)
            row["trace_id"] = row["trace_id"] or sl.lead.trace_id
            if not row["enriched"]:  # a v2 score that arrived first wins
                row["score"], row["bucket"] = sl.score, sl.bucket
                row["reasons"] = canonical(sl.reasons)
            row["has_whatsapp"] = bool(row["has_whatsapp"]) or any(p.whatsapp for p in sl.lead.phones)
            self._mirror(conn, row, scored=True)

    def _lead_enriched(self, conn: Connection, seq: int, env: Envelope, e: Any) -> None:
        en = e.enrichment
        techs = ",".join(sorted(t.name for t in en.technologies))
        row = self.enrichments.touch(conn, (en.lead_key,), status=en.status)
        # a reuse, a cancelled run's skip or a spent budget does not overwrite a fetched record
        keep_fetched = bool(row["fetched_at"]) and (en.reused or en.status in ("skipped", "budget_exceeded"))
        if not keep_fetched:
            row.update(domain=en.domain, site=en.site, status=en.status, verified=en.verified,
                       fetched_at=en.fetched_at, technologies=techs, data=canonical(en))
        row["reused"], row["run_id"] = en.reused, e.run_id
        if not keep_fetched:
            self._set_site_whatsapp(conn, en.lead_key, site_whatsapp(en.whatsapp))
        lead = self._lead(conn, e.run_id, en.lead_key)
        lead["has_site"] = bool(en.site and en.verified)
        lead["has_whatsapp"] = bool(lead["has_whatsapp"]) or bool(en.whatsapp)
        lead["technologies"], lead["updated_at"] = techs, self._when(env)
        self._mirror(conn, lead)

    def _set_site_whatsapp(self, conn: Connection, lead_key: str, number: str | None) -> None:
        """The company's ``site_whatsapp``: on its row when rows are read, else (a fresh load writing
        company rows blind, or holding them) by an update once the row is written."""
        if self.companies.mode(conn) == "blind":
            self._site_whatsapp[lead_key] = number
            return
        row = self.companies.get(conn, (lead_key,))
        if row is not None and row["site_whatsapp"] != number:
            self.companies.touch(conn, (lead_key,))["site_whatsapp"] = number

    def _write_site_whatsapp(self, conn: Connection) -> None:
        """The pending ``site_whatsapp`` values of company rows written (those still held wait for theirs)."""
        if not self._site_whatsapp:
            return
        held = self._held or {}
        ready = {k: v for k, v in self._site_whatsapp.items() if k not in held}
        if ready:
            conn.execute(update(COMPANIES).where(COMPANIES.c.lead_key == bindparam("key")),
                         [{"key": k, "site_whatsapp": v} for k, v in ready.items()])
            self._site_whatsapp = {k: v for k, v in self._site_whatsapp.items() if k in held}

    def _lead_rescored(self, conn: Connection, seq: int, env: Envelope, e: Any) -> None:
        row = self._lead(conn, e.run_id, e.final.lead_key)
        row.update(score=e.final.score, bucket=e.final.bucket, enriched=True, updated_at=self._when(env),
                   reasons=canonical(e.final.reasons))
        self._mirror(conn, row)

    # ---- exports, observability -----------------------------------------------------------

    def _export_requested(self, conn: Connection, seq: int, env: Envelope, e: Any) -> None:
        when = self._when(env)
        row = self.exports.touch(conn, (e.export_id,), segment=e.segment, status="requested")
        row["run_id"], row["requested_at"], row["vault_filter"] = e.run_id, when, canonical(e.vault_filter)
        self.snapshots.add(seq=seq, export_id=e.export_id, status="requested", occurred_at=when)

    def _source_export(self, conn: Connection, seq: int, env: Envelope, e: Any) -> None:
        when = self._when(env)
        row = self.source_exports.touch(conn, (e.provider, e.request_id), status=e.status)
        row.update(run_id=e.run_id, name=e.name, status=e.status, message=e.message, updated_at=when)
        row["rows"] = e.rows if e.rows is not None else row["rows"]
        row["requested_at"] = row["requested_at"] or when

    def _export_completed(self, conn: Connection, seq: int, env: Envelope, e: Any) -> None:
        when = self._when(env)
        row = self.exports.touch(conn, (e.export_id,), segment=e.segment, status=e.status)
        row.update(run_id=e.run_id, segment=e.segment, status=e.status, path=e.path, files=canonical(e.files),
                   rows=e.rows, bytes=e.bytes, sha256=e.sha256, error=e.error, completed_at=when)
        self.snapshots.add(seq=seq, export_id=e.export_id, status=e.status, rows=e.rows, occurred_at=when)

    def _api_calls(self, conn: Connection, seq: int, env: Envelope, e: Any) -> None:
        when = self._when(env)
        for i, c in enumerate(e.calls):
            self.api_calls.add(seq=seq, idx=i, run_id=e.run_id, service=c.service, endpoint=c.endpoint[:1000],
                               method=c.method, status=c.status, latency_ms=round(c.latency_ms, 3), bytes=c.bytes,
                               cache_hit=c.cache_hit, error=c.error, lead_key=c.lead_key, occurred_at=when,
                               tokens=c.tokens)

    def _log(self, conn: Connection, seq: int, env: Envelope, e: Any) -> None:
        context = {**e.context, "span_id": e.span_id} if e.span_id else e.context
        self.logs.add(seq=seq, service=e.service, level=e.level, message=e.message[:2000], run_id=e.run_id,
                      lead_key=e.lead_key, trace_id=e.trace_id, fields=canonical(context),
                      occurred_at=self._when(env))

    def _dead_lettered(self, conn: Connection, seq: int, env: Envelope, e: Any) -> None:
        self.errors.add(seq=seq, kind="dead_letter", stage=e.stage, run_id=e.run_id, subject=e.subject,
                        reason=e.reason, raw=e.raw, occurred_at=self._when(env))

    def _icp_saved(self, conn: Connection, seq: int, env: Envelope, e: Any) -> None:
        row = self.icps.touch(conn, (e.name,))
        row["profile"], row["updated_at"] = canonical(e.profile), self._when(env)

    def _lead_status(self, conn: Connection, seq: int, env: Envelope, e: Any) -> None:
        """A move along the lead's funnel (and/or a note), applied as it is: the event is the fact, the
        transition was validated where it was asked for."""
        when = self._when(env)
        current = self.current.touch(conn, (e.lead_key,))
        previous = current["status"]
        if e.status:
            current["status"], current["status_at"] = e.status, when
        current["updated_at"] = when
        self.timeline.add(seq=seq, lead_key=e.lead_key, kind="status" if e.status else "note", status=e.status,
                          previous=previous if e.status else None, reopen=e.reopen, text=e.note or "",
                          actor=e.actor, run_id=e.run_id, occurred_at=when)

    def _lead_activity(self, conn: Connection, seq: int, env: Envelope, e: Any) -> None:
        self.timeline.add(seq=seq, lead_key=e.lead_key, kind=e.kind, text=e.text, due_on=e.due_on, actor=e.actor,
                          run_id=e.run_id, occurred_at=self._when(env))

    def _config_saved(self, conn: Connection, seq: int, env: Envelope, e: Any) -> None:
        row = self.config.touch(conn, (e.key,))
        row.update(value=e.value, secret=e.secret, updated_at=self._when(env))

    def _ranking_trained(self, conn: Connection, seq: int, env: Envelope, e: Any) -> None:
        row = self.trainings.touch(conn, (e.version,))
        row.update(status=e.status, trigger=e.trigger, trigger_seq=e.trigger_seq, as_of=e.as_of,
                   model_kind=e.model_kind, outcomes=e.outcomes, labelled=e.labelled, positives=e.positives,
                   negatives=e.negatives,
                   leads_known=e.leads_known, cv_auc=e.cv_auc, cv_precision_at_10=e.cv_precision_at_10,
                   candidates=canonical(e.candidates),
                   importances=canonical([{"feature": i.feature, "importance": i.importance} for i in e.importances]),
                   model_sha256=e.model_sha256, model_file=e.model_file, reason=e.reason, trained_at=self._when(env))

    def _leads_ranked(self, conn: Connection, seq: int, env: Envelope, e: Any) -> None:
        for lead in e.leads:
            row = self.propensities.touch(conn, (lead.lead_key,))
            row.update(version=e.version, propensity=lead.propensity, next_rank=lead.next_rank, explored=lead.explored,
                       top_features=canonical([[t.feature, t.contribution] for t in lead.top_features]))

    def _lead_qualified(self, conn: Connection, seq: int, env: Envelope, e: Any) -> None:
        row = self.qualifications.touch(conn, (e.lead_key,))
        row.update(run_id=e.run_id, icp=e.icp, method=e.method, score=e.score, fit=e.fit, pain=e.pain,
                   data_quality=e.data_quality, tags=canonical(list(e.tags)), signals=canonical(list(e.signals)),
                   snapshot=e.snapshot, spin=canonical(e.spin) if e.spin is not None else "{}",
                   first_angle=e.first_angle, model=e.model, tokens=e.tokens, cached=e.cached,
                   llm_error=e.llm_error, content_hash=e.content_hash, qualified_at=self._when(env))


def _set_fields(obj: Any) -> dict[str, Any]:
    """The fields of a (mirrored) model that are set, i.e. not None; {} for None."""
    if obj is None:
        return {}
    fields = obj.model_dump() if hasattr(obj, "model_dump") else msgspec.structs.asdict(obj)
    return {k: v for k, v in fields.items() if v is not None}
