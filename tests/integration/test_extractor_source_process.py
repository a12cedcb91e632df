"""A big cnpj source read by a child process: the same items, errors raised here, stopped when left."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from services.extractor.publishing import SourceBatches, publish_batches
from services.extractor.source_process import ProcessItems, source_items
from services.extractor.sources import SourceError, iter_source
from shared.bus import Bus
from shared.events import RunFilters
from shared.registry_ids import check_digits
from shared.schemas import DroppedLead
from tests.shared_data import SHARED_DATA

CNPJ_DIR = SHARED_DATA / "cnpj"
pytestmark = pytest.mark.skipif(not CNPJ_DIR.is_dir(), reason=f"shared sample data not found at {CNPJ_DIR}")


def _q(fields: list[str]) -> bytes:
    return (";".join(f'"{f}"' for f in fields) + "\n").encode("latin-1")


@pytest.fixture
def receita(tmp_path: Path) -> Path:
    """The real sample zips plus 2,500 synthetic establishments (one of them malformed)."""
    target = tmp_path / "cnpj"
    shutil.copytree(CNPJ_DIR, target)
    rows = []
    for i in range(2500):
        basico = f"{20_000_000 + i}"
        rows.append(_q([basico, "0001", check_digits(basico + "0001"), "1", f"LOJA {i}", "02" if i % 7 else "08",
                        "20200101", "00", "", "", "20150310", "6201501", "", "RUA", "DAS FLORES", str(i), "",
                        "CENTRO", "01310100", "SP" if i % 3 else "RJ", "7107", "11", f"9{i:08d}", "", "", "", "",
                        "", "", ""]))
    rows[1234] = b'"20001234";"0001";"BROKEN ROW"\n'
    (target / "Estabelecimentos1").write_bytes(b"".join(rows))
    return target


def test_a_big_source_read_by_a_child_process_gives_the_same_items_in_order(receita: Path) -> None:
    for filters in (RunFilters(status=["*"]), RunFilters(uf=["SP"]), RunFilters(limit=100)):
        items = source_items(f"cnpj:{receita}", filters, min_rows=0)
        assert isinstance(items, ProcessItems)
        got = list(items)
        assert got == list(iter_source(f"cnpj:{receita}", filters, as_json=True))
        assert items.child_peak_rss_kb and items.child_peak_rss_kb > 0
    rejected = [i for i in got if isinstance(i, DroppedLead)]
    assert not rejected  # the limit came first
    everything = list(source_items(f"cnpj:{receita}", RunFilters(status=["*"]), min_rows=0))
    [bad] = [i for i in everything if isinstance(i, DroppedLead)]
    assert (bad.source_file, bad.source_line, bad.reason.code) == ("Estabelecimentos1", 1235, "malformed_row")


def test_small_sources_stay_in_this_process(receita: Path) -> None:
    assert not isinstance(source_items(f"cnpj:{receita}", RunFilters()), ProcessItems)  # 2,500 rows
    assert not isinstance(source_items(f"cnpj:{receita}", RunFilters(limit=10), min_rows=100), ProcessItems)


def test_a_source_error_in_the_child_is_raised_in_the_parent(receita: Path) -> None:
    items = source_items(f"cnpj:{receita}", RunFilters(city=["CIDADE QUE NAO EXISTE"]), min_rows=0)
    assert isinstance(items, ProcessItems)
    with pytest.raises(SourceError, match="unknown municipality"):
        list(items)
    with pytest.raises(SourceError, match="directory not found"):  # checked eagerly, here
        source_items(f"cnpj:{receita / 'missing'}", RunFilters(), min_rows=0)


def test_a_source_left_before_its_end_stops_its_child_through_its_cleanup(receita: Path) -> None:
    items = ProcessItems(f"cnpj:{receita}", RunFilters(status=["*"]), per_message=10)  # more than a pipe holds
    assert next(items)
    items.close()
    assert items._process.returncode == 143  # noqa: SLF001 - SIGTERM, handled: it unwound (spill files removed)
    with pytest.raises(StopIteration):
        next(items)


async def test_publishing_from_a_child_process_sends_every_lead_and_a_cancel_stops_the_child(
    bus: Bus, receita: Path
) -> None:
    filters = RunFilters(status=["*"])
    items = source_items(f"cnpj:{receita}", filters, min_rows=0)
    encoder = SourceBatches("run-source-process", items, batch_size=500)
    assert await publish_batches(bus, encoder)
    assert (encoder.extracted, encoder.rejected) == (2500, 1)  # the sample's lead, 2,499 good rows, one broken
    assert await bus.count("lead.extracted.run-source-process") == encoder.batches == 5

    items = source_items(f"cnpj:{receita}", filters, min_rows=0)
    assert isinstance(items, ProcessItems)
    encoder = SourceBatches("run-source-process-cancelled", items, batch_size=500)

    async def cancel() -> bool:
        return False

    assert not await publish_batches(bus, encoder, after_batch=cancel)
    assert await bus.count("lead.extracted.run-source-process-cancelled") == 1  # the next one was encoded only
    assert items._process.poll() is not None  # noqa: SLF001 - stopped, not left reading the source


def test_the_rows_read_are_reported_while_a_source_is_read(receita: Path) -> None:
    for min_rows in (0, 1 << 40):  # read by a child process, then in this one
        read: list[int] = []
        items = list(source_items(f"cnpj:{receita}", RunFilters(status=["*"]), min_rows=min_rows,
                                  on_progress=read.append))
        assert len(items) == 2501
        assert read and read == sorted(read) and read[-1] == 2502  # the sample's 2 lines (one empty), 2,500 rows


def test_closing_from_another_thread_ends_a_wait_for_the_first_lead(tmp_path: Path) -> None:
    """A national import yields nothing until its scan ends: a cancel closes it from the event loop's
    thread while the publisher's thread waits for items."""
    import threading

    big = tmp_path / "big"
    big.mkdir()
    with (big / "Estabelecimentos0").open("wb") as fh:
        for start in range(0, 400_000, 10_000):
            fh.write(b"".join(_q([f"{30_000_000 + i}", "0001", check_digits(f"{30_000_000 + i}0001"), "1", "LOJA",
                                   "02", "20200101", "00", "", "", "20150310", "6201501", "", "RUA", "A", "1", "",
                                   "CENTRO", "01310100", "SP", "7107", "11", "912345678", "", "", "", "", "", "",
                                   ""]) for i in range(start, start + 10_000)))
    scanning = threading.Event()
    items = source_items(f"cnpj:{big}", RunFilters(status=["*"]), min_rows=0,
                         on_progress=lambda rows: scanning.set())
    assert isinstance(items, ProcessItems)
    got: list[object] = []
    consumer = threading.Thread(target=lambda: got.extend(items), daemon=True)
    consumer.start()
    assert scanning.wait(60), "no progress from the child"
    items.close()
    consumer.join(30)
    assert not consumer.is_alive(), "the consumer still waits for items after close()"
    assert len(got) < 400_000
