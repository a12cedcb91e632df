"""The ``hunter`` command."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from shared.events import KpiTargets, RunFilters, RunRequested, RunStep, new_run_id

DEMO_DATA = Path(__file__).resolve().parent / "demo" / "data"


def _settings(args: argparse.Namespace) -> Any:
    if getattr(args, "data_dir", None):
        os.environ["HUNTER_DATA_DIR"] = str(Path(args.data_dir).resolve())
    from shared.config import Settings

    return Settings()


def _print(msg: str) -> None:
    print(msg, flush=True)


def _format_step(step: RunStep) -> str:
    counts = " ".join(f"{k}={v}" for k, v in step.counts.items())
    return f"  [{step.stage:>8}] {step.status:<9} {counts} {step.message}".rstrip()


# ---- stack management ---------------------------------------------------------------------------

@contextmanager
def running_stack(settings: Any, *, env_extra: dict[str, str] | None = None, replicas: int = 1,
                  gateway: bool = True, gateway_port: int | None = None,
                  nats_cluster: int = 1, nats_tls: bool | None = None) -> Iterator[tuple[str, Any]]:
    """NATS (embedded unless NATS_URL, admitting only the data dir's credentials; ``nats_cluster`` > 1: that
    many nodes as one JetStream cluster, the stream replicated on each; ``nats_tls``: TLS only, by default as
    ``HUNTER_NATS_TLS`` says) plus every service as its own process."""
    from hunter.stack import Stack
    from shared.nats_server import nats_for

    data_dir = Path(settings.data_dir).resolve()
    env_extra = dict(env_extra or {})
    with nats_for(data_dir, settings.nats_url, cluster_size=nats_cluster, tls=nats_tls) as url:
        if nats_cluster > 1:
            env_extra.setdefault("HUNTER_STREAM_REPLICAS", str(nats_cluster))
            asyncio.run(_create_stream(url, settings, replicas=nats_cluster))
        stack = Stack(data_dir=data_dir, nats_url=url, env_extra=env_extra, enricher_replicas=replicas,
                      gateway=gateway, gateway_port=gateway_port)
        stack.start()
        up_file = data_dir / "up.json"
        try:
            up_file.write_text(json.dumps({"nats_url": url, "pid": os.getpid(), "gateway": stack.gateway_url}))
            yield url, stack
        finally:
            up_file.unlink(missing_ok=True)
            stack.stop()


async def _create_stream(url: str, settings: Any, *, replicas: int) -> None:
    from shared.bus import connect_bus

    async with connect_bus(url, name="hunter-up", stream=settings.stream_name, replicas=replicas,
                           dedup_window_seconds=settings.dedup_window_seconds):
        pass


def _stack_already_up(data_dir: Path) -> dict[str, Any] | None:
    f = data_dir / "up.json"
    if not f.exists():
        return None
    info = json.loads(f.read_text())
    try:
        os.kill(int(info["pid"]), 0)
    except (OSError, ValueError, KeyError):
        return None
    return info


# ---- hunting ------------------------------------------------------------------------------------

def build_request(args: argparse.Namespace) -> RunRequested:
    filters = RunFilters(
        uf=[u.upper() for u in args.uf or []], city=args.city or [], cnae=args.cnae or [], naf=args.naf or [],
        include_secondary=args.include_secondary, limit=args.limit,
        status=args.status or ["ATIVA"],
    )
    targets = KpiTargets(**{k: getattr(args, k) for k in KpiTargets.model_fields if getattr(args, k, None) is not None})
    return RunRequested(run_id=new_run_id(), source=args.source, filters=filters, enrich_top=args.enrich_top,
                        icp=args.icp, segments=args.segments or ["hot"], formats=args.formats or ["csv"],
                        label=args.label, targets=targets if targets.is_set() else None)


async def submit_and_watch(url: str, settings: Any, request: RunRequested, *, timeout: float,
                           quiet: bool = False) -> tuple[RunStep, dict[str, Any]]:
    from hunter.watch import wait_projected, watch_run
    from services.gateway import queries
    from services.gateway.run_report import report_for
    from shared.bus import connect_bus
    from shared.vault.access import open_reader

    async with connect_bus(url, name="hunter-cli", stream=settings.stream_name) as bus:
        await bus.publish(request, key=(request.run_id,))
        if not quiet:
            _print(f"run {request.run_id} submitted: {request.source}")
        final = await watch_run(bus, request.run_id, timeout=timeout,
                                on_step=None if quiet else (lambda s: _print(_format_step(s))))
        await wait_projected(bus, settings.vault_database_url)
    engine = open_reader(settings.vault_database_url)
    try:
        run = queries.get_run(engine, request.run_id) or {}
        run["exports"] = queries.list_exports(engine, request.run_id)
        run["report"] = report_for(engine, settings, request.run_id)
    finally:
        engine.dispose()
    return final, run


def print_summary(run: dict[str, Any]) -> None:
    _print(f"\nrun {run.get('run_id')}: {run.get('status')}")
    detail = ("clean.phones_", "clean.emails_", "enrich.expected", "rescore.expected")
    for k, v in sorted(run.get("counts", {}).items()):
        if not k.startswith(detail):
            _print(f"  {k:<36} {v}")
    if run.get("buckets"):
        _print("  buckets: " + ", ".join(f"{k}={v}" for k, v in sorted(run["buckets"].items())))
    for e in run.get("exports", []):
        _print(f"  export {e['segment']}: {e['rows']} rows -> {', '.join(e['files'].values()) or e.get('error')}")
    if run.get("report"):
        print_report(run["report"])


def _pct(rate: float | None) -> str:
    return "–" if rate is None else f"{100 * rate:.1f}%"


def print_report(report: dict[str, Any]) -> None:
    """The run report in words: funnel, quality score, KPI targets."""
    _print("\nfunnel")
    for step in report["funnel"]:
        of = f" ({_pct(step['rate'])} of {step['of']})" if step["of"] else ""
        _print(f"  {step['label']:<36} {step['count']:>8}{of}")
    quality = report["quality_score"]
    _print(f"quality score {'–' if quality is None else quality} / 100; reject rate {_pct(report['reject_rate'])}"
           + (f"; {report['rows_per_s']} rows/s" if report.get("rows_per_s") else ""))
    kpi = report["kpi"]
    for t in kpi["targets"]:
        _print(f"  KPI {t['label']} {t['op']} {t['goal']}: {t['actual']} -> {t['status']}")
    if kpi["overall"]:
        _print(f"KPIs {kpi['overall']}")


def dry_run_plan(settings: Any, request: RunRequested) -> dict[str, Any]:
    """The hunt's plan, counted here on the source (the CLI runs where the files are); nothing published."""
    from services.extractor.planning import estimate_rows
    from services.gateway.run_plan import PLAN_SECONDS, build_plan, resolve_icp
    from services.gateway.run_report import budget_limits

    saved: dict[str, dict[str, Any]] = {}
    vault = _sqlite_path(settings.vault_database_url)
    if vault is None or vault.exists():
        from services.gateway import queries
        from shared.vault.access import open_reader

        engine = open_reader(settings.vault_database_url)
        try:
            saved = {p["name"]: p["profile"] for p in queries.icp_profiles(engine)}
        except Exception:  # noqa: BLE001 - a vault without tables yet: no saved profiles
            saved = {}
        finally:
            engine.dispose()
    icp, icp_error = resolve_icp(request.icp, saved, settings.icp_dir)
    estimate = estimate_rows(request.source, request.filters, settings=settings, seconds=PLAN_SECONDS)
    return build_plan(source=request.source, filters=request.filters, enrich_top=request.enrich_top, icp=icp,
                      icp_error=icp_error, targets=request.targets, estimate=estimate,
                      budgets=budget_limits(settings))


