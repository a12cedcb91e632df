"""The qualifier service over a real NATS with an LLM on loopback: each enriched lead gets a
``lead.qualified`` event (the LLM's above the threshold, the rules' below), the LLM's calls are recorded
with their tokens, a lead already qualified from the same content is not asked again, the projector keeps
the qualifications, the key is in no stored message nor log, and two replays give the same digest."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from sqlmodel import Session, select

from hunter.stack import Stack
from services.projector.projection import Projection
from shared.bus import Bus, connect_bus
from shared.events import ApiCallsRecorded, LeadEnriched, LeadQualified, RunRequested, Subjects
from shared.vault.engine import make_engine
from shared.vault.schema import ApiCallRow, LeadQualificationRow
from tests.openai_server import openai_server
from tests.qualifier_leads import lead, site

KEY = "sk-live-QUALIFIER-secret-0042"
KEYS = ["BR:11222333000181", "BR:11444777000161", "BR:45997418000153"]


async def enriched(bus: Bus, run: str, key: str, text: str, **kw: object) -> None:
    event = LeadEnriched(run_id=run, lead=lead(key=key, **kw), enrichment=site(text, ("HubSpot",), key=key),  # type: ignore[arg-type]
                         expected_total=3)
    await bus.publish(event, key=(run, key), lead_key=key)


async def qualified(bus: Bus, count: int, timeout: float = 60.0) -> list[LeadQualified]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while await bus.count("lead.qualified.*") < count:
        assert loop.time() < deadline, f"fewer than {count} lead.qualified events within {timeout} s"
        await asyncio.sleep(0.2)
    out = []
    async for stored in bus.read("lead.qualified.*"):
        event = stored.event()  # type: ignore[union-attr]
        assert isinstance(event, LeadQualified)
        out.append(event)
    return out


def replay(data_dir: Path, url: str, out: Path) -> str:
    cli = [sys.executable, "-m", "hunter.cli", "replay", "--data-dir", str(data_dir), "--out", str(out)]
    done = subprocess.run(cli, capture_output=True, text=True, env={**os.environ, "NATS_URL": url}, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


async def test_enriched_leads_are_qualified_recorded_projected_and_replayed(tmp_path: Path,
                                                                           fresh_nats_url: str) -> None:
    data_dir = tmp_path / "data"
    with openai_server() as fake:
        stack = Stack(data_dir=data_dir, nats_url=fresh_nats_url, gateway=False, services=["qualifier", "projector"],
                      env_extra={"LLM_BASE_URL": fake.base_url, "LLM_MODEL": "test-model", "LLM_API_KEY": KEY,
                                 "LLM_MIN_SCORE": "60"})
        async with connect_bus(fresh_nats_url, name="test-qualifier") as bus:
            for run in ("q1", "q2"):
                await bus.publish(RunRequested(run_id=run, source="csv:x.csv", icp="software-b2b"), key=(run,))
            stack.start()
            try:
                await enriched(bus, "q1", KEYS[0], "Integração de sistemas. Vagas: trabalhe conosco.")
                await enriched(bus, "q1", KEYS[1], "Automação de planilhas e suporte.")
                await enriched(bus, "q1", KEYS[2], "Bem-vindo", activity="8411600", status="BAIXADA")  # excluded
                first = await qualified(bus, 3)
                asked = len(fake.requests)
                await enriched(bus, "q2", KEYS[0], "Integração de sistemas. Vagas: trabalhe conosco.")  # same content
                events = await qualified(bus, 4)
                calls = [c async for c in bus.read(Subjects.API_CALLS.format(service="qualifier"))]
                raw = [data async for _, _, data, _ in bus.read(">", raw=True)]  # type: ignore[misc]
                projection = Projection(make_engine(f"sqlite:///{data_dir / 'vault.db'}"))
                last = await bus.last_seq()
                for _ in range(150):
                    if projection.checkpoint() >= last:
                        break
                    await asyncio.sleep(0.2)
            finally:
                stack.stop()
        assert not stack.crashed()

    by_key = {e.lead_key: e for e in first}
    assert by_key[KEYS[0]].method == by_key[KEYS[1]].method == "llm" and asked == 2
    assert by_key[KEYS[0]].spin is not None and by_key[KEYS[0]].tokens == 420
    low = by_key[KEYS[2]]
    assert low.method == "rules" and low.fit == 0 and low.score < 60 and low.llm_error is None
    again = events[-1]
    assert again.run_id == "q2" and again.cached and again.tokens == 0 and len(fake.requests) == asked
    recorded = [c.event() for c in calls]  # type: ignore[union-attr]
    assert all(isinstance(r, ApiCallsRecorded) for r in recorded)
    assert sorted(call.tokens for r in recorded for call in r.calls) == [420, 420]  # type: ignore[union-attr]

    # the key went to the endpoint, and into nothing stored: no message, no log
    assert all(headers["Authorization"] == f"Bearer {KEY}" for _, headers, _ in fake.requests)
    assert raw and not any(KEY.encode() in data for data in raw)
    logs = list((data_dir / "logs").glob("*.log"))
    assert logs and not any(KEY in p.read_text(errors="replace") for p in logs)

    with Session(projection.engine) as s:
        rows = {r.lead_key: r for r in s.exec(select(LeadQualificationRow)).all()}
        tokens = sorted(r.tokens for r in s.exec(select(ApiCallRow).where(ApiCallRow.service == "qualifier")).all())
    assert set(rows) == set(KEYS) and rows[KEYS[0]].run_id == "q2" and rows[KEYS[0]].cached
    assert rows[KEYS[1]].method == "llm" and '"need_payoff"' in rows[KEYS[1]].spin and rows[KEYS[1]].first_angle
    assert rows[KEYS[2]].method == "rules" and rows[KEYS[2]].spin == "{}"
    assert tokens == [420, 420]

    one, two = replay(data_dir, fresh_nats_url, tmp_path / "a.db"), replay(data_dir, fresh_nats_url, tmp_path / "b.db")
    assert one == two and len(one) == 64
