"""``hunter replay`` over a recorded stream of v1 events: the whole stream, up to a sequence, up to a time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from sqlmodel import Session, select

from services.projector.db import make_engine
from services.projector.digest import vault_digest
from services.projector.models import LogRow
from services.projector.projection import Projection
from shared.bus import connect_bus, decode

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


def _replay(data_dir: Path, url: str, *args: str) -> str:
    env = {**os.environ, "NATS_URL": url}
    done = subprocess.run([sys.executable, "-m", "hunter.cli", "replay", "--data-dir", str(data_dir), *args],
                          capture_output=True, text=True, env=env, timeout=120)
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
    assert _replay(data_dir, fresh_nats_url, "--to-seq", str(half)) == first_half
    assert _replay(data_dir, fresh_nats_url, "--to-time", boundary.isoformat()) == first_half
    engine = make_engine(f"sqlite:///{data_dir / 'vault.db'}")
    assert Projection(engine).checkpoint() == half  # the swapped-in vault is the one rebuilt to that time
    engine.dispose()