def _sqlite_path(url: str) -> Path | None:
    return Path(url.split(":///", 1)[1]) if url.startswith("sqlite:///") else None


def print_plan(plan: dict[str, Any]) -> None:
    est = plan["estimate"]
    rows = est.get("rows")
    _print(f"dry run: {plan['source']} — nothing is published")
    _print(f"  filters      {plan['filters_in_words']}")
    if rows is None:
        _print(f"  matching     unknown{': ' + est['note'] if est.get('note') else ''}")
    else:
        exact = "" if est.get("exact") else "at least "
        _print(f"  matching     {exact}{rows:,} rows ({est.get('rejected') or 0:,} rejected), "
               f"counted in {est['seconds']} s")
    leads = plan["enrichment"]["leads"]
    budgets = plan["enrichment"]["budgets"]
    _print(f"  enrichment   top {plan['enrich_top']:.0%}" + (f" = {leads:,} leads" if leads is not None else "")
           + f"; budgets {budgets['requests']:,} requests, {budgets['bytes']:,} bytes, {budgets['seconds']:g} s")
    _print(f"  ICP          {plan['icp']}")
    for k, v in plan["targets"].items():
        _print(f"  target       {k} = {v}")
    for problem in plan["problems"]:
        _print(f"  PROBLEM      {problem}")


