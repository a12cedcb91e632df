"""What a run-level stage keeps of a run until the run's step comes: in memory while the run is small,
on disk (one SQLite file per run) once it holds more than ``threshold`` items.

The cleaner and the scorer prepare each batch of a run as it is published (``batch_prefetch``) and
need the whole run when its step comes (dedup, shared phones, ranking). Held in memory, a run of
millions of leads costs gigabytes; so each prepared batch is handed to a :class:`RunSpill`, which
gives back a :class:`Segment` (a number) and keeps the items: as they are while the run's items
held stay within ``threshold``, else as rows of the stage's tables in the run's SQLite file (the
items held so far are written there too at that moment). The run-level step then asks
:meth:`RunSpill.spilled`: the items of the segments it takes (:meth:`take_items`, the in-memory
path, as before), or the run's database (:meth:`open`, the stage's spilled path, which reads it
with bounded buffers).

A batch may be prepared twice (the prefetch dropped it, the step read it again): each preparation
is a segment of its own, and only the segments the step names count (:meth:`open` deletes the
rows of the others). Files live under ``directory`` (one directory per process, removed at exit;
directories of processes that are gone are removed when a new one starts).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

T = TypeVar("T")
Rows = dict[str, list[tuple[Any, ...]]]  # table -> rows (each with its segment number)

IDLE_SECONDS = 3600.0
PRAGMAS = (
    "PRAGMA page_size=16384",  # rows of a few KB: fewer overflow pages
    "PRAGMA journal_mode=OFF",
    "PRAGMA synchronous=OFF",
    "PRAGMA temp_store=FILE",
    "PRAGMA cache_size=-16000",  # KiB: 16 MB of page cache, whatever the run's size
    "PRAGMA locking_mode=EXCLUSIVE",
)


@dataclass(frozen=True, slots=True)
class Segment:
    """One prepared batch as a :class:`RunSpill` keeps it."""

    run: str
    seg: int
    count: int


@dataclass
class _Run:
    items: dict[int, list[Any]] = field(default_factory=dict)  # seg -> items (in memory)
    held: int = 0
    db: sqlite3.Connection | None = None
    path: Path | None = None
    segs: set[int] = field(default_factory=set)  # segments written to the database
    lock: threading.Lock = field(default_factory=threading.Lock)
    taken: bool = False  # the step reads the run: a batch prepared late (a follower behind) is not kept
    touched: float = field(default_factory=time.monotonic)


class RunSpill(Generic[T]):
    """Per-run store of prepared batches; see the module docstring.

    ``schema``: the CREATE TABLE statements of the stage's tables (each with a ``seg`` column, the
    segment number); ``rows(seg, items)``: the rows of those tables for one prepared batch (their
    columns in the tables' order).
    ``threshold``: the most items a run keeps in memory (0: every run goes to disk)."""

    def __init__(self, directory: Path | None, threshold: int, schema: Sequence[str],
                 rows: Callable[[int, list[T]], Rows]) -> None:
        self.threshold, self.schema, self.rows = threshold, tuple(schema), rows
        self._root = directory
        self._dir: Path | None = None
        self._runs: dict[str, _Run] = {}
        self._lock = threading.Lock()
        self._next = 0

    # ---- the prefetch side ------------------------------------------------------------------------

    def put(self, run: str, items: list[T]) -> Segment:
        """Keep one prepared batch of ``run``; thread-safe. A run whose step is reading it keeps
        nothing more (the step has every batch it takes already)."""
        with self._lock:
            state = self._runs.get(run)
            if state is None:
                self._sweep()
                state = self._runs[run] = _Run()
            self._next += 1
            seg = self._next
        with state.lock:
            state.touched = time.monotonic()
            if state.taken:
                pass
            elif state.db is None and state.held + len(items) <= self.threshold:
                state.items[seg] = items
                state.held += len(items)
            else:
                if state.db is None:
                    self._spill(run, state)
                self._write(state, seg, items)
        return Segment(run, seg, len(items))

    def _sweep(self) -> None:
        """Forget runs nobody touched for ``IDLE_SECONDS`` (a run that never reached its step, a batch
        prepared after its run was done)."""
        horizon = time.monotonic() - IDLE_SECONDS
        for run in [r for r, state in self._runs.items() if state.touched < horizon and not state.taken]:
            self.close(run)

    def spilled(self, run: str) -> bool:
        state = self._runs.get(run)
        return state is not None and state.db is not None

    def _spill(self, run: str, state: _Run) -> None:
        path = self._directory() / f"{abs(hash(run)):x}-{len(self._runs)}-{os.getpid()}.sqlite"
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        for pragma in PRAGMAS:
            db.execute(pragma)
        for statement in self.schema:
            db.execute(statement)
        state.db, state.path = db, path
        held, state.items, state.held = state.items, {}, 0
        for seg, items in held.items():
            self._write(state, seg, items)

    def _write(self, state: _Run, seg: int, items: list[T]) -> None:
        db = state.db
        assert db is not None
        db.execute("BEGIN")
        for table, rows in self.rows(seg, items).items():
            if rows:
                marks = ",".join("?" * len(rows[0]))
                db.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
        db.execute("COMMIT")
        state.segs.add(seg)

    def _directory(self) -> Path:
        if self._dir is None:
            root = self._root or Path(tempfile.gettempdir()) / "hunter-spill"
            root.mkdir(parents=True, exist_ok=True)
            _remove_dead(root)
            self._dir = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=root))
            atexit.register(shutil.rmtree, self._dir, True)
        return self._dir

    # ---- the run-level step's side ----------------------------------------------------------------

    def take_items(self, run: str, segments: Iterable[Segment]) -> list[T]:
        """The items of ``segments`` in that order (a run kept in memory); the run is forgotten."""
        state = self._runs.pop(run, None)
        if state is None:
            return []
        with state.lock:
            state.taken = True
            held = state.items
        return [item for s in segments for item in held[s.seg]]

    def open(self, run: str, segments: Sequence[Segment]) -> sqlite3.Connection:
        """The run's database holding exactly ``segments`` (a spilled run), and a table
        ``segs(seg, rank)`` giving each its position in the run. Call :meth:`close` when done."""
        state = self._runs[run]
        db = state.db
        assert db is not None
        with state.lock:
            state.taken = True
            wanted = {s.seg for s in segments}
            db.execute("DROP TABLE IF EXISTS segs")
            db.execute("CREATE TABLE segs (seg INTEGER PRIMARY KEY, rank INTEGER NOT NULL)")
            db.executemany("INSERT INTO segs VALUES (?, ?)", ((s.seg, i) for i, s in enumerate(segments)))
            if state.segs - wanted:  # batches prepared twice: the rows of the copies not taken go
                tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
                for table in tables:
                    if table != "segs":
                        db.execute(f"DELETE FROM {table} WHERE seg NOT IN (SELECT seg FROM segs)")
            missing = wanted - state.segs
            if missing:
                raise KeyError(f"run {run}: segments {sorted(missing)[:5]} were not kept")
        return db

    def close(self, run: str) -> None:
        """Forget a run: its items, its database and file."""
        state = self._runs.pop(run, None)
        if state is None:
            return
        with state.lock:
            if state.db is not None:
                state.db.close()
            if state.path is not None:
                with contextlib.suppress(FileNotFoundError):
                    state.path.unlink()

    forget = close


def _remove_dead(root: Path) -> None:
    """Directories left by processes that are gone (a crash, a kill -9)."""
    for child in root.iterdir():
        pid = child.name.split("-", 1)[0]
        if child.is_dir() and pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(child, ignore_errors=True)
