"""Cleaner and scorer as real service processes over a real NATS, with the vault and a saved ICP profile."""

from __future__ import annotations

import asyncio
import csv
import json
import subprocess
import sys
from pathlib import Path

from nats.js import api
from sqlmodel import Session, select

from hunter.stack import Stack
from hunter.watch import wait_projected
from shared.bus import Bus, connect_bus, decode
from shared.events import LeadsScored, RunRequested, RunStep, decode_event
from shared.vault.engine import make_engine
from shared.vault.schema import Company, DroppedRow, Lead
from tests.unit.test_cleaner_run import cnpj

HEADER = ["cnpj", "razao_social", "situacao_cadastral", "data_inicio_atividade", "cnae_fiscal_principal",
          "natureza_juridica", "capital_social", "opcao_mei", "uf", "municipio", "telefone", "correio_eletronico"]
SHARED_PHONE = "11 3333-4444"
ALFA, MEI, BETA, NEWCOMER = cnpj(1), cnpj(2), cnpj(3), cnpj(9)
SHARERS = [cnpj(n) for n in range(4, 8)]


def _row(registry_id: str, name: str, phone: str, email: str = "", *, nature: str = "2062", mei: str = "N",
         activity: str = "6201501") -> list[str]:
    return [registry_id, name, "ATIVA", "2015-03-01", activity, nature, "100000,00", mei, "SP", "SAO PAULO",
            phone, email]


def _write_csv(path: Path, rows: list[list[str]]) -> str:
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([HEADER, *rows])
    return f"csv:{path}"


async def _stage_completed(bus: Bus, run_id: str, stage: str, timeout: float = 60.0) -> RunStep:
    """The run's step of that stage (history or live), waited for as an event."""
    done: asyncio.Future[RunStep] = asyncio.get_running_loop().create_future()

    async def on_step(msg) -> None:  # type: ignore[no-untyped-def]
        step = decode_event(decode(msg.data))
        if isinstance(step, RunStep) and step.status in ("completed", "failed") and not done.done():
            done.set_result(step)

    sub = await bus.js.subscribe(f"run.step.{run_id}.{stage}", cb=on_step, ordered_consumer=True,
                                 deliver_policy=api.DeliverPolicy.ALL, stream=bus.stream)
    try:
        return await asyncio.wait_for(done, timeout)
    finally:
        await sub.unsubscribe()


async def _hunt(bus: Bus, run_id: str, source: str, icp: str) -> tuple[RunStep, LeadsScored]:
    await bus.publish(RunRequested(run_id=run_id, source=source, enrich_top=0.0, icp=icp), key=(run_id,))
    clean = await _stage_completed(bus, run_id, "clean")
    score = await _stage_completed(bus, run_id, "score")
    assert (clean.status, score.status) == ("completed", "completed"), (clean, score)
    stored = await bus.last(f"lead.scored.{run_id}")
    assert stored is not None
    scored = stored.event()
    assert isinstance(scored, LeadsScored)
    return clean, scored


