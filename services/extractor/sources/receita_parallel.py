"""The on-disk join of a national Receita import (``receita_join.Spill``) on several cores.

- while this process scans Estabelecimentos into the spill, another one writes the company-level
  sides (Empresas, Simples, Socios): the two scans overlap;
- the partitions are then joined by ``workers`` processes, partition ``i`` by worker
  ``i % workers`` (worker 0 is this process). A worker writes a partition's items to a file of
  pickled lists and starts its next partition only once this process has begun reading the
  previous one, so at most two partitions' items per worker wait on disk.

Items come out in partition order, each partition in file order: the same items in the same
order as the single-process join, whatever the number of workers (the number of partitions
depends on the data only). Workers are fresh interpreters (``spawn``): nothing of this process's
threads is copied. An error in a worker is raised here; leaving the iterator stops the workers.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from .receita_join import CompanyRows, CompanySides, Establishment, Spill, partition_establishments, partition_rows

_GO = b"go\n"
_ROOT = Path(__file__).resolve().parents[3]  # where ``services`` imports from
Emit = Callable[[Iterable[Establishment], CompanyRows], Iterator[Any]]


def auto_workers(configured: int = 0) -> int:
    """``configured`` processes, or with 0 one per CPU this process may use (at most 4)."""
    if configured > 0:
        return configured
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(4, cpus))


class _Process:
    """A worker: ``python -m`` this module with ``args``; told to go on through its standard input,
    answering with pickled messages (their length on 8 bytes, then the pickle) on its standard output."""

    def __init__(self, what: str, *args: str) -> None:
        self.what = what
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_ROOT), env.get("PYTHONPATH")) if p)
        self.process = subprocess.Popen([sys.executable, "-m", __name__, *args], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, env=env)

    def go(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(_GO)
        self.process.stdin.flush()

    def received(self) -> tuple[Any, ...]:
        """The worker's next message; raises the error it sent, or says it ended without a word."""
        pipe = self.process.stdout
        assert pipe is not None
        head = pipe.read(8)
        data = pipe.read(int.from_bytes(head, "little")) if len(head) == 8 else b""
        if not data:
            code = self.process.wait()
            raise RuntimeError(f"the cnpj {self.what} process ended (exit code {code}) without sending its results")
        message = pickle.loads(data)
        if message[0] == "error":
            raise message[1]
        return message  # type: ignore[no-any-return]

    def stop(self) -> None:
        """Idempotent; a worker still at work is terminated."""
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        if self.process.poll() is None:
            self.process.terminate()
        self.process.wait()


def _send(out: IO[bytes], message: tuple[Any, ...]) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(len(data).to_bytes(8, "little"))
    out.write(data)
    out.flush()


def _send_error(out: IO[bytes], exc: BaseException) -> None:
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        exc = RuntimeError(f"{type(exc).__name__}: {exc}")
    with contextlib.suppress(OSError):
        _send(out, ("error", exc))


def _write_company_sides(out: IO[bytes], directory: str, root: str, n: str, flush_at: str) -> None:
    """A worker: every Empresas/Simples/Socios row into the spill's company sides."""
    from .cnpj_files import find_receita_files
    from .receita_join import company_lines

    sides = CompanySides(Path(root), int(n), int(flush_at))
    sides.add(company_lines(find_receita_files(Path(directory)), None))
    sides.close()
    _send(out, ("done",))


class CompanySidesWriter:
    """The company sides of ``spill`` written by a process of their own, from now on."""

    def __init__(self, directory: Path, spill: Spill) -> None:
        self._worker = _Process("company rows", "companies", str(directory), str(spill.root), str(spill.n),
                                str(spill.company_flush_at))

    def wait(self) -> None:
        """Until every company row is written; raises what stopped the writer."""
        try:
            self._worker.received()
        finally:
            self.stop()

    def stop(self) -> None:
        self._worker.stop()


def _output_path(root: Path, i: int) -> Path:
    return root / f"out{i}"


def _join_partitions(out: IO[bytes], directory: str, as_json: str, root: str, *partitions: str) -> None:
    """A worker: the items of each of ``partitions``, one at a time and each once told to go, into
    a file of pickled lists; says which partition is done."""
    from .cnpj_files import CodeTables, find_receita_files, make_emitter

    emit = make_emitter(CodeTables.load(find_receita_files(Path(directory))), as_json=as_json == "json")
    for i in map(int, partitions):
        if sys.stdin.buffer.readline() != _GO:
            return  # stopped
        path = _output_path(Path(root), i)
        with path.open("wb", buffering=1 << 20) as fh:
            batch: list[Any] = []
            for item in emit(partition_establishments(Path(root), i), partition_rows(Path(root), i)):
                batch.append(item)
                if len(batch) >= 1000:
                    pickle.dump(batch, fh, protocol=pickle.HIGHEST_PROTOCOL)
                    batch = []
            if batch:
                pickle.dump(batch, fh, protocol=pickle.HIGHEST_PROTOCOL)
        _send(out, ("done", i))


def _read_output(path: Path) -> Iterator[Any]:
    try:
        with path.open("rb", buffering=1 << 20) as fh:
            while True:
                try:
                    batch = pickle.load(fh)
                except EOFError:
                    return
                yield from batch
    finally:
        path.unlink(missing_ok=True)


class _Joiner:
    def __init__(self, directory: Path, as_json: bool, root: Path, partitions: list[int]) -> None:
        self.partitions = list(partitions)
        self.worker = _Process("join", "join", str(directory), "json" if as_json else "models", str(root),
                               *map(str, partitions))
        self.worker.go()  # its first partition, right away

    def take(self, i: int) -> None:
        """Wait until partition ``i`` is done; then let the worker go on with its next one."""
        message = self.worker.received()
        if message != ("done", i):
            raise RuntimeError(f"the cnpj join process sent {message!r}, expected partition {i}")
        self.partitions.remove(i)
        if self.partitions:
            self.worker.go()


def join_in_parallel(directory: Path, spill: Spill, emit: Emit, *, as_json: bool, workers: int) -> Iterator[Any]:
    """The items of every partition of ``spill`` (written and closed), in partition order."""
    spill.close()
    n, root = spill.n, spill.root
    assigned = {w: [i for i in range(n) if i % workers == w] for w in range(1, workers)}
    joiners = {w: _Joiner(directory, as_json, root, parts) for w, parts in assigned.items() if parts}
    try:
        for i in range(n):
            joiner = joiners.get(i % workers)
            if joiner is None:
                yield from emit(partition_establishments(root, i), partition_rows(root, i))
            else:
                joiner.take(i)
                yield from _read_output(_output_path(root, i))
    finally:
        for joiner in joiners.values():
            joiner.worker.stop()


_COMMANDS: dict[str, Callable[..., None]] = {"companies": _write_company_sides, "join": _join_partitions}


def main(argv: list[str]) -> int:
    """``python -m services.extractor.sources.receita_parallel companies|join ARGS...`` (a worker)."""
    out = os.fdopen(os.dup(1), "wb")  # the messages; anything printed goes to stderr
    os.dup2(2, 1)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        _COMMANDS[argv[0]](out, *argv[1:])
    except BaseException as exc:
        _send_error(out, exc)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
