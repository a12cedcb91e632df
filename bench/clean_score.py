"""Cleaner + scorer benchmark: leads/s over the bus vs the same pure functions in one loop.

Synthetic CompanyRecords (valid CNPJs, mobiles and fixed lines, some shared phones, MEI rows,
same-CNPJ duplicates, corporate and free e-mails) are

- cleaned and scored in one plain loop: ``clean_run`` then ``score_leads`` (no bus, no JSON) over
  the same records the services decode from the wire (the msgspec mirrors of ``shared.wire.records``);
- sent through the real cleaner and scorer services, each its own process, over an embedded
  JetStream: ``run.requested`` (enrich_top=0), N ``lead.extracted`` batches, then the extract
  ``completed`` step. The clock runs from that step to the scorer's ``completed`` step. The
  services prepare each batch as it is published (the cleaner checks ids and parses contacts, the
  scorer scores v1 as the cleaner publishes batch after batch); what the clock sees is the
  run-level rest (dedup, flags, ranking, publishing) and whatever batches were still queued.

A warm-up run of 500 leads goes first on both sides, so start-up and imports are not measured.
The machine is shared and wall-clock figures are noisy, so the CPU seconds each process spent
over the measured bus run (cleaner, scorer, nats-server, this process publishing and waiting;
from /proc) are printed too, and ``loop_cpu_s`` for the plain loop. ``e2e_s`` runs from the first
extracted batch published to the scorer's ``completed`` step: the services work while the batches
arrive (``bus_s`` only counts what is left once the extraction says it is complete). The
cpu_* figures cover that whole span, from the first batch published.
The last line printed is one JSON object with the figures. ``--quick`` = 20,000 leads, full = 200,000.
Run: ``python bench/clean_score.py --quick``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nats.js import api  # noqa: E402

from services.cleaner.logic import clean_run  # noqa: E402
from services.scorer.logic import score_leads  # noqa: E402
from shared.bus import Bus, connect_bus, decode  # noqa: E402
from shared.domain.icp import load_icp  # noqa: E402
from shared.events import LeadsExtracted, RunRequested, RunStep, decode_event  # noqa: E402
from shared.gc_policy import gc_paused  # noqa: E402
from shared.nats_server import embedded_nats  # noqa: E402
from shared.schemas import Address, CompanyRecord  # noqa: E402
from shared.wire import records  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
BATCH = int(os.environ.get("HUNTER_BATCH_SIZE", "1000"))  # the product default (shared/config.py)
UFS = ["SP", "SP", "SP", "RJ", "MG", "PR", "RS", "BA", "PE", "DF"]
CNAES = ["6201501", "6202300", "6311900", "4711302", "5611201", "8630503", "6920601", "4120400"]
WORDS = ["ALFA", "BETA", "SOLUCOES", "COMERCIO", "SERVICOS", "TECNOLOGIA", "CONSULTORIA", "BRASIL", "DADOS"]
FREE = ["gmail.com", "hotmail.com", "uol.com.br", "bol.com.br"]


def cnpj(n: int, branch: int = 1) -> str:
    base = [int(c) for c in f"{n:08d}{branch:04d}"]
    for weights in ((5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2), (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)):
        r = sum(d * w for d, w in zip(base, weights, strict=True)) % 11
        base.append(0 if r < 2 else 11 - r)
    return "".join(map(str, base))


def synthetic_companies(n: int, seed: int = 11) -> list[CompanyRecord]:
    rnd = random.Random(seed)
    shared_phones = [f"11 3{rnd.randint(100, 999)}-{rnd.randint(1000, 9999)}" for _ in range(max(1, n // 200))]
    out: list[CompanyRecord] = []
    for i in range(n):
        basico = 10_000_000 + (i - 1 if i % 50 == 49 else i)  # every 50th row repeats the previous CNPJ
        rid = cnpj(basico)
        name = f"{rnd.choice(WORDS)} {rnd.choice(WORDS)} {basico} LTDA"
        mei = rnd.random() < 0.05
        phones = [f"{rnd.randint(11, 99)} 9{rnd.randint(1000, 9999)}-{rnd.randint(1000, 9999)}"]
        if rnd.random() < 0.3:
            phones.append(rnd.choice(shared_phones) if rnd.random() < 0.3 else f"11 3{rnd.randint(100, 999)}-0000")
        slug = name.split()[1].lower() + str(basico)
        email = f"contato@{slug}.com.br" if rnd.random() < 0.6 else f"{slug}@{rnd.choice(FREE)}"
        out.append(CompanyRecord(
            lead_key=f"BR:{rid}", registry_id=rid, source="csv", source_file="bench.csv", source_line=i + 2,
            legal_name=f"JOAO SILVA 123456789{i % 100:02d}" if mei else name, trade_name=name.split(" LTDA")[0],
            status="ATIVA", opened_on=f"{rnd.randint(1990, 2024)}-0{rnd.randint(1, 9)}-15",
            activity_main=rnd.choice(CNAES), legal_nature="2135" if mei else "2062", mei=mei,
            capital=float(rnd.randint(1_000, 5_000_000)), head_office=True,
            address=Address(city="SAO PAULO", state=rnd.choice(UFS), street="RUA DAS FLORES", number=str(i)),
            phones=phones, emails=[email], website=f"www.{slug}.com.br" if rnd.random() < 0.2 else None,
        ))
    return out


def mirrors(companies: list[CompanyRecord]) -> list[records.CompanyRecord]:
    """The companies as the cleaner holds them once decoded from the wire."""
    return [records.to_struct(c, records.CompanyRecord) for c in companies]


def plain_loop(companies: list[CompanyRecord]) -> tuple[float, float, int]:
    icp = load_icp(None)
    score_leads(clean_run(mirrors(synthetic_companies(500, seed=3))).leads, icp, date(2026, 11, 1), 0.0)  # warm-up
    run = mirrors(companies)
    c0, t0 = time.process_time(), time.perf_counter()
    with gc_paused():  # the GC policy the services' handlers apply to a run
        result = clean_run(run)
        scored = score_leads(result.leads, icp, date(2026, 11, 1), 0.0)
    return time.perf_counter() - t0, time.process_time() - c0, len(scored)


async def _step(bus: Bus, run_id: str, stage: str, timeout: float) -> tuple[RunStep, float]:
    """Wait for the run's step of that stage; returns it and when it arrived (perf_counter)."""
    done: asyncio.Future[tuple[RunStep, float]] = asyncio.get_running_loop().create_future()

    async def on_msg(msg) -> None:  # type: ignore[no-untyped-def]
        step = decode_event(decode(msg.data))
        if isinstance(step, RunStep) and step.status in ("completed", "failed") and not done.done():
            done.set_result((step, time.perf_counter()))

    sub = await bus.js.subscribe(f"run.step.{run_id}.{stage}", cb=on_msg, ordered_consumer=True,
                                 deliver_policy=api.DeliverPolicy.ALL, stream=bus.stream)
    try:
        return await asyncio.wait_for(done, timeout)
    finally:
        await sub.unsubscribe()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child_pids(name: str) -> list[int]:
    """This process's children called ``name`` (the embedded nats-server)."""
    me, out = str(os.getpid()), []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            comm, rest = stat.read_text().split(") ", 1)
        except OSError:
            continue
        if comm.endswith(f"({name}") and rest.split()[1] == me:
            out.append(int(stat.parent.name))
    return out


