"""The ranker service over a real NATS: outcomes in the funnel trigger a training, ``hunter rank
train`` asks for one, the model file is stored beside the vault and a replay of the stream gives
the same model bytes; below the minimum outcomes the answer is a cold start."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hunter.stack import Stack
from services.ranker.model import RankerConfig
from services.ranker.training import model_path, reproduce
from shared.bus import Bus, connect_bus
from shared.events import LeadsRanked, LeadsScored, LeadStatusChanged, RankingTrained, Subjects, subject_token
from tests.ranker_world import world

T0 = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)


async def publish_world(bus: Bus, n_leads: int, n_outcomes: int, *, scored: int | None = None) -> None:
    """A scored run of ``n_leads`` (the first ``scored`` of them) and funnel histories for the first
    ``n_outcomes``."""
    leads, labels = world(n_leads, seed=4)
    await bus.publish(LeadsScored(run_id="r1", batch=0, icp="software-b2b",
                                  leads=[f.scored for f in leads[:scored]]), key=("r1", 0))
    for i, (f, positive) in enumerate(zip(leads[:n_outcomes], labels, strict=False)):
        at = T0 + timedelta(hours=i)
        for status, when in (("contacted", at), ("replied" if positive else "lost", at + timedelta(days=2))):
            await bus.publish(LeadStatusChanged(lead_key=f.lead_key, status=status, actor="ana"),
                              key=(f.lead_key, status), occurred_at=when, run_id=subject_token(f.lead_key))


async def trained_events(bus: Bus, count: int, timeout: float = 120.0) -> list[RankingTrained]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if await bus.count(Subjects.RANKING_TRAINED) >= count:
            out = []
            async for stored in bus.read(Subjects.RANKING_TRAINED):
                event = stored.event()  # type: ignore[union-attr]
                assert isinstance(event, RankingTrained)
                out.append(event)
            return out
        await asyncio.sleep(0.2)
    raise AssertionError(f"fewer than {count} ranking.trained events within {timeout} s")


async def ranked_events(bus: Bus, count: int, timeout: float = 60.0) -> list[LeadsRanked]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while await bus.count(Subjects.LEADS_RANKED) < count:
        assert loop.time() < deadline, f"fewer than {count} ranking.leads events within {timeout} s"
        await asyncio.sleep(0.2)
    out = []
    async for stored in bus.read(Subjects.LEADS_RANKED):
        event = stored.event()  # type: ignore[union-attr]
        assert isinstance(event, LeadsRanked)
        out.append(event)
    return out


def rank_cli(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hunter.cli", "rank", *args], capture_output=True, text=True,
                          env=stack.env(), check=False, timeout=180)


async def test_outcomes_train_a_model_whose_bytes_a_replay_reproduces(tmp_path: Path, fresh_nats_url: str) -> None:
    data_dir = tmp_path / "data"
    stack = Stack(data_dir=data_dir, nats_url=fresh_nats_url, gateway=False, services=["ranker"],
                  env_extra={"RANKER_MIN_LABELS": "30", "RANKER_RETRAIN_EVERY": "30"})
    async with connect_bus(fresh_nats_url, name="test-ranker") as bus:
        await publish_world(bus, 80, 40)  # 40 outcomes (the 30th triggers a training)
        stack.start()
        try:
            [first] = await trained_events(bus, 1)
            asked = await asyncio.to_thread(rank_cli, stack, "train", "--timeout", "120")
            assert asked.returncode == 0, asked.stderr
            assert "ranking v2: logistic on 40 outcomes" in asked.stdout
            events = await trained_events(bus, 2)
            ranked = await ranked_events(bus, 2)
        finally:
            stack.stop()
        assert not stack.crashed()

        assert first.status == "trained" and first.trigger == "outcomes" and first.version == 1
        assert first.labelled == 30 and first.model_kind == "logistic" and first.leads_known == 80
        assert first.cv_auc is not None and first.importances and first.model_sha256
        second = events[1]
        assert second.trigger == "request" and second.labelled == 40 and second.version == 2
        # after each training: every known lead's propensity, and the next leads among the uncontacted ones
        assert [(r.version, r.batch, r.batches, len(r.leads)) for r in ranked] == [(1, 0, 1, 80), (2, 0, 1, 80)]
        assert ranked[0].model_sha256 == first.model_sha256
        latest = ranked[1].leads
        contacted = {lead.lead_key for lead in latest[:40]}  # (lead keys sort as the world's order)
        placed = sorted((lead.next_rank, lead.lead_key) for lead in latest if lead.next_rank is not None)
        assert [n for n, _ in placed] == list(range(1, 41)) and not contacted & {k for _, k in placed}
        assert sum(lead.explored for lead in latest) == 8  # RANKER_EXPLORE_SHARE 0.2 of 40
        assert all(0 < lead.propensity < 1 and lead.top_features for lead in latest)
        for event in events:  # the model file beside the vault is the one the event names
            path = model_path(data_dir, event.model_sha256 or "")
            assert path.name == event.model_file
            assert hashlib.sha256(path.read_bytes()).hexdigest() == event.model_sha256
            again = await reproduce(bus, event, RankerConfig(min_labels=30), 21.0)  # a replay of the stream
            assert again.model_bytes == path.read_bytes()


async def test_asked_below_the_minimum_outcomes_the_ranker_answers_cold_start(tmp_path: Path,
                                                                              fresh_nats_url: str) -> None:
    stack = Stack(data_dir=tmp_path / "data", nats_url=fresh_nats_url, gateway=False, services=["ranker"])
    async with connect_bus(fresh_nats_url, name="test-ranker-cold") as bus:
        await publish_world(bus, 30, 10)
        stack.start()
        try:
            asked = await asyncio.to_thread(rank_cli, stack, "train", "--timeout", "120")
            shown = await asyncio.to_thread(rank_cli, stack, "show")
        finally:
            stack.stop()
        assert asked.returncode == 0, asked.stderr
        assert "cold start, the ICP score ranks (10 outcomes, fewer than 30" in asked.stdout
        assert "cold start" in shown.stdout
        [event] = await trained_events(bus, 1)
        assert event.status == "cold_start" and event.model_sha256 is None and event.model_file is None
        assert not (tmp_path / "data" / "ranking").exists()


async def test_outcomes_of_leads_without_features_count_once_towards_the_trigger(tmp_path: Path,
                                                                                fresh_nats_url: str) -> None:
    stack = Stack(data_dir=tmp_path / "data", nats_url=fresh_nats_url, gateway=False, services=["ranker"],
                  env_extra={"RANKER_MIN_LABELS": "20", "RANKER_RETRAIN_EVERY": "20"})
    async with connect_bus(fresh_nats_url, name="test-ranker-unknown") as bus:
        await publish_world(bus, 80, 50, scored=30)  # 50 outcomes, 30 of them of leads the stream knows
        stack.start()
        try:
            trained = await trained_events(bus, 2)
            # every status event handled (and acked, after any training it caused): no more than the two
            # trainings the counts call for
            while True:
                info = await bus.js.consumer_info(bus.stream, "ranker")
                if not info.num_pending and not info.num_ack_pending:
                    break
                await asyncio.sleep(0.2)
            assert await bus.count(Subjects.RANKING_TRAINED) == 2
        finally:
            stack.stop()
    assert [(t.outcomes, t.labelled, t.status) for t in trained] == [(20, 20, "trained"), (40, 30, "trained")]
