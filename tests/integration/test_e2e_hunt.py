"""A whole hunt through every service process over a real NATS, against the loopback web farm."""

from __future__ import annotations

import csv
import json
import uuid
from pathlib import Path

import pytest
from sqlmodel import Session, select

from hunter.demo_run import DEMO_CSV
from hunter.stack import Stack
from hunter.watch import wait_projected, watch_run
from services.projector.digest import vault_digest
from services.projector.projection import Projection
from services.projector.replay import rebuild_into
from shared.bus import connect_bus
from shared.events import RunFilters, RunRequested, Subjects
from shared.vault.engine import make_engine
from shared.vault.schema import Company, DroppedRow, EnrichmentRow, ExportRow, Lead, Run

pytestmark = pytest.mark.e2e




def _request(enrich_top: float = 0.5) -> RunRequested:
    return RunRequested(run_id=f"e2e-{uuid.uuid4().hex[:8]}", source=f"csv:{DEMO_CSV}", filters=RunFilters(),
                        enrich_top=enrich_top, segments=["hot", "all"], formats=["csv", "parquet"])


def _demo_rows() -> list[dict[str, str]]:
    with DEMO_CSV.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


async def test_a_hunt_fills_the_vault_exports_and_replays_to_the_same_digest(
    tmp_path: Path, fresh_nats_url: str, farm_env: dict[str, str]
) -> None:
    data_dir = tmp_path / "data"
    vault_url = f"sqlite:///{data_dir / 'vault.db'}"
    stack = Stack(data_dir=data_dir, nats_url=fresh_nats_url, env_extra=farm_env, gateway=False,
                  enricher_replicas=2)
    stack.start()
    request = _request()
    try:
        async with connect_bus(fresh_nats_url, name="e2e") as bus:
            await bus.publish(request, key=(request.run_id,))
            final = await watch_run(bus, request.run_id, timeout=300)
            assert final.status == "completed", final
            await wait_projected(bus, vault_url)
            selected = await bus.count(Subjects.ENRICH_REQUESTED.format(run_id=request.run_id))
            enriched = await bus.count(Subjects.LEAD_ENRICHED.format(run_id=request.run_id))
    finally:
        stack.stop()
    engine = make_engine(vault_url)
    with Session(engine) as s:
        companies = s.exec(select(Company)).all()
        leads = s.exec(select(Lead).where(Lead.run_id == request.run_id)).all()
        dropped = s.exec(select(DroppedRow).where(DroppedRow.run_id == request.run_id)).all()
        enrichments = s.exec(select(EnrichmentRow)).all()
        exports = {e.segment: e for e in s.exec(select(ExportRow).where(ExportRow.run_id == request.run_id)).all()}
        run = s.get(Run, request.run_id)

    # every good row of the sample is one company and one lead of the run; the bad ones are dropped with reasons
    reasons = {d.reason for d in dropped}
    assert {"mei", "malformed_row", "invalid_registry_id", "duplicate"} <= reasons, reasons
    distinct_cnpjs = {r["cnpj"] for r in _demo_rows()}
    assert 0 < len(companies) < len(distinct_cnpjs)
    assert len(leads) == len(companies)
    assert run is not None and run.status == "completed"

    # the top half went to enrichment, each enriched exactly once, some found their site and technologies
    assert selected == enriched == sum(1 for lead in leads if lead.enrich) > 0
    assert sum(1 for lead in leads if lead.enriched) == selected
    found = [e for e in enrichments if e.verified and e.technologies]
    assert len(found) >= selected // 4, [(e.lead_key, e.status) for e in enrichments][:20]
    assert {lead.bucket for lead in leads} >= {"hot", "parked"}

    # the hot export holds exactly the hot leads of the vault
    hot = exports["hot"]
    assert hot.status == "completed"
    with open(json.loads(hot.files)["csv"], encoding="utf-8") as f:
        exported = list(csv.DictReader(f))
    assert {r["lead_key"] for r in exported} == {lead.lead_key for lead in leads if lead.bucket == "hot"}
    assert exports["all"].rows == len(leads)

    # the stream rebuilds the same vault
    live_digest, checkpoint = vault_digest(engine), Projection(engine).checkpoint()
    engine.dispose()
    async with connect_bus(fresh_nats_url, name="e2e-replay") as bus:
        applied, replayed = await rebuild_into(bus, f"sqlite:///{tmp_path / 'replayed.db'}", to_seq=checkpoint)
    assert applied == checkpoint
    assert replayed == live_digest