async def bus_run(bus: Bus, run_id: str, companies: list[CompanyRecord], timeout: float,
                  pids: dict[str, int] | None = None) -> dict[str, float]:
    await bus.publish(RunRequested(run_id=run_id, source="csv:bench.csv", enrich_top=0.0), key=(run_id,))
    pids = {**(pids or {}), "bench": os.getpid()}
    cpu0 = {name: cpu_seconds(pid) for name, pid in pids.items()}
    t0 = time.perf_counter()
    await bus.publish_many(
        bus.wrap(LeadsExtracted(run_id=run_id, batch=n, companies=companies[start:start + BATCH]), key=(run_id, n))
        for n, start in enumerate(range(0, len(companies), BATCH))
    )
    published = time.perf_counter() - t0
    clean_wait = asyncio.create_task(_step(bus, run_id, "clean", timeout))
    score_wait = asyncio.create_task(_step(bus, run_id, "score", timeout))
    t1 = time.perf_counter()
    await bus.publish(RunStep(run_id=run_id, stage="extract", status="completed", counts={"extracted": len(companies)}),
                      key=(run_id, "extract", "completed"), stage="extract")
    (clean, t_clean), (score, t_score) = await clean_wait, await score_wait
    if clean.status != "completed" or score.status != "completed":
        raise RuntimeError(f"run failed: {clean} {score}")
    cpu = {f"cpu_{name}_s": cpu_seconds(pid) - cpu0[name] for name, pid in pids.items()}
    return {"publish_s": published, "clean_s": t_clean - t1, "score_s": t_score - t_clean, "total_s": t_score - t1,
            "e2e_s": t_score - t0, "cleaned": float(clean.counts.get("out", 0)),
            "scored": float(score.counts.get("scored", 0)), **cpu}


