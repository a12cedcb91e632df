"""Fault injection: small hunts through every service process while something breaks on purpose.

One NATS server, one stack of services, one vault (on a small ext4 disk of its own) and one farm of
hostile sites serve the whole module; each fault gets a run of its own (a few dozen leads, distinct
companies). Kill -9 of each service and of nats-server on a step of the run; the vault read-only
(immutable) or its disk full mid-run; sites answering with connection resets, silence, 5xx, trickled
bodies, redirect loops and decompression bombs. Each run must end — completed, or failed with a reason,
never hanging — with every lead in the vault once, each lead sent to enrichment enriched and rescored
once, no service crashed, and the vault equal to a replay of the stream (digest).

Every row of the fault table (``tests/artifacts/fault_table.json``, printed at the end of the session)
says when the fault was injected, the outcome, the leads lost and duplicated, and the recovery time:
from the fault lifted (the process respawned, the server restarted, the disk writable again) until
the run ended and the vault caught up; for farm faults, which never lift, the run's whole time.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import os
import signal
import sqlite3
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import nats.errors
import pytest
from nats.js import api
from sqlmodel import Session, select

from hunter.stack import STAGES, Stack
from hunter.watch import RunTimeout, wait_projected, watch_run
from services.projector.digest import vault_digest
from services.projector.projection import Projection
from services.projector.replay import rebuild_into
from shared.bus import Bus, connect_bus, decode
from shared.events import LogRecorded, RunFilters, RunRequested, RunStep, Subjects, decode_event, subject_token
from shared.nats_server import EmbeddedNats, free_port
from shared.registry_ids import build_cnpj
from shared.vault.engine import make_engine
from shared.vault.schema import ExportRow, Lead, Run
from tests.faults.hostile_farm import HostileFarm, site_host

pytestmark = [pytest.mark.faults, pytest.mark.timeout(180)]

TABLE_PATH = Path(__file__).resolve().parents[1] / "artifacts" / "fault_table.json"
RUN_TIMEOUT = 120.0
CSV_HEADER = ["cnpj", "razao_social", "nome_fantasia", "situacao_cadastral", "data_inicio_atividade",
              "cnae_fiscal_principal", "natureza_juridica", "porte_empresa", "capital_social", "opcao_simples",
              "opcao_mei", "logradouro", "numero", "bairro", "cep", "uf", "municipio", "ddd_1", "telefone_1",
              "correio_eletronico", "site"]


@dataclass(frozen=True)
class Fault:
    name: str
    action: str  # none | farm | kill | nats | vault
    target: str = ""  # the service killed, the farm's kind of site, or the vault's state
    when: tuple[str, str] | None = None  # the run step on which it is injected
    sites: str = "ok"  # the kind of site the run's leads have (farm faults: 3 in 4 of them)
    leads: int = 24


FAULTS = [
    Fault("none", "none"),
    *(Fault(f"farm {kind}", "farm", kind, sites=kind, leads=16)
      for kind in ("reset", "timeout", "err", "slow", "loop", "bomb")),
    Fault("kill -9 extractor", "kill", "extractor", ("extract", "started")),
    Fault("kill -9 cleaner", "kill", "cleaner", ("clean", "started")),
    Fault("kill -9 scorer", "kill", "scorer", ("score", "started")),
    Fault("kill -9 enricher", "kill", "enricher", ("enrich", "progress"), sites="okslow"),
    Fault("kill -9 projector", "kill", "projector", ("enrich", "progress"), sites="okslow"),
    Fault("kill -9 exporter", "kill", "exporter", ("export", "started")),
    Fault("kill -9 gateway", "kill", "gateway", ("score", "started")),
    Fault("vault read-only", "vault", "read-only", ("clean", "started")),
    Fault("vault disk full", "vault", "full", ("clean", "started")),
    Fault("kill -9 nats-server", "nats", "nats-server", ("enrich", "progress"), sites="okslow"),
]


# ---- the lab: NATS, the vault's disk, the hostile farm and the stack, for the whole module -------------


@contextlib.contextmanager
def small_ext4(directory: Path, size_mb: int = 48) -> Iterator[Path | None]:
    """A loop-mounted ext4 disk of its own (one the test can fill, and whose files can be made immutable,
    which refuses writes even through descriptors already open); None where mounting needs root."""
    image, mount = directory / "vault.img", directory / "vault"
    mount.mkdir(parents=True)
    with image.open("wb") as f:
        f.truncate(size_mb << 20)
    made = subprocess.run(["mkfs.ext4", "-q", "-m", "0", "-F", str(image)], capture_output=True)
    if made.returncode != 0 or subprocess.run(["mount", "-o", "loop", str(image), str(mount)],
                                              capture_output=True).returncode != 0:
        yield None
        return
    try:
        yield mount
    finally:
        subprocess.run(["chattr", "-R", "-i", str(mount)], capture_output=True)
        subprocess.run(["umount", "-l", str(mount)], check=False, capture_output=True)


@dataclass
class Lab:
    root: Path
    nats: EmbeddedNats
    farm: HostileFarm
    stack: Stack
    vault_dir: Path
    vault_disk: bool  # the vault is on its own disk: the vault faults can be injected
    serial: int = 0
    table: list[dict[str, Any]] = field(default_factory=list)

    @property
    def vault_url(self) -> str:
        return f"sqlite:///{self.vault_dir / 'vault.db'}"

    def write_csv(self, fault: Fault) -> tuple[Path, set[str]]:
        """A CSV of distinct companies, each with a site of the fault's kind (farm faults: 1 in 4 fine)."""
        rows, keys = [], set()
        for i in range(fault.leads):
            self.serial += 1
            n = self.serial
            kind = "ok" if fault.action == "farm" and i % 4 == 3 else fault.sites
            host = site_host(kind, n)
            cnpj = build_cnpj(f"{41_000_000 + n:08d}", "0001")
            rows.append([cnpj, f"FAULT {n} SOFTWARE LTDA", f"FAULT {n}", "ATIVA", "20150310", "6201501", "2062", "03",
                         "250000,00", "N", "N", "RUA DOS TESTES", str(n), "CENTRO", "01001000", "SP", "SAO PAULO",
                         "11", f"9{n:08d}", f"contato@{host}", f"http://{host}/"])
            keys.add(f"BR:{cnpj}")
        path = self.root / "csv" / f"{fault.action}-{self.serial}.csv"
        path.parent.mkdir(exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(CSV_HEADER)
            writer.writerows(rows)
        return path, keys

    def kill(self, name: str) -> None:
        """SIGKILL the service's (last) process and start another in its place."""
        victim = self.stack.procs[name].pop()
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait()
        self.stack.spawn(name)

    def vault_files(self) -> list[Path]:
        db = self.vault_dir / "vault.db"
        return [p for p in (db, db.with_name("vault.db-wal")) if p.exists()] + [self.vault_dir]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    root = tmp_path_factory.mktemp("faults")
    nats_server = EmbeddedNats(root / "nats")
    url = nats_server.start()
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(nats_server.stop)
        disk = cleanup.enter_context(small_ext4(root))
        vault_dir = disk or (root / "vault")
        vault_dir.mkdir(exist_ok=True)
        farm = cleanup.enter_context(HostileFarm())
        env = {
            "HUNTER_VAULT_URL": f"sqlite:///{vault_dir / 'vault.db'}",
            "HUNTER_HTTP_PROXY": farm.proxy_url, "FETCH_SCHEMES": "http", "FETCH_RETRIES": "0",
            "FETCH_CONNECT_TIMEOUT": "1", "FETCH_READ_TIMEOUT": "1", "FETCH_REQUEST_DEADLINE_S": "1.5",
            "ENRICH_LEAD_DEADLINE_S": "4", "ENRICHER_CONCURRENCY": "16", "ENRICHER_PAGE_WORKERS": "0",
            "CACHE_TTL_HOURS": "0", "HUNTER_BATCH_SIZE": "8", "HUNTER_ACK_WAIT": "3",
        }
        stack = Stack(data_dir=root / "data", nats_url=url, env_extra=env, gateway_port=free_port(),
                      services=[s for s in STAGES if s != "ranker"])
        stack.start()
        cleanup.callback(stack.stop)
        assert stack.wait_gateway(90), "the gateway did not start"
        lab = Lab(root=root, nats=nats_server, farm=farm, stack=stack, vault_dir=vault_dir, vault_disk=disk is not None)
        try:
            yield lab
        finally:
            _write_table(lab.table)


def _write_table(rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    TABLE_PATH.parent.mkdir(parents=True, exist_ok=True)
    TABLE_PATH.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")


# ---- waiting on the stream ------------------------------------------------------------------------


async def wait_run_end(bus: Bus, run_id: str, on_step: Callable[[RunStep], None], timeout: float) -> RunStep:
    """The run's last step. The subscription is made again when quiet for a while: a NATS server killed and
    restarted loses the ephemeral consumer behind it (the steps are delivered again from the start)."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise RunTimeout(f"run {run_id} did not end within {timeout:.0f}s")
        with contextlib.suppress(RunTimeout, nats.errors.Error, TimeoutError):
            return await watch_run(bus, run_id, on_step=on_step, timeout=min(remaining, 10.0))


async def projector_warning(bus: Bus, from_seq: int, timeout: float = 60.0) -> str:
    """The error of the first ``projector_retrying`` warning stored from ``from_seq`` on."""
    found: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def cb(msg) -> None:  # type: ignore[no-untyped-def]
        event = decode_event(decode(msg.data))
        if isinstance(event, LogRecorded) and event.message == "projector_retrying" and not found.done():
            found.set_result(str(event.context.get("error", "")))

    config = api.ConsumerConfig(deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=from_seq)
    sub = await bus.js.subscribe("obs.log.projector", cb=cb, ordered_consumer=True, stream=bus.stream, config=config)
    try:
        return await asyncio.wait_for(found, timeout)
    finally:
        await sub.unsubscribe()


async def stream_leads(bus: Bus, run_id: str) -> dict[str, Counter[str]]:
    """Per stage, how many times the stream holds each lead of the run."""
    token = subject_token(run_id)
    stages: dict[str, tuple[str, Callable[[Any], list[str]]]] = {
        "extracted": (Subjects.LEAD_EXTRACTED, lambda e: [c.lead_key for c in e.companies]),
        "cleaned": (Subjects.LEAD_CLEANED, lambda e: [c.company.lead_key for c in e.leads]),
        "scored": (Subjects.LEAD_SCORED, lambda e: [s.lead.company.lead_key for s in e.leads]),
        "enrich_requested": (Subjects.ENRICH_REQUESTED, lambda e: [e.lead.lead.company.lead_key]),
        "enriched": (Subjects.LEAD_ENRICHED, lambda e: [e.lead.lead.company.lead_key]),
        "rescored": (Subjects.LEAD_RESCORED, lambda e: [e.final.lead_key]),
    }
    out: dict[str, Counter[str]] = {}
    for stage, (subject, keys_of) in stages.items():
        counter: Counter[str] = Counter()
        async for stored in bus.read(subject.format(run_id=token)):
            counter.update(keys_of(stored.event()))  # type: ignore[union-attr]
        out[stage] = counter
    return out


async def vault_is_replay(bus: Bus, vault_url: str, scratch: Path) -> bool:
    """The live vault's digest equals that of a vault rebuilt from the stream up to its checkpoint."""
    engine = make_engine(vault_url)
    try:
        while True:  # a checkpoint that did not move while the digest was read
            checkpoint = Projection(engine).checkpoint()
            digest = vault_digest(engine)
            if Projection(engine).checkpoint() == checkpoint:
                break
    finally:
        engine.dispose()
    _, replayed = await rebuild_into(bus, f"sqlite:///{scratch / f'replay-{uuid.uuid4().hex[:8]}.db'}",
                                     to_seq=checkpoint)
    return replayed == digest


# ---- injecting and lifting a fault ----------------------------------------------------------------


def fill(directory: Path) -> Path:
    """Write a file until not one block more fits."""
    filler = directory / "filler"
    with filler.open("wb", buffering=0) as f:
        for chunk in (1 << 20, 4096):
            with contextlib.suppress(OSError):
                while True:
                    f.write(b"\0" * chunk)
        os.fsync(f.fileno())  # written back now: the vault's next write meets the full disk at once
    return filler


def inject(lab: Lab, fault: Fault) -> None:
    if fault.action == "kill":
        lab.kill(fault.target)
    elif fault.action == "nats":
        lab.nats.kill()
        lab.nats.start()  # same port, same store
    elif fault.target == "read-only":
        subprocess.run(["chattr", "+i", *map(str, lab.vault_files())], check=True)
    elif fault.target == "full":
        # the WAL emptied first: SQLite reuses a WAL's blocks, so writes meet a full disk only when it grows
        with contextlib.closing(sqlite3.connect(lab.vault_dir / "vault.db", timeout=10)) as db:
            assert db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0
        fill(lab.vault_dir)


async def lift(lab: Lab, fault: Fault, bus: Bus, from_seq: int) -> str:
    """Undo the fault once it has bitten; what the projector said about it, for vault faults."""
    if fault.action != "vault":
        return ""
    said = await projector_warning(bus, from_seq)
    if fault.target == "read-only":
        subprocess.run(["chattr", "-i", *map(str, lab.vault_files())], check=True)
    else:
        (lab.vault_dir / "filler").unlink()
    return said


async def start_run(lab: Lab, fault: Fault, bus: Bus, source: str) -> str:
    fields = {"source": source, "filters": RunFilters().model_dump(), "enrich_top": 1.0, "segments": ["all"],
              "formats": ["csv"]}
    if fault.target == "gateway":  # the run this fault is about is started from the API, as a user would
        assert lab.stack.wait_gateway(60), "the gateway did not start"
        async with httpx.AsyncClient(base_url=lab.stack.gateway_url, timeout=30) as client:
            answer = await client.post("/api/runs", json=fields)
        assert answer.status_code == 202, answer.text
        return str(answer.json()["run_id"])
    request = RunRequested(run_id=f"fault-{uuid.uuid4().hex[:10]}", label=fault.name, **fields)
    await bus.publish(request, key=(request.run_id,))
    return request.run_id


# ---- the suite ------------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name.replace(" ", "_") for f in FAULTS])
async def test_a_run_ends_with_every_lead_once_and_the_vault_a_replay_under(fault: Fault, lab: Lab) -> None:
    if fault.action == "vault" and not lab.vault_disk:
        pytest.skip("the vault faults need a disk of their own (mount -o loop, as root)")
    source, keys = lab.write_csv(fault)
    injected: dict[str, Any] = {}
    ready = asyncio.Event()

    def on_step(step: RunStep) -> None:
        if fault.when and not injected and (step.stage, step.status) == fault.when:
            injected["at"] = time.monotonic()
            inject(lab, fault)
            injected["lifted"] = time.monotonic()
            ready.set()

    served_before = lab.farm.requests[fault.sites]
    async with connect_bus(lab.stack.nats_url, name=f"faults-{lab.serial}") as bus:
        from_seq = await bus.last_seq() + 1
        t0 = time.monotonic()
        run_id = await start_run(lab, fault, bus, f"csv:{source}")
        ending = asyncio.create_task(wait_run_end(bus, run_id, on_step, RUN_TIMEOUT))
        said = ""
        if fault.when:
            waiting = asyncio.create_task(ready.wait())
            await asyncio.wait([waiting, ending], return_when=asyncio.FIRST_COMPLETED)
            waiting.cancel()
            assert injected, f"the run ended before {fault.when} was seen: no fault injected"
            said = await lift(lab, fault, bus, from_seq)
            injected["lifted"] = time.monotonic() if said else injected["lifted"]
        final = await ending
        await wait_projected(bus, lab.vault_url, timeout=60)
        t_end = time.monotonic()
        stages = await stream_leads(bus, run_id)
        replayed = await vault_is_replay(bus, lab.vault_url, lab.root)
    crashed = lab.stack.crashed()

    engine = make_engine(lab.vault_url)
    with Session(engine) as s:
        leads = s.exec(select(Lead).where(Lead.run_id == run_id)).all()
        run = s.get(Run, run_id)
        exports = s.exec(select(ExportRow).where(ExportRow.run_id == run_id)).all()
    engine.dispose()
    if fault.target == "gateway":  # the respawned gateway serves the run's report
        assert lab.stack.wait_gateway(60)
        async with httpx.AsyncClient(base_url=lab.stack.gateway_url, timeout=30) as client:
            report = await client.get(f"/api/runs/{run_id}/report")
        assert report.status_code == 200, report.text

    vault_keys = Counter(lead.lead_key for lead in leads)
    selected = set(stages["enrich_requested"])
    lost = len(keys - set(vault_keys)) + sum(len(selected - set(stages[s])) for s in ("enriched", "rescored"))
    duplicated = sum(sum(c.values()) - len(c) for c in (*stages.values(), vault_keys))
    row = {
        "fault": fault.name, "injected_on": "/".join(fault.when) if fault.when else "",
        "outcome": final.status, "message": final.message, "leads": len(keys), "in_vault": len(vault_keys),
        "enriched": len(stages["enriched"]), "site_requests": lab.farm.requests[fault.sites] - served_before,
        "lost": lost, "duplicated": duplicated,
        "recovery_s": round(t_end - injected.get("lifted", t0), 2), "run_s": round(t_end - t0, 2),
        "vault_equals_replay": replayed, "projector_said": said, "crashed": crashed,
    }
    lab.table.append(row)

    assert final.status in ("completed", "failed"), row
    assert row["site_requests"] > 0, row  # the sites were asked: the farm's fault was met
    assert final.status == "completed" or final.message, row  # a failure says why
    assert final.status == "completed", row  # none of these faults may fail a run
    assert run is not None and run.status == final.status, row
    assert lost == 0 and duplicated == 0, (row, {s: dict(c) for s, c in stages.items()})
    assert set(vault_keys) == keys and 0 < len(selected) == len(stages["rescored"]), row
    assert [e.rows for e in exports if e.segment == "all"] == [len(keys)], row
    assert replayed, row
    assert not crashed, row
