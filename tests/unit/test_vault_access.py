"""The vault's engines: the projector's writer creates and migrates, a reader never does nor can write,
and a reader waits for the projector's checkpoint. On SQLite and on PostgreSQL (when it answers)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError

from shared.vault.access import VaultMissing, checkpoint, open_reader, open_writer, wait_for
from shared.vault.engine import make_engine
from tests.fixtures.postgres import POSTGRES, postgres_schema


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Where a vault would be: a SQLite file not created yet, or an empty PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'vault.db'}"
        return
    with postgres_schema() as schema:
        yield f"{POSTGRES}?options=-csearch_path%3D{schema}"


def _tables(url: str) -> set[str]:
    engine = make_engine(url, create=False)  # a plain look, creating no table
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _set_checkpoint(url: str, seq: int) -> None:
    engine = open_writer(url)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM checkpoints WHERE name = 'projector'"))
        conn.execute(text("INSERT INTO checkpoints (name, seq) VALUES ('projector', :seq)"), {"seq": seq})
    engine.dispose()


def test_a_reader_of_a_vault_not_created_yet_says_so_and_creates_nothing(url: str, tmp_path: Path) -> None:
    reader = open_reader(url)
    with pytest.raises(VaultMissing, match="no vault .* yet: the projector creates it"):
        checkpoint(reader)
    assert not (tmp_path / "vault.db").exists()
    assert _tables(url) == set()
    open_writer(url).dispose()  # the projector starts: the same reader now reads
    assert checkpoint(reader) == 0
    reader.dispose()


def test_an_empty_sqlite_file_is_not_a_vault_either(tmp_path: Path) -> None:
    (tmp_path / "vault.db").write_bytes(b"")
    with pytest.raises(VaultMissing):
        checkpoint(open_reader(f"sqlite:///{tmp_path / 'vault.db'}"))
    assert (tmp_path / "vault.db").read_bytes() == b""


def test_a_reader_cannot_write_nor_create_a_table(url: str) -> None:
    open_writer(url).dispose()
    reader = open_reader(url)
    for statement in ("INSERT INTO checkpoints (name, seq) VALUES ('x', 1)", "CREATE TABLE intruder (a INTEGER)"):
        with pytest.raises(DBAPIError, match="readonly|read-only"), reader.begin() as conn:
            conn.execute(text(statement))
    reader.dispose()
    assert "intruder" not in _tables(url)


def test_a_reader_never_migrates_an_older_vault_and_the_writer_does(url: str) -> None:
    engine = open_writer(url)
    with engine.begin() as conn:  # the schema as an older version left it
        conn.exec_driver_sql("DROP INDEX ix_companies_search_text")
        conn.exec_driver_sql("ALTER TABLE companies DROP COLUMN search_text")
    engine.dispose()

    def columns(e: object) -> set[str]:
        return {c["name"] for c in inspect(e).get_columns("companies")}  # type: ignore[arg-type]

    reader = open_reader(url)
    assert "search_text" not in columns(reader)
    reader.dispose()
    writer = open_writer(url)
    assert "search_text" in columns(writer)
    writer.dispose()


async def test_wait_for_returns_once_the_projector_reaches_the_sequence(url: str) -> None:
    reader = open_reader(url)
    waiting = asyncio.create_task(wait_for(reader, 3, timeout=30, poll=0.02))  # no vault yet: it counts as 0
    await asyncio.to_thread(_set_checkpoint, url, 2)
    await asyncio.to_thread(_set_checkpoint, url, 5)
    assert await waiting == 5
    reader.dispose()


async def test_wait_for_gives_up_after_its_timeout_saying_where_the_vault_is(url: str) -> None:
    _set_checkpoint(url, 2)
    reader = open_reader(url)
    with pytest.raises(TimeoutError, match="vault at seq 2, 3 needed .* is the projector running"):
        await wait_for(reader, 3, timeout=0.2, poll=0.02)
    assert await wait_for(reader, 2, timeout=0) == 2
    reader.dispose()
