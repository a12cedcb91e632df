"""Extractor: ``run.requested`` -> batches of ``lead.extracted`` (+ ``lead.rejected``) and run steps."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import orjson
from nats.aio.msg import Msg

from services.extractor.planning import estimate_rows
from services.extractor.publishing import HEADROOM, SourceBatches, publish_batches
from services.extractor.source_process import ProcessItems, source_items
from services.extractor.sources.errors import source_failure
from shared.events import (
    ApiCallsRecorded,
    Envelope,
    PlanRequest,
    RunRequested,
    RunStep,
    SourceExportUpdated,
    Subjects,
    subject_token,
)
from shared.schemas import ApiCall, CompanyRecord, DroppedLead
from shared.service import Ctx, Service
from shared.stored_config import effective_settings

PROGRESS_EVERY_S = 1.0

service = Service("extractor")
app = service.app


@service.on("run.requested.*", RunRequested, durable="extractor", on_dead_letter=service.fail_run("extract"))
async def on_run_requested(request: RunRequested, ctx: Ctx) -> None:
    await extract_run(request, ctx.env)


async def fail_run(run: str, exc: Exception, causation_id: str | None = None) -> None:
    """The extract step and the run end as failed, with the reason."""
    service.log.error("extract_failed", run_id=run, reason=str(exc))
    await service.bus.publish(RunStep(run_id=run, stage="extract", status="failed", message=str(exc)),
                              key=(run, "extract", "failed"), stage="extract", causation_id=causation_id)
    await service.bus.publish(RunStep(run_id=run, stage="run", status="failed", message=f"extract: {exc}"),
                              key=(run, "run", "failed"), stage="run", causation_id=causation_id)


async def extract_run(request: RunRequested, env: Envelope) -> None:
    bus, run = service.bus, request.run_id
    log = service.log.bind(run_id=run)
    await bus.publish(RunStep(run_id=run, stage="extract", status="started"), key=(run, "extract", "started"),
                      stage="extract", causation_id=env.event_id)
    calls: list[ApiCall] = []
    exports: list[SourceExportUpdated] = []  # a provider export's status changes (Casa dos Dados), to publish
    read = {"rows": 0}  # source rows read so far (a big cnpj scan reports them before its first lead)
    settings = service.settings
    if request.source.startswith("casadosdados"):  # its key may have been saved on the Config page
        settings = await effective_settings(bus, settings, ["casa_dos_dados_api_key"])
    try:
        items: Iterator[CompanyRecord | str | DroppedLead] = source_items(
            request.source, request.filters, settings=settings, on_api_call=calls.append,
            on_progress=lambda rows: read.__setitem__("rows", rows), on_export=exports.append,
        )
    except Exception as exc:  # a bad source, whatever it raised: the step fails with the reason
        await fail_run(run, source_failure(exc), causation_id=env.event_id)
        return
    encoder = SourceBatches(run, items, batch_size=service.settings.batch_size, causation_id=env.event_id,
                            max_bytes=max(64 * 1024, bus.nc.max_payload - HEADROOM))
    cancelled_subject = Subjects.RUN_CANCELLED.format(run_id=subject_token(run))
    state = {"cancelled": False}

    def counts() -> dict[str, int]:
        done = {"extracted": encoder.extracted, "rejected": encoder.rejected, "batches": encoder.batches}
        return {**done, "read": read["rows"]} if read["rows"] else done

    async def publish_exports() -> None:
        """The export requests' status changes meanwhile (appended by the reading thread: the first n)."""
        n = len(exports)
        for update in exports[:n]:
            await bus.publish(update.model_copy(update={"run_id": run}),
                              key=(run, update.request_id, update.status, update.rows))
        del exports[:n]

    async def watch() -> None:
        """Progress and the cancel check once a second, also while a big source is scanned (no lead
        comes out of a national cnpj import before its whole Estabelecimentos file is read)."""
        reported: dict[str, int] = {}
        while True:
            await asyncio.sleep(PROGRESS_EVERY_S)
            await publish_exports()
            now = counts()
            if now != reported:
                reported = now
                await bus.publish(RunStep(run_id=run, stage="extract", status="progress", counts=now),
                                  key=(run, "extract", "progress", *now.values()), stage="extract")
            if await bus.last(cancelled_subject) is not None:
                log.info("extract_cancelled")
                state["cancelled"] = True
                if isinstance(items, ProcessItems):  # stop its scan now, not at its first batch
                    await asyncio.to_thread(items.close)
                return

    async def after_batch() -> bool:
        """The API calls made meanwhile; whether to go on (not cancelled)."""
        if n := len(calls):  # appended by the worker thread meanwhile: take the first n
            await bus.publish(ApiCallsRecorded(run_id=run, calls=calls[:n]), service="extractor")
            del calls[:n]
        return not state["cancelled"]

    watcher = asyncio.create_task(watch())
    try:
        await publish_batches(bus, encoder, after_batch=after_batch)
    except ValueError as exc:  # a source that fails mid-way (bad header, damaged archive, API refusal)
        await fail_run(run, exc)
        return
    finally:
        watcher.cancel()
        await publish_exports()
    if calls:
        await bus.publish(ApiCallsRecorded(run_id=run, calls=list(calls)), service="extractor")
    extracted, rejected, batches = encoder.extracted, encoder.rejected, encoder.batches
    log.info("extract_completed", extracted=extracted, rejected=rejected, batches=batches)
    await bus.publish(
        RunStep(run_id=run, stage="extract", status="completed", counts=counts()),
        key=(run, "extract", "completed"), stage="extract", causation_id=env.event_id,
    )


@app.after_startup
async def answer_plans() -> None:
    """Dry runs (``hunter hunt --dry-run``, the UI's Dry run button) ask how many rows of a source match
    a hunt's filters: plain NATS request/reply outside the stream, so a plan publishes no event."""

    async def answer(msg: Msg) -> None:
        try:
            ask = PlanRequest.model_validate_json(msg.data)
            found = await asyncio.to_thread(estimate_rows, ask.source, ask.filters, settings=service.settings,
                                            seconds=ask.seconds)
        except ValueError as exc:
            found = {"rows": None, "exact": False, "error": str(exc)}
        await msg.respond(orjson.dumps(found))

    await service.bus.nc.subscribe(Subjects.PLAN_REQUEST, queue="extractor", cb=answer)
