"""The enricher's HTTP cache: an in-memory LRU over append-only log files, one per cache object."""

from __future__ import annotations

import os
import time
from pathlib import Path

from services.enricher.http_cache import HttpCache


def test_responses_are_appended_to_one_log_and_read_back_by_a_new_cache(tmp_path: Path) -> None:
    first = HttpCache(3600, disk_dir=tmp_path)
    for i in range(50):
        first.put(f"http://s{i}.test/", 200, {"content-type": "text/html"}, f"<p>{i}</p>".encode() * 100)
    first.close()
    assert len(list(tmp_path.iterdir())) == 1  # no file per response

    second = HttpCache(3600, disk_dir=tmp_path, max_entries=4)
    for i in (0, 49, 7):
        hit = second.get(f"http://s{i}.test/")
        assert hit is not None and hit.status == 200 and hit.headers == {"content-type": "text/html"}
        assert hit.body == f"<p>{i}</p>".encode() * 100
    assert second.get("http://other.test/") is None


def test_another_replicas_new_responses_are_seen_after_a_rescan(tmp_path: Path) -> None:
    reader = HttpCache(3600, disk_dir=tmp_path, rescan_seconds=0)
    writer = HttpCache(3600, disk_dir=tmp_path)
    assert reader.get("http://a.test/") is None
    writer.put("http://a.test/", 200, {}, b"A1")
    writer.put("http://a.test/", 200, {}, b"A2 newer")
    got = reader.get("http://a.test/")
    assert got is not None and got.body == b"A2 newer"


def test_a_record_still_being_written_is_skipped_until_complete(tmp_path: Path) -> None:
    writer = HttpCache(3600, disk_dir=tmp_path)
    writer.put("http://a.test/", 200, {}, b"whole")
    log = next(tmp_path.iterdir())
    data = log.read_bytes()
    with log.open("ab") as f:
        f.write(data.replace(b"a.test", b"b.test")[:-3])  # a torn tail
    reader = HttpCache(3600, disk_dir=tmp_path, rescan_seconds=0)
    assert reader.get("http://a.test/").body == b"whole"  # type: ignore[union-attr]
    assert reader.get("http://b.test/") is None
    with log.open("ab") as f:
        f.write(data.replace(b"a.test", b"b.test")[-3:])  # the writer finishes the record
    got = reader.get("http://b.test/")
    assert got is not None and got.body == b"whole"


def test_expired_entries_are_not_served_and_expired_logs_are_deleted(tmp_path: Path) -> None:
    cache = HttpCache(60, disk_dir=tmp_path)
    cache.put("http://a.test/", 200, {}, b"x")
    cache.close()
    log = next(tmp_path.iterdir())
    old = time.time() - 3600
    os.utime(log, (old, old))
    assert HttpCache(60, disk_dir=tmp_path).get("http://a.test/") is None
    assert not log.exists()


def test_a_zero_ttl_caches_nothing(tmp_path: Path) -> None:
    cache = HttpCache(0, disk_dir=tmp_path)
    cache.put("http://a.test/", 200, {}, b"x")
    assert cache.get("http://a.test/") is None and not list(tmp_path.iterdir())


def test_a_full_log_is_rotated_and_both_stay_readable(tmp_path: Path) -> None:
    cache = HttpCache(3600, disk_dir=tmp_path, rotate_bytes=3000)
    for i in range(10):
        cache.put(f"http://s{i}.test/", 200, {}, bytes([65 + i]) * 1000)
    cache.close()
    assert len(list(tmp_path.iterdir())) > 1
    fresh = HttpCache(3600, disk_dir=tmp_path)
    bodies = [fresh.get(f"http://s{i}.test/") for i in range(10)]
    assert [b.body[:1] if b else None for b in bodies] == [bytes([65 + i]) for i in range(10)]


def test_non_ascii_urls_and_headers_come_back_as_stored(tmp_path: Path) -> None:
    first = HttpCache(3600, disk_dir=tmp_path)
    first.put("http://café.test/ação?q=1\n2", 200, {"x-name": "José", "content-type": "text/html"}, b"corpo\n")
    first.close()
    hit = HttpCache(3600, disk_dir=tmp_path).get("http://café.test/ação?q=1\n2")
    assert hit is not None and hit.headers == {"x-name": "José", "content-type": "text/html"} and hit.body == b"corpo\n"


def test_the_index_forgets_the_responses_of_deleted_logs(tmp_path: Path) -> None:
    cache = HttpCache(60, disk_dir=tmp_path, rotate_bytes=3000)
    for i in range(4):  # the first log fills up with three, the fourth starts a second log
        cache.put(f"http://s{i}.test/", 200, {}, b"x" * 1000)
    first = min(tmp_path.iterdir(), key=lambda p: p.stat().st_mtime_ns)
    old = time.time() - 3600
    os.utime(first, (old, old))
    for i in range(4, 7):  # the second log fills up: at rotation the expired first log is deleted
        cache.put(f"http://s{i}.test/", 200, {}, b"x" * 1000)
    assert not first.exists()
    assert sorted(cache._index) == [f"http://s{i}.test/" for i in range(3, 7)]
