"""HTTP response cache with a TTL: an in-memory LRU plus an optional on-disk store.

On disk each cache object appends its responses to a log file of its own in ``disk_dir``
(one ``write`` per response: a JSON header line, then the body), so storing a page costs no
file creation, directory or rename. Every log file in the directory is indexed (URL -> where its
newest copy is), at start and again at most once a ``rescan_seconds`` on a miss, so a new process
or another replica reads what the others stored. A log past ``ROTATE_BYTES`` is closed for a new one;
log files last written longer than the TTL ago are deleted (at start and at each rotation).
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import orjson

_MAGIC = b"HC1 "
_SUFFIX = ".log"
ROTATE_BYTES = 256 * 1024 * 1024  # a log this big is closed for a new one: old logs then expire as a whole


@dataclass
class CachedResponse:
    url: str
    status: int
    headers: dict[str, str]
    body: bytes
    stored_at: float


@dataclass(slots=True)
class _Stored:
    path: Path
    offset: int  # of the body
    length: int
    status: int
    headers: dict[str, str]
    stored_at: float


class HttpCache:
    def __init__(self, ttl_seconds: float, *, max_entries: int = 2048, disk_dir: Path | None = None,
                 rescan_seconds: float = 1.0, rotate_bytes: int = ROTATE_BYTES) -> None:
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self.disk_dir = Path(disk_dir) if disk_dir and ttl_seconds > 0 else None
        self.rescan_seconds = rescan_seconds
        self.rotate_bytes = rotate_bytes
        self._mem: OrderedDict[str, CachedResponse] = OrderedDict()
        self._index: dict[str, _Stored] = {}
        self._read_upto: dict[Path, int] = {}  # bytes of each log file indexed so far
        self._own: Path | None = None
        self._fd: int | None = None
        self._end: int | None = None  # where this object's next record starts in its own log
        self._next_scan = 0.0
        if self.disk_dir is not None:
            self._drop_expired_logs()
            self._scan()

    # ------------------------------------------------------------------ public

    def get(self, url: str) -> CachedResponse | None:
        now = time.time()
        hit = self._mem.get(url)
        if hit is not None:
            if now - hit.stored_at <= self.ttl:
                self._mem.move_to_end(url)
                return hit
            del self._mem[url]
        if self.disk_dir is None:
            return None
        stored = self._index.get(url)
        if stored is None and time.monotonic() >= self._next_scan:
            self._scan()
            stored = self._index.get(url)
        if stored is None:
            return None
        if now - stored.stored_at > self.ttl:
            del self._index[url]
            return None
        try:
            with stored.path.open("rb") as f:
                f.seek(stored.offset)
                body = f.read(stored.length)
        except OSError:
            body = b""
        if len(body) != stored.length:
            del self._index[url]
            return None
        resp = CachedResponse(url, stored.status, stored.headers, body, stored.stored_at)
        self._remember(resp)
        return resp

    def put(self, url: str, status: int, headers: dict[str, str], body: bytes) -> None:
        if self.ttl <= 0:
            return
        resp = CachedResponse(url, status, dict(headers), body, time.time())
        self._remember(resp)
        if self.disk_dir is None:
            return
        # JSON has no raw newline: the head is one line (non-ASCII in UTF-8)
        head = orjson.dumps({"url": url, "status": status, "headers": resp.headers, "stored_at": resp.stored_at,
                             "len": len(body)})
        try:
            fd = self._log_fd()
            end = self._end if self._end is not None else os.lseek(fd, 0, os.SEEK_END)
            if end >= self.rotate_bytes:
                self.close()
                self._drop_expired_logs()
                fd = self._log_fd()
                end = 0
            offset = end + len(_MAGIC) + len(head) + 1
            # one gathering write: the body is not copied into a joined buffer first
            parts = (_MAGIC, head, b"\n", body, b"\n")
            written = os.writev(fd, parts)
            total = offset + len(body) + 1 - end
            # only this object appends to its log: the end is known without asking the kernel again
            self._end = end + written if written == total else None
        except OSError:
            self._end = None
            return  # a cache that cannot write still serves from memory
        self._index[url] = _Stored(self._own, offset, len(body), status, resp.headers, resp.stored_at)  # type: ignore[arg-type]

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
        self._end = None

    def __del__(self) -> None:
        self.close()

    # ------------------------------------------------------------------ internals

    def _remember(self, resp: CachedResponse) -> None:
        self._mem[resp.url] = resp
        self._mem.move_to_end(resp.url)
        while len(self._mem) > self.max_entries:
            self._mem.popitem(last=False)

    def _log_fd(self) -> int:
        if self._fd is None:
            assert self.disk_dir is not None
            self.disk_dir.mkdir(parents=True, exist_ok=True)
            self._own = self.disk_dir / f"{os.getpid()}-{uuid.uuid4().hex[:12]}{_SUFFIX}"
            self._fd = os.open(self._own, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        return self._fd

    def _drop_expired_logs(self) -> None:
        """Delete the logs last written longer than the TTL ago, and forget the responses indexed there and
        any other expired ones (the index would otherwise grow for as long as the process runs)."""
        assert self.disk_dir is not None
        cutoff = time.time() - self.ttl
        dropped: set[Path] = set()
        with contextlib.suppress(OSError):
            for path in self.disk_dir.glob(f"*{_SUFFIX}"):
                with contextlib.suppress(OSError):
                    if path.stat().st_mtime < cutoff:
                        path.unlink()
                        dropped.add(path)
        for path in dropped:
            self._read_upto.pop(path, None)
        self._index = {url: st for url, st in self._index.items()
                       if st.path not in dropped and st.stored_at >= cutoff}

    def _scan(self) -> None:
        """Index what the log files (other processes' included) hold beyond what was read before."""
        assert self.disk_dir is not None
        self._next_scan = time.monotonic() + self.rescan_seconds
        try:
            paths = [p for p in self.disk_dir.iterdir() if p.name.endswith(_SUFFIX)]
        except OSError:
            return
        for path in paths:
            if path == self._own:
                continue
            start = self._read_upto.get(path, 0)
            try:
                if path.stat().st_size <= start:
                    continue
                with path.open("rb") as f:
                    f.seek(start)
                    self._read_upto[path] = self._index_log(f, path, start)
            except OSError:
                continue

    def _index_log(self, f, path: Path, pos: int) -> int:  # noqa: ANN001 - a binary file
        """Index the complete records from ``pos`` on; where the next scan starts."""
        while True:
            line = f.readline()
            if not line.endswith(b"\n") or not line.startswith(_MAGIC):
                return pos  # end of file, a record being written, or damage: stop here
            try:
                head = orjson.loads(line[len(_MAGIC):])
                length = int(head["len"])
                stored = _Stored(path, pos + len(line), length, int(head["status"]), dict(head["headers"]),
                                 float(head["stored_at"]))
            except (ValueError, KeyError, TypeError):  # orjson.JSONDecodeError is a ValueError
                return pos
            f.seek(length, os.SEEK_CUR)
            if f.read(1) != b"\n":
                return pos
            pos = stored.offset + length + 1
            old = self._index.get(head["url"])
            if old is None or old.stored_at <= stored.stored_at:
                self._index[head["url"]] = stored
