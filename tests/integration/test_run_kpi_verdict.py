"""The run's completion event and its webhook carry the KPI verdict: MET / NOT MET per target and
overall, judged by the exporter (which closes the run) on the vault's facts, the same way as the
run report; a run without targets carries none."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from nats.js import api

from hunter.stack import Stack
from hunter.watch import wait_projected
from services.gateway.run_report import report_for
from shared.bus import Bus, connect_bus, decode
from shared.config import Settings
from shared.events import ConfigSaved, KpiTargets, RunStep, Subjects, decode_event
from shared.run_report import kpi_verdict
from shared.vault.engine import make_engine
from tests.integration.test_gateway_exports import Receiver
from tests.integration.test_run_report import report_events


async def _completion(bus: Bus, run: str, timeout: float = 90.0) -> tuple[RunStep, dict]:
    """The run's closing step, typed and as its raw payload."""
    got: asyncio.Queue[bytes] = asyncio.Queue()

    async def cb(msg) -> None:  # type: ignore[no-untyped-def]
        got.put_nowait(msg.data)

    sub = await bus.js.subscribe(f"run.step.{run}.run", cb=cb, ordered_consumer=True,
                                 deliver_policy=api.DeliverPolicy.ALL, stream=bus.stream)
    try:
        env = decode(await asyncio.wait_for(got.get(), timeout))
    finally:
        await sub.unsubscribe()
    step = decode_event(env)
    assert isinstance(step, RunStep)
    return step, env.payload


async def _hooks(receiver: Receiver, runs: set[str], timeout: float = 60.0) -> dict[str, dict]:
    """The ``run.completed`` webhook body of each run, once all have arrived."""
    deadline = time.monotonic() + timeout
    while True:
        bodies = [json.loads(body) for _, body in list(receiver.requests)]
        found = {b["data"]["run_id"]: b["data"] for b in bodies if b["event"] == "run.completed"}
        if runs <= found.keys() or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.05)


async def test_the_completion_event_and_webhook_say_met_or_not_met_per_target_and_overall(
    tmp_path: Path, fresh_nats_url: str
) -> None:
    runs = {
        "r-met": KpiTargets(min_leads=4, max_reject_rate=0.5, min_enriched_with_site_rate=0.5),
        "r-not-met": KpiTargets(min_leads=4, min_hot=2),
        "r-no-targets": None,
    }
    receiver = Receiver([])
    vault = f"sqlite:///{tmp_path / 'data' / 'vault.db'}"
    stack = Stack(data_dir=tmp_path / "data", nats_url=fresh_nats_url, gateway=False,
                  services=["exporter", "projector"])
    stack.start()
    try:
        async with connect_bus(fresh_nats_url, name="test") as bus:
            await bus.publish(ConfigSaved(key="webhook_url", value=receiver.url),
                              subject=Subjects.CONFIG_SAVED.format(key="webhook_url"))
            for run, targets in runs.items():
                # the report's run (4 leads, 1 hot, 2 of 7 rows rejected, 1 of 2 enriched with a site),
                # up to its rescoring: the exporter writes its exports and closes it
                for _, event in report_events(targets)[:-1]:
                    event = event.model_copy(update={"run_id": run})
                    await bus.publish(event, stage=getattr(event, "stage", "x"), service="x")
            closed = {run: await _completion(bus, run) for run in runs}
            await wait_projected(bus, vault)
        hooks = await _hooks(receiver, set(runs))
        assert not stack.crashed()
    finally:
        stack.stop()
        receiver.close()

    met, met_payload = closed["r-met"]
    assert met.status == "completed" and met.kpi is not None and met.kpi.met is True
    assert {(t.name, t.target, t.actual, t.met) for t in met.kpi.targets} == {
        ("min_leads", 4, 4, True), ("max_reject_rate", 0.5, round(2 / 7, 4), True),
        ("min_enriched_with_site_rate", 0.5, 0.5, True)}

    not_met, _ = closed["r-not-met"]
    assert not_met.kpi is not None and not_met.kpi.met is False
    assert {(t.name, t.target, t.actual, t.met) for t in not_met.kpi.targets} == {
        ("min_leads", 4, 4, True), ("min_hot", 2, 1, False)}

    untargeted, untargeted_payload = closed["r-no-targets"]
    assert untargeted.status == "completed" and untargeted.kpi is None and "kpi" not in untargeted_payload

    # the webhook carries the same verdict as the event, as JSON
    assert hooks["r-met"]["kpi"] == met_payload["kpi"] and hooks["r-met"]["kpi"]["met"] is True
    assert hooks["r-not-met"]["kpi"]["met"] is False
    assert {t["name"]: t["met"] for t in hooks["r-not-met"]["kpi"]["targets"]} == {"min_leads": True,
                                                                                    "min_hot": False}
    assert "kpi" not in hooks["r-no-targets"]

    # the Run page's report of the closed run judges it the same
    engine = make_engine(vault)
    try:
        for run, (step, _) in closed.items():
            report = report_for(engine, Settings(HUNTER_VAULT_URL=vault), run)
            assert report is not None and kpi_verdict(report["kpi"]) == step.kpi, run
    finally:
        engine.dispose()
