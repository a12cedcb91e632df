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
from shared.vault.engine import make_engine
from shared.vault.schema import Run

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


async def test_after_a_cancel_the_enricher_sends_no_request_beyond_those_in_flight(
    tmp_path: Path, fresh_nats_url: str
) -> None:
    """The farm counts the requests that reach it: once the cancellation is published, the enricher stops
    its leads in flight and starts none (the farm answers slowly, so each lead is mid-way when it lands)."""
    from hunter.demo.webfarm import run_webfarm
    from hunter.demo_run import farm_settings

    concurrency = 4
    data_dir = tmp_path / "data"
    run = f"cancel-{uuid.uuid4().hex[:8]}"
    request = RunRequested(run_id=run, source=f"csv:{DEMO_CSV}", filters=RunFilters(), enrich_top=1.0,
                           segments=["all"], formats=["csv"])
    at_cancel: dict[str, object] = {}
    cancelling: list[asyncio.Task[int]] = []
    async with run_webfarm(latency_ms=150) as farm:
        env = {**farm_settings(farm.proxy_url, farm.search_base_url), "HUNTER_BATCH_SIZE": "100",
               "ENRICHER_CONCURRENCY": str(concurrency)}
        stack = Stack(data_dir=data_dir, nats_url=fresh_nats_url, env_extra=env, gateway=False, enricher_replicas=1)
        stack.start()
        try:
            async with connect_bus(fresh_nats_url, name="cancel-test") as bus:

                def cancel_once_enrichment_progresses(step: RunStep) -> None:
                    if step.stage == "enrich" and step.status == "progress" and not cancelling:
                        stats = farm.stats()
                        at_cancel.update(requests=stats["site_requests"], in_flight=stats["in_flight"],
                                         hosts={h for h, v in stats["hosts"].items() if v["requests"]})
                        cancel = RunCancelled(run_id=run, reason="cancelled by test")
                        cancelling.append(asyncio.create_task(bus.publish(cancel, key=(run,))))

                await bus.publish(request, key=(run,))
                final = await watch_run(bus, run, on_step=cancel_once_enrichment_progresses, timeout=120)
                await asyncio.gather(*cancelling)
                requested = await _lead_keys_requested(bus, run)
                enriched = await _enriched(bus, run)  # every lead has its outcome: none is still fetching
        finally:
            stack.stop()
        after = farm.stats()

    assert cancelling, "the run ended before its enrichment made progress"
    assert (final.stage, final.status) == ("run", "cancelled"), final
    assert Counter(e.enrichment.lead_key for e in enriched) == Counter(requested)
    sent_after = after["site_requests"] - at_cancel["requests"]
    new_hosts = {h for h, v in after["hosts"].items() if v["requests"]} - at_cancel["hosts"]  # type: ignore[operator]
    # at most one request per lead in flight may have left while the cancellation was on its way
    assert sent_after <= concurrency, (sent_after, at_cancel["in_flight"], sorted(new_hosts))
    skipped = [e.enrichment for e in enriched if e.enrichment.status == "skipped"]
    assert skipped and all(s.error == "run cancelled" for s in skipped)