def start_services(data_dir: Path, url: str) -> list[subprocess.Popen[bytes]]:
    env = {**os.environ, "NATS_URL": url, "HUNTER_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1",
           "HUNTER_BATCH_SIZE": str(BATCH), "OTEL_TRACES_EXPORTER": "none", "LOG_LEVEL": "WARNING"}
    logs = data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    return [subprocess.Popen([sys.executable, "-m", f"services.{name}"], env=env, cwd=str(REPO),
                             stdout=(logs / f"{name}.log").open("ab"), stderr=subprocess.STDOUT)
            for name in ("cleaner", "scorer")]


async def main_async(n: int, timeout: float) -> dict[str, object]:
    companies = synthetic_companies(n)
    loop_s, loop_cpu_s, loop_out = plain_loop(companies)
    with tempfile.TemporaryDirectory(prefix="bench-clean-score-") as tmp:
        data_dir = Path(tmp)
        async with embedded_nats(data_dir) as url:
            procs = start_services(data_dir, url)
            try:
                pids = {"cleaner": procs[0].pid, "scorer": procs[1].pid, "nats": (child_pids("nats-server") or [0])[0]}
                pids = {name: pid for name, pid in pids.items() if pid}
                async with connect_bus(url, name="bench") as bus:
                    await bus_run(bus, "bench-warmup", synthetic_companies(500, seed=3), timeout=120)
                    figures = await bus_run(bus, "bench-run", companies, timeout, pids)
            finally:
                for p in procs:
                    p.terminate()
                for p in procs:
                    p.wait(timeout=20)
    total = figures["total_s"]
    return {
        "bench": "clean_score", "leads_in": n, "leads_out": loop_out, "batch_size": BATCH,
        "loop_s": round(loop_s, 3), "loop_cpu_s": round(loop_cpu_s, 3), "loop_leads_per_s": round(n / loop_s),
        "bus_s": round(total, 3), "bus_leads_per_s": round(n / total),
        "bus_clean_s": round(figures["clean_s"], 3), "bus_score_s": round(figures["score_s"], 3),
        "publish_extracted_s": round(figures["publish_s"], 3),
        "e2e_s": round(figures["e2e_s"], 3), "e2e_leads_per_s": round(n / figures["e2e_s"]),
        **{k: round(v, 3) for k, v in figures.items() if k.startswith("cpu_")},
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "bus_over_loop": round(total / loop_s, 2),
        "bus_cleaned": int(figures["cleaned"]), "bus_scored": int(figures["scored"]),
        "same_leads": int(figures["cleaned"]) == int(figures["scored"]) == loop_out,
        "goal_leads_per_s": 25000, "goal_bus_over_loop": 2.0,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="20,000 leads")
    ap.add_argument("--leads", type=int, default=None, help="number of leads (default 200,000)")
    ap.add_argument("--timeout", type=float, default=300.0)
    args = ap.parse_args()
    n = args.leads or (20_000 if args.quick else 200_000)
    print(json.dumps(asyncio.run(main_async(n, args.timeout))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
