from __future__ import annotations

import uuid
from pathlib import Path

from shared.bus import Bus
from shared.events import LeadsExtracted, RunStep, Subjects, subject_token
from shared.schemas import CompanyRecord


def _company(n: int) -> CompanyRecord:
    return CompanyRecord(lead_key=f"BR:{n:014d}", registry_id=f"{n:014d}", source="test")


async def test_republishing_an_event_with_the_same_key_is_deduplicated(bus: Bus) -> None:
    run = f"t-{uuid.uuid4().hex[:8]}"
    event = LeadsExtracted(run_id=run, batch=0, companies=[_company(1)])
    first = await bus.publish(event, key=(run, 0))
    second = await bus.publish(event, key=(run, 0))
    assert first == second
    assert await bus.count(Subjects.LEAD_EXTRACTED.format(run_id=run)) == 1


async def test_read_returns_a_runs_events_in_order_and_ends(bus: Bus) -> None:
    run = f"t-{uuid.uuid4().hex[:8]}"
    for b in range(5):
        await bus.publish(LeadsExtracted(run_id=run, batch=b, companies=[_company(b)]), key=(run, b))
    other = f"t-{uuid.uuid4().hex[:8]}"
    await bus.publish(LeadsExtracted(run_id=other, batch=0, companies=[_company(9)]), key=(other, 0))
    batches = [s.event().batch async for s in bus.read(Subjects.LEAD_EXTRACTED.format(run_id=run))]
    assert batches == [0, 1, 2, 3, 4]


async def test_reading_a_subject_with_no_events_returns_nothing(bus: Bus) -> None:
    events = [s async for s in bus.read(Subjects.LEAD_CLEANED.format(run_id="never-" + uuid.uuid4().hex))]
    assert events == []


async def test_steps_filter_by_stage_and_carry_trace_headers(bus: Bus) -> None:
    from opentelemetry.sdk.trace import TracerProvider

    run = f"t-{uuid.uuid4().hex[:8]}"
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("publish") as span:
        await bus.publish(RunStep(run_id=run, stage="extract", status="completed"), key=(run,), stage="extract")
        trace_id = format(span.get_span_context().trace_id, "032x")
    stored = await bus.last(f"run.step.{subject_token(run)}.extract")
    assert stored is not None
    assert trace_id in stored.headers["traceparent"]
    assert stored.headers["Nats-Msg-Id"] == stored.envelope.event_id
    assert await bus.count(Subjects.step_pattern("clean").replace("*", subject_token(run))) == 0


def test_a_nats_url_may_list_a_clusters_nodes() -> None:
    from shared.bus import nats_servers

    assert nats_servers("nats://a:4222") == ["nats://a:4222"]
    assert nats_servers("nats://a:4222, nats://b:4222,nats://c:4222") == ["nats://a:4222", "nats://b:4222",
                                                                          "nats://c:4222"]


async def test_a_publish_while_the_server_is_away_is_stored_once_when_it_comes_back(tmp_path: Path) -> None:
    import asyncio

    from shared.bus import connect_bus
    from shared.nats_server import EmbeddedNats

    server = EmbeddedNats(tmp_path)
    url = server.start()
    port = server.port
    run = f"t-{uuid.uuid4().hex[:8]}"
    try:
        async with connect_bus(url, name="test-away") as away:
            await away.publish(LeadsExtracted(run_id=run, batch=0, companies=[_company(1)]), key=(run, 0))
            server.kill()
            pending = asyncio.create_task(
                away.publish(LeadsExtracted(run_id=run, batch=1, companies=[_company(2)]), key=(run, 1)))
            await asyncio.sleep(3.0)  # past a publish's own timeout (2 s): it is asked again, not failed
            assert not pending.done()
            server.port = port
            server.start()
            await asyncio.wait_for(pending, 60)
            await away.publish(LeadsExtracted(run_id=run, batch=1, companies=[_company(2)]), key=(run, 1))
            assert await away.count(Subjects.LEAD_EXTRACTED.format(run_id=run)) == 2
    finally:
        server.stop()
