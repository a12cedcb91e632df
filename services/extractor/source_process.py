"""A big file source read in a process of its own, beside the event loop that publishes it.

Parsing a national Receita import is CPU work in Python: in the extractor's process it shares
the GIL with the event loop, so parsing and publishing take turns. ``source_items`` reads a big
``cnpj:`` source in a child process instead (a fresh interpreter running this module: nothing of
the parent's event loop or threads is copied): the child runs ``iter_source(..., as_json=True)``
and sends its items in pickled lists over its standard output; a thread of the parent reads them
ahead (a few lists at most, so memory stays flat) and the items come out in the same order as
``iter_source`` gives them. A source error raised in the child is raised again in the parent.
Small sources, and sources with callbacks (the Casa dos Dados API calls), are read in-process.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from shared.config import Settings
from shared.events import RunFilters, SourceExportUpdated
from shared.schemas import ApiCall, CompanyRecord, DroppedLead

from .sources import iter_source

PROCESS_MIN_ROWS = 200_000  # below this, a child process's start-up (~0.5 s) is not worth it
ITEMS_PER_MESSAGE = 1000
_AHEAD = 4  # lists read ahead by the parent
_STOP_TIMEOUT_S = 30.0  # a stopped child's cleanup (its spill files) before it is killed
PROGRESS_EVERY_S = 0.5  # rows-read reports from the child, at most this often
_ROOT = Path(__file__).resolve().parents[2]  # where ``services`` imports from
Item = CompanyRecord | str | DroppedLead
_CLOSED = object()


def source_items(
    source: str,
    filters: RunFilters,
    *,
    settings: Settings | None = None,
    on_api_call: Callable[[ApiCall], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
    on_export: Callable[[SourceExportUpdated], None] | None = None,
    min_rows: int = PROCESS_MIN_ROWS,
) -> Iterator[Item]:
    """The items of ``iter_source(source, filters, as_json=True)``: read in a child process when the
    source is a ``cnpj:`` directory of at least ``min_rows`` establishments and no smaller limit,
    else in this process. Checks the source eagerly either way (``SourceError``). ``on_progress``
    hears the rows read so far (from another thread when a child reads them)."""
    items = iter_source(source, filters, settings=settings, on_api_call=on_api_call, as_json=True,
                        on_progress=on_progress, on_export=on_export)
    if not _worth_a_process(source, filters, min_rows):
        return items
    items.close()  # type: ignore[attr-defined]
    return ProcessItems(source, filters, on_progress=on_progress)


def _worth_a_process(source: str, filters: RunFilters, min_rows: int) -> bool:
    scheme, _, rest = source.partition(":")
    if scheme.strip().lower() != "cnpj" or (filters.limit is not None and filters.limit < min_rows):
        return False
    from .sources.cnpj_files import estimated_rows, find_receita_files

    return estimated_rows(find_receita_files(Path(rest))["estabelecimentos"]) >= min_rows


def _produce(out: BinaryIO, source: str, filters: RunFilters, per_message: int) -> None:
    """The child: every item of the source, ``per_message`` a list, then ``("done", peak RSS, CPU s)``
    (its own and its join workers': the biggest RSS, the CPU time of all);
    or the exception that stopped it. Each message is its length (8 bytes) and its pickle."""

    def send(obj: object) -> None:
        data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        out.write(len(data).to_bytes(8, "little"))
        out.write(data)
        out.flush()

    from .sources.receita_parallel import auto_workers

    reported = {"at": 0.0, "rows": 0, "sent": 0}

    def progress(rows: int) -> None:  # at most twice a second (the last count goes at the end)
        now = time.monotonic()
        reported["rows"] = rows
        if now - reported["at"] >= PROGRESS_EVERY_S:
            reported["at"], reported["sent"] = now, rows
            send(("read", rows))

    items = iter_source(source, filters, as_json=True, workers=auto_workers(Settings().extract_workers),
                        on_progress=progress)
    try:
        batch: list[Item] = []
        for item in items:
            batch.append(item)
            if len(batch) >= per_message:
                send(batch)
                batch = []
        if batch:
            send(batch)
        if reported["rows"] != reported["sent"]:
            send(("read", reported["rows"]))
        own, workers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        send(("done", max(own.ru_maxrss, workers.ru_maxrss),
              own.ru_utime + own.ru_stime + workers.ru_utime + workers.ru_stime))
    except BrokenPipeError:  # the parent stopped reading (a cancelled run)
        return
    except Exception as exc:  # handed to the parent, raised there
        try:
            pickle.dumps(exc)
        except Exception:
            exc = RuntimeError(f"{type(exc).__name__}: {exc}")
        with contextlib.suppress(OSError):
            send(exc)
    finally:
        items.close()  # type: ignore[attr-defined]  # its spill files (a join on disk) removed now


class ProcessItems(Iterator[Item]):
    """The items of a source read by a child process (see the module docstring)."""

    def __init__(self, source: str, filters: RunFilters, per_message: int = ITEMS_PER_MESSAGE, *,
                 on_progress: Callable[[int], None] | None = None) -> None:
        self._on_progress = on_progress
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_ROOT), env.get("PYTHONPATH")) if p)
        self._process = subprocess.Popen(
            [sys.executable, "-m", __name__, source, filters.model_dump_json(), str(per_message)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, env=env,
        )
        self._lists: queue.Queue[object] = queue.Queue(maxsize=_AHEAD)
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read, name="read extract source", daemon=True)
        self._reader.start()
        self._current: Iterator[Item] = iter(())
        self._done = False
        self.child_peak_rss_kb: int | None = None  # once the source is read to its end
        self.child_cpu_s: float | None = None

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._lists.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _read(self) -> None:
        pipe = self._process.stdout
        assert pipe is not None
        try:
            while True:
                head = pipe.read(8)
                data = pipe.read(int.from_bytes(head, "little")) if len(head) == 8 else b""
                if not data:
                    code = self._process.wait()
                    self._put(RuntimeError(f"the extract source process ended (exit code {code}) "
                                           "without sending its results"))
                    return
                got = pickle.loads(data)
                if isinstance(got, tuple) and got[0] == "read":  # the rows read so far
                    if self._on_progress is not None:
                        self._on_progress(got[1])
                    continue
                if not self._put(got) or not isinstance(got, list):
                    return
        except BaseException as exc:
            self._put(exc)

    def __next__(self) -> Item:
        while True:
            try:
                return next(self._current)
            except StopIteration:
                if self._done:
                    raise
            got = self._lists.get()
            if got is _CLOSED:  # closed from another thread while this one waited
                raise StopIteration
            if isinstance(got, list):
                self._current = iter(got)
                continue
            if isinstance(got, tuple):  # ("done", peak RSS, CPU time of the child)
                self.child_peak_rss_kb, self.child_cpu_s = got[1], got[2]
            self.close()
            if isinstance(got, BaseException):
                raise got
            raise StopIteration

    def close(self) -> None:
        """Stop the child (when not done yet) and the reader thread; idempotent. May be called from
        another thread than the consumer's: a consumer waiting for items then sees the end."""
        self._done = True
        self._current = iter(())
        self._stop.set()
        if self.child_peak_rss_kb is None and self._process.poll() is None:  # not read to its end
            self._process.terminate()  # SIGTERM: it exits through its cleanup (spill files removed)
            try:
                self._process.wait(timeout=_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._process.kill()
        self._process.wait()  # its end of the pipe closed: the reader thread sees the end
        self._reader.join()
        if self._process.stdout is not None:
            self._process.stdout.close()
        with contextlib.suppress(queue.Empty):  # wake a consumer waiting in another thread
            while True:
                self._lists.get_nowait()
        self._lists.put_nowait(_CLOSED)


def main(argv: list[str]) -> int:
    """``python -m services.extractor.source_process SOURCE FILTERS_JSON PER_MESSAGE`` (the child)."""
    out = os.fdopen(os.dup(1), "wb")  # the messages; anything printed goes to stderr
    os.dup2(2, 1)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stopped: unwind, so cleanups run
    source, filters, per_message = argv
    _produce(out, source, RunFilters.model_validate_json(filters), int(per_message))
    with contextlib.suppress(OSError):
        out.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
