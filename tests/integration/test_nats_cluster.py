"""A hunt on a 3-node JetStream cluster survives the loss of the stream's leader.

Three ``nats-server`` nodes on loopback (``NatsCluster``, as ``hunter up --nats-cluster 3``), the stream
``HUNTER`` replicated on each, every service as its own process listing all three nodes in ``NATS_URL``.
Mid-run the node leading the stream (the JetStream API's ``cluster.leader``) is killed with SIGKILL; the
run must still complete with nothing lost and nothing twice, and the node, restarted, must catch up.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
import uuid
from collections import Counter
from pathlib import Path

import pytest
from sqlmodel import Session, select

from hunter.demo_run import DEMO_CSV
from hunter.stack import Stack
from hunter.watch import wait_projected
from services.projector.digest import vault_digest
from services.projector.projection import Projection
from services.projector.replay import rebuild_into
from shared.bus import Bus, connect_bus
from shared.events import (
    STREAM_NAME,
    LeadsCleaned,
    LeadsExtracted,
    LeadsRejected,
    LeadsScored,
    RunFilters,
    RunRequested,
    RunStep,
    Subjects,
)
from shared.nats_server import NatsCluster
from shared.vault.engine import make_engine
from shared.vault.schema import Lead
from tests.fixtures.postgres import POSTGRES, postgres_schema

pytestmark = pytest.mark.e2e


@pytest.fixture
def cluster(tmp_path: Path):  # type: ignore[no-untyped-def]
    nodes = NatsCluster(tmp_path / "nats", 3)
    nodes.start()
    try:
        yield nodes
    finally:
        nodes.stop()


async def _until(check, timeout: float, what: str):  # type: ignore[no-untyped-def]
    """Poll ``check()`` (async) until it returns something truthy; errors while the cluster elects count as no."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = await check()
            if result:
                return result
        except Exception as exc:  # noqa: BLE001 - a leader election in progress: ask again
            last_error = exc
        await asyncio.sleep(0.2)
    raise TimeoutError(f"{what} not within {timeout:.0f}s (last error: {last_error!r})")


async def _run_step(bus: Bus, run_id: str) -> RunStep | None:
    stored = await bus.last(Subjects.RUN_STEP.format(run_id=run_id, stage="run"))
    if stored is None:
        return None
    step = stored.event()
    assert isinstance(step, RunStep)
    return step if step.status in ("completed", "failed", "cancelled") else None


