"""The cleaner and scorer services publish the same events whether a run stays in memory or is spilled
to disk: the same run on two servers, once with the default threshold and once with HUNTER_SPILL_LEADS=0."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from hunter.stack import Stack
from shared.bus import Bus, connect_bus
from shared.events import LeadsExtracted, RunRequested, RunStep
from shared.schemas import CompanyRecord
from shared.wire import records
from tests.integration.test_clean_score import _stage_completed
from tests.nats_fixtures import nats_server
from tests.unit.test_cleaner_spilled import varied_run

RUN = "spill-seam"
SUBJECTS = ["lead.cleaned", "lead.rejected", "lead.scored", "enrich.requested", "run.step"]


async def _payloads(bus: Bus, subject: str) -> list[tuple[str, str, Any]]:
    out = []
    async for stored in bus.read(f"{subject}.{RUN}.>" if subject == "run.step" else f"{subject}.{RUN}"):
        env = stored.envelope
        out.append((env.event_id, env.type, json.dumps(env.payload, sort_keys=True)))
    return out


async def _run(tmp: Path, companies: list[Any], spill_leads: str) -> dict[str, list[tuple[str, str, Any]]]:
    with nats_server(tmp / "nats") as url:
        stack = Stack(tmp / "data", url, gateway=False, services=["cleaner", "scorer"],
                      env_extra={"HUNTER_SPILL_LEADS": spill_leads, "HUNTER_BATCH_SIZE": "40"})
        stack.start()
        try:
            async with connect_bus(url, name="test") as bus:
                await bus.publish(RunRequested(run_id=RUN, source="csv:seam.csv", enrich_top=0.3), key=(RUN,))
                await asyncio.sleep(3.0)  # the services' batch followers start (or take() reads it all back)
                await bus.publish_many(
                    bus.wrap(LeadsExtracted(run_id=RUN, batch=n, companies=companies[start:start + 40]),
                             key=(RUN, n))
                    for n, start in enumerate(range(0, len(companies), 40)))
                await bus.publish(RunStep(run_id=RUN, stage="extract", status="completed"),
                                  key=(RUN, "extract", "completed"), stage="extract")
                for stage in ("clean", "score"):
                    step = await _stage_completed(bus, RUN, stage, timeout=120)
                    assert step.status == "completed", step
                # the scorer's handler went to its end (the enrich step starts after the score step)
                for _ in range(100):
                    if await bus.last(f"run.step.{RUN}.enrich") is not None:
                        break
                    await asyncio.sleep(0.1)
                assert await bus.last(f"run.step.{RUN}.run") is None  # the run did not fail
                return {subject: await _payloads(bus, subject) for subject in SUBJECTS}
        finally:
            assert not stack.crashed()
            stack.stop()


async def test_a_run_spilled_to_disk_publishes_the_same_events_as_in_memory(tmp_path: Path) -> None:
    companies = [records.to_model(c, CompanyRecord) for c in varied_run(800, 7)]
    memory = await _run(tmp_path / "memory", companies, "1000000")
    spilled = await _run(tmp_path / "spilled", companies, "0")
    assert len(memory["lead.cleaned"]) > 3 and len(memory["lead.rejected"]) > 1
    assert len(memory["enrich.requested"]) > 20
    assert any('"stage": "enrich"' in payload for *_, payload in memory["run.step"])
    for subject in SUBJECTS:
        assert spilled[subject] == memory[subject], subject
