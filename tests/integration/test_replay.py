"""``hunter replay`` over a recorded stream of v1 events: the whole stream, up to a sequence, up to a time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from sqlmodel import Session, select

from services.projector.digest import vault_digest
from services.projector.projection import Projection
from shared.bus import connect_bus, decode
from shared.vault.engine import make_engine
from shared.vault.schema import LogRow

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "stream_v1.jsonl"


def _recorded() -> list[tuple[str, bytes]]:
    lines = [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines() if line]
    return [(d["subject"], d["envelope"].encode()) for d in lines]


async def _publish(url: str, messages: list[tuple[str, bytes]]) -> None:
    async with connect_bus(url, name="fixture") as bus:
        for subject, data in messages:
            await bus.js.publish(subject, data, stream=bus.stream, headers={"Nats-Msg-Id": decode(data).event_id})


def _offline_digest(tmp_path: Path, messages: list[tuple[str, bytes]], name: str) -> str:
    engine = make_engine(f"sqlite:///{tmp_path / name}")
    Projection(engine).apply([(seq, s, d) for seq, (s, d) in enumerate(messages, start=1)])
    try:
        return vault_digest(engine)
    finally:
        engine.dispose()


def _run_replay(data_dir: Path, url: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "NATS_URL": url, **(env or {})}
    return subprocess.run([sys.executable, "-m", "hunter.cli", "replay", "--data-dir", str(data_dir), *args],
                          capture_output=True, text=True, env=env, timeout=120)


def _replay(data_dir: Path, url: str, *args: str, env: dict[str, str] | None = None) -> str:
    done = _run_replay(data_dir, url, *args, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


async def test_replay_rebuilds_a_recorded_v1_stream_whole_up_to_a_sequence_and_up_to_a_time(
    tmp_path: Path, fresh_nats_url: str
) -> None:
    messages = _recorded()
    half = len(messages) // 2
    await _publish(fresh_nats_url, messages[:half])
    boundary = datetime.now(UTC)
    await _publish(fresh_nats_url, messages[half:])
    data_dir = tmp_path / "data"

    whole = _replay(data_dir, fresh_nats_url)
    assert whole == _offline_digest(tmp_path, messages, "whole.db")
    engine = make_engine(f"sqlite:///{data_dir / 'vault.db'}")
    with Session(engine) as s:  # the v1 log event went through its upcaster on the way in
        assert [json.loads(log.fields).keys() for log in s.exec(select(LogRow)).all()] == [{"reason", "span_id"}]
    assert Projection(engine).checkpoint() == len(messages)
    engine.dispose()

    first_half = _offline_digest(tmp_path, messages[:half], "half.db")
    assert first_half != whole
    past = tmp_path / "past"
    assert _replay(data_dir, fresh_nats_url, "--to-seq", str(half), "--out", str(past / "seq.db")) == first_half
    assert _replay(data_dir, fresh_nats_url, "--to-time", boundary.isoformat(), "--out", str(past / "time.db")) \
        == first_half
    for name in ("seq.db", "time.db"):  # the vaults of the past are where they were asked for
        engine = make_engine(f"sqlite:///{past / name}", create=False)
        assert Projection(engine).checkpoint() == half and vault_digest(engine) == first_half
        engine.dispose()
    _assert_live_vault_is(data_dir / "vault.db", whole, len(messages))  # time travel left the live vault alone


def _assert_live_vault_is(path: Path, digest: str, checkpoint: int) -> None:
    engine = make_engine(f"sqlite:///{path}", create=False)
    try:
        assert vault_digest(engine) == digest and Projection(engine).checkpoint() == checkpoint
    finally:
        engine.dispose()


async def test_a_replay_to_a_sequence_or_time_refuses_to_replace_the_live_vault(
    tmp_path: Path, fresh_nats_url: str
) -> None:
    messages = _recorded()
    await _publish(fresh_nats_url, messages)
    data_dir = tmp_path / "data"
    whole = _replay(data_dir, fresh_nats_url)
    for args in (["--to-seq", "3"], ["--to-time", "2020-01-01T00:00:00"],
                 ["--to-seq", "3", "--out", str(data_dir / "vault.db")],  # the live vault by another name
                 ["--to-seq", "3", "--out-schema", "past"]):  # a schema, but the vault is SQLite
        refused = _run_replay(data_dir, fresh_nats_url, *args)
        assert refused.returncode == 2, (args, refused.stdout, refused.stderr)
        assert "--out" in refused.stderr
    _assert_live_vault_is(data_dir / "vault.db", whole, len(messages))
    out = _run_replay(data_dir, fresh_nats_url, "--to-seq", "3", "--out", str(tmp_path / "three.db"))
    assert out.returncode == 0 and f"separate vault {tmp_path / 'three.db'}" in out.stdout
    _assert_live_vault_is(data_dir / "vault.db", whole, len(messages))
