"""Enricher throughput: real enricher processes against a web farm of synthetic sites with latency.

    python bench/enrich.py [--quick] [--sites 5000] [--latency-ms 200] [--replicas 1,2,4]
                           [--contact-pages always,missing]

Starts an embedded NATS and the web farm (``--bench-sites N``, every request answered after
``--latency-ms``), then for each replica count: a Stack of ``enricher`` processes only, one
``EnrichmentRequested`` per site (leads whose e-mail domain is the site, so discovery goes straight
to the homepage), timed from the first publish until the stream holds every ``lead.enriched`` event
of the run. Each replica count gets a fresh data dir (empty HTTP cache). Afterwards the first
configuration reruns the same leads as a new run: the enrichers answer from their HTTP cache, and
the farm's request counter shows how many requests still reached it.

Per site the enricher fetches robots.txt and the homepage, then (``FETCH_CONTACT_PAGES=always``, the
default) the two contact pages the homepage links to, at once: three round trips of ``latency``, so one
replica's ceiling is ``ENRICHER_CONCURRENCY / (3 x latency)`` unless CPU runs out first. With
``FETCH_CONTACT_PAGES=missing`` the bench homepages (which show an e-mail and a phone) need no contact
page: two requests and two round trips per site. Both modes are measured (``--contact-pages``); the
figures of ``missing`` carry the prefix ``missing_``. Each run also reports the CPU
the enrichers (with their page workers, ``ENRICHER_PAGE_WORKERS``), the farm and nats-server used per
site (``/proc``; on 2 shared cores the wall-clock rate is noisy, the CPU per site is not).
The farm pre-renders every page the enrichers ask of a bench site (robots.txt, homepage, two contact pages).
Two yardsticks go with the figures, to compare machines and days: ``host_reference_ms``, the CPU of a
fixed standard-library workload (the machine's speed alone), and ``host_page_reading_ms_per_site``, the
CPU to read a bench site's three pages in the bench process (that speed times this code's).
The last line printed is one JSON object with the figures. ``--quick``: 500 sites, replicas 1 and 2, < 1 min.

``--latency-bound``: the scale-out where the machine's CPU is not the limit — sites answering after 1 s,
``ENRICHER_CONCURRENCY=16``, 1, 2 and 4 replicas (640 sites; 128 with ``--quick``: a multiple of the 64 leads
four replicas hold at once, so every configuration runs whole waves). A replica's rate is then bound by
its leads in flight (16 / ~3 s per site), and N replicas should go N times as fast: ``speedup_2`` and
``speedup_4`` (goals 1.9 and 3.6), with the CPU per site (``enricher_cpu_ms_per_site_N``, pages read in the
replica's process as deployed one core per replica; ``cpu_ms_per_site`` the least of them) to size real
machines by. No cache-hit rerun in this mode.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.host_speed import host_reference_ms  # noqa: E402
from hunter.demo.sample_data import generate_bench_sites  # noqa: E402
from hunter.stack import Stack  # noqa: E402
from shared.bus import Bus, connect_bus  # noqa: E402
from shared.events import EnrichmentRequested, Subjects  # noqa: E402
from shared.nats_server import EmbeddedNats  # noqa: E402
from shared.schemas import Address, CleanedLead, CompanyRecord, Email, ScoredLead  # noqa: E402


def bench_leads(n: int) -> list[ScoredLead]:
    leads = []
    for spec in generate_bench_sites(n):
        domain = spec["domain"]
        company = CompanyRecord(lead_key=f"BR:{spec['cnpj']}", registry_id=spec["cnpj"], source="bench",
                                trade_name=spec["company_name"], legal_name=spec["legal_name"],
                                address=Address(city=spec["city"], state=spec["uf"]))
        lead = CleanedLead(company=company, emails=[Email(address=f"contato@{domain}", domain=domain)],
                           website_candidates=[domain])
        leads.append(ScoredLead(lead=lead, score=80, enrich=True))
    return leads


def start_farm(sites: int, latency_ms: float, log: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "hunter.demo.webfarm", "--port", "0", "--latency-ms", str(latency_ms),
         "--bench-sites", str(sites)],
        stdout=subprocess.PIPE, stderr=log.open("ab"), text=True, cwd=str(ROOT),
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("WEBFARM"):
        proc.kill()
        raise RuntimeError(f"web farm did not start: {line!r}")
    fields = dict(part.split("=", 1) for part in line.split()[1:])
    return proc, fields["proxy"]


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by the processes ``pids`` (Linux /proc; 0 elsewhere)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 0.0


def with_children(pids: list[int]) -> list[int]:
    """``pids`` and their child processes (an enricher's page workers), from /proc."""
    out = list(pids)
    for pid in pids:
        for children in Path(f"/proc/{pid}/task").glob("*/children"):
            try:
                out.extend(int(c) for c in children.read_text().split())
            except OSError:
                continue
    return out


def farm_site_requests(proxy: str) -> int:
    with urllib.request.urlopen(f"{proxy}/__farm/stats", timeout=30) as resp:  # noqa: S310 - loopback farm
        return int(json.load(resp)["site_requests"])


async def wait_consumers(bus: Bus, replicas: int, timeout: float = 60.0) -> None:
    """Until ``replicas`` enricher processes are pulling from the shared durable consumer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            info = await bus.js.consumer_info(bus.stream, "enricher")
            if (info.num_waiting or 0) >= replicas:
                return
        except Exception:  # noqa: BLE001 - consumer not created yet
            pass
        await asyncio.sleep(0.2)
    raise TimeoutError(f"{replicas} enricher replicas did not start pulling within {timeout:.0f}s")


async def enrich_run(bus: Bus, run_id: str, leads: list[ScoredLead], timeout: float) -> tuple[float, dict[str, int]]:
    """Publish one request per lead; seconds until the stream holds every lead.enriched, and statuses."""
    items = [bus.wrap(EnrichmentRequested(run_id=run_id, lead=lead, expected_total=len(leads)),
                      key=(run_id, lead.lead.lead_key), lead_key=lead.lead.lead_key) for lead in leads]
    subject = Subjects.LEAD_ENRICHED.format(run_id=run_id)
    t0 = time.perf_counter()
    for i in range(0, len(items), 500):
        await bus.publish_many(items[i:i + 500])
    while (done := await bus.count(subject)) < len(leads):
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError(f"run {run_id}: {done}/{len(leads)} enriched after {timeout:.0f}s")
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - t0
    statuses: dict[str, int] = {}
    async for stored in bus.read(subject):
        status = stored.event().enrichment.status  # type: ignore[attr-defined]
        statuses[status] = statuses.get(status, 0) + 1
    return elapsed, statuses


@dataclass
class RunFigures:
    rate: float  # sites/s
    requests: int  # requests that reached the farm
    statuses: dict[str, int]
    enricher_cpu_ms: float  # CPU of all enricher processes per site, during the run
    farm_cpu_ms: float  # CPU of the web farm per site, during the run
    nats_cpu_ms: float  # CPU of nats-server per site, during the run
    worker_cpu_ms: float = 0.0  # of enricher_cpu_ms: the page workers' share
    workers: int = 0  # page worker processes


async def one_config(bus: Bus, nats_url: str, proxy: str, pids: dict[str, int], data_dir: Path, env: dict[str, str],
                     replicas: int, leads: list[ScoredLead], label: str, timeout: float) -> RunFigures:
    """sites/s, farm requests, statuses and CPU of one run over ``leads`` by ``replicas`` fresh enricher processes."""
    stack = Stack(data_dir=data_dir, nats_url=nats_url, env_extra=env, gateway=False, services=["enricher"],
                  enricher_replicas=replicas)
    stack.start()
    try:
        await wait_consumers(bus, replicas)
        mains = [p.pid for p in stack.procs["enricher"]]
        enrichers = with_children(mains)  # with their page workers (started with the enricher)
        workers = [pid for pid in enrichers if pid not in mains]
        before = farm_site_requests(proxy)
        cpu0, farm0, nats0 = cpu_seconds(enrichers), cpu_seconds([pids["farm"]]), cpu_seconds([pids["nats"]])
        workers0 = cpu_seconds(workers)
        elapsed, statuses = await enrich_run(bus, f"{label}-{time.time_ns()}", leads, timeout)
        cpu, farm = cpu_seconds(enrichers) - cpu0, cpu_seconds([pids["farm"]]) - farm0
        worker_cpu = cpu_seconds(workers) - workers0
        nats = cpu_seconds([pids["nats"]]) - nats0
        n = len(leads)
        return RunFigures(n / elapsed, farm_site_requests(proxy) - before, statuses,
                          1000 * cpu / n, 1000 * farm / n, 1000 * nats / n, 1000 * worker_cpu / n, len(workers))
    finally:
        stack.stop()


async def measure(args: argparse.Namespace, nats_url: str, proxy: str, pids: dict[str, int],
                  work: Path) -> dict[str, object]:
    leads = bench_leads(args.sites)
    env = {
        "HUNTER_HTTP_PROXY": proxy, "FETCH_SCHEMES": "http", "FETCH_CONNECT_TIMEOUT": "5",
        "FETCH_READ_TIMEOUT": "10", "ENRICHER_CONCURRENCY": str(args.concurrency),
        "FETCH_CONCURRENCY": str(args.concurrency * 2), "HUNTER_ACK_WAIT": "60",
        "RUN_BUDGET_REQUESTS": "10000000", "OTEL_TRACES_EXPORTER": "none", "LOG_LEVEL": "WARNING",
    }
    if args.latency_bound:  # pages read in each replica's process, as deployed one core per replica (deploy/k8s)
        env["ENRICHER_PAGE_WORKERS"] = "0"
    out: dict[str, object] = {"sites": args.sites, "latency_ms": args.latency_ms,
                              "enricher_concurrency": args.concurrency, "cpus": os.cpu_count()}
    async with connect_bus(nats_url, name="bench-enrich") as bus:
        for mode in args.contact_pages:
            # figures of the default mode ("always") unprefixed, of the others prefixed with the mode
            prefix = "" if mode == "always" else f"{mode}_"
            mode_env = {**env, "FETCH_CONTACT_PAGES": mode}
            print(f"FETCH_CONTACT_PAGES={mode}", flush=True)
            await measure_mode(args, bus, nats_url, proxy, pids, work / mode, mode_env, leads, prefix, out)
    return out


async def measure_mode(args: argparse.Namespace, bus: Bus, nats_url: str, proxy: str, pids: dict[str, int],
                       work: Path, env: dict[str, str], leads: list[ScoredLead], prefix: str,
                       out: dict[str, object]) -> None:
    for replicas in args.replicas:
        f = await one_config(bus, nats_url, proxy, pids, work / f"r{replicas}", env, replicas, leads,
                             f"bench-{prefix}r{replicas}", args.timeout)
        print(f"{replicas} replica(s): {len(leads)} sites, {f.rate:.0f} sites/s, {f.requests} farm requests, "
              f"CPU ms/site: enrichers {f.enricher_cpu_ms:.2f} "
              f"(page workers {f.worker_cpu_ms:.2f} in {f.workers}), "
              f"farm {f.farm_cpu_ms:.2f}, "
              f"nats-server {f.nats_cpu_ms:.2f}; statuses {f.statuses}", flush=True)
        out[f"{prefix}sites_per_s_{replicas}"] = round(f.rate, 1)
        out[f"{prefix}ok_{replicas}"] = f.statuses.get("ok", 0)
        out[f"{prefix}farm_requests_{replicas}"] = f.requests
        out[f"{prefix}enricher_cpu_ms_per_site_{replicas}"] = round(f.enricher_cpu_ms, 2)
        out[f"{prefix}page_worker_cpu_ms_per_site_{replicas}"] = round(f.worker_cpu_ms, 2)
        out[f"{prefix}farm_cpu_ms_per_site_{replicas}"] = round(f.farm_cpu_ms, 2)
        out[f"{prefix}nats_cpu_ms_per_site_{replicas}"] = round(f.nats_cpu_ms, 2)
    if args.rerun:
        # the same leads again on the first configuration's data dir: new processes, HTTP cache on disk
        replicas = args.replicas[0]
        f = await one_config(bus, nats_url, proxy, pids, work / f"r{replicas}", env, replicas, leads,
                             f"bench-{prefix}rerun", args.timeout)
        print(f"cache-hit rerun ({replicas} replica(s)): {f.rate:.0f} sites/s, {f.requests} farm requests, "
              f"enricher CPU {f.enricher_cpu_ms:.2f} ms/site, statuses {f.statuses}", flush=True)
        out[f"{prefix}rerun_sites_per_s"] = round(f.rate, 1)
        out[f"{prefix}rerun_farm_requests"] = f.requests
        out[f"{prefix}rerun_enricher_cpu_ms_per_site"] = round(f.enricher_cpu_ms, 2)
    one = out.get(f"{prefix}sites_per_s_{args.replicas[0]}")
    for replicas in args.replicas[1:]:
        if one:
            out[f"{prefix}speedup_{replicas}"] = round(float(out[f"{prefix}sites_per_s_{replicas}"]) / float(one), 2)


def host_yardstick(sites: int = 100) -> float:
    """CPU ms per site to read a bench site's three pages here, in this process (what a page worker does
    per site): the speed of the host, to compare figures measured on different machines or days."""
    from hunter.demo.webfarm import WebFarm
    from services.enricher.fingerprints import FingerprintDB
    from services.enricher.page_worker import read_home, read_pages

    specs = generate_bench_sites(sites)
    farm = WebFarm(sites=specs)
    ctype = "text/html; charset=utf-8"
    pages = [(spec["domain"], [farm._render(spec, spec["domain"], path).body for path in ("/", "/contato", "/sobre")])
             for spec in specs]
    db = FingerprintDB.bundled()
    best = float("inf")
    for _ in range(3):
        t0 = time.process_time()
        for domain, (home, contato, sobre) in pages:
            read_home(db, home, f"http://{domain}/", "BR", {"content-type": ctype}, {})
            read_pages(db, [(contato, ctype, f"http://{domain}/contato"), (sobre, ctype, f"http://{domain}/sobre")],
                       "BR")
        best = min(best, time.process_time() - t0)
    return 1000 * best / sites


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="500 sites, replicas 1 and 2 (< 1 min)")
    ap.add_argument("--sites", type=int, default=5000)
    ap.add_argument("--latency-ms", type=float, default=200)
    ap.add_argument("--replicas", default="1,2,4", help="comma-separated replica counts")
    ap.add_argument("--concurrency", type=int, default=512, help="ENRICHER_CONCURRENCY per replica")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--contact-pages", default="always,missing",
                    help="FETCH_CONTACT_PAGES modes to measure, comma-separated (always: the default)")
    ap.add_argument("--latency-bound", action="store_true",
                    help="sites answering after 1 s, ENRICHER_CONCURRENCY=16, replicas 1,2,4: speedup_2, speedup_4")
    args = ap.parse_args(argv)
    args.rerun = not args.latency_bound
    if args.latency_bound:
        args.latency_ms, args.concurrency, args.replicas, args.contact_pages = 1000, 16, "1,2,4", "always"
        args.sites = 128 if args.quick else 640
    elif args.quick:
        args.sites, args.replicas = 500, "1,2"
    args.replicas = [int(r) for r in str(args.replicas).split(",") if r.strip()]
    args.contact_pages = [m.strip() for m in str(args.contact_pages).split(",") if m.strip()]
    with tempfile.TemporaryDirectory(prefix="hunter-bench-enrich-") as tmp:
        work = Path(tmp)
        nats = EmbeddedNats(work / "nats-data")
        farm, proxy = start_farm(args.sites, args.latency_ms, work / "webfarm.log")
        try:
            url = nats.start()
            pids = {"farm": farm.pid, "nats": nats.proc.pid if nats.proc is not None else 0}
            result = asyncio.run(measure(args, url, proxy, pids, work))
        finally:
            farm.terminate()
            farm.wait(timeout=10)
            nats.stop()
    if args.latency_bound:
        result["goal_speedup_2"], result["goal_speedup_4"] = 1.9, 3.6
        # the enrichers' CPU per site (pages read in-process); the busiest configuration's fixed costs per second
        # (pull requests, heartbeats, budget sharing) weigh least on it
        result["cpu_ms_per_site"] = min(float(result[f"enricher_cpu_ms_per_site_{r}"]) for r in args.replicas)
    result["host_reference_ms"] = round(host_reference_ms(), 2)
    result["host_page_reading_ms_per_site"] = round(host_yardstick(), 3)
    print(f"host: {result['host_reference_ms']} ms CPU for the reference workload, "
          f"{result['host_page_reading_ms_per_site']} ms to read a site's three pages")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
