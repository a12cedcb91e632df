"""Traces and logs across service processes: each process writes its spans to a JSON-lines file
(OTEL_TRACES_EXPORTER=jsonfile), read back once the stack has stopped."""

from __future__ import annotations

import csv
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from hunter.demo_run import DEMO_CSV
from hunter.stack import Stack
from hunter.watch import wait_projected, watch_run
from shared.bus import connect_bus
from shared.events import Envelope, RunFilters, RunRequested, Subjects
from shared.tracing import lead_trace_id
from shared.vault.engine import make_engine
from shared.vault.schema import Lead

pytestmark = pytest.mark.e2e


@pytest.fixture
def farm_env(farm_env: dict[str, str]) -> dict[str, str]:
    return {**farm_env, "HUNTER_BATCH_SIZE": "10"}  # several batches even for a small run




def _small_csv(path: Path, rows: int = 24) -> Path:
    with DEMO_CSV.open(encoding="utf-8") as f:
        reader = csv.DictReader(f)
        head = [r for _, r in zip(range(rows), reader, strict=False)]
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(head[0]))
        writer.writeheader()
        writer.writerows(head)
    return path


def _spans(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for f in sorted(folder.glob("*.jsonl")) for line in f.read_text().splitlines() if line]


def _log_lines(logs: Path, name: str) -> list[dict[str, Any]]:
    out = []
    for line in (logs / f"{name}.log").read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


async def test_a_lead_has_one_trace_across_every_stage_and_logs_carry_its_ids(
    tmp_path: Path, fresh_nats_url: str, farm_env: dict[str, str]
) -> None:
    data_dir, traces = tmp_path / "data", tmp_path / "traces"
    env = {**farm_env, "OTEL_TRACES_EXPORTER": "jsonfile", "HUNTER_TRACES_DIR": str(traces)}
    stack = Stack(data_dir=data_dir, nats_url=fresh_nats_url, env_extra=env, gateway=False)
    stack.start()
    run = f"trace-{uuid.uuid4().hex[:8]}"
    request = RunRequested(run_id=run, source=f"csv:{_small_csv(tmp_path / 'c.csv')}", filters=RunFilters(),
                           enrich_top=0.5, segments=["hot"], formats=["csv"])
    try:
        async with connect_bus(fresh_nats_url, name="trace-test") as bus:
            await bus.publish(request, key=(run,))
            final = await watch_run(bus, run, timeout=180)
            assert final.status == "completed", final
            # a malformed per-lead request: the enricher dead-letters it, logging with the lead's ids
            bad = Envelope(event_id=str(uuid.uuid4()), type="EnrichmentRequested", run_id=run, lead_key="BR:bad",
                           occurred_at=request_time(), payload={"run_id": run})
            await bus.js.publish(Subjects.ENRICH_REQUESTED.format(run_id=run), bad.model_dump_json().encode(),
                                 stream=bus.stream)
            await _wait_for_count(bus, "dlq.enricher", 1)
            await wait_projected(bus, f"sqlite:///{data_dir / 'vault.db'}")
    finally:
        stack.stop()

    engine = make_engine(f"sqlite:///{data_dir / 'vault.db'}")
    with Session(engine) as s:
        enriched = [lead.lead_key for lead in s.exec(select(Lead).where(Lead.run_id == run, Lead.enriched)).all()]
    engine.dispose()
    assert enriched
    spans = _spans(traces)
    by_trace: dict[str, list[dict[str, Any]]] = {}
    for span in spans:
        by_trace.setdefault(span["trace_id"], []).append(span)

    # one trace per enriched lead, crossing every stage's process
    for key in enriched:
        lead_spans = by_trace.get(lead_trace_id(run, key), [])
        assert {s["service"] for s in lead_spans} >= {"extractor", "cleaner", "scorer", "enricher", "projector"}, (
            key, sorted({(s["service"], s["name"]) for s in lead_spans}))
        assert {s["attributes"].get("lead_key") for s in lead_spans} - {None} == {key}
    # batch stages link each lead's span to the batch span that did the work
    cleaner_marks = [s for s in by_trace[lead_trace_id(run, enriched[0])] if s["service"] == "cleaner"]
    batch_ids = {s["span_id"] for s in spans if s["service"] == "cleaner"}
    assert all(link["span_id"] in batch_ids for s in cleaner_marks for link in s["links"]) and cleaner_marks[0]["links"]

    # the context travels in NATS headers: a consumer's span is the child of the producer's span
    span_service = {s["span_id"]: s["service"] for s in spans}
    crossings = {(span_service.get(s["parent_id"]), s["service"]) for s in spans if s["parent_id"]}
    assert {("extractor", "cleaner"), ("cleaner", "scorer"), ("scorer", "enricher")} <= crossings, crossings
    # ... and inside a lead's trace too: scorer v2 consumes what the enricher published in the lead's span
    lead_trace = by_trace[lead_trace_id(run, enriched[0])]
    assert any(s["service"] == "scorer" and span_service.get(s["parent_id"]) == "enricher" for s in lead_trace)

    # the handler's log lines carry the run, the lead and the lead's trace id
    dead = [line for line in _log_lines(data_dir / "logs", "enricher") if line.get("event") == "dead_lettered"]
    assert dead and dead[0]["lead_key"] == "BR:bad" and dead[0]["run_id"] == run
    assert dead[0]["trace_id"] == lead_trace_id(run, "BR:bad")


def request_time():  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime.now(UTC)


async def _wait_for_count(bus, subject: str, n: int, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    from nats.js import api

    sub = await bus.js.subscribe(subject, ordered_consumer=True, deliver_policy=api.DeliverPolicy.ALL,
                                 stream=bus.stream)
    try:
        for _ in range(n):
            await sub.next_msg(timeout=timeout)
    finally:
        await sub.unsubscribe()
