"""The cyclic garbage collector's policy, in one place: the runtime applies it, domain code never does.

Three settings, each for a kind of process or call:

- :func:`tune_gc` — every service once started (``shared.service``) and the enricher's page workers:
  what startup built is frozen and the young generation is collected less often;
- :func:`collect_rarely` / :func:`few_collections` — the projector (for its whole life) and a replay
  (for its duration): batches of hundreds of thousands of rows and records come and go;
- :func:`gc_paused` / :func:`pause_gc` / :func:`resume_gc` — a run-level handler (the cleaner's and
  the scorer's step handlers) and the batch prefetcher while it holds a run: a whole run of small
  acyclic objects in memory. The pure functions (``clean_run``, ``score_leads``) do not pause the
  collector themselves; whoever calls them over a whole run does (a service's handler, a benchmark).
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

# Young-generation size for the cyclic garbage collector of a running service (CPython's default: 700).
# A stage handling hundreds of messages at once keeps many young objects alive, and with the default
# every few hundred allocations the collector traversed them all again: on the enricher benchmark ~16%
# of the CPU went to collections, and this threshold with the startup objects frozen took ~0.6 ms of
# CPU off each site (~5.0 -> ~4.3 ms).
GC_YOUNG_THRESHOLD = 20_000
# The projector's and a replay's thresholds (see collect_rarely).
BULK_THRESHOLDS = (50_000, 20, 100)


def tune_gc() -> None:
    """Once the service started: move what startup built (modules, settings, a stage's lookup tables)
    out of the collector's sight for good, and collect the young generation less often."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


def collect_rarely() -> None:
    """Fewer garbage-collector passes while batches of hundreds of thousands of rows and records come
    and go (none of them in a reference cycle): with the default thresholds the collector walks the
    whole heap every few thousand allocations, a third of a replay's time."""
    gc.freeze()  # what exists now (modules, schemas...) is never garbage: stop walking it
    gc.set_threshold(*BULK_THRESHOLDS)


@contextlib.contextmanager
def few_collections() -> Iterator[None]:
    """:func:`collect_rarely` for a while."""
    thresholds = gc.get_threshold()
    collect_rarely()
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


_gc_lock = threading.Lock()
_gc_pauses = 0
_gc_was_enabled = False


def pause_gc() -> None:
    """Pause the cyclic garbage collector until the matching :func:`resume_gc` (calls nest, from
    any thread: the collector runs again when the last pause ends, if it ran before the first)."""
    global _gc_pauses, _gc_was_enabled
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1


def resume_gc() -> None:
    global _gc_pauses
    with _gc_lock:
        _gc_pauses -= 1
        if _gc_pauses == 0 and _gc_was_enabled:
            gc.enable()


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for one bulk call.

    clean_run allocates about ten small, acyclic objects per lead; with a whole run in memory the
    collector's full passes rescan every live object and cost ~60% of the run (measured on 50k
    leads). Nothing there creates reference cycles; reference counting frees everything as usual.
    """
    pause_gc()
    try:
        yield
    finally:
        resume_gc()