def cmd_hunt(args: argparse.Namespace) -> int:
    settings = _settings(args)
    request = build_request(args)
    if args.dry_run:  # the plan says what is wrong with it, an unknown ICP included
        plan = dry_run_plan(settings, request)
        if args.json:
            _print(json.dumps(plan, default=str))
        else:
            print_plan(plan)
        return 0 if plan["ok"] else 2
    if request.icp:  # refused now, not at the run's scoring step (saved profiles are on the stream)
        from shared.domain.icp_profiles import icp_request_error

        reason = _icp_bus_call(settings, lambda bus: icp_request_error(bus, request.icp, settings.icp_dir))
        if reason:
            print(f"hunter hunt: --icp: {reason}", file=sys.stderr)
            return 2
    up = _stack_already_up(Path(settings.data_dir).resolve())
    quiet = bool(args.json)  # --json: one JSON object on stdout, nothing else
    if up:
        from shared.nats_server import joined_env

        with joined_env(Path(settings.data_dir).resolve(), up["nats_url"]):  # its embedded server's credentials
            final, run = asyncio.run(submit_and_watch(up["nats_url"], settings, request, timeout=args.timeout,
                                                      quiet=quiet))
    else:
        with running_stack(settings, replicas=args.enricher_replicas, gateway=False) as (url, _stack):
            final, run = asyncio.run(submit_and_watch(url, settings, request, timeout=args.timeout, quiet=quiet))
    if args.json:
        _print(json.dumps({**(run.get("report") or {"run_id": request.run_id, "status": final.status}),
                           "exports": run.get("exports", [])}, default=str))
    else:
        print_summary(run)
    return 0 if final.status == "completed" else 1


def cmd_batch(args: argparse.Namespace) -> int:
    """One run per activity code, one after another; a summary per code under exports/batches/<id>/."""
    from services.gateway.batches import batch_requests, new_batch_id

    settings = _settings(args)
    kind, codes = ("naf", args.naf) if args.naf else ("cnae", args.cnae or [])
    if not codes:
        _print("hunter batch: give at least one --cnae (or --naf) code")
        return 2
    args.cnae, args.naf = None, None  # the batch sets one code per run
    base = build_request(args)
    batch_id = new_batch_id()
    requests = batch_requests(batch_id=batch_id, kind=kind, codes=codes, source=base.source, filters=base.filters,
                              enrich_top=base.enrich_top, icp=base.icp, targets=base.targets, segments=base.segments,
                              formats=base.formats, label=args.label, requested_by="cli")
    up = _stack_already_up(Path(settings.data_dir).resolve())

    def one(url: str, i: int, request: RunRequested) -> str:
        if not args.json:
            _print(f"\n[{i + 1}/{len(requests)}] {request.label}")
        final, _run = asyncio.run(submit_and_watch(url, settings, request, timeout=args.timeout, quiet=True))
        if not args.json:
            _print(f"  {final.status}{': ' + final.message if final.message else ''}")
        return final.status

    if up:
        from shared.nats_server import joined_env

        with joined_env(Path(settings.data_dir).resolve(), up["nats_url"]):
            stopped_at = run_codes(requests, lambda i, r: one(up["nats_url"], i, r), args.continue_on_error)
    else:
        with running_stack(settings, replicas=args.enricher_replicas, gateway=False) as (url, _stack):
            stopped_at = run_codes(requests, lambda i, r: one(url, i, r), args.continue_on_error)
    summary = write_batch_summary(settings, batch_id, requests, stopped_at)
    if args.json:
        _print(json.dumps(summary, default=str))
    else:
        print_batch(summary)
    return 0 if summary["totals"]["failed"] == 0 and not summary["not_run"] else 1


