"""Exporter: when a run's rescoring completes, write its segments (``export.requested`` /
``export.completed``) and close the run; also serves user-requested exports, of a run or of any
vault filter, and posts every finished export (and run) to the configured webhook."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from faststream.nats import NatsMessage
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from services.exporter.files import write_export
from services.exporter.segments import Row, annotate_row, build_row, select_segment
from services.exporter.vault_rows import opted_out_keys, vault_rows
from services.exporter.webhook import post_webhook
from services.gateway.qualification_queries import lead_annotations
from services.projector.db import make_engine
from services.projector.projection import Projection
from shared.bus import Bus
from shared.events import (
    ApiCallsRecorded,
    Envelope,
    ExportCompleted,
    ExportRequested,
    LeadEnriched,
    LeadRescored,
    LeadsScored,
    RunRequested,
    RunStep,
    Subjects,
    decode_event,
    subject_token,
)
from shared.run_cancellation import CancelledRuns, publish_run_cancelled
from shared.schemas import Enrichment, FinalScore, ScoredLead
from shared.service import Service
from shared.stored_config import stored_setting

service = Service("exporter")
app = service.app
PROJECTION_WAIT_SECONDS = 120.0
_engine: list[Engine] = []
cancelled = CancelledRuns(lambda subject: service.bus.last(subject))


def vault_engine() -> Engine:
    if not _engine:
        _engine.append(make_engine(service.settings.vault_database_url))
    return _engine[0]


async def wait_for_vault(seq: int, timeout: float = PROJECTION_WAIT_SECONDS) -> None:
    """Wait until the projector has applied the stream up to ``seq``, so the vault is current."""
    projection = Projection(vault_engine())
    deadline = time.monotonic() + timeout
    while (done := await asyncio.to_thread(projection.checkpoint)) < seq:
        if time.monotonic() > deadline:
            raise TimeoutError(f"vault at seq {done}, export needs {seq}; is the projector running?")
        await asyncio.sleep(0.1)


async def notify(bus: Bus, event: str, payload: dict[str, Any], run_id: str | None) -> None:
    """POST to the configured webhook (if any); every attempt is recorded as an api_call."""
    url = await stored_setting(bus, "webhook_url")
    if not url:
        return
    secret = await stored_setting(bus, "webhook_secret")
    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=5.0)) as client:
        delivery = await post_webhook(client, url, event, payload, secret=secret)
    await bus.publish(ApiCallsRecorded(run_id=run_id, calls=delivery.calls), service="exporter")
    if not delivery.delivered:
        service.log.warning("webhook_failed", url=url, webhook_event=event, run_id=run_id,
                            attempts=len(delivery.calls), error=delivery.calls[-1].error)


async def run_rows(bus: Bus, run: str) -> list[Row]:
    """One export row per lead of the run, from the run's scored, enriched and rescored events."""
    token = subject_token(run)
    scored: dict[str, ScoredLead] = {}
    enrichments: dict[str, Enrichment] = {}
    finals: dict[str, FinalScore] = {}
    async for stored in bus.read(Subjects.LEAD_SCORED.format(run_id=token)):
        event = stored.event()
        assert isinstance(event, LeadsScored)
        scored.update((s.lead.lead_key, s) for s in event.leads)
    async for stored in bus.read(Subjects.LEAD_ENRICHED.format(run_id=token)):
        event = stored.event()
        assert isinstance(event, LeadEnriched)
        enrichments[event.enrichment.lead_key] = event.enrichment
    async for stored in bus.read(Subjects.LEAD_RESCORED.format(run_id=token)):
        event = stored.event()
        assert isinstance(event, LeadRescored)
        finals[event.final.lead_key] = event.final
    return [build_row(s, enrichments.get(k), finals.get(k)) for k, s in sorted(scored.items())]


def export_failure(exc: BaseException) -> str:
    """Why an export could not be written, for a person: the OS's words for a disk error, else the message."""
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        return f"cannot write the export{where}: {exc.strerror or exc}"[:500]
    if isinstance(exc, ValueError):
        return str(exc)[:500]
    return f"{type(exc).__name__}: {exc}"[:500]


