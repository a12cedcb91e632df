"""National-scale hunt benchmark: a generated Receita CNPJ import through extract -> clean -> score.

For each size (full: 1M, 2M and 5M establishments; ``--quick``: 200k) it writes the Receita
layout (zipped ``Estabelecimentos``, ``Empresas``, ``Simples``, ``Socios`` and code tables, as
``bench/extract.py`` does) with what the run-level stages work on: one company in five has a branch,
a third of the companies give one corporate e-mail to the head office and its branches (the cleaner
merges the branch into the head office), accounting offices (CNAE 6920-6/01) whose phone and e-mail
their clients carry (repeated phones and e-mails, accountant-like contacts), MEI companies (Simples),
bad check digits. Then it starts an embedded JetStream (file storage) and the extractor, cleaner and
scorer, each its own process as ``hunter up`` runs them (``hunter.stack.Stack``; ``--projector``
adds the projector), requests a hunt of every establishment (``status *``, ``enrich_top 0``: no
enrichment) and waits for the score step.

Figures per size: each stage's time and leads/s (the hunt requested -> extract completed -> clean
completed -> score completed, by the steps' own clocks), ``clean_score_leads_per_s``
(leads over the time from the extract step's completion to the score step's: what clean and score
take once the extraction is done; the per-record part of both runs while the batches are published,
``bench/clean_score.py``), the peak RSS of each service's process (``VmHWM`` from /proc, sampled
every 0.2 s, and of the extractor's child processes apart), CPU seconds per service, and the stream's
size. The full run adds ``rss_growth_1m_to_5m`` (5M peak over 1M peak, the largest service).
The machine is shared: ``load_avg_1m`` is printed, and the CPU figures are the ones to compare.

The projector is left out by default (it is not a run-level stage): it projects every batch event into
the vault, ~3 lead records per establishment (extracted, cleaned, scored), at the ~43k lead records/s
per core of ``bench/replay.py``: about 6 CPU-minutes for 5M establishments. Its memory is bounded in
events, not bytes: a transaction takes up to ``HUNTER_PROJECTOR_BATCH`` (5,000) events and its reader
buffers up to 20,000, and a batch event carries up to 1,000 leads (~1 MB), so a projector behind a
national run holds a share of the run that grows with its backlog. ``--projector`` runs it too, times
its catch-up and reports its peak RSS with the others'.

The last line printed is one JSON object. ``--quick`` = 200,000 establishments (under a minute on a
quiet machine). Run: ``python bench/national.py --quick`` or ``python bench/national.py --sizes 1000000,2000000``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nats.errors import Error as NatsError  # noqa: E402
from nats.js import api  # noqa: E402

from bench.receita_layout import CITIES, CNAES, STREETS, UFS, WORDS, receita_line  # noqa: E402
from hunter.stack import Stack  # noqa: E402
from shared.bus import Bus, connect_bus, decode  # noqa: E402
from shared.config import Settings  # noqa: E402
from shared.events import RunFilters, RunRequested, RunStep, decode_event  # noqa: E402
from shared.nats_server import embedded_nats  # noqa: E402
from shared.registry_ids import check_digits  # noqa: E402

SERVICES = ["extractor", "cleaner", "scorer"]
DURABLES = {"extractor": "extractor", "cleaner": "cleaner", "scorer": "scorer-v1", "projector": "projector"}
def generate(directory: Path, rows: int, seed: int = 20) -> dict[str, int]:
    """Write the Receita-format zips for ``rows`` establishments (see the module docstring)."""
    rnd = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    opts: dict[str, Any] = {"compression": zipfile.ZIP_DEFLATED, "compresslevel": 1}
    offices = max(1, rows // 400)  # accounting offices, each with many clients
    office_phones = [(f"{rnd.randint(11, 99)}", f"3{rnd.randint(1_000_000, 9_999_999)}") for _ in range(offices)]
    companies = 0
    with zipfile.ZipFile(directory / "Estabelecimentos0.zip", "w", **opts) as ze, \
            ze.open("K3241.K03200Y0.D61108.ESTABELE", "w") as fe, \
            zipfile.ZipFile(directory / "Empresas0.zip", "w", **opts) as zc, \
            zc.open("K3241.K03200Y0.D61108.EMPRECSV", "w") as fc, \
            zipfile.ZipFile(directory / "Simples.zip", "w", **opts) as zs, \
            zs.open("F.K03200$W.SIMPLES.CSV.D61108", "w") as fs, \
            zipfile.ZipFile(directory / "Socios0.zip", "w", **opts) as zp, \
            zp.open("K3241.K03200Y0.D61108.SOCIOCSV", "w") as fp:
        buf_e: list[bytes] = []
        basico, office, email = 10_000_000, 0, ""
        for i in range(rows):
            if i % 5 == 4:
                ordem = "0002"  # a branch of the previous company (its e-mail too)
            else:
                basico += 1
                ordem = "0001"
                companies += 1
                accounting = companies % 400 == 0
                office = rnd.randrange(offices)
                name = f"{rnd.choice(WORDS)} {rnd.choice(WORDS)} {basico} LTDA"
                fc.write(receita_line([str(basico), name, "2062", "49", f"{rnd.randint(1, 9_000_000)},00",
                             rnd.choice(["01", "03", "05"]), ""]))
                mei = "S" if rnd.random() < 0.08 else "N"
                fs.write(receita_line([str(basico), "S", "20180101", "00000000", mei, "00000000", "00000000"]))
                if companies % 4 == 0:
                    fp.write(receita_line([str(basico), "2", f"SOCIO {basico}", "***123456**", "49", "20150101", "",
                                 "***000000**", "", "00", str(rnd.randint(2, 8))]))
                roll = rnd.random()
                email = (f"contato@empresa{basico}.com.br" if roll < 0.33 else
                         f"fiscal@escritorio{office}contabil.com.br" if roll < 0.40 else
                         f"empresa{basico}@gmail.com" if roll < 0.55 else "")
            base = f"{basico}{ordem}"
            dv = check_digits(base)
            if i % 997 == 0:
                dv = f"{(int(dv) + 1) % 100:02d}"  # a bad check digit: dropped by the cleaner
            r = rnd.getrandbits(64)  # one draw for the row's small choices
            uf = UFS[r % len(UFS)]
            ddd2, phone2 = office_phones[office] if (r >> 8) % 100 < 15 else ("", "")
            buf_e.append(receita_line([
                str(basico), ordem, dv, "1" if ordem == "0001" else "2",
                f"{WORDS[(r >> 16) % len(WORDS)]} {i}", "02" if (r >> 24) % 100 < 85 else "08", "20200101", "00",
                "", "", f"{1990 + (r >> 32) % 35}0310", "6920601" if accounting else CNAES[(r >> 40) % len(CNAES)],
                f"{CNAES[(r >> 44) % len(CNAES)]},{CNAES[(r >> 48) % len(CNAES)]}", "RUA",
                STREETS[(r >> 52) % len(STREETS)], str(1 + i % 3000), "SALA 4" if i % 3 else "", "CENTRO",
                f"{1_000_000 + i * 7919 % 98_999_999:08d}", uf, CITIES.get(uf, "1234"), "11",
                f"9{rnd.randint(10_000_000, 99_999_999)}", ddd2, phone2, "", "", email, "", "",
            ]))
            if len(buf_e) >= 10_000:
                fe.write(b"".join(buf_e))
                buf_e.clear()
        fe.write(b"".join(buf_e))
    tables = {
        "Cnaes": [[c, f"Atividade {c} de teste com descrição"] for c in [*CNAES, "6920601"]],
        "Municipios": [["7107", "SAO PAULO"], ["6001", "RIO DE JANEIRO"], ["4123", "BELO HORIZONTE"],
                       ["9701", "BRASILIA"], ["1234", "OUTRA CIDADE"]],
        "Naturezas": [["2062", "Sociedade Empresária Limitada"]],
        "Qualificacoes": [["49", "Sócio-Administrador"]],
        "Motivos": [["00", "SEM MOTIVO"]],
        "Paises": [["105", "BRASIL"]],
    }
    for name, table in tables.items():
        with zipfile.ZipFile(directory / f"{name}.zip", "w", **opts) as zt, zt.open(name, "w") as ft:
            ft.write(b"".join(receita_line(r) for r in table))
    return {"companies": companies}


# ---- /proc ---------------------------------------------------------------------------------------


def _status_kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _children(pid: int) -> list[int]:
    """Every live descendant of ``pid``."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        parents.setdefault(ppid, []).append(int(stat.parent.name))
    out, todo = [], list(parents.get(pid, []))
    while todo:
        child = todo.pop()
        out.append(child)
        todo.extend(parents.get(child, []))
    return out


