"""Dry runs: the plan of a hunt (matching rows counted on the source, enrichment, ICP, targets, problems)
from the API (the extractor service counts, over plain NATS request/reply) and from ``hunter hunt
--dry-run``; neither publishes anything (the stream's last sequence is unchanged)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from fastapi.testclient import TestClient

from hunter.demo_run import DEMO_CSV
from hunter.stack import Stack
from services.extractor.sources import iter_source
from services.gateway.app import create_app
from shared.bus import connect_bus
from shared.config import Settings
from shared.events import RunFilters
from shared.schemas import CompanyRecord, DroppedLead
from shared.vault.access import open_writer

SP_62 = RunFilters(uf=["SP"], cnae=["62"])


def matching(filters: RunFilters) -> tuple[int, int]:
    items = list(iter_source(f"csv:{DEMO_CSV}", filters))
    return (sum(isinstance(i, CompanyRecord) for i in items), sum(isinstance(i, DroppedLead) for i in items))


async def last_seq(url: str) -> int:
    async with connect_bus(url, name="test-dry-run") as bus:
        return await bus.last_seq()


async def test_the_api_plans_a_hunt_with_the_extractors_count_and_publishes_nothing(
    fresh_nats_url: str, tmp_path: Path
) -> None:
    rows, rejected = matching(SP_62)
    assert rows > 0 and rows < matching(RunFilters())[0]  # the filter matters
    stack = Stack(data_dir=tmp_path / "stack", nats_url=fresh_nats_url, services=["extractor"], gateway=False)
    stack.start()
    try:
        settings = Settings(HUNTER_DATA_DIR=tmp_path, NATS_URL=fresh_nats_url)
        open_writer(settings.vault_database_url).dispose()  # the vault, as the projector creates it
        before = await last_seq(fresh_nats_url)
        with TestClient(create_app(settings)) as client:
            body = {"source": f"csv:{DEMO_CSV}", "filters": SP_62.model_dump(), "enrich_top": 0.5,
                    "targets": {"min_hot": 3}}
            deadline = time.monotonic() + 60
            while True:  # the extractor answers once it is up
                plan = client.post("/api/runs/plan", json=body).json()
                if plan["estimate"]["rows"] is not None or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            assert plan["ok"] and plan["published"] is False, plan
            assert plan["estimate"]["rows"] == rows and plan["estimate"]["rejected"] == rejected
            assert plan["estimate"]["exact"] is True
            assert plan["enrichment"]["leads"] == -(-rows // 2)
            assert plan["filters_in_words"] == "state SP, CNAE 62, status ATIVA"
            assert plan["icp"] == "software-b2b" and plan["targets"] == {"min_hot": 3}

            bad = client.post("/api/runs/plan", json={"source": "csv:/no/such.csv", "icp": "nothere"}).json()
            assert not bad["ok"] and len(bad["problems"]) == 2
            assert "file not found" in bad["problems"][0] and "unknown ICP profile 'nothere'" in bad["problems"][1]
        assert await last_seq(fresh_nats_url) == before
    finally:
        stack.stop()


async def test_the_cli_dry_run_prints_the_plan_and_publishes_nothing(fresh_nats_url: str, tmp_path: Path) -> None:
    rows, _ = matching(SP_62)
    before = await last_seq(fresh_nats_url)
    env = {**os.environ, "NATS_URL": fresh_nats_url, "HUNTER_DATA_DIR": str(tmp_path / "d")}
    cmd = [sys.executable, "-m", "hunter.cli", "hunt", "--source", f"csv:{DEMO_CSV}", "--uf", "SP", "--cnae", "62",
           "--enrich-top", "0.1", "--min-leads", "10", "--dry-run"]
    done = subprocess.run([*cmd, "--json"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout.strip().splitlines()[-1])
    assert plan["estimate"]["rows"] == rows and plan["enrichment"]["leads"] == -(-rows // 10)
    assert plan["targets"] == {"min_leads": 10}
    words = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert words.returncode == 0 and f"matching     {rows:,} rows" in words.stdout, words.stdout
    bad = subprocess.run([sys.executable, "-m", "hunter.cli", "hunt", "--source", "csv:/no/such.csv", "--dry-run"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "PROBLEM      csv: file not found" in bad.stdout
    assert await last_seq(fresh_nats_url) == before
