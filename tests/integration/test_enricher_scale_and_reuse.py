"""Enricher replicas and vault reuse in whole hunts: service processes, a real NATS, the web farm."""

from __future__ import annotations

import asyncio
import csv
import json
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from hunter.demo.webfarm import load_sites
from hunter.demo_run import DEMO_CSV
from hunter.stack import Stack
from hunter.watch import wait_projected, watch_run
from shared.bus import Bus, connect_bus
from shared.events import ApiCallsRecorded, LeadEnriched, RunFilters, RunRequested, Subjects

pytestmark = pytest.mark.e2e


def _write_small_csv(path: Path, n: int = 10) -> set[str]:
    """Rows of the demo sample whose company has a plain website reachable from its e-mail domain."""
    plain = {s["cnpj"] for s in load_sites()
             if s.get("role") == "company" and s.get("discovery") == "email_domain" and not s.get("behaviour")}
    with DEMO_CSV.open(encoding="utf-8") as f:
        reader = csv.DictReader(f)
        fields = reader.fieldnames
        rows, seen = [], set()
        for row in reader:
            if row["cnpj"] in plain and row["cnpj"] not in seen and row["opcao_mei"] != "S":
                rows.append(row)
                seen.add(row["cnpj"])
    rows = rows[:n]
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields or [])
        writer.writeheader()
        writer.writerows(rows)
    return {r["cnpj"] for r in rows}


