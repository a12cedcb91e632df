"""The projector when its vault cannot be written: a database locked by another program, a full disk.
It does not crash: it retries with backoff, says why (a log warning, shipped as ``obs.log`` and so a row
of the vault's ``logs`` once writable again), resumes from its checkpoint when the vault is writable,
ends with the vault a replay builds, and stops within seconds of a SIGTERM even while it waits."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from nats.js import api
from sqlmodel import Session, select

from hunter.stack import Stack
from hunter.watch import wait_projected
from services.projector.digest import vault_digest
from services.projector.replay import rebuild_into
from shared.bus import Bus, connect_bus, decode
from shared.events import LogRecorded, decode_event
from shared.vault.engine import make_engine
from shared.vault.schema import LogRow
from tests.fixtures.synthetic_stream import Message, synthetic_stream


def _projector(tmp_path: Path, vault: Path, nats_url: str) -> Stack:
    stack = Stack(data_dir=tmp_path / "data", nats_url=nats_url, services=["projector"], gateway=False,
                  env_extra={"HUNTER_VAULT_URL": f"sqlite:///{vault}", "HUNTER_PROJECTOR_BATCH": "500"})
    stack.start()
    return stack


async def _publish(bus: Bus, messages: list[Message]) -> None:
    acks = [await bus.js.publish_async(subject, data, stream=bus.stream, headers={"Nats-Msg-Id": msg_id})
            for subject, data, msg_id in messages]
    await asyncio.gather(*acks)


async def _projector_warning(bus: Bus, message: str, error_part: str, timeout: float = 45.0) -> LogRecorded:
    """The first ``obs.log.projector`` warning ``message`` whose error mentions ``error_part``."""
    found: asyncio.Future[LogRecorded] = asyncio.get_running_loop().create_future()

    async def cb(msg) -> None:  # type: ignore[no-untyped-def]
        event = decode_event(decode(msg.data))
        if (isinstance(event, LogRecorded) and event.message == message
                and error_part in event.context.get("error", "") and not found.done()):
            found.set_result(event)

    sub = await bus.js.subscribe("obs.log.projector", cb=cb, ordered_consumer=True,
                                 deliver_policy=api.DeliverPolicy.ALL, stream=bus.stream)
    try:
        return await asyncio.wait_for(found, timeout)
    finally:
        await sub.unsubscribe()


def _sigterm_and_time(stack: Stack) -> tuple[int, float]:
    [proc] = stack.procs["projector"]
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=30)
    finally:
        stack.stop()
    return code, time.monotonic() - t0


def _vault_logs(vault: Path) -> list[LogRow]:
    engine = make_engine(f"sqlite:///{vault}")
    try:
        with Session(engine) as s:
            return list(s.exec(select(LogRow).where(LogRow.service == "projector")).all())
    finally:
        engine.dispose()


async def _assert_vault_is_the_replay(bus: Bus, vault: Path, tmp_path: Path) -> None:
    _, replayed = await rebuild_into(bus, f"sqlite:///{tmp_path / f'replay-{uuid.uuid4().hex[:6]}.db'}")
    engine = make_engine(f"sqlite:///{vault}")
    try:
        assert vault_digest(engine) == replayed
    finally:
        engine.dispose()


async def test_a_locked_vault_is_retried_and_a_sigterm_stops_the_waiting_projector_at_once(
    tmp_path: Path, fresh_nats_url: str
) -> None:
    vault = tmp_path / "vault" / "vault.db"
    vault.parent.mkdir()
    messages = list(synthetic_stream(1000, leads_per_run=100))
    stack = _projector(tmp_path, vault, fresh_nats_url)
    async with connect_bus(fresh_nats_url, name="test") as bus:
        try:
            await _publish(bus, messages[:500])
            await wait_projected(bus, f"sqlite:///{vault}", timeout=120)
            lock = sqlite3.connect(vault, timeout=5)
            lock.execute("BEGIN EXCLUSIVE")  # another program holds the vault
            try:
                await _publish(bus, messages[500:])
                await _projector_warning(bus, "projector_retrying", "database is locked")
                assert not stack.crashed()
                code, took = _sigterm_and_time(stack)
                assert code == 0 and took < 5.0, (code, took)
            finally:
                lock.rollback()
                lock.close()
        finally:
            stack.stop()

        stack = _projector(tmp_path, vault, fresh_nats_url)  # resumes from its checkpoint
        try:
            await wait_projected(bus, f"sqlite:///{vault}", timeout=120)
            assert not stack.crashed()
        finally:
            stack.stop()
        await _assert_vault_is_the_replay(bus, vault, tmp_path)
    retried = [row for row in _vault_logs(vault) if row.message == "projector_retrying"]
    assert retried and retried[0].level == "warning" and "database is locked" in retried[0].fields


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A directory on a 64 MiB tmpfs of its own (a disk the test can fill and free)."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(directory: Path) -> Path:
    filler = directory / "filler"
    with contextlib.suppress(OSError), filler.open("wb") as f:
        while True:
            f.write(b"\0" * 65536)
            f.flush()
    return filler


async def test_a_full_vault_disk_is_retried_and_the_projector_resumes_once_space_is_freed(
    tmp_path: Path, fresh_nats_url: str, small_disk: Path
) -> None:
    vault = small_disk / "vault.db"
    messages = list(synthetic_stream(1500, leads_per_run=300))
    stack = _projector(tmp_path, vault, fresh_nats_url)
    try:
        async with connect_bus(fresh_nats_url, name="test") as bus:
            await _publish(bus, messages[:300])
            await wait_projected(bus, f"sqlite:///{vault}", timeout=120)
            filler = _fill(small_disk)
            await _publish(bus, messages[300:])
            await _projector_warning(bus, "projector_retrying", "disk is full")
            assert not stack.crashed()
            filler.unlink()  # space again: the projector goes on by itself
            await _projector_warning(bus, "projector_resumed", "disk is full")
            await wait_projected(bus, f"sqlite:///{vault}", timeout=120)
            assert not stack.crashed()
            code, took = _sigterm_and_time(stack)  # after applying events, it stops within seconds
            assert code == 0 and took < 5.0, (code, took)
            await _assert_vault_is_the_replay(bus, vault, tmp_path)
    finally:
        stack.stop()
    messages_logged = {row.message for row in _vault_logs(vault)}
    assert {"projector_retrying", "projector_resumed"} <= messages_logged
