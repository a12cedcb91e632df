"""Gateway benchmark: the vault list endpoint at 100k leads × 3 runs, and run-step SSE to 50 watchers.

Builds a synthetic vault (bulk inserts into SQLite of companies, each a lead of ``RUNS`` runs: that
many per-run rows, and one ``lead_current`` row per lead, which the list reads), serves the real app
with uvicorn on a free loopback port over an embedded NATS, then measures:

- ``GET /api/leads`` with a mix of filters, sorts and offsets: p50 / p99 latency (goal p99 < 100 ms),
  how many requests took over 100 ms, and the same mix called in process (without HTTP);
- the same mix from ``--clients`` concurrent clients (default 50; the load generator shares the machine):
  requests/s and p50 / p99 (goal at 50 clients on 10k leads: p99 < 300 ms; ``--workers`` uvicorn processes),
  once from httpx clients (``concurrent_*``) and once from a lean keep-alive generator (``concurrent_raw_*``),
  whose CPU per request is a fraction of httpx's, so it takes less of the gateway's cores;
- ``GET /api/runs/{id}/events`` with ``--watchers`` concurrent clients while a run's steps are
  published: per-step delivery latency (publish -> every watcher) and the time for all to end.

The last line printed is one JSON object with the figures. ``--quick`` = 10k leads (× 3 runs).
Run: ``python bench/gateway.py --quick`` or ``python bench/gateway.py --leads 100000``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.engine import Engine

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from services.gateway.queries import list_leads  # noqa: E402
from shared.bus import connect_bus  # noqa: E402
from shared.config import Settings  # noqa: E402
from shared.events import RunStep  # noqa: E402
from shared.nats_server import EmbeddedNats, free_port  # noqa: E402
from shared.vault.engine import make_engine  # noqa: E402
from shared.vault.filters import LeadFilter  # noqa: E402
from shared.vault.schema import Company, Lead, LeadCurrent  # noqa: E402
from shared.vault.search_text import search_text  # noqa: E402

UFS = ["SP"] * 5 + ["RJ"] * 2 + ["MG"] * 2 + ["RS", "PR", "SC", "BA", "PE"]
CITIES = {"SP": ["SAO PAULO", "CAMPINAS", "SANTOS"], "RJ": ["RIO DE JANEIRO", "NITEROI"],
          "MG": ["BELO HORIZONTE", "UBERLANDIA"]}
CNAES = ["6201501", "6202300", "6204000", "6311900", "4711302", "5611201", "8630503", "7112000"]
TECHS = ["WordPress", "Shopify", "Google Analytics", "React", "PHP", "Nginx", "HubSpot", "jQuery"]
QUERIES: list[dict[str, Any]] = [
    {}, {"bucket": "hot"}, {"uf": "SP", "min_score": 60}, {"q": "ACME 12"}, {"technology": "shopify", "has_site": True},
    {"city": "campinas", "sort": "-name"}, {"cnae": "6201", "has_whatsapp": True},
    {"accountant_like": False, "uf": "RJ"},
    {"bucket": "warm", "sort": "city", "offset": 500}, {"min_score": 40, "max_score": 59, "status": "new"},
    {"run_id": "bench-1", "bucket": "hot", "sort": "-updated"}, {"status": "won"},
    {"run_id": "bench-0", "uf": "SP", "min_score": 50, "sort": "-name"}, {"include_do_not_contact": True},
]
FUNNEL = ["new"] * 12 + ["queued", "contacted", "contacted", "replied", "meeting", "won", "lost", "do_not_contact"]


def _bucket(score: int) -> str:
    return "hot" if score >= 80 else "warm" if score >= 60 else "nurture" if score >= 40 else "parked"


RUNS = 3  # runs per company: 100k leads are 300k per-run rows


def build_vault(url: str, n: int, runs: int = RUNS, seed: int = 7) -> float:
    """``n`` companies, each a lead of ``runs`` runs (``n * runs`` per-run rows), its current row the last run's."""
    rnd = random.Random(seed)
    engine = make_engine(url)
    t0 = time.perf_counter()
    companies, leads, current = [], [], []
    for i in range(n):
        uf = rnd.choice(UFS)
        key = f"BR:{i:014d}"
        companies.append({
            "lead_key": key, "country": "BR", "registry_id": f"{i:014d}", "legal_name": f"ACME {i} LTDA",
            "trade_name": f"ACME {i}", "status": "ATIVA", "activity_main": rnd.choice(CNAES),
            "city": rnd.choice(CITIES.get(uf, ["CAPITAL"])), "state": uf, "phone": f"+55119{i:08d}",
            "whatsapp": f"+55119{i:08d}" if i % 2 else None, "email": f"contato@acme{i}.com.br",
            "accountant_like": i % 17 == 0, "repeated_phone": False, "source": "csv", "data": "{}",
            "search_text": search_text(f"ACME {i} LTDA", f"ACME {i}", f"{i:014d}"),
        })
        base = int(rnd.gauss(55, 20))
        for r in range(runs):
            score = min(100, max(0, base + rnd.randint(-8, 8)))
            techs = ",".join(sorted(rnd.sample(TECHS, rnd.randint(0, 3))))
            leads.append({
                "run_id": f"bench-{r}", "lead_key": key, "score_v1": score, "rank": i + 1, "enrich": score > 70,
                "score": score, "bucket": _bucket(score), "reasons": "[]", "enriched": score > 70,
                "has_site": bool(techs), "has_whatsapp": i % 2 == 1, "technologies": techs,
                "updated_at": f"2026-11-0{1 + r}T12:{i % 60:02d}:00",
            })
        latest = {k: v for k, v in leads[-1].items() if k != "run_id"}
        current.append({**latest, "latest_run_id": leads[-1]["run_id"], "runs_seen": runs,
                        "status": rnd.choice(FUNNEL)})
    with engine.begin() as conn:
        for chunk in range(0, n, 20_000):
            conn.execute(Company.__table__.insert(), companies[chunk:chunk + 20_000])  # type: ignore[attr-defined]
            conn.execute(LeadCurrent.__table__.insert(), current[chunk:chunk + 20_000])  # type: ignore[attr-defined]
        for chunk in range(0, len(leads), 20_000):
            conn.execute(Lead.__table__.insert(), leads[chunk:chunk + 20_000])  # type: ignore[attr-defined]
    engine.dispose()
    return time.perf_counter() - t0


