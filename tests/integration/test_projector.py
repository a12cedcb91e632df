"""The projector as a process: into SQLite or PostgreSQL, killed mid-load and restarted, and always
ending with the vault a replay of the stream builds."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from hunter.stack import Stack
from hunter.watch import wait_projected
from services.projector.digest import vault_digest
from services.projector.projection import Projection
from services.projector.replay import rebuild_into
from shared.bus import Bus, connect_bus
from shared.nats_server import free_port
from shared.vault.engine import make_engine
from tests.fixtures.postgres import POSTGRES, postgres_schema
from tests.fixtures.synthetic_stream import Message, synthetic_stream


@pytest.fixture(params=["sqlite", "postgresql"])
def vault_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A vault of the test's own: a SQLite file, or a PostgreSQL schema reached through search_path."""
    if request.param == "sqlite":
        (tmp_path / "data").mkdir()
        yield f"sqlite:///{tmp_path / 'data' / 'vault.db'}"
        return
    with postgres_schema() as schema:
        yield f"{POSTGRES}?options=-csearch_path%3D{schema}"


async def _publish(bus: Bus, messages: list[Message]) -> None:
    for start in range(0, len(messages), 1000):
        acks = [await bus.js.publish_async(subject, data, stream=bus.stream, headers={"Nats-Msg-Id": msg_id})
                for subject, data, msg_id in messages[start:start + 1000]]
        await asyncio.gather(*acks)


async def _replayed_digest(bus: Bus, tmp_path: Path) -> str:
    _, digest = await rebuild_into(bus, f"sqlite:///{tmp_path / f'replay-{uuid.uuid4().hex[:6]}.db'}")
    return digest


def _projector(tmp_path: Path, url: str, nats_url: str, batch: int = 500, **env: str) -> Stack:
    return Stack(data_dir=tmp_path / "data", nats_url=nats_url, services=["projector"], gateway=False,
                 env_extra={"HUNTER_VAULT_URL": url, "HUNTER_PROJECTOR_BATCH": str(batch), **env})


def _metric(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + "{"))


async def test_the_projector_process_builds_the_vault_a_replay_builds_and_reports_its_metrics(
    tmp_path: Path, fresh_nats_url: str, vault_url: str
) -> None:
    port = free_port()
    stack = _projector(tmp_path, vault_url, fresh_nats_url, METRICS_PORT=str(port))
    stack.start()
    try:
        async with connect_bus(fresh_nats_url, name="test") as bus:
            await _publish(bus, list(synthetic_stream(3000, leads_per_run=400)))
            assert await wait_projected(bus, vault_url, timeout=120) == 3000
            replayed = await _replayed_digest(bus, tmp_path)
        async with httpx.AsyncClient() as client:
            scraped = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
            probes = [(await client.get(f"http://127.0.0.1:{port}/{p}")).status_code for p in ("livez", "readyz")]
    finally:
        stack.stop()
    engine = make_engine(vault_url)
    assert vault_digest(engine) == replayed
    engine.dispose()
    assert _metric(scraped, "hunter_projector_checkpoint") == 3000
    assert _metric(scraped, "hunter_projector_events_applied_total") == 3000
    assert _metric(scraped, "hunter_projector_batch_seconds_count") >= 6  # batches of at most 500
    assert probes == [200, 200]  # alive, and connected to NATS


async def test_a_projector_killed_mid_load_resumes_and_ends_with_the_replayed_vault(
    tmp_path: Path, fresh_nats_url: str, vault_url: str
) -> None:
    messages = list(synthetic_stream(5000, leads_per_run=400))
    engine = make_engine(vault_url)
    projection = Projection(engine)
    stack = _projector(tmp_path, vault_url, fresh_nats_url, batch=100)
    try:
        async with connect_bus(fresh_nats_url, name="test") as bus:
            await _publish(bus, messages)
            stack.start()
            deadline = time.monotonic() + 60
            while projection.checkpoint() == 0 and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            victim = stack.procs["projector"].pop()
            os.kill(victim.pid, signal.SIGKILL)
            victim.wait()
            at_kill = projection.checkpoint()
            assert 0 < at_kill < len(messages), at_kill

            # producers re-send what they already sent (deduplicated), and the projector comes back
            await _publish(bus, messages[:1000])
            assert await bus.last_seq() == len(messages)
            stack.spawn("projector")
            assert await wait_projected(bus, vault_url, timeout=180) == len(messages)
            replayed = await _replayed_digest(bus, tmp_path)
    finally:
        stack.stop()
    assert vault_digest(engine) == replayed
    engine.dispose()


async def test_a_running_projector_follows_a_replay_swapped_in_under_it(tmp_path: Path, fresh_nats_url: str) -> None:
    """``hunter replay`` while the stack runs: the projector notices the new vault file and goes on
    from its checkpoint, so events published after the swap land in the vault users now read."""
    from services.projector.replay import replay_vault

    (tmp_path / "data").mkdir()
    url = f"sqlite:///{tmp_path / 'data' / 'vault.db'}"
    messages = list(synthetic_stream(3000, leads_per_run=400))
    stack = _projector(tmp_path, url, fresh_nats_url)
    stack.start()
    try:
        async with connect_bus(fresh_nats_url, name="test") as bus:
            await _publish(bus, messages[:2000])
            assert await wait_projected(bus, url, timeout=120) == 2000
            applied, _ = await replay_vault(bus, url)
            assert applied == 2000
            # swapped in already in WAL mode: the processes opening it need not race to switch it
            with contextlib.closing(sqlite3.connect(tmp_path / "data" / "vault.db")) as conn:
                assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            await _publish(bus, messages[2000:])
            try:
                assert await wait_projected(bus, url, timeout=120) >= 3000
            except TimeoutError as exc:  # say what the projector was doing
                log = (tmp_path / "data" / "logs" / "projector.log").read_text(errors="replace")
                raise AssertionError(f"{exc}; crashed: {stack.crashed()}; projector log:\n{log[-4000:]}") from exc
            # the projector's "vault_swapped" warning is shipped as a log event and lands in the vault too
            engine = make_engine(url)
            deadline = time.monotonic() + 60
            while not _logged(engine, "vault_swapped"):
                assert time.monotonic() < deadline, "no vault_swapped warning in the logs table"
                await asyncio.sleep(0.1)
            await wait_projected(bus, url, timeout=60)
            replayed = await _replayed_digest(bus, tmp_path)
        assert not stack.crashed()
    finally:
        stack.stop()
    assert vault_digest(engine) == replayed
    engine.dispose()


def _logged(engine, message: str) -> bool:  # noqa: ANN001
    with engine.connect() as conn:
        return bool(conn.execute(text("SELECT count(*) FROM logs WHERE message = :m"), {"m": message}).scalar())
