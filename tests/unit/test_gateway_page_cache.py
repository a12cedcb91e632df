"""The vault list's page cache against the plain query: the same page while the vault stays the same,
computed once; a new page as soon as the projector moves the checkpoint or a replay swaps the file in;
no caching where the vault's state cannot be told."""

from __future__ import annotations

import os
from pathlib import Path

from services.gateway.page_cache import PageCache
from services.gateway.queries import list_leads
from services.gateway.vault_swap import follow_swaps
from shared.config import Settings
from shared.vault.engine import make_engine
from shared.vault.filters import LeadFilter
from tests.factories import run_events
from tests.fixtures.vaults import project


def _settings(directory: Path) -> Settings:
    directory.mkdir(parents=True, exist_ok=True)
    return Settings(HUNTER_DATA_DIR=directory, NATS_URL="nats://127.0.0.1:1")


def test_a_page_is_the_plain_querys_and_computed_again_only_when_the_vault_changes(tmp_path: Path) -> None:
    settings = _settings(tmp_path / "live")
    project(settings, run_events("r1", 4))
    engine = make_engine(settings.vault_database_url)
    follow_swaps(engine)
    cache = PageCache()
    flt = LeadFilter()

    def page() -> dict:
        return cache.page(engine, ("all",), lambda: list_leads(engine, flt))

    try:
        first = page()
        assert first == list_leads(engine, flt) and first["total"] == 4
        assert page() == first and cache.computed == 1  # the same vault: kept

        project(settings, run_events("r2", 6), start=100)  # the projector applies a batch: the checkpoint moves
        moved = page()
        assert moved == list_leads(engine, flt) and moved["total"] == 6 and cache.computed == 2

        seq = cache.version(engine)[1]  # type: ignore[index]
        other = _settings(tmp_path / "replayed")  # a replay to the same checkpoint, other content, swapped in
        project(other, run_events("r3", 2), start=100 + len(run_events("r2", 6)) - len(run_events("r3", 2)))
        live = settings.vault_database_url.removeprefix("sqlite:///")
        for p in (f"{live}-wal", f"{live}-shm"):  # as a replay swaps its vault in
            Path(p).unlink(missing_ok=True)
        os.replace(other.vault_database_url.removeprefix("sqlite:///"), live)
        assert cache.version(engine)[1] == seq  # type: ignore[index]  # only the file tells them apart
        swapped = page()
        assert swapped == list_leads(engine, flt) and swapped["total"] == 2 and cache.computed == 3
    finally:
        engine.dispose()


def test_a_vault_whose_state_cannot_be_told_is_never_cached() -> None:
    engine = make_engine("sqlite://")
    cache = PageCache()
    try:
        for _ in range(2):
            assert cache.page(engine, ("all",), lambda: list_leads(engine, LeadFilter()))["total"] == 0
        assert cache.computed == 2
    finally:
        engine.dispose()


def test_pages_past_the_row_budget_are_dropped_least_recently_used_first() -> None:
    engine = make_engine("sqlite://")
    cache = PageCache(max_rows=25)
    cache.version = lambda _engine: ("same vault",)  # type: ignore[method-assign]
    try:
        def page(n: int) -> dict:
            return cache.page(engine, n, lambda: {"items": list(range(10)), "n": n})
        for n in (1, 2, 1, 3):  # 11 rows each: 1 and 2 fit; 1 is used again; 3 pushes 2 out
            assert page(n)["n"] == n
        assert cache.computed == 3
        page(1)
        assert cache.computed == 3  # kept
        page(2)
        assert cache.computed == 4  # dropped, computed again
    finally:
        engine.dispose()
