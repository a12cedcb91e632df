"""Batches: one run per activity code, from the API (published runs carry the batch and one code each),
the summary per code (with a failed code and its reason) and ``hunter batch`` over a whole stack."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient
from nats.js import api

from hunter.cli import run_codes
from hunter.demo_run import DEMO_CSV
from services.gateway.app import create_app
from shared.bus import connect_bus, decode
from shared.config import Settings
from shared.events import KpiTargets, RunFilters, RunRequested, RunStep, decode_event
from tests.integration.test_run_report import project


async def requested_runs(url: str, n: int) -> list[RunRequested]:
    async with connect_bus(url, name="test-batches") as bus:
        got: list[RunRequested] = []
        done = asyncio.Event()

        async def cb(msg) -> None:  # type: ignore[no-untyped-def]
            got.append(decode_event(decode(msg.data)))  # type: ignore[arg-type]
            if len(got) >= n:
                done.set()

        sub = await bus.js.subscribe("run.requested.*", cb=cb, ordered_consumer=True,
                                     deliver_policy=api.DeliverPolicy.ALL, stream=bus.stream)
        try:
            await asyncio.wait_for(done.wait(), 20)
        finally:
            await sub.unsubscribe()
        return got


async def test_the_api_starts_one_run_per_code_and_refuses_bad_codes(fresh_nats_url: str, tmp_path: Path) -> None:
    settings = Settings(HUNTER_DATA_DIR=tmp_path, NATS_URL=fresh_nats_url)
    with TestClient(create_app(settings)) as client:
        assert client.post("/api/batches", json={"source": "csv:x.csv", "codes": []}).status_code == 422
        bad = client.post("/api/batches", json={"source": "csv:x.csv", "codes": ["62", "6201;DROP"]})
        assert bad.status_code == 422 and "not an activity code" in bad.text
        r = client.post("/api/batches", json={"source": "csv:x.csv", "codes": ["62", "4751", "62"],
                                              "filters": {"uf": ["SP"]}, "targets": {"min_leads": 5}})
        assert r.status_code == 202
        batch = r.json()
    assert [x["code"] for x in batch["runs"]] == ["62", "4751"]  # a repeated code runs once
    runs = await requested_runs(fresh_nats_url, 2)
    assert {(tuple(e.filters.cnae), e.batch_id) for e in runs} == {(("62",), batch["batch_id"]),
                                                                    (("4751",), batch["batch_id"])}
    assert all(e.filters.uf == ["SP"] and e.targets == KpiTargets(min_leads=5) for e in runs)


def test_the_summary_gives_each_codes_leads_kpis_and_failure_reason(tmp_path: Path, nats_url: str) -> None:
    from tests.integration.test_run_report import RUN, report_events

    url = f"sqlite:///{tmp_path / 'vault.db'}"
    events = report_events(KpiTargets(min_leads=3))
    events[0] = (0, events[0][1].model_copy(update={"batch_id": "b1", "filters": RunFilters(cnae=["62"])}))
    failed = RunRequested(run_id="r-failed", source="csv:x.csv", filters=RunFilters(cnae=["4751"]), batch_id="b1")
    project(url, events, before=[failed, RunStep(run_id="r-failed", stage="run", status="failed",
                                                   message="extract: csv: file not found: x.csv")])
    settings = Settings(HUNTER_DATA_DIR=tmp_path, HUNTER_VAULT_URL=url, NATS_URL=nats_url)
    with TestClient(create_app(settings)) as client:
        assert client.get("/api/batches/nope").status_code == 404
        summary = client.get("/api/batches/b1").json()
        rows = {r["code"]: r for r in summary["runs"]}
        assert rows["62"]["run_id"] == RUN and rows["62"]["leads"] == 4 and rows["62"]["hot"] == 1
        assert rows["62"]["kpi"] == "MET" and rows["62"]["status"] == "completed"
        assert rows["4751"]["status"] == "failed" and "file not found" in rows["4751"]["message"]
        assert summary["status"] == "completed_with_failures"
        assert summary["totals"] == {"runs": 2, "completed": 1, "failed": 1, "leads": 4, "hot": 1, "kpi_met": 1}
        assert client.get("/api/batches").json()[0]["batch_id"] == "b1"
        table = list(csv.DictReader(io.StringIO(client.get("/api/batches/b1/summary.csv").text)))
        assert {r["code"]: r["status"] for r in table} == {"62": "completed", "4751": "failed"}


def test_a_failed_code_stops_the_batch_unless_told_to_continue() -> None:
    requests = [RunRequested(run_id=f"r{i}", source="csv:x.csv", filters=RunFilters(cnae=[c]))
                for i, c in enumerate(["62", "4751", "9999"])]
    ran: list[str] = []

    def run_one(i: int, request: RunRequested) -> str:
        ran.append(request.filters.cnae[0])
        return "failed" if request.filters.cnae == ["4751"] else "completed"

    assert run_codes(requests, run_one, continue_on_error=False) == 2 and ran == ["62", "4751"]
    ran.clear()
    assert run_codes(requests, run_one, continue_on_error=True) is None and ran == ["62", "4751", "9999"]


def test_hunter_batch_runs_each_code_with_its_report_and_writes_the_summary(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NATS_URL"}
    env["HUNTER_DATA_DIR"] = str(tmp_path / "data")
    done = subprocess.run([sys.executable, "-m", "hunter.cli", "batch", "--source", f"csv:{DEMO_CSV}",
                           "--cnae", "62", "--cnae", "4751", "--enrich-top", "0", "--min-leads", "1", "--json"],
                          env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert [r["code"] for r in summary["runs"]] == ["62", "4751"] and summary["not_run"] == []
    assert all(r["status"] == "completed" and r["leads"] > 0 and r["kpi"] == "MET" for r in summary["runs"])
    assert all(r["exports"] and r["exports"][0]["status"] == "completed" for r in summary["runs"])
    folder = Path(summary["folder"])
    assert json.loads((folder / "summary.json").read_text())["batch_id"] == summary["batch_id"]
    assert len(list(csv.DictReader((folder / "summary.csv").open()))) == 2
