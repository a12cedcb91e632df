"""Extractor benchmark: Receita-format files -> CompanyRecords (-> JetStream).

Generates ``--rows`` Estabelecimentos rows in the official format (zipped like the published
files, with matching Empresas, Simples, some Socios and the code tables) into a temporary
directory, then measures:

- parsing every row (``cnpj:DIR``, no filter, no limit) into what the extractor publishes: each
  lead as the JSON text of its ``CompanyRecord`` (``iter_source(..., as_json=True)``); beyond
  200,000 rows that is the join on disk of a national import, by ``--workers`` processes
  (``receita_parallel``; their CPU is counted in ``parse_cpu_s``);
- parsing with a UF filter (``uf=["SP"]``, default status ATIVA): input rows/s and matches;
- publishing the records as ``LeadsExtracted`` batches to an embedded JetStream (skipped with
  ``--no-publish`` or when ``shared.bus`` is not available), the source read as the extractor
  service reads it: in a parser process of its own for a big ``cnpj`` source
  (``services.extractor.source_process``; ``--parser-process always|never`` to force it).

Figures: rows/s of wall time, and rows per CPU second (``*_rows_per_cpu_s``: this process's CPU,
its reader threads and, for publishing, the parser process included; the NATS server's is not),
peak RSS of this process and of the parser process. On a shared machine the CPU figures are the
ones to compare; the load average is printed too.

The last line printed is one JSON object with the figures. ``--quick`` = 50,000 rows.
Run: ``python bench/extract.py --quick --batch-sizes 250,500,1000,2000`` or
``python bench/extract.py --rows 1000000 --no-publish``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.receita_layout import CITIES, CNAES, STREETS, UFS, WORDS, receita_line  # noqa: E402
from services.extractor.sources import iter_source  # noqa: E402
from services.extractor.sources.receita_parallel import auto_workers  # noqa: E402
from shared.config import Settings  # noqa: E402
from shared.events import RunFilters  # noqa: E402
from shared.registry_ids import check_digits  # noqa: E402
from shared.schemas import CompanyRecord  # noqa: E402


def generate(directory: Path, rows: int, seed: int = 7) -> dict[str, int]:
    """Write the Receita-format zips for ``rows`` establishments; returns counts."""
    rnd = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    opts: dict[str, Any] = {"compression": zipfile.ZIP_DEFLATED, "compresslevel": 1}
    companies = partners = 0
    with zipfile.ZipFile(directory / "Estabelecimentos0.zip", "w", **opts) as ze, \
            ze.open("K3241.K03200Y0.D40511.ESTABELE", "w") as fe, \
            zipfile.ZipFile(directory / "Empresas0.zip", "w", **opts) as zc, \
            zc.open("K3241.K03200Y0.D40511.EMPRECSV", "w") as fc, \
            zipfile.ZipFile(directory / "Simples.zip", "w", **opts) as zs, \
            zs.open("F.K03200$W.SIMPLES.CSV.D40511", "w") as fs, \
            zipfile.ZipFile(directory / "Socios0.zip", "w", **opts) as zp, \
            zp.open("K3241.K03200Y0.D40511.SOCIOCSV", "w") as fp:
        buf_e: list[bytes] = []
        basico = 10_000_000
        for i in range(rows):
            if i % 5 == 4:
                ordem = "0002"  # a branch of the previous company
            else:
                basico += 1
                ordem = "0001"
                companies += 1
                name = f"{rnd.choice(WORDS)} {rnd.choice(WORDS)} {basico} LTDA"
                fc.write(receita_line([str(basico), name, "2062", "49", f"{rnd.randint(1, 9_000_000)},00",
                             rnd.choice(["01", "03", "05"]), ""]))
                mei = "S" if rnd.random() < 0.1 else "N"
                fs.write(receita_line([str(basico), "S", "20180101", "00000000", mei, "00000000", "00000000"]))
                if companies % 4 == 0:
                    partners += 1
                    fp.write(receita_line([str(basico), "2", f"SOCIO {basico}", "***123456**", "49", "20150101", "",
                                 "***000000**", "", "00", str(rnd.randint(2, 8))]))
            base = f"{basico}{ordem}"
            uf = rnd.choice(UFS)
            situacao = "02" if rnd.random() < 0.85 else "08"
            buf_e.append(receita_line([
                str(basico), ordem, check_digits(base), "1" if ordem == "0001" else "2",
                f"{rnd.choice(WORDS)} {i}", situacao, "20200101", "00", "", "", "20150310",
                rnd.choice(CNAES), ",".join(rnd.sample(CNAES, 2)), "RUA", rnd.choice(STREETS),
                str(rnd.randint(1, 3000)), "SALA 4" if i % 3 else "", "CENTRO",
                f"{rnd.randint(1_000_000, 99_999_999):08d}",
                uf, CITIES.get(uf, "1234"), "11", f"9{rnd.randint(10_000_000, 99_999_999)}",
                "" if i % 2 else "11", "" if i % 2 else f"3{rnd.randint(1_000_000, 9_999_999)}",
                "", "", f"contato{i}@empresa{basico}.com.br" if i % 3 == 0 else "", "", "",
            ]))
            if len(buf_e) >= 10_000:
                fe.write(b"".join(buf_e))
                buf_e.clear()
        fe.write(b"".join(buf_e))
    tables = {
        "Cnaes": [[c, f"Atividade {c} de teste com descrição"] for c in CNAES],
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
    return {"companies": companies, "partners": partners}


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


def _cpu_with_children() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def time_parse(source: str, filters: RunFilters, workers: int) -> tuple[int, int, float, float]:
    """(records, rejects, wall seconds, CPU seconds of this process and its join workers)."""
    records = dropped = 0
    started, cpu = time.perf_counter(), _cpu_with_children()
    for item in iter_source(source, filters, as_json=True, workers=workers):
        if isinstance(item, str | CompanyRecord):
            records += 1
        else:
            dropped += 1
    return records, dropped, time.perf_counter() - started, _cpu_with_children() - cpu


async def time_publish(
    source: str, filters: RunFilters, data_dir: Path, batch_sizes: list[int], min_rows: int | None = None
) -> dict[int, dict[str, Any]]:
    """Parse and publish the whole source once per batch size, the way the extractor service does."""
    from services.extractor.publishing import HEADROOM, SourceBatches, publish_batches
    from services.extractor.source_process import PROCESS_MIN_ROWS, source_items
    from shared.bus import connect_bus
    from shared.nats_server import embedded_nats

    min_rows = PROCESS_MIN_ROWS if min_rows is None else min_rows
    figures: dict[int, dict[str, Any]] = {}
    async with embedded_nats(data_dir) as url, connect_bus(url) as bus:
        for size in batch_sizes:
            started = time.perf_counter()
            cpu = time.process_time()
            items = source_items(source, filters, min_rows=min_rows)  # as the extractor service reads it
            encoder = SourceBatches(f"bench-{size}", items, batch_size=size,
                                    max_bytes=bus.nc.max_payload - HEADROOM)
            await publish_batches(bus, encoder)
            seconds = time.perf_counter() - started
            cpu = time.process_time() - cpu
            stored = await bus.count(f"lead.extracted.bench-{size}")
            child_rss = getattr(items, "child_peak_rss_kb", None)
            cpu += getattr(items, "child_cpu_s", None) or 0.0  # the parser process's CPU too
            figures[size] = {"published": encoder.extracted, "messages": stored, "s": round(seconds, 2),
                             "rows_per_s": round(encoder.extracted / seconds), "cpu_s": round(cpu, 2),
                             "rows_per_cpu_s": round(encoder.extracted / cpu),
                             "parser_process": child_rss is not None,
                             "parser_peak_rss_mb": None if child_rss is None else round(child_rss / 1024, 1)}
            print(f"publish, batch {size}: {encoder.extracted} leads in {stored} messages, {seconds:.2f}s "
                  f"({cpu:.2f}s CPU, parser process: {child_rss is not None})", file=sys.stderr)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="50,000 rows")
    parser.add_argument("--workers", type=int, default=Settings().extract_workers,
                        help="processes joining a national import (HUNTER_EXTRACT_WORKERS; 0: one per CPU, at most 4)")
    parser.add_argument("--no-publish", action="store_true", help="skip the JetStream publish step")
    parser.add_argument("--batch-sizes", default=str(Settings().batch_size),
                        help="comma-separated, e.g. 250,500,1000,2000 (default: the product's HUNTER_BATCH_SIZE)")
    parser.add_argument("--dir", type=Path, help="keep the generated files here (reused if present)")
    parser.add_argument("--parser-process", choices=["auto", "always", "never"], default="auto",
                        help="publish: parse in a child process as the service does (auto: big sources only)")
    args = parser.parse_args(argv)
    rows = 50_000 if args.quick else args.rows
    result: dict[str, Any] = {"rows": rows}
    with tempfile.TemporaryDirectory(prefix="hunter-bench-") as tmp:
        data = args.dir or Path(tmp) / "cnpj"
        started = time.perf_counter()
        if not (data / "Estabelecimentos0.zip").exists():
            result.update(generate(data, rows))
        result["generate_s"] = round(time.perf_counter() - started, 2)
        source = f"cnpj:{data}"

        workers = auto_workers(args.workers)
        records, dropped, seconds, cpu = time_parse(source, RunFilters(status=["*"]), workers)
        result.update(parse_workers=workers, parse_records=records, parse_dropped=dropped, parse_s=round(seconds, 2),
                      parse_rows_per_s=round(rows / seconds), parse_cpu_s=round(cpu, 2),
                      parse_rows_per_cpu_s=round(rows / cpu))
        print(f"parse, no filter: {records} records in {seconds:.2f}s ({cpu:.2f}s CPU)", file=sys.stderr)

        records, _, seconds, cpu = time_parse(source, RunFilters(uf=["SP"]), workers)
        result.update(uf_filter_records=records, uf_filter_s=round(seconds, 2),
                      parse_uf_rows_per_s=round(rows / seconds), parse_uf_rows_per_cpu_s=round(rows / cpu))
        print(f"parse, uf=SP + ATIVA: {records} records in {seconds:.2f}s ({cpu:.2f}s CPU)", file=sys.stderr)
        result["parse_peak_rss_mb"] = peak_rss_mb()

        result["publish_rows_per_s"] = None
        if not args.no_publish:
            sizes = [int(v) for v in args.batch_sizes.split(",") if v.strip()]
            min_rows = {"auto": None, "always": 0, "never": 1 << 62}[args.parser_process]
            figures = asyncio.run(time_publish(source, RunFilters(status=["*"]), Path(tmp) / "nats", sizes, min_rows))
            best = max(figures, key=lambda k: figures[k]["rows_per_s"])
            result.update(publish_batch_size=best, published=figures[best]["published"],
                          publish_s=figures[best]["s"], publish_rows_per_s=figures[best]["rows_per_s"],
                          publish_cpu_s=figures[best]["cpu_s"], publish_rows_per_cpu_s=figures[best]["rows_per_cpu_s"],
                          parser_process=figures[best]["parser_process"],
                          parser_peak_rss_mb=figures[best]["parser_peak_rss_mb"])
            if len(figures) > 1:
                result["publish_by_batch_size"] = {str(k): v["rows_per_s"] for k, v in figures.items()}
    result["peak_rss_mb"] = peak_rss_mb()
    result["load_average"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
