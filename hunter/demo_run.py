"""``hunter demo``: the whole pipeline offline — embedded NATS, the web farm, every service,
a hunt over the bundled sample companies, the vault and the exports."""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hunter.cli import _print, _settings, _wait_for_signal, print_summary, running_stack, submit_and_watch
from shared.events import RunFilters, RunRequested, new_run_id

DEMO_CSV = Path(__file__).resolve().parent / "demo" / "data" / "companies.csv"


def _digest(url: str) -> str:
    from services.projector.digest import vault_digest
    from shared.vault.access import open_reader

    engine = open_reader(url)
    try:
        return vault_digest(engine)
    finally:
        engine.dispose()


def start_farm(data_dir: Path) -> tuple[subprocess.Popen[str], str, str]:
    log = (data_dir / "logs")
    log.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([sys.executable, "-m", "hunter.demo.webfarm", "--port", "0"], stdout=subprocess.PIPE,
                            stderr=(log / "webfarm.log").open("ab"), text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("WEBFARM"):
        proc.kill()
        raise RuntimeError(f"web farm did not start: {line!r}")
    fields = dict(part.split("=", 1) for part in line.split()[1:])
    return proc, fields["proxy"], fields["search"]


def farm_settings(proxy: str, search: str) -> dict[str, str]:
    """Environment that points the enricher at the web farm (sites over its proxy, its search API)."""
    return {
        "HUNTER_HTTP_PROXY": proxy, "SEARCH_BASE_URL": search, "SERPER_API_KEY": "demo-key",
        "FETCH_SCHEMES": "http", "FETCH_CONNECT_TIMEOUT": "2", "FETCH_READ_TIMEOUT": "5",
    }


async def simulate_outcomes(url: str, settings: Any, run_id: str, n: int, *, timeout: float = 180.0) -> Any:
    """Earlier contacts of ``n`` of the run's leads (seeded, spread over the last 120 days) and their
    outcomes drawn from the demo world's hidden propensity, as funnel events; then the ranker's latest
    training once it has learned from them (or None within ``timeout``)."""
    from hunter.demo.outcomes import bundled_propensities, simulate_funnel
    from shared.bus import connect_bus
    from shared.events import LeadsScored, LeadStatusChanged, RankingTrained, Subjects, subject_token

    hidden = bundled_propensities()
    async with connect_bus(url, name="hunter-demo-outcomes", stream=settings.stream_name,
                           dedup_window_seconds=settings.dedup_window_seconds) as bus:
        keys: list[tuple[str, float]] = []
        async for stored in bus.read(Subjects.LEAD_SCORED.format(run_id=subject_token(run_id))):
            event = stored.event()  # type: ignore[union-attr]
            if isinstance(event, LeadsScored):
                keys += [(s.lead.lead_key, hidden.get(s.lead.company.registry_id, 0.0)) for s in event.leads]
        contacts = sorted(keys)
        random.Random(19).shuffle(contacts)
        contacts = contacts[:n]
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=120)
        steps = simulate_funnel(contacts, seed=19, start=start, spacing=timedelta(days=90) / max(1, n))
        before = await bus.count(Subjects.RANKING_TRAINED)
        for key, status, when in steps:
            # (run_id: the run the person was looking at, the demo's own)
            await bus.publish(LeadStatusChanged(run_id=run_id, lead_key=key, status=status, actor="demo"),  # type: ignore[arg-type]
                              key=("demo", key, status), occurred_at=when, run_id=subject_token(key))
        _print(f"demo: {len(contacts)} earlier contacts simulated ({len(steps)} funnel events)")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:  # the ranker trains every 30 new outcomes: wait until it read them all
            try:
                info = await bus.js.consumer_info(settings.stream_name, "ranker")
                done = not info.num_pending and not info.num_ack_pending
            except Exception:  # noqa: BLE001 - the ranker has not created its consumer yet
                done = False
            if done and await bus.count(Subjects.RANKING_TRAINED) > before:
                stored = await bus.last(Subjects.RANKING_TRAINED)
                event = stored.event() if stored else None
                return event if isinstance(event, RankingTrained) else None
            await asyncio.sleep(1.0)
    return None


def run_demo(args: argparse.Namespace) -> int:
    settings = _settings(args)
    data_dir = Path(settings.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    farm, proxy, search = start_farm(data_dir)
    env = farm_settings(proxy, search)
    if shutil.which("chromium") or Path(settings.chromium_path).exists():
        env["ENABLE_PLAYWRIGHT"] = "1"
    request = RunRequested(run_id=new_run_id(), source=f"csv:{DEMO_CSV}", filters=RunFilters(),
                           enrich_top=args.enrich_top, segments=["hot", "hot_whatsapp", "no_accountant", "site_tech"],
                           formats=["csv", "parquet"], label="demo")
    try:
        with running_stack(settings, env_extra=env, replicas=args.enricher_replicas,
                           gateway_port=args.port) as (url, stack):
            _print(f"demo: NATS {url}, web farm proxy {proxy}, {args.enricher_replicas} enricher replicas")
            final, run = asyncio.run(submit_and_watch(url, settings, request, timeout=args.timeout))
            print_summary(run)
            if args.outcomes:
                from hunter.cli import _print_training

                trained = asyncio.run(simulate_outcomes(url, settings, request.run_id, args.outcomes))
                if trained is not None:
                    _print_training(trained)
            hot = next((e for e in run.get("exports", []) if e["segment"] == "hot"), None)
            _print(f"\ndemo finished in {time.perf_counter() - t0:.1f}s: run {final.status}")
            _print(f"vault:  {settings.vault_database_url}")
            if args.no_serve:
                stack.stop()  # the projector stops last and drains: the vault then holds the whole stream
                _print(f"vault digest: {_digest(settings.vault_database_url)}")
            if hot:
                _print(f"export: {hot['files'].get('csv')}")
            if not args.no_serve:
                stack.wait_gateway()
                _print(f"UI:     {stack.gateway_url}/  (Ctrl-C to stop)")
                _wait_for_signal(stack)
            return 0 if final.status == "completed" else 1
    finally:
        farm.terminate()
        farm.wait(timeout=10)