async def _hunt_through_a_leader_kill(tmp_path: Path, cluster: NatsCluster, farm_env: dict[str, str],
                                      vault_url: str) -> None:
    env = {**farm_env, "HUNTER_VAULT_URL": vault_url, "HUNTER_STREAM_REPLICAS": "3",
           "HUNTER_ACK_WAIT": "5", "ENRICHER_CONCURRENCY": "8"}  # the kill lands while leads wait for enrichment
    stack = Stack(data_dir=tmp_path / "data", nats_url=cluster.url, env_extra=env, gateway=False)
    request = RunRequested(run_id=f"cl-{uuid.uuid4().hex[:8]}", source=f"csv:{DEMO_CSV}", filters=RunFilters(),
                           enrich_top=0.5, segments=["hot"], formats=["csv"])
    run = request.run_id
    async with connect_bus(cluster.url, name="cluster-test", replicas=3) as bus:
        info = await bus.js.stream_info(STREAM_NAME)
        assert info.config.num_replicas == 3 and len(info.cluster.replicas or []) == 2
        stack.start()
        try:
            await bus.publish(request, key=(run,))
            await _until(lambda: bus.count(Subjects.LEAD_ENRICHED.format(run_id=run)), 120, "a first enrichment")
            leader = (await bus.js.stream_info(STREAM_NAME)).cluster.leader
            assert leader in cluster.names()
            assert await _run_step(bus, run) is None, "the run ended before the kill: nothing would be shown"
            cluster.kill_node(leader)

            final = await _until(lambda: _run_step(bus, run), 150, "the run's end")
            assert final.status == "completed", final
            new_leader = (await _until(lambda: bus.js.stream_info(STREAM_NAME), 30, "stream info")).cluster.leader
            assert new_leader != leader
            await wait_projected(bus, vault_url, timeout=60)
            stored = [e async for e in bus.read(">")]
        finally:
            stack.stop()

        # no event twice: one message per Nats-Msg-Id (the dedup window held across the leader change)
        ids = Counter(e.headers["Nats-Msg-Id"] for e in stored)
        assert ids and ids.most_common(1)[0][1] == 1, ids.most_common(3)

        # every lead extracted is cleaned (or dropped/merged with a reason) and scored; the enriched count matches
        events = [e.event() for e in stored if e.envelope.run_id == run]
        extracted = {c.lead_key for e in events if isinstance(e, LeadsExtracted) for c in e.companies}
        cleaned = [lead for e in events if isinstance(e, LeadsCleaned) for lead in e.leads]
        scored = [s for e in events if isinstance(e, LeadsScored) for s in e.leads]
        dropped = {d.lead_key for e in events if isinstance(e, LeadsRejected) and e.stage == "clean"
                   for d in e.rejected}
        merged = {k for lead in cleaned for k in lead.merged_from}
        assert extracted and extracted == {lead.lead_key for lead in cleaned} | merged | dropped
        assert sorted(s.lead.lead_key for s in scored) == sorted(lead.lead_key for lead in cleaned)
        selected = sum(1 for s in scored if s.enrich)
        enriched = await bus.count(Subjects.LEAD_ENRICHED.format(run_id=run))
        rescored = await bus.count(Subjects.LEAD_RESCORED.format(run_id=run))
        assert selected == enriched == rescored > 0

        # the vault is what a replay of the stream builds
        engine = make_engine(vault_url)
        with Session(engine) as s:
            leads = s.exec(select(Lead).where(Lead.run_id == run)).all()
        assert len(leads) == len(scored) and sum(1 for lead in leads if lead.enriched) == selected
        live_digest, checkpoint = vault_digest(engine), Projection(engine).checkpoint()
        engine.dispose()
        applied, replayed = await rebuild_into(bus, f"sqlite:///{tmp_path / 'replayed.db'}", to_seq=checkpoint)
        assert applied == checkpoint and replayed == live_digest

        # the killed node comes back and catches up: its replica of the stream is current, nothing behind
        last_seq = await bus.last_seq()
        cluster.restart_node(leader)

        async def caught_up() -> bool:
            info = await bus.js.stream_info(STREAM_NAME)
            peers = {info.cluster.leader: None} | {p.name: p for p in info.cluster.replicas or []}
            peer = peers.get(leader)
            return info.state.last_seq == last_seq and leader in peers and (
                peer is None or (bool(peer.current) and not peer.lag and not peer.offline))

        await _until(caught_up, 60, f"node {leader} catching up")
        # and by its own account (its monitoring port): its copy of the stream holds every message
        await _until(lambda: _node_last_seq(cluster, leader, last_seq), 30, f"node {leader}'s own copy")


async def _node_last_seq(cluster: NatsCluster, name: str, expected: int) -> bool:
    port = cluster.http_ports[cluster.names().index(name)]
    url = f"http://127.0.0.1:{port}/jsz?accounts=true&streams=true"
    with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback)
        jsz = json.load(response)
    streams = [s for a in jsz.get("account_details", []) for s in a.get("stream_detail", [])]
    return any(s["name"] == STREAM_NAME and s["state"]["last_seq"] == expected and s["state"]["messages"] == expected
               for s in streams)


async def test_a_hunt_survives_killing_the_stream_leader_and_the_node_catches_up(
    tmp_path: Path, cluster: NatsCluster, farm_env: dict[str, str]
) -> None:
    await _hunt_through_a_leader_kill(tmp_path, cluster, farm_env, f"sqlite:///{tmp_path / 'data' / 'vault.db'}")


async def test_a_hunt_with_the_vault_on_postgresql_survives_killing_the_stream_leader(
    tmp_path: Path, cluster: NatsCluster, farm_env: dict[str, str]
) -> None:
    with postgres_schema() as schema:
        url = f"{POSTGRES}?options=-csearch_path%3D{schema}"
        await _hunt_through_a_leader_kill(tmp_path, cluster, farm_env, url)


def test_hunter_up_nats_cluster_starts_three_routed_nodes_and_a_stream_with_three_replicas(tmp_path: Path) -> None:
    from hunter.cli import _create_stream
    from shared.config import Settings
    from shared.nats_server import nats_for, running_url

    settings = Settings(HUNTER_DATA_DIR=tmp_path)
    with nats_for(tmp_path, None, cluster_size=3) as url:
        assert url.count("nats://127.0.0.1:") == 3
        assert running_url(tmp_path) == url  # another hunter command on this data dir joins the cluster
        asyncio.run(_create_stream(url, settings, replicas=3))

        async def replicas() -> tuple[int, int]:
            async with connect_bus(url, name="t") as bus:
                info = await bus.js.stream_info(STREAM_NAME)
                return info.config.num_replicas, 1 + len(info.cluster.replicas or [])

        assert asyncio.run(replicas()) == (3, 3)
    assert running_url(tmp_path) is None