def run_codes(requests: list[RunRequested], run_one: Callable[[int, RunRequested], str],
              continue_on_error: bool) -> int | None:
    """Run each request in turn; without ``continue_on_error`` stop after the first that does not complete.
    Returns how many were run when it stopped early, else None."""
    for i, request in enumerate(requests):
        if run_one(i, request) != "completed" and not continue_on_error:
            return i + 1 if i + 1 < len(requests) else None
    return None


def write_batch_summary(settings: Any, batch_id: str, requests: list[RunRequested],
                        stopped_at: int | None) -> dict[str, Any]:
    from services.gateway.batches import batch_summary, summary_csv
    from shared.vault.access import open_reader

    engine = open_reader(settings.vault_database_url)
    try:
        summary = batch_summary(engine, settings, batch_id) or {"batch_id": batch_id, "runs": [], "totals": {}}
    finally:
        engine.dispose()
    not_run = [(r.filters.cnae or r.filters.naf)[0] for r in requests[stopped_at:]] if stopped_at else []
    summary["not_run"] = not_run
    folder = Path(settings.data_dir) / "exports" / "batches" / batch_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "summary.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    (folder / "summary.csv").write_text(summary_csv(summary), encoding="utf-8")
    summary["folder"] = str(folder)
    return summary


def print_batch(summary: dict[str, Any]) -> None:
    _print(f"\nbatch {summary['batch_id']}: {summary.get('status')}")
    _print(f"  {'code':<12} {'status':<10} {'leads':>7} {'hot':>5} {'KPIs':<8} {'seconds':>8}  message")
    for r in summary["runs"]:
        secs = "" if r["seconds"] is None else f"{r['seconds']:.1f}"
        _print(f"  {r['code']:<12} {r['status']:<10} {r['leads']:>7} {r['hot']:>5} {r['kpi'] or '–':<8} {secs:>8}"
               f"  {r['message']}")
    for code in summary["not_run"]:
        _print(f"  {code:<12} not run (an earlier code failed; --continue-on-error runs them all)")
    _print(f"summary: {summary['folder']}/summary.csv")


def cmd_up(args: argparse.Namespace) -> int:
    settings = _settings(args)
    with running_stack(settings, replicas=args.enricher_replicas, gateway_port=args.port,
                       nats_cluster=args.nats_cluster, nats_tls=args.nats_tls or None) as (url, stack):
        stack.wait_gateway()
        creds = " ".join(f"{k}={os.environ[k]}" for k in ("NATS_CREDS", "NATS_TLS_CA") if os.environ.get(k))
        creds = f" (clients need {creds})" if creds else ""
        _print(f"NATS {url}{creds}\nGateway {stack.gateway_url}\nServices: {', '.join(stack.procs)} "
               f"(enricher x{args.enricher_replicas}); logs in {Path(settings.data_dir) / 'logs'}")
        if stack.metrics_ports:
            _print("Metrics " + ", ".join(f"{name} {','.join(map(str, ports))}"
                                          for name, ports in stack.metrics_ports.items()))
        _wait_for_signal(stack)
    return 0


def _wait_for_signal(stack: Any) -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(1.0):
        for name, procs in list(stack.procs.items()):
            for i, p in enumerate(procs):
                if p.poll() is not None:  # restart crashed services: they resume from their durable consumers
                    _print(f"{name}[{i}] exited with {p.returncode}; restarting")
                    procs.pop(i)
                    stack.spawn(name)


def cmd_service(args: argparse.Namespace) -> int:
    _settings(args)
    return subprocess.call([sys.executable, "-m", f"services.{args.name}"])