class GatewayProcess:
    """``python -m services.gateway`` (``workers`` uvicorn processes) on ``port``: a process of its own, so
    the load generator does not share its interpreter."""

    def __init__(self, settings: Settings, port: int, workers: int = 1) -> None:
        env = {**os.environ, "HUNTER_DATA_DIR": str(settings.data_dir), "NATS_URL": settings.nats_url or "",
               "GATEWAY_PORT": str(port), "GATEWAY_WORKERS": str(workers), "LOG_LEVEL": "WARNING"}
        self.proc = subprocess.Popen([sys.executable, "-m", "services.gateway"], env=env, cwd=str(REPO))
        self.base = f"http://127.0.0.1:{port}"

    def wait(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited with {self.proc.returncode}")
            try:
                if httpx.get(self.base + "/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError("gateway did not answer")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 2)


def bench_list_in_process(engine: Engine, rounds: int) -> dict[str, Any]:
    """The same mix straight through ``list_leads``: what is left of the HTTP figures is HTTP."""
    times: list[float] = []
    for _ in range(rounds):
        for q in QUERIES:
            params = dict(q)
            sort, offset = params.pop("sort", "-score"), params.pop("offset", 0)
            t0 = time.perf_counter()
            list_leads(engine, LeadFilter(**params), sort=sort, offset=offset)
            times.append((time.perf_counter() - t0) * 1000)
    return {"list_in_process_p50_ms": pct(times, 0.5), "list_in_process_p99_ms": pct(times, 0.99)}


def bench_list(base: str, rounds: int) -> dict[str, Any]:
    times: list[float] = []
    per_query: dict[str, list[float]] = {}
    with httpx.Client(base_url=base, timeout=30) as client:
        client.get("/api/leads")  # warm-up
        for _ in range(rounds):
            for q in QUERIES:
                params = {k: str(v).lower() if isinstance(v, bool) else v for k, v in q.items()}
                t0 = time.perf_counter()
                r = client.get("/api/leads", params=params)
                ms = (time.perf_counter() - t0) * 1000
                r.raise_for_status()
                times.append(ms)
                per_query.setdefault(json.dumps(q, sort_keys=True), []).append(ms)
    slowest = max(per_query.items(), key=lambda kv: statistics.median(kv[1]))
    return {"list_requests": len(times), "list_p50_ms": pct(times, 0.5), "list_p99_ms": pct(times, 0.99),
            "list_over_100ms": sum(ms > 100 for ms in times),
            "list_slowest_filter": json.loads(slowest[0]),
            "list_slowest_p50_ms": round(statistics.median(slowest[1]), 2),
            "list_slowest_p99_ms": pct(slowest[1], 0.99),
            "list_q_p50_ms": round(statistics.median(per_query[json.dumps(QUERIES[3], sort_keys=True)]), 2)}


async def bench_list_concurrent(base: str, clients: int, rounds: int) -> dict[str, Any]:
    """``clients`` clients each calling the mix ``rounds`` times back to back, all at once."""
    times: list[float] = []
    errors = 0

    async def client_loop(client: httpx.AsyncClient, first: int) -> None:
        nonlocal errors
        for i in range(rounds * len(QUERIES)):
            q = QUERIES[(first + i) % len(QUERIES)]
            params = {k: str(v).lower() if isinstance(v, bool) else v for k, v in q.items()}
            t0 = time.perf_counter()
            r = await client.get("/api/leads", params=params)
            times.append((time.perf_counter() - t0) * 1000)
            errors += r.status_code != 200

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        await asyncio.gather(*(client.get("/api/leads") for _ in range(clients)))  # open the connections
        t0 = time.perf_counter()
        await asyncio.gather(*(client_loop(client, i) for i in range(clients)))
        elapsed = time.perf_counter() - t0
    return {"concurrent_clients": clients, "concurrent_requests": len(times), "concurrent_errors": errors,
            "concurrent_rps": round(len(times) / elapsed, 1), "concurrent_p50_ms": pct(times, 0.5),
            "concurrent_p99_ms": pct(times, 0.99)}


async def bench_list_concurrent_raw(base: str, clients: int, rounds: int) -> dict[str, Any]:
    """The same load as ``bench_list_concurrent`` from a lean generator: one keep-alive HTTP/1.1 connection
    per client over asyncio streams, so the generator (on the same cores) costs a fraction of httpx's CPU
    per request and the figures say more about the gateway."""
    host, port = base.removeprefix("http://").split(":")
    times: list[float] = []
    errors = 0

    def request_line(q: dict[str, Any]) -> bytes:
        params = {k: str(v).lower() if isinstance(v, bool) else v for k, v in q.items()}
        query = str(httpx.QueryParams(params))
        return f"GET /api/leads?{query} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()

    lines = [request_line(q) for q in QUERIES]

    async def client_loop(first: int) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            for i in range(rounds * len(QUERIES)):
                t0 = time.perf_counter()
                writer.write(lines[(first + i) % len(lines)])
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(int(h.split(b":", 1)[1]) for h in head.split(b"\r\n")
                              if h.lower().startswith(b"content-length:"))
                await reader.readexactly(length)
                times.append((time.perf_counter() - t0) * 1000)
                errors += not head.startswith(b"HTTP/1.1 200")
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(client_loop(i) for i in range(clients)))
    elapsed = time.perf_counter() - t0
    return {"concurrent_raw_requests": len(times), "concurrent_raw_errors": errors,
            "concurrent_raw_rps": round(len(times) / elapsed, 1), "concurrent_raw_p50_ms": pct(times, 0.5),
            "concurrent_raw_p99_ms": pct(times, 0.99)}


async def bench_sse(base: str, nats_url: str, watchers: int, steps: int) -> dict[str, Any]:
    run = f"sse-{random.randint(0, 10**9)}"
    latencies: list[float] = []
    connected = 0
    ready = asyncio.Event()

    async def watch(client: httpx.AsyncClient) -> int:
        nonlocal connected
        got = 0
        async with client.stream("GET", f"/api/runs/{run}/events") as r:
            connected += 1
            if connected == watchers:
                ready.set()
            async for line in r.aiter_lines():
                if line.startswith("data: ") and '"stage"' in line:
                    sent = float(json.loads(line[6:])["message"])
                    latencies.append((time.time() - sent) * 1000)
                    got += 1
                elif line.startswith("event: end"):
                    return got
        return got

    limits = httpx.Limits(max_connections=watchers + 5)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client, \
            connect_bus(nats_url, name="bench") as bus:
        tasks = [asyncio.create_task(watch(client)) for _ in range(watchers)]
        await asyncio.wait_for(ready.wait(), 30)
        t0 = time.perf_counter()
        for i in range(steps):
            last = i == steps - 1
            step = RunStep(run_id=run, stage="run" if last else "enrich", status="completed" if last else "progress",
                           counts={"enriched": i, "expected": steps}, message=repr(time.time()))
            await bus.publish(step, stage=step.stage)
        received = await asyncio.wait_for(asyncio.gather(*tasks), 60)
        elapsed = time.perf_counter() - t0
    assert all(r == steps for r in received), received
    return {"sse_watchers": watchers, "sse_steps": steps, "sse_delivery_p50_ms": pct(latencies, 0.5),
            "sse_delivery_p99_ms": pct(latencies, 0.99), "sse_all_ended_s": round(elapsed, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--leads", type=int, default=100_000)
    ap.add_argument("--quick", action="store_true", help="10k leads, fewer rounds")
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--watchers", type=int, default=50)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--clients", type=int, default=50, help="concurrent clients on the list (0: skip)")
    ap.add_argument("--workers", type=int, default=1, help="uvicorn worker processes serving the gateway")
    args = ap.parse_args()
    n, rounds = (10_000, 8) if args.quick else (args.leads, args.rounds)
    with tempfile.TemporaryDirectory() as tmp:
        nats = EmbeddedNats(Path(tmp) / "nats")
        nats_url = nats.start()
        try:
            settings = Settings(HUNTER_DATA_DIR=Path(tmp), NATS_URL=nats_url)
            build_s = build_vault(settings.vault_database_url, n)
            print(f"vault: {n} leads in {build_s:.1f}s", file=sys.stderr)
            server = GatewayProcess(settings, free_port(), args.workers)
            try:
                server.wait()
                base = server.base
                figures: dict[str, Any] = {"leads": n, "vault_build_s": round(build_s, 2), "workers": args.workers}
                figures.update(bench_list(base, rounds))
                engine = make_engine(settings.vault_database_url)
                figures.update(bench_list_in_process(engine, rounds))
                engine.dispose()
                print(f"list: {figures}", file=sys.stderr)
                if args.clients:
                    figures.update(asyncio.run(bench_list_concurrent(base, args.clients, 1 if args.quick else 3)))
                    figures.update(asyncio.run(bench_list_concurrent_raw(base, args.clients, 1 if args.quick else 3)))
                    print(f"concurrent: {figures}", file=sys.stderr)
                figures.update(asyncio.run(bench_sse(base, nats_url, args.watchers, args.steps)))
            finally:
                server.stop()
        finally:
            nats.stop()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
