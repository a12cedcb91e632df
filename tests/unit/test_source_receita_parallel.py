"""A national cnpj import joined on disk by several processes: the same items in the same order."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.extractor.sources import SourceError
from services.extractor.sources.cnpj_files import iter_cnpj
from services.extractor.sources.receita_parallel import _Process, auto_workers
from shared.events import RunFilters
from shared.registry_ids import check_digits
from shared.schemas import CompanyRecord, DroppedLead


def _q(fields: list[str]) -> bytes:
    return (";".join(f'"{f}"' for f in fields) + "\n").encode("latin-1")


def _estab(basico: str, ordem: str, i: int) -> list[str]:
    return [basico, ordem, check_digits(basico + ordem), "1" if ordem == "0001" else "2", f"LOJA {i}",
            "02" if i % 7 else "08", "20200101", "00", "", "", "20150310", "6201501", "6202300", "RUA",
            "DAS FLORES", str(i), "", "CENTRO", "01310100", "SP" if i % 3 else "RJ", "7107", "11", f"9{i:08d}",
            "", "", "", "", f"c{i}@x.com.br" if i % 4 == 0 else "", "", ""]


@pytest.fixture
def publication(tmp_path: Path) -> Path:
    """300 establishments (every fifth a branch), their companies, Simples, partners, one malformed row."""
    target = tmp_path / "cnpj"
    target.mkdir()
    estab, empresas, simples, socios = [], [], [], []
    basico = 30_000_000
    for i in range(300):
        if i % 5:
            basico += 1
            empresas.append(_q([str(basico), f"EMPRESA {basico} LTDA", "2062", "49", "1000,00", "01", ""]))
            simples.append(_q([str(basico), "S", "20180101", "", "S" if basico % 3 == 0 else "N", "", ""]))
            if basico % 4 == 0:
                socios.append(_q([str(basico), "2", f"SOCIO {basico}", "***1**", "49", "20150101", "", "", "",
                                  "00", "4"]))
        estab.append(_q(_estab(str(basico), "0001" if i % 5 else "0002", i)))
    estab[150] = b'"30000120";"0001";"BROKEN"\n'
    (target / "Estabelecimentos0").write_bytes(b"".join(estab))
    (target / "Empresas0").write_bytes(b"".join(reversed(empresas)))
    (target / "Simples").write_bytes(b"".join(simples))
    (target / "Socios0").write_bytes(b"".join(socios))
    return target


def _children_running(of: int) -> list[str]:
    """The join/company worker processes started by process ``of``."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
            command = (status.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(of) and b"receita_parallel" in command:
            found.append(status.parent.name)
    return found


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "models"])
def test_joining_with_several_processes_gives_the_items_of_one_in_the_same_order(
    publication: Path, tmp_path: Path, as_json: bool
) -> None:
    def items(workers: int, filters: RunFilters) -> list[object]:
        return list(iter_cnpj(publication, filters, chunk_size=40, spill_dir=tmp_path, as_json=as_json,
                              workers=workers))

    alone = items(1, RunFilters(status=["*"]))
    assert len(alone) == 300
    [bad] = [i for i in alone if isinstance(i, DroppedLead)]
    assert (bad.source_line, bad.reason.code) == (151, "malformed_row")
    for workers in (2, 3):
        assert items(workers, RunFilters(status=["*"])) == alone
    leads = [i if isinstance(i, CompanyRecord) else CompanyRecord.model_validate_json(i)
             for i in alone if not isinstance(i, DroppedLead)]
    by_id = {lead.registry_id[:12]: lead for lead in leads}
    assert by_id["300000040002"].legal_name == "EMPRESA 30000004 LTDA"  # a branch joined with its head office's company
    assert by_id["300000040001"].partners[0].name == "SOCIO 30000004"
    assert by_id["300000030001"].mei and not by_id["300000040001"].mei
    assert items(2, RunFilters(limit=120)) == items(1, RunFilters(limit=120))
    assert [p for p in tmp_path.iterdir() if p.name.startswith("hunter-cnpj-")] == []  # spills removed
    assert _children_running(os.getpid()) == []


def test_leaving_early_stops_the_join_processes_and_removes_the_spill(publication: Path, tmp_path: Path) -> None:
    items = iter_cnpj(publication, RunFilters(status=["*"]), chunk_size=40, spill_dir=tmp_path, as_json=True,
                      workers=2)
    first = [next(items) for _ in range(100)]  # into the second partition: a worker's
    assert len({i for i in first if isinstance(i, str)}) == 99  # the malformed row comes first
    assert _children_running(os.getpid())  # the worker joining the fourth partition
    items.close()  # type: ignore[attr-defined]
    assert _children_running(os.getpid()) == []
    assert [p for p in tmp_path.iterdir() if p.name.startswith("hunter-cnpj-")] == []


def test_an_error_in_a_worker_is_raised_here(tmp_path: Path) -> None:
    worker = _Process("join", "join", str(tmp_path / "missing"), "json", str(tmp_path), "0")
    try:
        with pytest.raises(SourceError, match="directory not found"):
            worker.received()
    finally:
        worker.stop()
    worker = _Process("company rows", "no-such-command")
    try:
        with pytest.raises(KeyError):
            worker.received()
    finally:
        worker.stop()


def test_workers_default_to_the_cpus_at_most_four() -> None:
    assert auto_workers(3) == 3
    assert 1 <= auto_workers(0) <= min(4, os.cpu_count() or 1)
