"""The scorer's question "which leads can the vault serve?" over a real NATS: answered by one listener of the
enrichers' queue group, asked again while an enricher is starting, given up on when none comes."""

from __future__ import annotations

import asyncio
import time

import orjson

from services.scorer.reusable import ask_reusable
from shared.bus import Bus
from shared.events import Subjects


async def test_a_question_asked_before_an_enricher_listens_is_answered_once_one_does(bus: Bus) -> None:
    nc = bus.nc
    answers = []

    async def enricher_starting_late() -> None:
        await asyncio.sleep(0.6)

        async def asked(msg) -> None:
            keys = orjson.loads(msg.data)["keys"]
            answers.append(len(keys))
            await msg.respond(orjson.dumps({"keys": [k for k in keys if k.endswith("1")]}))

        await nc.subscribe(Subjects.ENRICH_REUSABLE, queue="enricher", cb=asked)
        await nc.subscribe(Subjects.ENRICH_REUSABLE, queue="enricher", cb=asked)  # a second replica

    starting = asyncio.create_task(enricher_starting_late())
    keys = [f"BR:{i}" for i in range(4100)]
    found, problem = await ask_reusable(nc, keys, wait_for_enricher=10)
    await starting
    assert problem is None and found == {k for k in keys if k.endswith("1")}
    assert sorted(answers) == [100, 2000, 2000]  # each question answered once, by one replica


async def test_without_an_enricher_the_question_gives_up_at_once_or_after_the_wait(fresh_nats_url: str) -> None:
    from shared.bus import connect_bus

    async with connect_bus(fresh_nats_url, name="lonely") as b:
        t0 = time.monotonic()
        found, problem = await ask_reusable(b.nc, ["BR:1"])
        assert found == set() and "NoResponders" in (problem or "") and time.monotonic() - t0 < 2
        t0 = time.monotonic()
        found, problem = await ask_reusable(b.nc, ["BR:1"], wait_for_enricher=1.0)
        assert found == set() and problem and 1.0 <= time.monotonic() - t0 < 3
