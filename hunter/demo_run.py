"""``hunter demo``: the whole pipeline offline — embedded NATS, the web farm, every service,
a hunt over the bundled sample companies, the vault and the exports."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import time
from pathlib import Path

from hunter.cli import _print, _settings, _wait_for_signal, print_summary, running_stack, submit_and_watch
from shared.events import RunFilters, RunRequested, new_run_id

DEMO_CSV = Path(__file__).resolve().parent / "demo" / "data" / "companies.csv"


def _digest(url: str) -> str:
    from services.projector.db import make_engine
    from services.projector.digest import vault_digest

    engine = make_engine(url)
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