def cpu_seconds(pid: int, *, children: bool = True) -> float:
    """User + system CPU of a process (and of its children it has waited for)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if children else 0)
    return ticks / os.sysconf("SC_CLK_TCK")


class PeakSampler(threading.Thread):
    """VmHWM of each service process and the largest of its child processes', every ``interval`` s;
    the CPU its live children spent is kept too (a child reaped by its parent counts in the parent's)."""

    def __init__(self, pids: dict[str, int], interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.pids, self.interval = pids, interval
        self.peak_kb = dict.fromkeys(pids, 0)
        self.child_peak_kb = dict.fromkeys(pids, 0)
        self.child_cpu: dict[str, dict[int, float]] = {name: {} for name in pids}
        self._halt = threading.Event()

    def run(self) -> None:
        tick = 0
        while not self._halt.wait(self.interval):
            self.sample(children=tick % 5 == 0)  # listing /proc costs more: once a second
            tick += 1

    def sample(self, *, children: bool = True) -> None:
        for name, pid in self.pids.items():
            self.peak_kb[name] = max(self.peak_kb[name], _status_kb(pid, "VmHWM:"))
            if children:
                for child in _children(pid):
                    self.child_peak_kb[name] = max(self.child_peak_kb[name], _status_kb(child, "VmHWM:"))
                    self.child_cpu[name][child] = cpu_seconds(child, children=False)

    def stop(self) -> None:
        self._halt.set()
        self.join()
        self.sample()


# ---- the run ----------------------------------------------------------------------------------------


async def _steps(bus: Bus, run_id: str, until: str, timeout: float) -> dict[str, RunStep | float]:
    """The run's steps (``stage.status`` -> the event's time, epoch seconds) until ``until`` completes."""
    seen: dict[str, Any] = {}
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def on_msg(msg: Any) -> None:
        env = decode(msg.data)
        step = decode_event(env)
        if isinstance(step, RunStep):
            key = f"{step.stage}.{step.status}"
            seen.setdefault(key, env.occurred_at.timestamp())
            seen.setdefault(f"{key}.counts", step.counts)
            if step.status == "failed" and not done.done():
                done.set_exception(RuntimeError(f"{step.stage} failed: {step.message}"))
            elif key == f"{until}.completed" and not done.done():
                done.set_result(None)

    sub = await bus.js.subscribe(f"run.step.{run_id}.*", cb=on_msg, ordered_consumer=True,
                                 deliver_policy=api.DeliverPolicy.ALL, stream=bus.stream)
    try:
        await asyncio.wait_for(done, timeout)
    finally:
        await sub.unsubscribe()
    return seen


async def _ready(bus: Bus, services: list[str], timeout: float = 120.0) -> None:
    """Until every service's durable consumer exists (it is subscribed), then a moment for the prefetch."""
    deadline = time.monotonic() + timeout
    for name in services:
        while True:
            try:
                await bus.js.consumer_info(bus.stream, DURABLES[name])
                break
            except NatsError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{name} did not subscribe in {timeout:.0f}s") from None
                await asyncio.sleep(0.2)
    await asyncio.sleep(2.0)


async def run_size(rows: int, work: Path, *, projector: bool, timeout: float, keep: bool) -> dict[str, Any]:
    source_dir = work / f"cnpj-{rows}"
    started = time.perf_counter()
    generated = generate(source_dir, rows)
    generate_s = time.perf_counter() - started
    print(f"{rows}: generated in {generate_s:.1f}s", file=sys.stderr)
    data_dir = work / f"data-{rows}"
    services = [*SERVICES, *(["projector"] if projector else [])]
    env = {"OTEL_TRACES_EXPORTER": "none", "LOG_LEVEL": "WARNING", "HUNTER_TRACE_LEADS": "0"}
    result: dict[str, Any] = {"establishments": rows, "companies": generated["companies"],
                              "generate_s": round(generate_s, 1)}
    async with embedded_nats(data_dir) as url:
        stack = Stack(data_dir, url, env_extra=env, gateway=False, services=services)
        stack.start()
        pids = {name: procs[0].pid for name, procs in stack.procs.items()}
        sampler = PeakSampler(pids)
        sampler.start()
        try:
            async with connect_bus(url, name="bench-national") as bus:
                await _ready(bus, services)
                idle = {name: round(_status_kb(pid, "VmRSS:") / 1024) for name, pid in pids.items()}
                nats_pids = [p for p in _children(os.getpid()) if Path(f"/proc/{p}/comm").read_text().strip()
                             == "nats-server"] if Path("/proc").exists() else []
                run_id = f"national-{rows}"
                cpu0 = {name: cpu_seconds(pid) for name, pid in pids.items()}
                await bus.publish(RunRequested(run_id=run_id, source=f"cnpj:{source_dir}",
                                               filters=RunFilters(status=["*"]), enrich_top=0.0), key=(run_id,))
                t0 = time.time()
                steps = await _steps(bus, run_id, "score", timeout)
                cpu = {name: cpu_seconds(pid) - cpu0[name] for name, pid in pids.items()}
                info = await bus.js.stream_info(bus.stream)
                result.update(stream_messages=info.state.messages, stream_mb=round(info.state.bytes / 2**20))
                if projector:
                    from hunter.watch import wait_projected
                    p0 = time.perf_counter()
                    await wait_projected(bus, f"sqlite:///{data_dir / 'vault.db'}", timeout=timeout)
                    result["projector_catch_up_s"] = round(time.perf_counter() - p0, 1)
            nats_peak = max((_status_kb(p, "VmHWM:") for p in nats_pids), default=0)
        finally:
            try:
                sampler.stop()
            finally:
                crashed = stack.crashed()
                stack.stop()
    if crashed:
        raise RuntimeError(f"services died: {crashed}")
    if not keep:
        shutil.rmtree(data_dir, ignore_errors=True)
        shutil.rmtree(source_dir, ignore_errors=True)
    extracted = steps.get("extract.completed.counts", {}).get("extracted", 0)  # type: ignore[union-attr]
    cleaned = steps["clean.completed.counts"].get("out", 0)  # type: ignore[union-attr]
    scored = steps["score.completed.counts"].get("scored", 0)  # type: ignore[union-attr]
    t_extract, t_clean, t_score = (float(steps[f"{s}.completed"]) for s in ("extract", "clean", "score"))  # type: ignore[arg-type]
    t_req = t0  # the hunt requested (the extract step starts once the files are scanned)
    extract_s, clean_s, score_s = t_extract - t_req, t_clean - t_extract, t_score - t_clean
    peak = {name: round(kb / 1024) for name, kb in sampler.peak_kb.items()}
    result.update(
        leads=scored, extracted=extracted, cleaned=cleaned,
        extract_s=round(extract_s, 1), clean_s=round(clean_s, 1), score_s=round(score_s, 1),
        extract_leads_per_s=round(extracted / extract_s) if extract_s > 0 else None,
        clean_leads_per_s=round(extracted / clean_s) if clean_s > 0 else None,
        score_leads_per_s=round(scored / score_s) if score_s > 0 else None,
        clean_score_s=round(t_score - t_extract, 1),
        clean_score_leads_per_s=round(extracted / (t_score - t_extract)),
        hunt_s=round(t_score - t_req, 1), hunt_leads_per_s=round(extracted / (t_score - t_req)),
        peak_rss_mb_by_service=peak,
        child_peak_rss_mb_by_service={n: round(kb / 1024) for n, kb in sampler.child_peak_kb.items() if kb},
        peak_rss_mb=max(peak.values()),
        idle_rss_mb_by_service=idle, nats_server_peak_rss_mb=round(nats_peak / 1024),
        cpu_s_by_service={name: round(cpu[name] + sum(sampler.child_cpu[name].values()), 1) for name in pids},
        clean_score_leads_per_cpu_s=round(extracted / max(0.001, cpu["cleaner"] + cpu["scorer"])),
        load_avg_1m=round(os.getloadavg()[0], 2),
    )
    print(json.dumps(result), file=sys.stderr)
    return result


async def main_async(sizes: list[int], work: Path, *, projector: bool, timeout: float, keep: bool) -> dict[str, Any]:
    runs = [await run_size(n, work, projector=projector, timeout=timeout, keep=keep) for n in sizes]
    last = runs[-1]
    out: dict[str, Any] = {
        "bench": "national", "sizes": sizes, "leads": last["leads"],
        "clean_score_leads_per_s": last["clean_score_leads_per_s"], "peak_rss_mb": last["peak_rss_mb"],
        "peak_rss_mb_by_service": last["peak_rss_mb_by_service"],
        "stages": {str(r["establishments"]): {k: v for k, v in r.items()} for r in runs},
        "goal_peak_rss_mb": 600, "goal_clean_score_leads_per_s": 20_000, "goal_rss_growth": 1.2,
        "spill_leads": Settings().spill_leads,
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    by_size = {r["establishments"]: r for r in runs}
    if 1_000_000 in by_size and 5_000_000 in by_size:
        small, big = by_size[1_000_000], by_size[5_000_000]
        out["rss_growth_1m_to_5m"] = round(big["peak_rss_mb"] / small["peak_rss_mb"], 3)
        out["rss_growth_1m_to_5m_by_service"] = {
            name: round(big["peak_rss_mb_by_service"][name] / max(1, mb), 3)
            for name, mb in small["peak_rss_mb_by_service"].items()}
    elif len(runs) > 1:
        first = runs[0]
        out[f"rss_growth_{first['establishments']}_to_{last['establishments']}"] = round(
            last["peak_rss_mb"] / first["peak_rss_mb"], 3)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200,000 establishments")
    parser.add_argument("--sizes", default="1000000,2000000,5000000", help="establishments per run, comma-separated")
    parser.add_argument("--projector", action="store_true", help="run the projector too and time its catch-up")
    parser.add_argument("--dir", type=Path, help="work directory (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the generated files and the stream")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds a size may take")
    args = parser.parse_args(argv)
    sizes = [200_000] if args.quick else [int(v) for v in args.sizes.split(",") if v.strip()]
    with tempfile.TemporaryDirectory(prefix="hunter-national-", dir=args.dir) as tmp:
        result = asyncio.run(main_async(sizes, Path(tmp), projector=args.projector, timeout=args.timeout,
                                        keep=args.keep))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