@pytest.fixture
def farm(tmp_path: Path) -> Iterator[str]:
    """The web farm as a process, every site answering after 100 ms; yields its proxy URL."""
    proc = subprocess.Popen([sys.executable, "-m", "hunter.demo.webfarm", "--port", "0", "--latency-ms", "100"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("WEBFARM"), line
    try:
        yield dict(part.split("=", 1) for part in line.split()[1:])["proxy"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _farm_stats(proxy: str, *, reset: bool = False) -> dict:
    with urllib.request.urlopen(f"{proxy}/__farm/stats{'?reset=1' if reset else ''}", timeout=10) as resp:
        return json.load(resp)


def _env(proxy: str, **extra: str) -> dict[str, str]:
    return {"HUNTER_HTTP_PROXY": proxy, "FETCH_SCHEMES": "http", "FETCH_CONNECT_TIMEOUT": "2",
            "FETCH_READ_TIMEOUT": "5", "HUNTER_BATCH_SIZE": "100", **extra}


def _request(csv_path: Path, enrich_top: float = 1.0) -> RunRequested:
    return RunRequested(run_id=f"it-{uuid.uuid4().hex[:8]}", source=f"csv:{csv_path}", filters=RunFilters(),
                        enrich_top=enrich_top, segments=["all"], formats=["csv"])


async def _enriched(bus: Bus, run_id: str) -> list[LeadEnriched]:
    out = []
    async for stored in bus.read(Subjects.LEAD_ENRICHED.format(run_id=run_id)):
        event = stored.event()
        assert isinstance(event, LeadEnriched)
        out.append(event)
    return out


async def _wait_pulling(bus: Bus, replicas: int, timeout: float = 60.0) -> None:
    """Until ``replicas`` enricher processes wait on the shared durable consumer."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            info = await bus.js.consumer_info(bus.stream, "enricher")
            if (info.num_waiting or 0) >= replicas:
                return
        except Exception:  # noqa: BLE001 - the first replica has not created the consumer yet
            pass
        assert time.monotonic() < deadline, f"{replicas} enricher replicas were not pulling after {timeout:.0f}s"
        await asyncio.sleep(0.1)


async def _hunt(bus: Bus, csv_path: Path, enrich_top: float = 1.0) -> str:
    request = _request(csv_path, enrich_top)
    await bus.publish(request, key=(request.run_id,))
    final = await watch_run(bus, request.run_id, timeout=180)
    assert final.status == "completed", final
    return request.run_id


async def test_two_enricher_replicas_share_a_run_and_enrich_each_lead_once(
    tmp_path: Path, fresh_nats_url: str, farm: str
) -> None:
    csv_path = tmp_path / "leads.csv"
    _write_small_csv(csv_path)
    # two leads at a time per replica, 100 ms per request: neither replica can finish the run alone quickly
    stack = Stack(data_dir=tmp_path / "data", nats_url=fresh_nats_url, env_extra=_env(farm, ENRICHER_CONCURRENCY="2"),
                  gateway=False, enricher_replicas=2)
    stack.start()
    try:
        async with connect_bus(fresh_nats_url, name="it") as bus:
            await _wait_pulling(bus, 2)
            run_id = await _hunt(bus, csv_path)
            requested = await bus.count(Subjects.ENRICH_REQUESTED.format(run_id=run_id))
            enriched = await _enriched(bus, run_id)
    finally:
        stack.stop()
    keys = [e.lead.lead.lead_key for e in enriched]
    assert requested == len(enriched) == len(set(keys)) >= 6
    workers = {e.worker for e in enriched}
    assert len(workers) == 2, workers
    assert all(e.worker.startswith("enricher@") for e in enriched)
    assert sum(e.enrichment.status == "ok" for e in enriched) >= len(enriched) - 1


async def test_a_second_hunt_reuses_the_vault_enrichments_without_fetching_the_sites_again(
    tmp_path: Path, fresh_nats_url: str, farm: str
) -> None:
    csv_path = tmp_path / "leads.csv"
    _write_small_csv(csv_path, n=8)
    data_dir = tmp_path / "data"
    vault_url = f"sqlite:///{data_dir / 'vault.db'}"
    stack = Stack(data_dir=data_dir, nats_url=fresh_nats_url, env_extra=_env(farm), gateway=False)
    stack.start()
    try:
        async with connect_bus(fresh_nats_url, name="it") as bus:
            first_run = await _hunt(bus, csv_path)
            await wait_projected(bus, vault_url)
            first = await _enriched(bus, first_run)
            _farm_stats(farm, reset=True)
            second_run = await _hunt(bus, csv_path)
            second = await _enriched(bus, second_run)
    finally:
        stack.stop()
    hosts = _farm_stats(farm)["hosts"]

    found = {e.lead.lead.lead_key: e.enrichment for e in first if e.enrichment.status == "ok"}
    assert len(found) >= 6 and not any(e.reused for e in found.values())
    again = {e.lead.lead.lead_key: e.enrichment for e in second}
    assert set(found) <= set(again)
    for key, previous in found.items():
        now = again[key]
        assert now.reused, (key, now.status)
        assert (now.domain, now.site, now.emails, now.technologies) == (
            previous.domain, previous.site, previous.emails, previous.technologies)
    homepage_fetches = {h: v["paths"] for h, v in hosts.items()
                        if h.removeprefix("www.") in {e.domain for e in found.values()} and "/" in v["paths"]}
    assert homepage_fetches == {}


async def _events(bus: Bus, subject: str) -> list:
    return [stored.event() async for stored in bus.read(subject)]


async def test_a_second_run_with_a_small_top_share_rescores_every_lead_enriched_before_from_the_vault(
    tmp_path: Path, fresh_nats_url: str, farm: str
) -> None:
    csv_path = tmp_path / "leads.csv"
    _write_small_csv(csv_path, n=8)
    data_dir = tmp_path / "data"
    vault_url = f"sqlite:///{data_dir / 'vault.db'}"
    stack = Stack(data_dir=data_dir, nats_url=fresh_nats_url, env_extra=_env(farm), gateway=False)
    stack.start()
    try:
        async with connect_bus(fresh_nats_url, name="it") as bus:
            first_run = await _hunt(bus, csv_path)  # every lead enriched from the farm
            await wait_projected(bus, vault_url)
            first = await _enriched(bus, first_run)
            first_final = {e.final.lead_key: e.final for e in await _events(
                bus, Subjects.LEAD_RESCORED.format(run_id=first_run))}
            _farm_stats(farm, reset=True)
            # a cold start, as `hunter hunt` does: the run is submitted while the services start, so the
            # scorer may rank it before an enricher is up to say what the vault holds
            stack.stop()
            stack = Stack(data_dir=data_dir, nats_url=fresh_nats_url, env_extra=_env(farm), gateway=False)
            stack.start()
            second_run = await _hunt(bus, csv_path, enrich_top=0.1)  # the top lead alone, as the run's share
            requests = await _events(bus, Subjects.ENRICH_REQUESTED.format(run_id=second_run))
            second = await _enriched(bus, second_run)
            rescored = await _events(bus, Subjects.LEAD_RESCORED.format(run_id=second_run))
            scored = [lead for batch in await _events(bus, Subjects.LEAD_SCORED.format(run_id=second_run))
                      for lead in batch.leads]
    finally:
        stack.stop()
    hosts = _farm_stats(farm)["hosts"]

    found = {e.lead.lead.lead_key: e.enrichment for e in first if e.enrichment.status == "ok"}
    assert len(found) >= 6
    top = {s.lead.lead_key for s in scored if s.rank == 1}
    reuse_only = {r.lead.lead.lead_key for r in requests if r.reuse_only}
    assert reuse_only == set(found) - top  # outside the top share, sent because the vault holds them
    # completion: every lead sent to enrichment was rescored, and the run completed (``_hunt``)
    assert len(requests) == len(second) == len(rescored) == len(set(found) | top)
    assert all(r.expected_total == len(requests) for r in requests)
    again = {e.lead.lead.lead_key: e.enrichment for e in second}
    assert all(again[key].reused and again[key].domain == found[key].domain for key in found)
    final = {e.final.lead_key: e.final for e in rescored}
    assert {key: final[key].score for key in found} == {key: first_final[key].score for key in found}  # not demoted
    homepage_fetches = {h: v["paths"] for h, v in hosts.items()
                        if h.removeprefix("www.") in {e.domain for e in found.values()}}
    assert homepage_fetches == {}


async def _charged_requests(bus: Bus, run_id: str) -> int:
    """Requests the enrichers sent for the run (what its budget counts): not cache hits nor refusals."""
    charged = 0
    async for stored in bus.read(Subjects.API_CALLS.format(service="enricher")):
        event = stored.event()
        assert isinstance(event, ApiCallsRecorded)
        if event.run_id == run_id:
            charged += sum(not c.cache_hit and c.error != "circuit_open" for c in event.calls)
    return charged


async def test_two_replicas_stop_at_one_run_budget_not_one_each(
    tmp_path: Path, fresh_nats_url: str, farm: str
) -> None:
    csv_path = tmp_path / "leads.csv"
    _write_small_csv(csv_path, n=10)
    budget = 10  # the run needs ~20 requests (robots.txt and the homepage per site): alone, each replica would spend 10
    env = _env(farm, ENRICHER_CONCURRENCY="1", FETCH_PAGES_PER_SITE="1", RUN_BUDGET_REQUESTS=str(budget),
               ENRICHER_BUDGET_SHARE_SECONDS="0.05")
    stack = Stack(data_dir=tmp_path / "data", nats_url=fresh_nats_url, env_extra=env, gateway=False,
                  enricher_replicas=2)
    stack.start()
    try:
        async with connect_bus(fresh_nats_url, name="it") as bus:
            await _wait_pulling(bus, 2)
            run_id = await _hunt(bus, csv_path)
            enriched = await _enriched(bus, run_id)
            charged = await _charged_requests(bus, run_id)
    finally:
        stack.stop()
    statuses = Counter(e.enrichment.status for e in enriched)
    assert len(enriched) == 10 and len({e.worker for e in enriched}) == 2
    assert statuses["budget_exceeded"] >= 3, statuses
    # each replica stops once both together reach the budget (a request or two may be in flight past it)
    assert budget <= charged <= budget + 3, charged