async def test_cleaning_reasons_reach_the_vault_the_vault_feeds_the_next_run_and_a_saved_icp_rescores(
    tmp_path: Path, fresh_nats_url: str
) -> None:
    data_dir = tmp_path / "data"
    vault_url = f"sqlite:///{data_dir / 'vault.db'}"
    first = _write_csv(tmp_path / "first.csv", [
        _row(ALFA, "ALFA SISTEMAS LTDA", "11 98765-0001", "contato@alfasistemas.com.br"),
        _row(ALFA, "ALFA SISTEMAS LTDA", "11 98765-0002"),  # the same company twice: merged
        _row(MEI, "JOAO DA SILVA 12345678901", "11 98765-0003", nature="2135", mei="S"),
        _row(BETA, "BETA DADOS LTDA", "11 98765-0004", "fiscal@silvacontabilidade.com.br"),
        *[_row(rid, f"GAMA {i} TECNOLOGIA LTDA", SHARED_PHONE) for i, rid in enumerate(SHARERS)],
    ])
    second = _write_csv(tmp_path / "second.csv", [
        _row(ALFA, "ALFA SISTEMAS LTDA", "11 98765-0001", "contato@alfasistemas.com.br"),
        _row(NEWCOMER, "DELTA CLOUD LTDA", SHARED_PHONE),  # a phone the vault's companies carry
    ])
    profile = tmp_path / "software-b2b.yaml"  # a saved profile of a template's name wins over the template
    profile.write_text("description: retail only\ntarget_activities: ['47']\nregions: [RJ]\n")

    stack = Stack(data_dir=data_dir, nats_url=fresh_nats_url, gateway=False,
                  services=["extractor", "cleaner", "scorer", "projector"])
    stack.start()
    try:
        async with connect_bus(fresh_nats_url, name="test-clean-score") as bus:
            clean1, scored1 = await _hunt(bus, "run-one", first, "software-b2b")
            await wait_projected(bus, vault_url)
            saved = subprocess.run(
                [sys.executable, "-m", "hunter.cli", "icp", "save", str(profile)], capture_output=True, text=True,
                env={**stack.env()}, check=False,
            )
            assert saved.returncode == 0, saved.stderr
            clean2, scored2 = await _hunt(bus, "run-two", second, "software-b2b")
            await wait_projected(bus, vault_url)
    finally:
        stack.stop()
    assert not stack.crashed()

    engine = make_engine(vault_url)
    with Session(engine) as s:
        dropped = {(d.lead_key, d.reason) for d in s.exec(select(DroppedRow).where(DroppedRow.run_id == "run-one"))}
        companies = {c.lead_key: c for c in s.exec(select(Company)).all()}
        leads = {(lead.run_id, lead.lead_key): lead for lead in s.exec(select(Lead)).all()}
    engine.dispose()

    # run one: MEI dropped, the duplicate merged, accountant-like and repeated phones flagged, with reasons
    assert (f"BR:{MEI}", "mei") in dropped and (f"BR:{ALFA}", "duplicate") in dropped
    assert clean1.counts["dropped_mei"] == 1 and clean1.counts["dropped_duplicate"] == 1
    assert f"BR:{MEI}" not in companies
    [alfa] = [sl.lead for sl in scored1.leads if sl.lead.lead_key == f"BR:{ALFA}"]
    assert {p.e164 for p in alfa.phones} == {"+5511987650001", "+5511987650002"}
    assert companies[f"BR:{BETA}"].accountant_like and not companies[f"BR:{ALFA}"].accountant_like
    assert all(companies[f"BR:{rid}"].repeated_phone for rid in SHARERS)
    beta_reasons = {r["code"]: r for r in json.loads(leads[("run-one", f"BR:{BETA}")].reasons)}
    assert beta_reasons["accountant_like"]["points"] < 0
    sharer_reasons = {r["code"]: r for r in json.loads(leads[("run-one", f"BR:{SHARERS[0]}")].reasons)}
    assert "on 4 companies" in sharer_reasons["repeated_phone"]["detail"]

    # run two: the vault's companies count towards the repeated phone; ALFA is kept and updated, not dropped
    assert clean2.counts["already_in_vault"] == 1 and clean2.counts["out"] == 2
    assert clean2.counts["vault_phones_matched"] == 1
    assert companies[f"BR:{NEWCOMER}"].repeated_phone
    newcomer = {r["code"]: r for r in json.loads(leads[("run-two", f"BR:{NEWCOMER}")].reasons)}
    assert "on 5 companies" in newcomer["repeated_phone"]["detail"]
    assert companies[f"BR:{ALFA}"].first_run == "run-one" and companies[f"BR:{ALFA}"].last_run == "run-two"

    # the saved profile (retail in RJ) replaced the software template: same company, lower score, other reasons
    one, two = leads[("run-one", f"BR:{ALFA}")], leads[("run-two", f"BR:{ALFA}")]
    assert one.score is not None and two.score is not None and two.score < one.score
    assert "icp_activity_main" in one.reasons and "icp_activity_main" not in two.reasons
    assert scored1.icp == scored2.icp == "software-b2b"
