"""The enricher's plain-NATS channels, outside the stream: the run budgets the replicas share, run
cancellations heard as they are published, and the scorer's question of which leads the vault can
reuse. Each opens a subscription kept on the service's state (closed on shutdown)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import orjson

from services.enricher.state import EnricherState
from shared.bus import decode
from shared.events import RunCancelled, Subjects, decode_event
from shared.run_cancellation import CancelledRuns
from shared.service import Service


async def share_budgets(service: Service, state: EnricherState) -> None:
    """Hear what the other replicas spent per run, and tell them what this one spends (``budgets``)."""
    enricher = state.enricher
    nc = service.broker.connection

    async def heard(msg: Any) -> None:
        try:
            report = orjson.loads(msg.data)
            if report["replica"] != service.worker_id:
                enricher.budgets.merge(report["replica"], report["runs"])
        except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError) as exc:
            service.log.warning("budget_report_unreadable", error=str(exc))

    async def tell() -> None:
        while True:
            await asyncio.sleep(service.settings.budget_share_seconds)
            runs = enricher.budgets.shared_report()
            if runs:
                with contextlib.suppress(Exception):  # a lost report is made up by the next one (running totals)
                    await nc.publish(Subjects.BUDGET_SHARE, orjson.dumps({"replica": service.worker_id, "runs": runs}))

    state.subscriptions.append(await nc.subscribe(Subjects.BUDGET_SHARE, cb=heard))
    state.budget_task = asyncio.create_task(tell())


async def hear_cancellations(service: Service, state: EnricherState, cancelled: CancelledRuns) -> None:
    """A cancelled run stops at once: its leads in flight are stopped (no request more than those already
    sent) and its next leads skipped. The cancellation is heard as it is published (a plain subscription on
    the stream's subject); a replica that missed it still finds it in the stream before each lead."""
    enricher = state.enricher

    async def heard(msg: Any) -> None:
        try:
            event = decode_event(decode(msg.data))
        except Exception as exc:  # noqa: BLE001 - not ours to dead-letter (the projector does): noted
            service.log.warning("cancellation_unreadable", error=str(exc)[:300])
            return
        if isinstance(event, RunCancelled):
            cancelled.remember(event.run_id)
            stopped = enricher.cancel_run(event.run_id)
            service.log.info("run_cancelled", run_id=event.run_id, leads_stopped=stopped)

    state.subscriptions.append(await service.broker.connection.subscribe(
        Subjects.RUN_CANCELLED.format(run_id="*"), cb=heard))


async def answer_reusable(service: Service, state: EnricherState) -> None:
    """Tell the scorer which leads of a run have an enrichment in the vault within the TTL (one replica
    answers each question: a queue group), so it sends those outside the top share too, to be reused."""
    reuse = state.reuse

    async def asked(msg: Any) -> None:
        try:
            keys = [str(k) for k in orjson.loads(msg.data)["keys"]]
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            service.log.warning("reusable_question_unreadable", error=str(exc))
            keys = []
        found = await asyncio.to_thread(reuse.reusable_keys, keys) if keys else []
        with contextlib.suppress(Exception):  # the scorer asked in vain: it goes on with the top share alone
            await msg.respond(orjson.dumps({"keys": found}))

    state.subscriptions.append(await service.broker.connection.subscribe(
        Subjects.ENRICH_REUSABLE, queue="enricher", cb=asked))
