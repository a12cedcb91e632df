"""RunSpill: a run in memory up to its threshold, on disk past it; only the segments the step takes count."""

from __future__ import annotations

from pathlib import Path

from shared.run_spill import Rows, RunSpill

SCHEMA = ("CREATE TABLE item (seg INTEGER, idx INTEGER, value TEXT)",)


def rows(seg: int, items: list[str]) -> Rows:
    return {"item": [(seg, i, v) for i, v in enumerate(items)]}


def test_a_run_stays_in_memory_up_to_the_threshold_then_goes_to_disk_whole(tmp_path: Path) -> None:
    store: RunSpill[str] = RunSpill(tmp_path, 4, SCHEMA, rows)
    small = [store.put("small", ["a", "b"]), store.put("small", ["c"])]
    big = [store.put("big", ["a", "b", "c"]), store.put("big", ["d", "e"])]
    assert not store.spilled("small") and store.spilled("big")
    assert store.take_items("small", small) == ["a", "b", "c"]
    db = store.open("big", big)
    assert db.execute("SELECT value FROM item ORDER BY seg, idx").fetchall() == [(v,) for v in "abcde"]
    files = list(tmp_path.rglob("*.sqlite"))
    assert len(files) == 1
    store.close("big")
    assert not files[0].exists()


def test_only_the_taken_segments_count_and_a_batch_prepared_late_is_not_kept(tmp_path: Path) -> None:
    store: RunSpill[str] = RunSpill(tmp_path, 0, SCHEMA, rows)
    first = store.put("r", ["a"])
    store.put("r", ["a"])  # the same batch prepared again: not taken
    second = store.put("r", ["b"])
    db = store.open("r", [first, second])
    store.put("r", ["late"])  # a follower behind the step: the step has what it takes
    assert db.execute("SELECT value FROM item ORDER BY seg").fetchall() == [("a",), ("b",)]
    store.close("r")
    again = store.put("r", ["x"])  # the step retried: the run starts again
    assert [r[0] for r in store.open("r", [again]).execute("SELECT value FROM item")] == ["x"]
    store.close("r")
