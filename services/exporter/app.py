"""Exporter: when a run's rescoring completes, write its segments (``export.requested`` /
``export.completed``) and close the run; also serves user-requested exports, of a run or of any
vault filter, and posts every finished export (and run) to the configured webhook."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.engine import Engine

from services.exporter.exporting import export
from services.exporter.notify import notify
from services.exporter.run_kpi import closing_verdict
from services.exporter.stream_rows import run_rows
from services.exporter.vault_checks import wait_for_vault, with_annotations, without_opted_out
from services.exporter.vault_rows import vault_rows
from shared.events import (
    Envelope,
    ExportCompleted,
    ExportRequested,
    KpiVerdict,
    RunRequested,
    RunStep,
    Subjects,
    subject_token,
)
from shared.run_cancellation import CancelledRuns, publish_run_cancelled
from shared.service import Ctx, Service
from shared.vault.access import open_reader

service = Service("exporter")
app = service.app
cancelled = CancelledRuns(lambda subject: service.bus.last(subject))
KPI_WAIT_SECONDS = 30.0  # how long a run's close waits for the vault to judge its KPIs (else: not judged)


@dataclass
class ExporterState:
    """The exporter's per-process state: the vault's engine, made when first needed."""

    vault_url: str
    engine: Engine | None = None

    def vault(self) -> Engine:
        """A read-only engine on the vault (the projector writes it)."""
        if self.engine is None:
            self.engine = open_reader(self.vault_url)
        return self.engine


state = ExporterState(service.settings.vault_database_url)


async def judge_kpis(run: str, seq: int, finished_at: datetime) -> KpiVerdict | None:
    """The run's KPI verdict once the vault holds the stream up to ``seq``; None (logged) if it lags."""
    try:
        await wait_for_vault(state.vault(), seq, timeout=KPI_WAIT_SECONDS)
    except TimeoutError as exc:
        service.log.warning("kpis_not_judged", run_id=run, reason=str(exc))
        return None
    return await asyncio.to_thread(closing_verdict, state.vault(), run, finished_at)


@service.on(Subjects.step_pattern("rescore"), RunStep, durable="exporter-runs",
            on_dead_letter=service.fail_run("export"))
async def on_rescore_step(step: RunStep, ctx: Ctx) -> None:
    if step.status != "completed":
        return
    bus, run, env = service.bus, step.run_id, ctx.env
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
    contactable, left_out = await without_opted_out(state.vault(), rows, include=False)
    contactable = await with_annotations(state.vault(), contactable, log=service.log)
    exported: dict[str, int] = {}
    finished: list[ExportCompleted] = []
    for segment in segments:
        ask = ExportRequested(export_id=f"{subject_token(run)}-{segment}", run_id=run, segment=segment,
                              formats=formats, origin="run")
        await bus.publish(ask, key=(ask.export_id,), causation_id=env.event_id)
        done = await export(ask, env.occurred_at, contactable, settings=service.settings, log=service.log,
                            left_out=left_out)
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
            await notify(bus, "export.completed", done.model_dump(mode="json"), run, log=service.log)
        return
    await bus.publish(RunStep(run_id=run, stage="export", status="completed", counts=exported),
                      key=(run, "export", "completed"), stage="export", causation_id=env.event_id)
    buckets: dict[str, int] = {}
    for r in rows:
        buckets[f"bucket_{r['bucket']}"] = buckets.get(f"bucket_{r['bucket']}", 0) + 1
    finished_at = datetime.now(UTC)
    kpi = await judge_kpis(run, ctx.seq, finished_at)
    final = RunStep(run_id=run, stage="run", status="completed", counts={"leads": len(rows), **buckets}, kpi=kpi)
    await bus.publish(final, key=(run, "run", "completed"), stage="run", causation_id=env.event_id,
                      occurred_at=finished_at)
    for done in finished:  # the webhook is told after the run is closed, so a slow receiver delays nothing
        await notify(bus, "export.completed", done.model_dump(mode="json"), run, log=service.log)
    await notify(bus, "run.completed", final.model_dump(mode="json"), run, log=service.log)


async def fail_export(env: Envelope, reason: str) -> None:
    """A requested export whose request was dead-lettered ends as *failed*, not *requested* for ever."""
    export_id, segment = env.payload.get("export_id"), env.payload.get("segment")
    if not isinstance(export_id, str) or not export_id:
        return
    done = ExportCompleted(export_id=export_id, run_id=env.run_id, segment=segment if isinstance(segment, str) else "",
                           status="failed", error=reason[:500])
    await service.bus.publish(done, key=(export_id,), causation_id=env.event_id)


@service.on("export.requested.*", ExportRequested, durable="exporter", on_dead_letter=fail_export)
async def on_export_requested(request: ExportRequested, ctx: Ctx) -> None:
    env = ctx.env
    if request.origin == "run":
        return  # the run's own exports are written by on_rescore_step
    if request.vault_filter or not request.run_id:
        try:
            await wait_for_vault(state.vault(), ctx.seq)
        except TimeoutError as exc:  # the projector is down or stuck: the export fails, it does not hang
            done = ExportCompleted(export_id=request.export_id, run_id=request.run_id, segment=request.segment,
                                   status="failed", error=str(exc)[:500])
            await service.bus.publish(done, key=(request.export_id,), causation_id=env.event_id)
            return
        try:
            scoped = {**request.vault_filter, **({"run_id": request.run_id} if request.run_id else {})}
            rows, left_out = await asyncio.to_thread(vault_rows, state.vault(), scoped)
        except ValueError as exc:  # a filter the vault cannot apply: a failed export, with the reason
            done = ExportCompleted(export_id=request.export_id, run_id=request.run_id, segment=request.segment,
                                   status="failed", error=f"bad vault filter: {exc}"[:500])
            await service.bus.publish(done, key=(request.export_id,), causation_id=env.event_id)
            return
    else:
        rows, left_out = await without_opted_out(state.vault(), await run_rows(service.bus, request.run_id),
                                                 include=False)
    rows = await with_annotations(state.vault(), rows, log=service.log)
    done = await export(request, env.occurred_at, rows, settings=service.settings, log=service.log,
                        left_out=left_out)
    await service.bus.publish(done, key=(request.export_id,), causation_id=env.event_id)
    await notify(service.bus, "export.completed", done.model_dump(mode="json"), request.run_id, log=service.log)