def cmd_replay(args: argparse.Namespace) -> int:
    from services.projector.replay import ReplayRefused, parse_time, replay_vault, separate_vault_url
    from shared.bus import connect_bus
    from shared.nats_server import nats_for

    settings = _settings(args)
    to_time = parse_time(args.to_time) if args.to_time else None
    live = settings.vault_database_url
    separate = args.out is not None or args.out_schema is not None
    try:  # a vault of the past never replaces the live one: it goes to --out / --out-schema
        target = separate_vault_url(live, out_path=args.out, out_schema=args.out_schema) if separate else live
        if not separate and (args.to_seq is not None or to_time is not None):
            separate_vault_url(live)  # raises, saying what to give
    except ReplayRefused as exc:
        print(f"hunter replay: {exc}", file=sys.stderr)
        return 2

    async def go(url: str) -> tuple[int, str]:
        async with connect_bus(url, name="hunter-replay", stream=settings.stream_name) as bus:
            return await replay_vault(bus, target, to_seq=args.to_seq, to_time=to_time, live=not separate)

    with nats_for(Path(settings.data_dir).resolve(), settings.nats_url) as url:
        t0 = time.perf_counter()
        applied, digest = asyncio.run(go(url))
    where = f"the separate vault {_vault_place(target)} (the live vault is untouched)" if separate \
        else f"the live vault {_vault_place(target)}"
    _print(f"replayed {applied} events in {time.perf_counter() - t0:.2f}s into {where}")
    _print(digest)
    return 0


def _vault_place(url: str) -> str:
    """A vault's file, or its PostgreSQL URL and schema, without the password."""
    from sqlalchemy.engine import make_url

    from shared.vault.engine import vault_file

    path = vault_file(url)
    if path:
        return path
    parsed = make_url(url)
    options = str(parsed.query.get("options", ""))
    schema = options.split("search_path=", 1)[1] if "search_path=" in options else None
    shown = parsed.set(query={}).render_as_string(hide_password=True)
    return f"{shown} (schema {schema})" if schema else shown


