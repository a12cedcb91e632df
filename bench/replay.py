"""Replay and live-projection benchmark.

Writes ``--events`` stream messages shaped like real runs (tests/fixtures/synthetic_stream.py:
batch events of 250 leads, per-lead enrichment messages for a quarter of the leads, steps, API
calls, logs, exports) into an embedded JetStream, then measures:

- a full replay (``rebuild_into``: stream from sequence 1 into a fresh SQLite vault): events/s, and
  since events are batches, lead records/s (the leads, companies and rejections batch events carry,
  plus one per per-lead event) and MB/s of event JSON; and the stream read alone (``read_batches``);
- the live projector process (``HUNTER_PROJECTOR_BATCH=--projector-batch``) while events arrive at
  ``--rate`` events/s for ``--live-seconds``: the lag (stream last sequence - vault checkpoint)
  sampled every 0.25 s, and the time it takes to catch up once publishing stops.

The replay builds the vault's secondary indexes after the load and ends with its digest
(``replay_s`` includes both; ``of_which_digest_s`` says how much the digest takes). Prints one
JSON object as its last line, with the machine's load average at start and end. ``--quick`` =
50,000 events and 2 s of live load.
Run: ``python bench/replay.py --quick`` or ``python bench/replay.py --events 1000000``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hunter.stack import Stack  # noqa: E402
from services.projector.digest import vault_digest  # noqa: E402
from services.projector.projection import Projection  # noqa: E402
from services.projector.replay import read_batches, rebuild_into  # noqa: E402
from shared.bus import Bus, connect_bus  # noqa: E402
from shared.nats_server import EmbeddedNats  # noqa: E402
from shared.vault.engine import make_engine  # noqa: E402
from tests.fixtures.synthetic_stream import Message, synthetic_stream  # noqa: E402


async def publish(bus: Bus, messages: list[Message], *, chunk: int = 2000) -> None:
    for start in range(0, len(messages), chunk):
        acks = [await bus.js.publish_async(s, d, stream=bus.stream, headers={"Nats-Msg-Id": i})
                for s, d, i in messages[start:start + chunk]]
        await asyncio.gather(*acks)


class _Records(msgspec.Struct):
    leads: list[msgspec.Raw] = []
    companies: list[msgspec.Raw] = []
    rejected: list[msgspec.Raw] = []


class _Counted(msgspec.Struct):
    payload: _Records


def lead_records(messages: list[Message]) -> int:
    """Lead records in these events: the items of batch events, one for any other event of a lead."""
    decoder, n = msgspec.json.Decoder(_Counted), 0
    for _, data, _ in messages:
        p = decoder.decode(data).payload
        n += len(p.leads) + len(p.companies) + len(p.rejected) or (b'"lead_key":"' in data[:400])
    return n


async def publish_unacked(bus: Bus, messages: list[Message]) -> None:
    """Core-NATS publishes the stream stores without waiting for its acks: a load generator fast enough
    for the live rates (JetStream acks cost the publisher more than the projector's reading)."""
    for s, d, i in messages:
        await bus.nc.publish(s, d, headers={"Nats-Msg-Id": i})
    await bus.nc.flush()


async def measure_replay(url: str, messages: list[Message], work: Path) -> dict[str, Any]:
    mb, records = sum(len(d) for _, d, _ in messages) / 1e6, lead_records(messages)
    async with connect_bus(url, name="bench-replay") as bus:
        t0 = time.perf_counter()
        await publish(bus, messages)
        published = time.perf_counter() - t0
        t0, read = time.perf_counter(), 0
        async for batch in read_batches(bus, batch=5000):
            read += len(batch)
        read_s = time.perf_counter() - t0
        t0, c0 = time.perf_counter(), time.process_time()
        applied, digest = await rebuild_into(bus, f"sqlite:///{work / 'replayed.db'}")
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    engine = make_engine(f"sqlite:///{work / 'replayed.db'}", create=False)
    t0 = time.perf_counter()
    vault_digest(engine)  # rebuild_into ends with it: say how much of replay_s it is
    digest_s = time.perf_counter() - t0
    engine.dispose()
    return {"events": applied, "lead_records": records, "mb": round(mb, 1), "publish_s": round(published, 2),
            "read_only_s": round(read_s, 2), "read_only_events_per_s": round(read / read_s),
            "replay_s": round(elapsed, 2), "replay_cpu_s": round(cpu, 2), "of_which_digest_s": round(digest_s, 2),
            "replay_events_per_s": round(applied / elapsed), "replay_lead_records_per_s": round(records / elapsed),
            "replay_mb_per_s": round(mb / elapsed, 1), "digest": digest}


async def measure_live(url: str, messages: list[Message], work: Path, rate: int, seconds: float,
                       batch: int) -> dict[str, Any]:
    vault = f"sqlite:///{work / 'live' / 'vault.db'}"
    (work / "live").mkdir()
    stack = Stack(data_dir=work / "live", nats_url=url, services=["projector"], gateway=False,
                  env_extra={"HUNTER_VAULT_URL": vault, "HUNTER_PROJECTOR_BATCH": str(batch)})
    stack.start()
    projection = Projection(make_engine(vault))
    lags: list[int] = []
    try:
        async with connect_bus(url, name="bench-live") as bus:
            while projection.checkpoint() == 0:  # the projector is up once it has applied a first event
                await publish(bus, messages[:1])
                await asyncio.sleep(0.1)
            total = int(rate * seconds)
            live = messages[1:total + 1]
            t0, sent, tick = time.perf_counter(), 0, 0.05
            next_sample = t0
            while sent < len(live):
                due = min(len(live), int((time.perf_counter() - t0) * rate) + int(rate * tick))
                if due > sent:
                    await publish_unacked(bus, live[sent:due])
                    sent = due
                now = time.perf_counter()
                if now >= next_sample:
                    lags.append(await bus.last_seq() - projection.checkpoint())
                    next_sample = now + 0.25
                await asyncio.sleep(max(0.0, t0 + sent / rate - time.perf_counter()))
            achieved = sent / (time.perf_counter() - t0)
            target, t1 = await bus.last_seq(), time.perf_counter()
            lag_at_end = target - projection.checkpoint()
            while projection.checkpoint() < target:
                await asyncio.sleep(0.05)
            catch_up = time.perf_counter() - t1
    finally:
        stack.stop()
        projection.engine.dispose()
    return {"live_projector_batch": batch, "live_rate_target": rate, "live_rate_achieved": round(achieved),
            "live_events": sent,
            "live_lag_max": max(lags or [0]), "live_lag_at_end": lag_at_end,
            "live_lag_samples": lags[:40], "live_catch_up_s": round(catch_up, 2)}


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    live_count = int(args.rate * args.live_seconds) + 1
    messages = list(synthetic_stream(max(args.events, live_count)))
    generated = time.perf_counter() - t0
    with tempfile.TemporaryDirectory(prefix="hunter-bench-replay-") as tmp:
        work = Path(tmp)
        server = EmbeddedNats(work / "nats")
        url = server.start()
        try:
            result = await measure_replay(url, messages[:args.events], work)
        finally:
            server.stop()
        server = EmbeddedNats(work / "nats-live")
        url = server.start()
        try:
            result.update(await measure_live(url, messages, work, args.rate, args.live_seconds, args.projector_batch))
        finally:
            server.stop()
    result["generate_s"] = round(generated, 2)
    result["load_average"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]  # (1 min) at start, at end
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--rate", type=int, default=20_000, help="live publishing rate, events/s")
    p.add_argument("--live-seconds", type=float, default=10.0)
    p.add_argument("--projector-batch", type=int, default=5000, help="HUNTER_PROJECTOR_BATCH of the live projector")
    p.add_argument("--quick", action="store_true", help="50,000 events, 2 s of live load")
    args = p.parse_args()
    if args.quick:
        args.events, args.live_seconds = 50_000, 2.0
    result = asyncio.run(main_async(args))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
