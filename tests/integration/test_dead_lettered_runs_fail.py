"""A run-level stage whose trigger ends in dead letters (its handler kept failing, or its input was bad)
ends its step and the run as *failed* with the reason, and a dead-lettered export request ends as a
failed export: nothing waits for ever on a message nobody will handle again."""

from __future__ import annotations

import asyncio
from pathlib import Path

from nats.js import api

from hunter.stack import Stack
from shared.bus import Bus, connect_bus, decode, encode
from shared.events import ExportCompleted, ExportRequested, RunRequested, RunStep, decode_event, envelope


async def _first(bus: Bus, subject: str, match=lambda e: True, timeout: float = 60.0) -> object:  # type: ignore[no-untyped-def]
    got: asyncio.Future[object] = asyncio.get_running_loop().create_future()

    async def cb(msg) -> None:  # type: ignore[no-untyped-def]
        event = decode_event(decode(msg.data))
        if match(event) and not got.done():
            got.set_result(event)

    sub = await bus.js.subscribe(subject, cb=cb, ordered_consumer=True, deliver_policy=api.DeliverPolicy.ALL,
                                 stream=bus.stream)
    try:
        return await asyncio.wait_for(got, timeout)
    finally:
        await sub.unsubscribe()


def _final(e: object) -> bool:
    return isinstance(e, RunStep) and e.status in ("completed", "failed")


async def test_a_run_whose_stage_trigger_is_dead_lettered_fails_with_the_reason(
    tmp_path: Path, fresh_nats_url: str
) -> None:
    stack = Stack(data_dir=tmp_path / "data", nats_url=fresh_nats_url, gateway=False,
                  services=["cleaner", "exporter"])
    stack.start()
    try:
        async with connect_bus(fresh_nats_url, name="test") as bus:
            run = "r-garbage-batch"
            await bus.publish(RunRequested(run_id=run, source="csv:x.csv"), key=(run,))
            # a batch of the run that is not a LeadsExtracted: the cleaner cannot read the run back
            await bus.js.publish(f"lead.extracted.{run}", b'{"not": "an envelope"}', stream=bus.stream)
            await bus.publish(RunStep(run_id=run, stage="extract", status="completed"), stage="extract")
            clean = await _first(bus, f"run.step.{run}.clean", _final)
            assert isinstance(clean, RunStep) and clean.status == "failed" and clean.message, clean
            final = await _first(bus, f"run.step.{run}.run", _final)
            assert isinstance(final, RunStep) and final.status == "failed"
            assert (final.message or "").startswith("clean: ")

            # an export request the exporter cannot read: a failed export, not one requested for ever
            bad = envelope(ExportRequested(export_id="exp-bad", run_id=run, segment="all", formats=["csv"]))
            bad.payload["formats"] = "not a list"
            await bus.js.publish(f"export.requested.{run}", encode(bad), stream=bus.stream)
            done = await _first(bus, f"export.completed.{run}")
            assert isinstance(done, ExportCompleted) and done.export_id == "exp-bad" and done.status == "failed"
            assert "ValidationError" in (done.error or "")
        assert not stack.crashed()
    finally:
        stack.stop()