def cmd_vault_digest(args: argparse.Namespace) -> int:
    from services.projector.digest import table_digests, vault_digest
    from shared.vault.access import VaultMissing, open_reader

    settings = _settings(args)
    engine = open_reader(settings.vault_database_url)
    try:
        if args.tables:
            for name, (n, d) in table_digests(engine).items():
                _print(f"{name:<28} {n:>8} {d}")
        _print(vault_digest(engine))
    except VaultMissing as exc:
        print(f"hunter vault digest: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    return 0


def cmd_farm(args: argparse.Namespace) -> int:
    return subprocess.call([sys.executable, "-m", "hunter.demo.webfarm", "--port", str(args.port)])


def cmd_fingerprints_update(args: argparse.Namespace) -> int:
    from services.enricher.fingerprints import update_fingerprints

    settings = _settings(args)
    dest = Path(settings.data_dir) / "fingerprints"
    n = update_fingerprints(args.source, dest)
    _print(f"{n} technologies saved under {dest}; set HUNTER_FINGERPRINTS={dest} to use them")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from hunter.demo_run import run_demo

    return run_demo(args)


# ---- ICP profiles -------------------------------------------------------------------------------

def _icp_bus_call(settings: Any, fn: Any) -> Any:
    """Run ``await fn(bus)`` against the stack's NATS (or an embedded one on the data dir)."""
    from shared.bus import connect_bus
    from shared.nats_server import nats_for

    async def go(url: str) -> Any:
        async with connect_bus(url, name="hunter-icp", stream=settings.stream_name,
                               dedup_window_seconds=settings.dedup_window_seconds) as bus:
            return await fn(bus)

    with nats_for(Path(settings.data_dir).resolve(), settings.nats_url) as url:
        return asyncio.run(go(url))


def cmd_icp_list(args: argparse.Namespace) -> int:
    from shared.bus import decode
    from shared.domain.icp import list_templates, load_icp
    from shared.events import IcpProfileSaved, decode_event

    settings = _settings(args)

    async def saved_profiles(bus: Any) -> dict[str, IcpProfileSaved]:
        """The latest readable profile of each name; an unreadable event is skipped with its reason."""
        latest: dict[str, IcpProfileSaved] = {}
        if not await bus.count("icp.saved.*"):
            return latest
        async for seq, subject, data, _ in bus.read("icp.saved.*", raw=True):
            try:
                event = decode_event(decode(data))
                if not isinstance(event, IcpProfileSaved):
                    raise ValueError(f"a {type(event).__name__} event, not IcpProfileSaved")
            except ValueError as exc:  # undecodable, unknown or invalid: the other profiles are listed
                print(f"hunter icp list: skipped {subject} (seq {seq}): {type(exc).__name__}: {exc}"[:400],
                      file=sys.stderr)
                continue
            latest[event.name] = event
        return latest

    saved = _icp_bus_call(settings, saved_profiles)
    for name in sorted(set(list_templates(settings.icp_dir)) | set(saved)):
        if name in saved:
            origin, description = "saved", str(saved[name].profile.get("description", ""))
        else:
            origin, description = "template", load_icp(name, settings.icp_dir).description
        _print(f"{name:<28} {origin:<9} {description}".rstrip())
    return 0


def cmd_icp_show(args: argparse.Namespace) -> int:
    from shared.domain.icp import IcpNotFound
    from shared.domain.icp_profiles import is_profile_name, profile_yaml, resolve_icp, saved_subject

    settings = _settings(args)

    async def last_saved(bus: Any) -> Any:
        stored = await bus.last(saved_subject(args.name)) if is_profile_name(args.name) else None
        return stored.event() if stored else None

    try:
        profile = resolve_icp(args.name, _icp_bus_call(settings, last_saved), settings.icp_dir)
    except IcpNotFound as exc:
        print(exc, file=sys.stderr)
        return 1
    except ValueError as exc:  # its saved event is unreadable or no longer validates
        print(f"hunter icp show: the saved profile {args.name!r} is unusable: {type(exc).__name__}: {exc}"[:600],
              file=sys.stderr)
        return 1
    _print(profile_yaml(profile).rstrip())
    return 0


def cmd_icp_save(args: argparse.Namespace) -> int:
    from shared.domain.icp_profiles import IcpProfileInvalid, load_profile_yaml, saved_event

    settings = _settings(args)
    try:
        profile = load_profile_yaml(Path(args.file), name=args.name)
    except (IcpProfileInvalid, OSError) as exc:
        for line in (exc.errors.items() if isinstance(exc, IcpProfileInvalid) else [("file", str(exc))]):
            print(f"{line[0]}: {line[1]}", file=sys.stderr)
        return 2
    event = saved_event(profile)
    seq = _icp_bus_call(settings, lambda bus: bus.publish(event, name=event.name))
    _print(f"saved ICP profile {profile.name} (stream seq {seq})")
    return 0


def add_hunt_options(parser: argparse.ArgumentParser, *, each: str) -> None:
    """What a hunt and a batch of hunts both take: the source, the filters but the codes, the output."""
    parser.add_argument("--source", required=True, help="csv:PATH | cnpj:DIR | sirene:PATH | casadosdados")
    parser.add_argument("--uf", action="append", help="state (UF) or French department; repeatable")
    parser.add_argument("--city", action="append", help="municipality name; repeatable")
    parser.add_argument("--include-secondary", action="store_true", help="match secondary CNAEs too")
    parser.add_argument("--status", action="append", help="situação cadastral (default ATIVA)")
    parser.add_argument("--limit", type=int, default=None, help=f"hard cap on extracted companies of {each}")
    parser.add_argument("--enrich-top", type=float, default=0.2, help=f"fraction of {each} to enrich (0..1)")
    parser.add_argument("--icp", default=None, help="ICP profile name or YAML path")
    parser.add_argument("--segments", nargs="*", help="hot hot_whatsapp no_accountant site_tech all")
    parser.add_argument("--formats", nargs="*", help="csv parquet")
    parser.add_argument("--label", default=None)
    parser.add_argument("--enricher-replicas", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=1800.0, help=f"seconds {each} may take")
    add_target_options(parser)


def add_target_options(parser: argparse.ArgumentParser) -> None:
    for name, words in (("min-quality-score", "quality score (0-100)"), ("min-leads", "leads"),
                        ("min-hot", "hot leads"),
                        ("min-enriched-with-site-rate", "share of enriched leads with a site"),
                        ("max-reject-rate", "share of rows rejected as bad input (at most)"),
                        ("min-rows-per-s", "rows read per second of the run")):
        parser.add_argument(f"--{name}", type=float, default=None, help=f"KPI target: {words}")
# ---- ranking -------------------------------------------------------------------------------------

def _print_training(event: Any) -> None:
    if event.status == "cold_start":
        _print(f"ranking v{event.version}: cold start, the ICP score ranks ({event.reason})")
        return
    auc = f"{event.cv_auc:.3f}" if event.cv_auc is not None else "n/a"
    p10 = f"{event.cv_precision_at_10:.3f}" if event.cv_precision_at_10 is not None else "n/a"
    _print(f"ranking v{event.version}: {event.model_kind} on {event.labelled} outcomes ({event.positives} positive), "
           f"cross-validated AUC {auc}, precision@10% {p10}, model {event.model_file}")
    for imp in event.importances[:5]:
        _print(f"  {imp.feature:<40} {imp.importance:.4f}")


def cmd_rank_train(args: argparse.Namespace) -> int:
    from shared.events import RankingRequested, RankingTrained, Subjects, envelope

    settings = _settings(args)

    async def ask(bus: Any) -> Any:
        request = envelope(RankingRequested(requested_by="cli"))
        await bus.publish_many([(Subjects.RANKING_REQUESTED, request)])
        deadline = asyncio.get_running_loop().time() + args.timeout
        while asyncio.get_running_loop().time() < deadline:
            stored = await bus.last(Subjects.RANKING_TRAINED)
            if stored is not None and stored.envelope.causation_id == request.event_id:
                return stored.event()
            await asyncio.sleep(0.5)
        return None

    event = _icp_bus_call(settings, ask)
    if not isinstance(event, RankingTrained):
        print(f"no ranker answered within {args.timeout:.0f} s (is `hunter up` running?)", file=sys.stderr)
        return 1
    _print_training(event)
    return 0


def cmd_rank_show(args: argparse.Namespace) -> int:
    from shared.events import Subjects

    stored = _icp_bus_call(_settings(args), lambda bus: bus.last(Subjects.RANKING_TRAINED))
    if stored is None:
        _print("no training yet: the ICP score ranks")
        return 0
    _print_training(stored.event())
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hunter", description="Event-sourced B2B lead prospecting over NATS JetStream")
    p.add_argument("--data-dir", help="data dir (default ./.hunter or HUNTER_DATA_DIR)")
    sub = p.add_subparsers(dest="cmd", required=True)

    def data_dir_opt(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--data-dir", default=argparse.SUPPRESS, help="data dir (default ./.hunter)")

    up = sub.add_parser("up", help="start NATS and every service as its own process")
    data_dir_opt(up)
    up.add_argument("--enricher-replicas", type=int, default=1)
    up.add_argument("--port", type=int, default=None, help="gateway port (default 8080, or a free one)")
    up.add_argument("--nats-cluster", type=int, default=1, metavar="N",
                    help="without NATS_URL: N nats-server nodes (3 or more) as one JetStream cluster on loopback, "
                         "the stream replicated on each; it survives the loss of a node")
    up.add_argument("--nats-tls", action="store_true",
                    help="without NATS_URL: the embedded NATS speaks TLS only, with a CA made in the data dir "
                         "(as HUNTER_NATS_TLS=1; clients always need the data dir's NKey, TLS or not)")
    up.set_defaults(func=cmd_up)

    hunt = sub.add_parser("hunt", help="run a hunt and follow it live")
    data_dir_opt(hunt)
    add_hunt_options(hunt, each="the run")
    hunt.add_argument("--cnae", action="append", help="CNAE code or prefix; repeatable")
    hunt.add_argument("--naf", action="append", help="NAF code (SIRENE); repeatable")
    hunt.add_argument("--dry-run", action="store_true",
                      help="show the plan (filters, matching rows, enrichment, ICP, targets) and publish nothing")
    hunt.add_argument("--json", action="store_true",
                      help="print only the run report, as one JSON object (no live steps)")
    hunt.set_defaults(func=cmd_hunt)

    batch = sub.add_parser("batch", help="one run per activity code (--cnae or --naf), with a summary per code")
    data_dir_opt(batch)
    add_hunt_options(batch, each="each run")
    batch.add_argument("--cnae", action="append", help="one run per CNAE code or prefix; repeatable")
    batch.add_argument("--naf", action="append", help="one run per NAF code (SIRENE); repeatable")
    batch.add_argument("--continue-on-error", action="store_true", help="a failed code does not stop the others")
    batch.add_argument("--json", action="store_true", help="print only the batch summary, as one JSON object")
    batch.set_defaults(func=cmd_batch)

    svc = sub.add_parser("service", help="run one service in the foreground")
    data_dir_opt(svc)
    svc.add_argument("name", choices=["extractor", "cleaner", "scorer", "enricher", "exporter", "projector",
                                      "gateway"])
    svc.set_defaults(func=cmd_service)

    rp = sub.add_parser("replay", help="rebuild the vault from the stream (or, with --out/--out-schema, a "
                                       "separate one as of --to-seq/--to-time) and print its digest")
    data_dir_opt(rp)
    rp.add_argument("--to-seq", type=int, default=None, help="stop at this stream sequence")
    rp.add_argument("--to-time", default=None,
                    help="stop at the last event the stream stored at or before this ISO time (UTC if no zone)")
    rp.add_argument("--out", default=None, metavar="PATH",
                    help="write a separate SQLite vault here (required with --to-seq/--to-time on SQLite)")
    rp.add_argument("--out-schema", default=None, metavar="NAME",
                    help="write a separate vault into this PostgreSQL schema (beside the live vault's)")
    rp.set_defaults(func=cmd_replay)

    vault = sub.add_parser("vault", help="vault commands")
    vsub = vault.add_subparsers(dest="vault_cmd", required=True)
    dg = vsub.add_parser("digest", help="canonical content digest of the vault")
    data_dir_opt(dg)
    dg.add_argument("--tables", action="store_true", help="also print per-table row counts and digests")
    dg.set_defaults(func=cmd_vault_digest)

    demo = sub.add_parser("demo", help="the whole pipeline offline on bundled data")
    data_dir_opt(demo)
    demo.add_argument("--no-serve", action="store_true", help="exit when the hunt is done")
    demo.add_argument("--enricher-replicas", type=int, default=2)
    demo.add_argument("--port", type=int, default=None, help="gateway port")
    demo.add_argument("--enrich-top", type=float, default=0.5)
    demo.add_argument("--timeout", type=float, default=600.0)
    demo.add_argument("--outcomes", type=int, default=120, metavar="N",
                      help="simulate earlier contacts of N leads and their outcomes, so the ranker learns from them "
                           "(default 120; 0: none)")
    demo.set_defaults(func=cmd_demo)

    farm = sub.add_parser("farm", help="run the offline web farm (HTTP proxy + search API)")
    farm.add_argument("--port", type=int, default=0)
    farm.set_defaults(func=cmd_farm)

    fp = sub.add_parser("fingerprints", help="technology fingerprint database")
    fsub = fp.add_subparsers(dest="fp_cmd", required=True)
    upd = fsub.add_parser("update", help="load a Wappalyzer-format database from a path or URL")
    data_dir_opt(upd)
    upd.add_argument("source")
    upd.set_defaults(func=cmd_fingerprints_update)
    icp = sub.add_parser("icp", help="ICP profiles: list, show, save (saved profiles are events)")
    isub = icp.add_subparsers(dest="icp_cmd", required=True)
    ils = isub.add_parser("list", help="templates and saved profiles")
    data_dir_opt(ils)
    ils.set_defaults(func=cmd_icp_list)
    ish = isub.add_parser("show", help="print a profile as YAML (a saved one wins over the template)")
    data_dir_opt(ish)
    ish.add_argument("name")
    ish.set_defaults(func=cmd_icp_show)
    isv = isub.add_parser("save", help="validate a YAML profile and publish it (IcpProfileSaved)")
    data_dir_opt(isv)
    isv.add_argument("file", help="profile YAML; its name defaults to the file name")
    isv.add_argument("--name", default=None, help="the name when the file has none (default: the file name)")
    isv.set_defaults(func=cmd_icp_save)

    rank = sub.add_parser("rank", help="ranking learned from outcomes: train now, show the latest training")
    rsub = rank.add_subparsers(dest="rank_cmd", required=True)
    rtr = rsub.add_parser("train", help="ask the ranker to train now (RankingRequested) and print the result")
    data_dir_opt(rtr)
    rtr.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the ranker")
    rtr.set_defaults(func=cmd_rank_train)
    rsh = rsub.add_parser("show", help="the latest training (RankingTrained)")
    data_dir_opt(rsh)
    rsh.set_defaults(func=cmd_rank_show)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
