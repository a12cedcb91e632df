"""An export that cannot be written (here: a really full disk, a small tmpfs) ends as a *failed*
export with the reason, and the run it closes fails with that reason: never an export left
*requested* and a run left *running* with the request dead-lettered."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from nats.js import api

from hunter.stack import Stack
from shared.bus import Bus, connect_bus, decode
from shared.events import ExportCompleted, ExportRequested, RunRequested, RunStep, decode_event
from tests.factories import run_events


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A directory on a 64 KiB tmpfs filled to the last byte."""
    mount = tmp_path / "full"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {done.stderr.decode().strip()}")
    try:
        with contextlib.suppress(OSError), (mount / "filler").open("wb") as f:
            while True:
                f.write(b"\0" * 4096)
                f.flush()
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


async def _first(bus: Bus, subject: str, match=lambda e: True, timeout: float = 45.0) -> object:  # type: ignore[no-untyped-def]
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


async def test_a_full_export_disk_fails_the_export_and_the_run_with_the_reason(
    tmp_path: Path, fresh_nats_url: str, full_disk: Path
) -> None:
    stack = Stack(data_dir=tmp_path / "data", nats_url=fresh_nats_url, gateway=False, services=["exporter"],
                  env_extra={"HUNTER_EXPORT_DIR": str(full_disk)})
    stack.start()
    try:
        async with connect_bus(fresh_nats_url, name="test") as bus:
            for event in run_events("r-full")[:-1]:  # the run's events up to its rescoring, not its end
                if isinstance(event, RunRequested):
                    event = event.model_copy(update={"segments": ["all"], "formats": ["csv"]})
                await bus.publish(event, stage=getattr(event, "stage", "x"))
            await bus.publish(RunStep(run_id="r-full", stage="rescore", status="completed"), stage="rescore")

            step = await _first(bus, "run.step.r-full.export", _final)
            assert isinstance(step, RunStep) and step.status == "failed", step
            assert "No space left on device" in (step.message or ""), step.message
            run = await _first(bus, "run.step.r-full.run", _final)
            assert isinstance(run, RunStep) and run.status == "failed" and "No space left" in (run.message or "")
            done = await _first(bus, "export.completed.r-full")
            assert isinstance(done, ExportCompleted) and done.status == "failed" and "No space left" in done.error

            # an export asked for later, from the UI, fails the same way
            await bus.publish(ExportRequested(export_id="again", run_id="r-full", segment="all", formats=["csv"]))
            again = await _first(bus, "export.completed.r-full", lambda e: getattr(e, "export_id", "") == "again")
            assert isinstance(again, ExportCompleted) and again.status == "failed", again
            assert "No space left on device" in again.error
            assert await bus.count("dlq.>") == 0
        assert not stack.crashed()
    finally:
        stack.stop()
