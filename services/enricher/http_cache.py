"""HTTP response cache with a TTL: an in-memory LRU plus an optional on-disk store."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path


@dataclass
class CachedResponse:
    url: str
    status: int
    headers: dict[str, str]
    body: bytes
    stored_at: float


class HttpCache:
    def __init__(self, ttl_seconds: float, *, max_entries: int = 2048, disk_dir: Path | None = None) -> None:
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self.disk_dir = Path(disk_dir) if disk_dir else None
        self._mem: OrderedDict[str, CachedResponse] = OrderedDict()

    def _path(self, url: str) -> Path:
        h = hashlib.sha256(url.encode()).hexdigest()
        assert self.disk_dir is not None
        return self.disk_dir / h[:2] / f"{h}.json"

    def get(self, url: str) -> CachedResponse | None:
        now = time.time()
        hit = self._mem.get(url)
        if hit is not None:
            if now - hit.stored_at <= self.ttl:
                self._mem.move_to_end(url)
                return hit
            del self._mem[url]
        if self.disk_dir is None or self.ttl <= 0:
            return None
        path = self._path(url)
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if now - doc["stored_at"] > self.ttl:
            path.unlink(missing_ok=True)
            return None
        resp = CachedResponse(url, doc["status"], doc["headers"], base64.b64decode(doc["body"]), doc["stored_at"])
        self._remember(resp)
        return resp

    def put(self, url: str, status: int, headers: dict[str, str], body: bytes) -> None:
        if self.ttl <= 0:
            return
        resp = CachedResponse(url, status, dict(headers), body, time.time())
        self._remember(resp)
        if self.disk_dir is not None:
            path = self._path(url)
            path.parent.mkdir(parents=True, exist_ok=True)
            doc = {"url": url, "status": status, "headers": resp.headers, "stored_at": resp.stored_at,
                   "body": base64.b64encode(body).decode()}
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(doc), encoding="utf-8")
            tmp.replace(path)

    def _remember(self, resp: CachedResponse) -> None:
        self._mem[resp.url] = resp
        self._mem.move_to_end(resp.url)
        while len(self._mem) > self.max_entries:
            self._mem.popitem(last=False)
