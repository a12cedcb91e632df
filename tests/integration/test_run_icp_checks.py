"""A run's ICP profile is checked when the run is requested (gateway 422, ``hunter hunt`` error), and a
run that reaches the scorer with a profile it cannot load fails its score step and the run with the
reason, instead of being dead-lettered with the run left *running*."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from nats.js import api

from hunter.cli import main
from hunter.stack import Stack
from services.gateway.app import create_app
from shared.bus import connect_bus, decode
from shared.config import Settings
from shared.domain.icp_profiles import saved_event, validate_profile
from shared.events import LeadsCleaned, RunRequested, RunStep, Subjects, decode_event
from shared.vault.access import open_writer
from tests.factories import cleaned_lead


def _publish_saved_profile(nats_url: str, name: str) -> None:
    async def go() -> None:
        async with connect_bus(nats_url) as bus:
            event = saved_event(validate_profile({"regions": ["SP"]}, name=name))
            await bus.publish(event, name=name)

    asyncio.run(go())


def test_the_gateway_refuses_a_run_with_an_unknown_icp_profile(tmp_path: Path, nats_url: str) -> None:
    saved = f"saved-{uuid.uuid4().hex[:6]}"
    _publish_saved_profile(nats_url, saved)
    settings = Settings(HUNTER_DATA_DIR=tmp_path, NATS_URL=nats_url)
    open_writer(settings.vault_database_url).dispose()  # the vault, as the projector creates it
    with TestClient(create_app(settings)) as client:
        r = client.post("/api/runs", json={"source": "csv:x.csv", "icp": "no-such-profile"})
        assert r.status_code == 422, r.text
        [error] = r.json()["detail"]
        assert error["loc"] == ["body", "icp"] and "unknown ICP 'no-such-profile'" in error["msg"]
        upload = client.post("/api/runs/upload", data={"icp": "no-such-profile"},
                             files={"file": ("a.csv", b"cnpj;razao_social\n11222333000181;A\n")})
        assert upload.status_code == 422 and upload.json()["detail"][0]["loc"] == ["body", "icp"]
        assert client.post("/api/runs", json={"source": "csv:x.csv", "icp": "software-b2b"}).status_code == 202
        assert client.post("/api/runs", json={"source": "csv:x.csv", "icp": saved}).status_code == 202


def test_hunter_hunt_refuses_an_unknown_icp_profile_before_starting_anything(
    tmp_path: Path, nats_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("NATS_URL", nats_url)
    monkeypatch.setenv("HUNTER_DATA_DIR", str(tmp_path / "data"))
    assert main(["hunt", "--source", "csv:x.csv", "--icp", "no-such-profile"]) == 2
    err = capsys.readouterr().err
    assert "--icp" in err and "unknown ICP 'no-such-profile'" in err
    assert not (tmp_path / "data" / "logs").exists()  # no service was started


async def test_a_run_whose_icp_cannot_be_loaded_fails_at_its_score_step(tmp_path: Path, fresh_nats_url: str) -> None:
    stack = Stack(data_dir=tmp_path / "data", nats_url=fresh_nats_url, gateway=False, services=["scorer"])
    stack.start()
    try:
        async with connect_bus(fresh_nats_url, name="test") as bus:
            run = "r-bad-icp"  # published straight to the stream: nothing checked it
            await bus.publish(RunRequested(run_id=run, source="csv:x.csv", icp="no-such-profile"), key=(run,))
            await bus.publish(LeadsCleaned(run_id=run, batch=0, leads=[cleaned_lead(1)]))
            await bus.publish(RunStep(run_id=run, stage="clean", status="completed"), stage="clean")

            got: asyncio.Queue[RunStep] = asyncio.Queue()

            async def cb(msg) -> None:  # type: ignore[no-untyped-def]
                step = decode_event(decode(msg.data))
                if isinstance(step, RunStep) and step.status in ("completed", "failed"):
                    got.put_nowait(step)

            sub = await bus.js.subscribe(f"run.step.{run}.>", cb=cb, ordered_consumer=True,
                                         deliver_policy=api.DeliverPolicy.ALL, stream=bus.stream)
            try:
                steps = {}
                while {"score", "run"} - steps.keys():
                    step = await asyncio.wait_for(got.get(), 45)
                    steps[step.stage] = step
            finally:
                await sub.unsubscribe()
            score = steps["score"]
            assert score.status == "failed" and "unknown ICP 'no-such-profile'" in (score.message or "")
            assert steps["run"].status == "failed" and (steps["run"].message or "").startswith("score: ICP profile")
            assert await bus.count(Subjects.LEAD_SCORED.format(run_id=run)) == 0
            assert await bus.count("dlq.>") == 0
        assert not stack.crashed()
    finally:
        stack.stop()
