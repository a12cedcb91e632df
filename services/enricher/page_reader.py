"""Page reading (a homepage's contacts and technologies, a contact page's contacts) in this process or in
worker processes.

Reading pages is most of an enricher's CPU (parsing, scanning, fingerprinting: ~1 ms per site), and an
asyncio process runs on one core. :class:`WorkerReader` hands the pages to ``ENRICHER_PAGE_WORKERS``
processes (:mod:`.page_worker`) over pipes, so one replica uses more cores: its own for the network, the
bus and the budgets, the workers' for the pages. A request costs this process ~50 us (framing and
pickling, no executor machinery). A worker that dies (a page that crashes the parser) fails the
leads it was reading, and the next page starts a new one. :class:`InProcessReader` reads in this
process (``ENRICHER_PAGE_WORKERS=0``, or a fingerprint database given as an object).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import pickle
import subprocess
import sys
from typing import Any, Protocol

from shared.schemas import Technology

from .extraction import PageContacts
from .fingerprints import FingerprintDB
from .page_worker import read_home, read_page, read_pages, widen_pipe


class PageReader(Protocol):
    """Pages come as text or as response bodies (bytes, decoded in the charset of their Content-Type)."""

    async def home(self, page: str | bytes, url: str, country: str, headers: dict[str, str],
                   cookies: dict[str, str]) -> tuple[PageContacts, list[Technology]]: ...

    async def page(self, page: str | bytes, content_type: str, url: str, country: str) -> PageContacts: ...

    async def pages(self, pages: list[tuple[str | bytes, str, str]], country: str) -> list[PageContacts]:
        """``page`` of each (page, content type, url), in one go."""
        ...

    async def aclose(self) -> None: ...


class PageReadError(RuntimeError):
    """A page could not be read (an error in the worker, or the worker died)."""


class InProcessReader:
    def __init__(self, fingerprints: FingerprintDB) -> None:
        self.fingerprints = fingerprints

    async def home(self, page: str | bytes, url: str, country: str, headers: dict[str, str],
                   cookies: dict[str, str]) -> tuple[PageContacts, list[Technology]]:
        return read_home(self.fingerprints, page, url, country, headers, cookies)

    async def page(self, page: str | bytes, content_type: str, url: str, country: str) -> PageContacts:
        return read_page(self.fingerprints, page, content_type, url, country)

    async def pages(self, pages: list[tuple[str | bytes, str, str]], country: str) -> list[PageContacts]:
        return read_pages(self.fingerprints, pages, country)

    async def aclose(self) -> None:
        pass


class _WorkerProtocol(asyncio.SubprocessProtocol):
    """Answers parsed from the worker's stdout as they arrive; each resolves its request's future."""

    def __init__(self) -> None:
        self.pending: dict[int, asyncio.Future[Any]] = {}
        self.buf = bytearray()
        self.exited: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        if fd != 1:
            return
        buf = self.buf
        buf += data
        pos, size = 0, len(buf)
        while size - pos >= 4:
            n = int.from_bytes(buf[pos:pos + 4], "big")
            if size - pos - 4 < n:
                break
            rid, ok, result = pickle.loads(memoryview(buf)[pos + 4:pos + 4 + n])
            pos += 4 + n
            fut = self.pending.pop(rid, None)
            if fut is not None and not fut.done():
                fut.set_result((ok, result))
        if pos:
            del buf[:pos]

    def process_exited(self) -> None:
        for fut in self.pending.values():
            if not fut.done():
                fut.set_exception(PageReadError("page worker exited"))
        self.pending.clear()
        if not self.exited.done():
            self.exited.set_result(None)


class _Worker:
    def __init__(self, fingerprints_path: str | None) -> None:
        self.fingerprints_path = fingerprints_path
        self.transport: asyncio.SubprocessTransport | None = None
        self.protocol: _WorkerProtocol | None = None
        self._stdin: asyncio.WriteTransport | None = None
        self._starting = asyncio.Lock()

    @property
    def pending(self) -> dict[int, asyncio.Future[Any]]:
        return self.protocol.pending if self.protocol is not None else {}

    def _alive(self) -> bool:
        return self.protocol is not None and not self.protocol.exited.done() and self._stdin is not None \
            and not self._stdin.is_closing()

    async def ensure(self) -> None:
        if self._alive():
            return
        async with self._starting:
            if self._alive():
                return
            if self.transport is not None:
                self.transport.close()
            loop = asyncio.get_running_loop()
            self.transport, self.protocol = await loop.subprocess_exec(
                _WorkerProtocol, sys.executable, "-m", "services.enricher.page_worker", self.fingerprints_path or "",
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None,
                cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
            )
            self._stdin = self.transport.get_pipe_transport(0)  # type: ignore[assignment]
            assert self._stdin is not None
            with contextlib.suppress(Exception):  # a wide pipe: see ``page_worker.widen_pipe``
                widen_pipe(self._stdin.get_extra_info("pipe").fileno())

    @property
    def pid(self) -> int | None:
        return self.transport.get_pid() if self.transport is not None and self._alive() else None

    async def call(self, rid: int, kind: str, args: tuple[Any, ...]) -> Any:
        await self.ensure()
        assert self.protocol is not None and self._stdin is not None
        data = pickle.dumps((rid, kind, args), protocol=pickle.HIGHEST_PROTOCOL)
        fut = asyncio.get_running_loop().create_future()
        self.protocol.pending[rid] = fut
        self._stdin.write(len(data).to_bytes(4, "big") + data)
        ok, result = await fut
        if not ok:
            raise PageReadError(result)
        return result

    async def aclose(self) -> None:
        if self.transport is None or self.protocol is None:
            return
        if self._stdin is not None:
            self._stdin.close()  # the worker ends at the end of its input
        try:
            await asyncio.wait_for(asyncio.shield(self.protocol.exited), 10)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.transport.kill()
            await self.protocol.exited
        self.transport.close()


class WorkerReader:
    """Pages read by ``workers`` processes, each request to the worker with the fewest in flight."""

    def __init__(self, workers: int, fingerprints_path: str | None) -> None:
        self._workers = [_Worker(fingerprints_path) for _ in range(max(1, workers))]
        self._ids = itertools.count()

    async def start(self) -> WorkerReader:
        """Start the workers now (else the first pages would wait for them)."""
        for worker in self._workers:
            await worker.ensure()
        return self

    async def _call(self, kind: str, args: tuple[Any, ...]) -> Any:
        worker = min(self._workers, key=lambda w: len(w.pending))
        return await worker.call(next(self._ids), kind, args)

    async def home(self, page: str | bytes, url: str, country: str, headers: dict[str, str],
                   cookies: dict[str, str]) -> tuple[PageContacts, list[Technology]]:
        return await self._call("home", (page, url, country, headers, cookies))  # type: ignore[no-any-return]

    async def page(self, page: str | bytes, content_type: str, url: str, country: str) -> PageContacts:
        return await self._call("page", (page, content_type, url, country))  # type: ignore[no-any-return]

    async def pages(self, pages: list[tuple[str | bytes, str, str]], country: str) -> list[PageContacts]:
        if not pages:
            return []
        return await self._call("pages", (pages, country))  # type: ignore[no-any-return]

    @property
    def pids(self) -> list[int]:
        return [pid for pid in (w.pid for w in self._workers) if pid is not None]

    async def aclose(self) -> None:
        for worker in self._workers:
            await worker.aclose()


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity: a container's cpuset), else the machine's."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def page_workers(setting: int | None, replicas_per_host: int = 1, cores: int | None = None) -> int:
    """``ENRICHER_PAGE_WORKERS``; unset, one worker per replica when the machine has two cores for each of
    its ``replicas_per_host`` replicas, else none. A replica's event loop and its worker each keep about
    a core busy: replicas that already take every core gain nothing from workers, and lose the ~0.4 ms
    per site of handing pages over (bench/enrich.py: 2 replicas on 2 cores, 320 sites/s with a worker
    each, 406 without)."""
    if setting is not None:
        return max(0, setting)
    cores = usable_cores() if cores is None else cores
    return 1 if cores >= 2 * max(1, replicas_per_host) else 0
