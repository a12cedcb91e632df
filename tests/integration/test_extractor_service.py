"""The extractor service process over a real NATS, on the real Receita sample files."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

from nats.js import api

from hunter.stack import Stack
from services.extractor.sources import iter_source
from shared.bus import Bus, connect_bus, decode
from shared.events import LeadsExtracted, LeadsRejected, RunFilters, RunRequested, RunStep, decode_event
from shared.schemas import CompanyRecord


async def _extract_step(bus: Bus, run_id: str, status: str, timeout: float = 60.0) -> RunStep:
    """Wait for the extract step with ``status`` of the run (history first, then live)."""
    found: asyncio.Future[RunStep] = asyncio.get_running_loop().create_future()

    async def cb(msg) -> None:  # type: ignore[no-untyped-def]
        step = decode_event(decode(msg.data))
        if isinstance(step, RunStep) and step.status in (status, "failed") and not found.done():
            found.set_result(step)

    sub = await bus.js.subscribe(f"run.step.{run_id}.extract", cb=cb, ordered_consumer=True,
                                 deliver_policy=api.DeliverPolicy.ALL, stream=bus.stream)
    try:
        return await asyncio.wait_for(found, timeout)
    finally:
        await sub.unsubscribe()


async def _until_consumer_idle(bus: Bus, delivered: int, timeout: float = 60.0) -> None:
    """Wait until the extractor's durable consumer has acked ``delivered`` requests."""
    deadline = time.monotonic() + timeout
    while True:
        info = await bus.js.consumer_info(bus.stream, "extractor")
        if info.ack_floor.consumer_seq >= delivered and info.num_ack_pending == 0:
            return
        assert time.monotonic() < deadline, f"extractor still busy: {info}"
        await asyncio.sleep(0.05)


async def test_extractor_publishes_the_sample_leads_rejects_and_dedups_a_repeated_request(
    fresh_nats_url: str, shared_data: Path, tmp_path: Path
) -> None:
    receita = tmp_path / "cnpj"
    shutil.copytree(shared_data / "cnpj", receita)
    (receita / "Estabelecimentos1").write_bytes(b'"12345678";"0001";"99";"1";"BROKEN ROW"\n')
    source, filters = f"cnpj:{receita}", RunFilters()
    expected = [i for i in iter_source(source, filters) if isinstance(i, CompanyRecord)]
    assert expected  # the real sample holds one active establishment

    stack = Stack(data_dir=tmp_path / "stack", nats_url=fresh_nats_url, services=["extractor"], gateway=False)
    stack.start()
    try:
        async with connect_bus(fresh_nats_url, name="test") as bus:
            request = RunRequested(run_id="run-extract-1", source=source, filters=filters)
            await bus.publish(request, key=(request.run_id,))
            done = await _extract_step(bus, request.run_id, "completed")
            assert done.status == "completed", done.message
            # "read": the Estabelecimentos lines (the sample's two, one empty, and the malformed row)
            assert done.counts == {"extracted": len(expected), "rejected": 1, "batches": 1, "read": 3}

            batches = [s.event() async for s in bus.read("lead.extracted.run-extract-1")]
            assert all(isinstance(b, LeadsExtracted) for b in batches)
            published = [c for b in batches for c in b.companies]  # type: ignore[union-attr]
            assert [c.model_dump() for c in published] == [c.model_dump() for c in expected]

            [rejects] = [s.event() async for s in bus.read("lead.rejected.run-extract-1")]
            assert isinstance(rejects, LeadsRejected)
            [bad] = rejects.rejected
            assert (bad.source_file, bad.source_line, bad.reason.code) == ("Estabelecimentos1", 1, "malformed_row")
            assert "5 columns" in bad.reason.detail

            await _until_consumer_idle(bus, 1)
            await bus.publish(request)  # the same run requested again (a new event id): extracted again
            await _until_consumer_idle(bus, 2)
            assert await bus.count("lead.extracted.run-extract-1") == len(batches)
            assert await bus.count("lead.rejected.run-extract-1") == 1
            assert await bus.count("run.step.run-extract-1.extract") == 2  # started, completed
        assert not stack.crashed()
    finally:
        stack.stop()