async def without_opted_out(rows: list[Row], include: bool) -> tuple[list[Row], int]:
    """A run's rows (read from the stream) less the leads that opted out (``do_not_contact`` in the
    vault as projected now), unless asked to include them; and how many were left out."""
    if include or not rows:
        return rows, 0
    opted_out = await asyncio.to_thread(opted_out_keys, vault_engine(), [r["lead_key"] for r in rows])
    kept = [r for r in rows if r["lead_key"] not in opted_out]
    return kept, len(rows) - len(kept)


async def with_annotations(rows: list[Row]) -> list[Row]:
    """The rows with their leads' propensity and qualification as the vault holds them now (a vault the
    projector has not given those tables yet leaves the columns empty)."""
    if not rows:
        return rows
    keys = [r["lead_key"] for r in rows]
    try:
        found = await asyncio.to_thread(lead_annotations, vault_engine(), keys)
    except SQLAlchemyError as exc:
        service.log.warning("export_annotations_unavailable", error=f"{type(exc).__name__}: {exc}"[:300])
        return rows
    return [annotate_row(dict(r), found[r["lead_key"]]) if r["lead_key"] in found else r for r in rows]


async def export(request: ExportRequested, requested_at: datetime, rows: list[Row], *,
                 left_out: int = 0) -> ExportCompleted:
    """Write the segment's rows; the manifest says how many opted-out leads were ``left_out``."""
    out = service.settings.exports_path / subject_token(request.run_id or "vault") / request.export_id
    manifest = {
        "export_id": request.export_id, "run_id": request.run_id, "segment": request.segment,
        "filter": request.vault_filter, "created_at": requested_at.isoformat(),
        "left_out_do_not_contact": left_out,
    }
    rows = await with_annotations(rows)
    try:
        selected = select_segment(rows, request.segment)
        written = write_export(selected, out, name=f"hunter_{request.segment}", formats=request.formats,
                               manifest=manifest, max_rows=service.settings.max_export_rows, bom=request.bom)
    except Exception as exc:  # a full or read-only export disk, too many rows...: a failed export, with the reason
        reason = export_failure(exc)
        service.log.warning("export_failed", export_id=request.export_id, reason=reason, run_id=request.run_id)
        return ExportCompleted(export_id=request.export_id, run_id=request.run_id, segment=request.segment,
                               status="failed", error=reason)
    return ExportCompleted(
        export_id=request.export_id, run_id=request.run_id, segment=request.segment, path=str(Path(written.path)),
        files=written.files, rows=written.rows, bytes=written.bytes, sha256=written.sha256,
    )


@service.subscriber(Subjects.step_pattern("rescore"), durable="exporter-runs",
                    on_dead_letter=service.fail_run("export"))
