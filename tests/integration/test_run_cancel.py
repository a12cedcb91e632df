"""Cancelling a run while it enriches: every stage stops, the run closes as cancelled, nothing is exported."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from pathlib import Path

import pytest
from sqlmodel import Session

from hunter.demo_run import DEMO_CSV
from hunter.stack import Stack
from hunter.watch import wait_projected, watch_run
from services.projector.db import make_engine
from services.projector.models import Run
from shared.bus import Bus, connect_bus
from shared.events import (
    EnrichmentRequested,
    LeadEnriched,
    RunCancelled,
    RunFilters,
    RunRequested,
    RunStep,
    Subjects,
    subject_token,
)

pytestmark = pytest.mark.e2e




async def _lead_keys_requested(bus: Bus, run: str) -> list[str]:
    keys = []
    async for stored in bus.read(Subjects.ENRICH_REQUESTED.format(run_id=subject_token(run))):
        event = stored.event()
        assert isinstance(event, EnrichmentRequested)
        keys.append(event.lead.lead.lead_key)
    return keys


async def _enriched(bus: Bus, run: str) -> list[LeadEnriched]:
    events = []
    async for stored in bus.read(Subjects.LEAD_ENRICHED.format(run_id=subject_token(run))):
        event = stored.event()
        assert isinstance(event, LeadEnriched)
        events.append(event)
    return events


async def test_a_run_cancelled_while_enriching_skips_the_pending_leads_closes_cancelled_and_exports_nothing(
    tmp_path: Path, fresh_nats_url: str, farm_env: dict[str, str]
) -> None:
    data_dir = tmp_path / "data"
    vault_url = f"sqlite:///{data_dir / 'vault.db'}"
    # two leads at a time, so most of the run's leads are still waiting when the cancellation lands
    stack = Stack(data_dir=data_dir, nats_url=fresh_nats_url, env_extra={**farm_env, "ENRICHER_CONCURRENCY": "2"},
                  gateway=False, enricher_replicas=1)
    stack.start()
    run = f"cancel-{uuid.uuid4().hex[:8]}"
    request = RunRequested(run_id=run, source=f"csv:{DEMO_CSV}", filters=RunFilters(), enrich_top=0.5,
                           segments=["hot", "all"], formats=["csv"])
    steps: list[RunStep] = []
    cancelling: list[asyncio.Task[int]] = []
    try:
        async with connect_bus(fresh_nats_url, name="cancel-test") as bus:

            def cancel_once_enrichment_progresses(step: RunStep) -> None:
                steps.append(step)
                if step.stage == "enrich" and step.status == "progress" and not cancelling:
                    cancel = RunCancelled(run_id=run, reason="cancelled by test")
                    cancelling.append(asyncio.create_task(bus.publish(cancel, key=(run,))))

            await bus.publish(request, key=(run,))
            final = await watch_run(bus, run, on_step=cancel_once_enrichment_progresses, timeout=60)
            await asyncio.gather(*cancelling)
            await wait_projected(bus, vault_url)
            requested = await _lead_keys_requested(bus, run)
            enriched = await _enriched(bus, run)
            exports = await bus.count(f"export.*.{subject_token(run)}")
    finally:
        stack.stop()

    assert cancelling, "the run ended before its enrichment made progress"
    assert (final.stage, final.status) == ("run", "cancelled"), final
    assert [s.status for s in steps if s.stage == "run"] == ["cancelled"]

    # every lead sent to enrichment has exactly one outcome: those done before the cancellation were
    # fetched, those still waiting were skipped without a fetch
    assert requested and Counter(e.enrichment.lead_key for e in enriched) == Counter(requested)
    skipped = [e.enrichment for e in enriched if e.enrichment.status == "skipped"]
    assert 0 < len(skipped) < len(requested)
    assert all(s.error == "run cancelled" and s.pages_fetched == 0 for s in skipped)

    # the enrich stage reported its start and its close, with the outcomes counted from the stream
    enrich = {s.status: s for s in steps if s.stage == "enrich"}
    assert enrich["started"].counts["expected"] == len(requested)
    closing = enrich["completed"].counts
    assert closing["enriched"] == closing["expected"] == len(requested)
    assert closing["skipped"] == len(skipped)
    assert sum(closing[k] for k in ("ok", "no_site", "error", "budget_exceeded", "skipped")) == len(requested)

    # nothing exported: no export events, no files, no export step
    assert exports == 0
    assert not (data_dir / "exports" / subject_token(run)).exists()
    assert not any(s.stage == "export" for s in steps)

    engine = make_engine(vault_url)
    with Session(engine) as s:
        vault_run = s.get(Run, run)
    engine.dispose()
    assert vault_run is not None and vault_run.status == "cancelled"
