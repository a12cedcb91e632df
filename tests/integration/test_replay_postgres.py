"""``hunter replay`` into PostgreSQL: built in a schema beside the vault, swapped in in one transaction."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from pathlib import Path

from sqlalchemy import inspect, text

from services.projector.digest import vault_digest
from services.projector.projection import Projection
from services.projector.replay import rebuild_into, replay_vault
from shared.bus import Bus, connect_bus
from shared.vault.engine import make_engine
from tests.fixtures.postgres import POSTGRES, postgres_schema
from tests.fixtures.synthetic_stream import Message, synthetic_stream


async def _publish(bus: Bus, messages: list[Message]) -> None:
    acks = [await bus.js.publish_async(subject, data, stream=bus.stream, headers={"Nats-Msg-Id": msg_id})
            for subject, data, msg_id in messages]
    await asyncio.gather(*acks)


def _schemas(engine) -> set[str]:  # noqa: ANN001
    with engine.connect() as conn:
        return {row[0] for row in conn.execute(text("SELECT nspname FROM pg_namespace"))}


async def test_a_replay_swaps_the_rebuilt_tables_in_and_a_live_projection_goes_on_in_them(
    tmp_path: Path, fresh_nats_url: str
) -> None:
    messages = list(synthetic_stream(2000, leads_per_run=300))
    with postgres_schema() as schema:
        url = f"{POSTGRES}?options=-csearch_path%3D{schema}"
        engine = make_engine(url)
        with engine.begin() as conn:  # a table of the schema that is not the vault's: left alone
            conn.execute(text("CREATE TABLE notes_of_the_user (note text)"))
            conn.execute(text("INSERT INTO notes_of_the_user VALUES ('keep me')"))
        live = Projection(engine)
        async with connect_bus(fresh_nats_url, name="test") as bus:
            await _publish(bus, messages[:1200])
            stored = [(i + 1, s, d) for i, (s, d, _) in enumerate(messages[:1200])]
            live.apply(stored[:700])  # the vault is behind the stream when the replay starts
            before = vault_digest(engine)
            with engine.connect() as conn:
                leads_before = conn.execute(text("SELECT count(*) FROM leads")).scalar_one()
            seen: list[int | str] = []
            done = threading.Event()

            def read_while_replaying() -> None:  # a user of the vault during the replay
                while not done.is_set():
                    try:
                        with engine.connect() as conn:
                            seen.append(conn.execute(text("SELECT count(*) FROM leads")).scalar_one())
                    except Exception as exc:  # noqa: BLE001 - e.g. the table dropped under the reader
                        seen.append(type(exc).__name__)

            reader = threading.Thread(target=read_while_replaying)
            reader.start()
            try:
                applied, digest = await replay_vault(bus, url)
            finally:
                done.set()
                reader.join()
            assert len(seen) > 3 and all(isinstance(n, int) and n >= leads_before for n in seen), seen[:20]
            assert applied == 1200
            assert vault_digest(engine) == digest != before  # the pooled connections read the new tables
            assert live.checkpoint() == 1200
            live.apply([(i + 1, s, d) for i, (s, d, _) in enumerate(messages)][1200:1500])  # goes on from there
            await _publish(bus, messages[1200:1500])
            _, expected = await rebuild_into(bus, f"sqlite:///{tmp_path / 'reference.db'}")
        assert vault_digest(engine) == expected
        with engine.connect() as conn:
            assert conn.execute(text("SELECT note FROM notes_of_the_user")).scalar_one() == "keep me"
        indexes = {i["name"] for i in inspect(engine).get_indexes("leads", schema=schema)}
        assert indexes  # built in the scratch schema, moved in with their table
        assert {f"{schema}_replay", f"{schema}_replaced"}.isdisjoint(_schemas(engine))
        engine.dispose()


async def test_a_replay_that_fails_leaves_the_vault_as_it_was(fresh_nats_url: str) -> None:
    messages = list(synthetic_stream(600, leads_per_run=200))
    with postgres_schema() as schema:
        url = f"{POSTGRES}?options=-csearch_path%3D{schema}"
        engine = make_engine(url)
        Projection(engine).apply([(i + 1, s, d) for i, (s, d, _) in enumerate(messages)])
        before = vault_digest(engine)
        async with connect_bus(fresh_nats_url, name="test") as bus:
            broken = Bus(bus.nc, stream="NO_SUCH_STREAM")
            try:
                await replay_vault(broken, url)
            except Exception as exc:  # noqa: BLE001 - the stream is missing: whatever nats-py raises
                assert "stream" in str(exc).lower() or type(exc).__name__.endswith("NotFoundError"), exc
            else:
                raise AssertionError("a replay from a missing stream succeeded")
        assert vault_digest(engine) == before
        assert f"{schema}_replay" not in _schemas(engine)
        engine.dispose()


def _cli_replay(tmp_path: Path, nats: str, vault_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "NATS_URL": nats, "HUNTER_VAULT_URL": vault_url}
    return subprocess.run([sys.executable, "-m", "hunter.cli", "replay", "--data-dir", str(tmp_path), *args],
                          capture_output=True, text=True, env=env, timeout=300)


async def test_a_replay_to_a_sequence_writes_a_schema_of_its_own_and_leaves_the_live_vault_alone(
    tmp_path: Path, fresh_nats_url: str
) -> None:
    messages = list(synthetic_stream(600, leads_per_run=200))
    with postgres_schema() as schema:
        url = f"{POSTGRES}?options=-csearch_path%3D{schema}"
        async with connect_bus(fresh_nats_url, name="test") as bus:
            await _publish(bus, messages)
        full = _cli_replay(tmp_path, fresh_nats_url, url)
        assert full.returncode == 0, full.stderr[-2000:]
        engine = make_engine(url, create=False)
        live = vault_digest(engine)
        assert full.stdout.strip().splitlines()[-1] == live
        for args in (["--to-seq", "300"], ["--to-seq", "300", "--out-schema", schema]):
            refused = _cli_replay(tmp_path, fresh_nats_url, url, *args)
            assert refused.returncode == 2 and "--out" in refused.stderr, (args, refused.stderr)
        past_schema = f"{schema}_past"
        try:
            past = _cli_replay(tmp_path, fresh_nats_url, url, "--to-seq", "300", "--out-schema", past_schema)
            assert past.returncode == 0, past.stderr[-2000:]
            assert f"schema {past_schema}" in past.stdout and "live vault is untouched" in past.stdout
            past_engine = make_engine(f"{POSTGRES}?options=-csearch_path%3D{past_schema}", create=False)
            stored = [(i + 1, s, d) for i, (s, d, _) in enumerate(messages)]
            reference = make_engine(f"sqlite:///{tmp_path / 'reference.db'}")
            Projection(reference).apply(stored[:300])
            assert vault_digest(past_engine) == vault_digest(reference) == past.stdout.strip().splitlines()[-1]
            assert Projection(past_engine).checkpoint() == 300
            past_engine.dispose()
            reference.dispose()
            assert vault_digest(engine) == live and Projection(engine).checkpoint() == len(messages)
        finally:
            with engine.begin() as conn:
                conn.execute(text(f"DROP SCHEMA IF EXISTS {past_schema} CASCADE"))
            engine.dispose()