async def on_rescore_step(env: Envelope, msg: NatsMessage) -> None:
    step = decode_event(env)
    assert isinstance(step, RunStep)
    if step.status != "completed":
        return
    bus, run = service.bus, step.run_id
    if await cancelled(run):  # nothing is written for a cancelled run
        await publish_run_cancelled(bus, run, stage="export", causation_id=env.event_id)
        return
    await bus.publish(RunStep(run_id=run, stage="export", status="started"), key=(run, "export", "started"),
                      stage="export", causation_id=env.event_id)
    stored = await bus.last(Subjects.RUN_REQUESTED.format(run_id=subject_token(run)))
    request = stored.event() if stored else None
    segments = request.segments if isinstance(request, RunRequested) else ["hot"]
    formats = request.formats if isinstance(request, RunRequested) else ["csv"]
    rows = await run_rows(bus, run)
    contactable, left_out = await without_opted_out(rows, include=False)
    exported: dict[str, int] = {}
    finished: list[ExportCompleted] = []
    for segment in segments:
        ask = ExportRequested(export_id=f"{subject_token(run)}-{segment}", run_id=run, segment=segment,
                              formats=formats, origin="run")
        await bus.publish(ask, key=(ask.export_id,), causation_id=env.event_id)
        done = await export(ask, env.occurred_at, contactable, left_out=left_out)
        await bus.publish(done, key=(ask.export_id,), causation_id=env.event_id)
        finished.append(done)
        exported[segment] = done.rows
    failed = [f"{done.segment}: {done.error}" for done in finished if done.status == "failed"]
    if failed:  # the run ends failed, with the reason, and the webhook hears of the failed exports
        reason = "; ".join(failed)[:1000]
        await bus.publish(RunStep(run_id=run, stage="export", status="failed", counts=exported, message=reason),
                          key=(run, "export", "failed"), stage="export", causation_id=env.event_id)
        final = RunStep(run_id=run, stage="run", status="failed", message=f"export: {reason}")
        await bus.publish(final, key=(run, "run", "failed"), stage="run", causation_id=env.event_id)
        for done in finished:
            await notify(bus, "export.completed", done.model_dump(mode="json"), run)
        return
    await bus.publish(RunStep(run_id=run, stage="export", status="completed", counts=exported),
                      key=(run, "export", "completed"), stage="export", causation_id=env.event_id)
    buckets: dict[str, int] = {}
    for r in rows:
        buckets[f"bucket_{r['bucket']}"] = buckets.get(f"bucket_{r['bucket']}", 0) + 1
    final = RunStep(run_id=run, stage="run", status="completed", counts={"leads": len(rows), **buckets})
    await bus.publish(final, key=(run, "run", "completed"), stage="run", causation_id=env.event_id)
    for done in finished:  # the webhook is told after the run is closed, so a slow receiver delays nothing
        await notify(bus, "export.completed", done.model_dump(mode="json"), run)
    await notify(bus, "run.completed", final.model_dump(mode="json"), run)


async def fail_export(env: Envelope, reason: str) -> None:
    """A requested export whose request was dead-lettered ends as *failed*, not *requested* for ever."""
    export_id, segment = env.payload.get("export_id"), env.payload.get("segment")
    if not isinstance(export_id, str) or not export_id:
        return
    done = ExportCompleted(export_id=export_id, run_id=env.run_id, segment=segment if isinstance(segment, str) else "",
                           status="failed", error=reason[:500])
    await service.bus.publish(done, key=(export_id,), causation_id=env.event_id)


@service.subscriber("export.requested.*", durable="exporter", on_dead_letter=fail_export)
async def on_export_requested(env: Envelope, msg: NatsMessage) -> None:
    request = decode_event(env)
    assert isinstance(request, ExportRequested)
    if request.origin == "run":
        return  # the run's own exports are written by on_rescore_step
    if request.vault_filter or not request.run_id:
        try:
            await wait_for_vault(msg.raw_message.metadata.sequence.stream)
        except TimeoutError as exc:  # the projector is down or stuck: the export fails, it does not hang
            done = ExportCompleted(export_id=request.export_id, run_id=request.run_id, segment=request.segment,
                                   status="failed", error=str(exc)[:500])
            await service.bus.publish(done, key=(request.export_id,), causation_id=env.event_id)
            return
        try:
            scoped = {**request.vault_filter, **({"run_id": request.run_id} if request.run_id else {})}
            rows, left_out = await asyncio.to_thread(vault_rows, vault_engine(), scoped)
        except ValueError as exc:  # a filter the vault cannot apply: a failed export, with the reason
            done = ExportCompleted(export_id=request.export_id, run_id=request.run_id, segment=request.segment,
                                   status="failed", error=f"bad vault filter: {exc}"[:500])
            await service.bus.publish(done, key=(request.export_id,), causation_id=env.event_id)
            return
    else:
        rows, left_out = await without_opted_out(await run_rows(service.bus, request.run_id), include=False)
    done = await export(request, env.occurred_at, rows, left_out=left_out)
    await service.bus.publish(done, key=(request.export_id,), causation_id=env.event_id)
    await notify(service.bus, "export.completed", done.model_dump(mode="json"), request.run_id)
