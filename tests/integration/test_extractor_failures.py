"""Every source the extractor cannot read ends its run: the extract step and the run fail with a
reason a person can read, never a run left *running* with its request dead-lettered, nor a run
*completed* with 0 leads. A row the CSV reader refuses is rejected alone; the other rows go through."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from nats.js import api

from hunter.stack import Stack
from shared.bus import Bus, connect_bus, decode
from shared.events import LeadsExtracted, LeadsRejected, RunFilters, RunRequested, RunStep, decode_event

VALID = ("11222333000181", "11444777000161")  # CNPJs with good check digits


async def _final_step(bus: Bus, run_id: str, stage: str, timeout: float = 45.0) -> RunStep:
    """The ``completed`` or ``failed`` step of a run's stage (history first, then live)."""
    found: asyncio.Future[RunStep] = asyncio.get_running_loop().create_future()

    async def cb(msg) -> None:  # type: ignore[no-untyped-def]
        step = decode_event(decode(msg.data))
        if isinstance(step, RunStep) and step.status in ("completed", "failed") and not found.done():
            found.set_result(step)

    sub = await bus.js.subscribe(f"run.step.{run_id}.{stage}", cb=cb, ordered_consumer=True,
                                 deliver_policy=api.DeliverPolicy.ALL, stream=bus.stream)
    try:
        return await asyncio.wait_for(found, timeout)
    finally:
        await sub.unsubscribe()


def _receita_copy(shared_data: Path, target: Path) -> Path:
    shutil.copytree(shared_data / "cnpj", target)
    for f in target.iterdir():
        f.chmod(0o644)
    return target


async def test_unreadable_sources_fail_their_run_with_a_readable_reason(
    fresh_nats_url: str, shared_data: Path, tmp_path: Path
) -> None:
    good = tmp_path / "good.csv"
    good.write_text(f"cnpj,razao_social\n{VALID[0]},A\n")
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    header_only = tmp_path / "header.csv"
    header_only.write_text("cnpj,razao_social\n")
    truncated = _receita_copy(shared_data, tmp_path / "truncated")
    whole = (truncated / "Estabelecimentos0.zip").read_bytes()
    (truncated / "Estabelecimentos0.zip").write_bytes(whole[: len(whole) // 2])
    not_zip = _receita_copy(shared_data, tmp_path / "not_zip")
    (not_zip / "Estabelecimentos0.zip").write_text("<html>404 not found</html>\n")
    wrong_layout = _receita_copy(shared_data, tmp_path / "wrong_layout")
    (wrong_layout / "Estabelecimentos0.zip").unlink()
    (wrong_layout / "Estabelecimentos0.csv").write_text(f"cnpj,name,uf\n{VALID[0]},A,SP\n{VALID[1]},B,RJ\n")
    cases = {
        "bad-encoding": (f"csv:{good}?encoding=bogus", "unknown encoding 'bogus'"),
        "bad-delimiter": (f"csv:{good}?delimiter=ab", "delimiter must be one character"),
        "empty-csv": (f"csv:{empty}", "no data rows"),
        "header-only-csv": (f"csv:{header_only}", "no data rows"),
        "truncated-zip": (f"cnpj:{truncated}", "Estabelecimentos0.zip is not a readable zip archive"),
        "not-a-zip": (f"cnpj:{not_zip}", "Estabelecimentos0.zip is not a readable zip archive"),
        "wrong-layout": (f"cnpj:{wrong_layout}", "not the Receita Estabelecimentos layout"),
    }
    stack = Stack(data_dir=tmp_path / "stack", nats_url=fresh_nats_url, services=["extractor"], gateway=False)
    stack.start()
    try:
        async with connect_bus(fresh_nats_url, name="test") as bus:
            for run_id, (source, _) in cases.items():
                await bus.publish(RunRequested(run_id=run_id, source=source, filters=RunFilters(status=["*"])),
                                  key=(run_id,))
            for run_id, (_, reason) in cases.items():
                step = await _final_step(bus, run_id, "extract")
                assert (step.status, run_id) == ("failed", run_id), step
                assert reason in (step.message or ""), (run_id, step.message)
                assert "Traceback" not in (step.message or "")
                run = await _final_step(bus, run_id, "run")
                assert run.status == "failed" and reason in (run.message or ""), (run_id, run)
                assert await bus.count(f"lead.extracted.{run_id}") == 0
            assert await bus.count("dlq.>") == 0  # failed runs, not dead letters
        assert not stack.crashed()
    finally:
        stack.stop()


async def test_a_csv_field_over_the_reader_limit_rejects_its_row_and_the_other_rows_go_through(
    fresh_nats_url: str, tmp_path: Path
) -> None:
    big = tmp_path / "big.csv"
    big.write_text(f"cnpj,razao_social\n{VALID[0]},FIRST\n{VALID[1]},{'x' * 140_000}\n{VALID[1]},THIRD\n")
    stack = Stack(data_dir=tmp_path / "stack", nats_url=fresh_nats_url, services=["extractor"], gateway=False)
    stack.start()
    try:
        async with connect_bus(fresh_nats_url, name="test") as bus:
            request = RunRequested(run_id="run-big-field", source=f"csv:{big}", filters=RunFilters(status=["*"]))
            await bus.publish(request, key=(request.run_id,))
            step = await _final_step(bus, request.run_id, "extract")
            assert step.status == "completed", step.message
            assert (step.counts["extracted"], step.counts["rejected"]) == (2, 1)
            batches = [s.event() async for s in bus.read("lead.extracted.run-big-field")]
            names = [c.legal_name for b in batches if isinstance(b, LeadsExtracted) for c in b.companies]
            assert names == ["FIRST", "THIRD"]
            [rejects] = [s.event() async for s in bus.read("lead.rejected.run-big-field")]
            assert isinstance(rejects, LeadsRejected)
            [bad] = rejects.rejected
            assert (bad.source_file, bad.source_line, bad.reason.code) == ("big.csv", 3, "malformed_row")
            assert "field larger than field limit" in bad.reason.detail
        assert not stack.crashed()
    finally:
        stack.stop()
