"""Pages of the vault list kept while the vault stays the same (SQLite).

Everything the vault holds is written by the projector, each batch in one transaction that also moves
its checkpoint, and a replay swaps a new file in: so a page computed at (vault file, checkpoint) is
the page while both stay the same. Many people looking at the same list of a quiet vault then cost one
query; during a run each applied batch moves the checkpoint and pages are computed again. The
checkpoint costs one primary-key read. Other databases are not cached. ``tests/unit/
test_gateway_page_cache.py`` compares it with the plain query as the vault changes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from sqlalchemy.engine import Engine

from shared.vault.engine import file_identity

_CHECKPOINT = "SELECT seq FROM checkpoints WHERE name = 'projector'"


class PageCache:
    """At most ``max_rows`` rows of pages (a page weighs its items, plus one), least recently used out first."""

    def __init__(self, max_rows: int = 20_000) -> None:
        self.max_rows = max_rows
        self._pages: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._rows = 0
        self._lock = threading.Lock()
        self.computed = 0  # pages computed (misses), for the tests

    def version(self, engine: Engine) -> Hashable | None:
        """What identifies the vault's content now; None where it cannot be told (no caching)."""
        path = engine.url.database
        if engine.dialect.name != "sqlite" or not path or path == ":memory:":
            return None
        identity = file_identity(path)
        with engine.connect() as conn:
            seq = conn.exec_driver_sql(_CHECKPOINT).scalar()
        return (identity, seq) if identity is not None else None

    def page(self, engine: Engine, key: Hashable, compute: Callable[[], Any]) -> Any:
        """The page ``key`` of the vault as it is now: kept, or computed and kept."""
        version = self.version(engine)
        if version is None:
            self.computed += 1
            return compute()
        full = (id(engine), version, key)
        with self._lock:
            if full in self._pages:
                self._pages.move_to_end(full)
                return self._pages[full][0]
        page = compute()
        self.computed += 1
        if self.version(engine) != version:  # the vault moved while computing: which state it shows is unsure
            return page
        weight = 1 + len(page.get("items", ())) if isinstance(page, dict) else 1
        with self._lock:
            if full not in self._pages:
                self._pages[full] = (page, weight)
                self._rows += weight
            while self._rows > self.max_rows:
                _, (_, dropped) = self._pages.popitem(last=False)
                self._rows -= dropped
        return page
