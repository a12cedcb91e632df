"""The seam of the cleaner's run-level pass: a run spilled to disk (threshold 0) cleans exactly as the same
run kept in memory - same leads in the same order, same drops in the same order, same counts."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from services.cleaner.logic import VaultMatches, prepare_records
from services.cleaner.spilled import SpilledCleaning, cleaning_spill, plan_run
from shared.run_spill import Segment
from shared.schemas import Address, CompanyRecord
from shared.wire import records
from tests.unit.test_cleaner_run import cnpj

NAMES = ["ACME SISTEMAS", "BETA DADOS", "GAMA SOFT", "DELTA TECH", "CONTABIL OMEGA"]


def varied_run(n: int, seed: int) -> list[records.CompanyRecord]:
    """Records with every case the run-level pass handles: invalid ids, same-key rows (MEI among them),
    head offices and branches sharing an address and a name, accounting firms, shared and vault phones."""
    rnd = random.Random(seed)
    shared_phones = [f"11 3{rnd.randint(100, 999)}-{rnd.randint(1000, 9999)}" for _ in range(6)]
    out = []
    for i in range(n):
        basico = 10_000_000 + rnd.randint(0, n // 3)
        branch = rnd.choice([1, 1, 1, 2, 3])
        rid = cnpj(basico, branch)
        if rnd.random() < 0.04:
            rid = rid[:-1] + str((int(rid[-1]) + 1) % 10)  # a bad check digit
        name = rnd.choice(NAMES) + (" LTDA" if rnd.random() < 0.5 else " - ME")
        phones = [f"{rnd.randint(11, 99)} 9{rnd.randint(1000, 9999)}-{rnd.randint(1000, 9999)}"]
        if rnd.random() < 0.5:
            phones.append(rnd.choice(shared_phones))
        if rnd.random() < 0.05:
            phones.append("999")  # invalid
        emails = []
        roll = rnd.random()
        if roll < 0.4:
            emails.append(f"contato@{name.split()[0].lower()}.com.br")
        elif roll < 0.6:
            emails.append(f"x{rnd.randint(1, 50)}@gmail.com")
        elif roll < 0.7:
            emails.append("fiscal@escritoriocontabil.com.br")
        if rnd.random() < 0.05:
            emails.append("not-an-email@")
        mei = rnd.choice([None, None, None, True, False])
        out.append(CompanyRecord(
            lead_key=f"BR:{rid}", registry_id=rid, source="csv", source_file=rnd.choice(["a.csv", "b.csv"]),
            source_line=i + 2 if rnd.random() < 0.9 else None, legal_name=name,
            trade_name=rnd.choice([None, "FANTASIA", name]), head_office=branch == 1 if rnd.random() < 0.8 else None,
            activity_main=rnd.choice(["6201501", "6201501", "6920601", "4711302"]),
            legal_nature=rnd.choice(["2062", "2135"]), mei=mei, capital=rnd.choice([None, 1000.5, 2e6]),
            address=Address(state=rnd.choice(["SP", "RJ"]), city=rnd.choice([None, "7107"])),
            phones=phones, emails=emails, website=rnd.choice([None, "www.acme.com.br", "gmail.com"]),
        ))
    return [records.to_struct(c, records.CompanyRecord) for c in out]


def vault_of(run: list[records.CompanyRecord]) -> Any:
    """A vault that knows two of the shared phones and a few companies (first seen in another run)."""
    known_keys = {c.lead_key for c in run[::4]}

    def lookup(phones: Any, lead_keys: Any) -> VaultMatches:
        carried = {p: 2 for p in phones if p.endswith(("1", "7"))}
        return VaultMatches(known_phones=carried,
                            known_leads={k: "earlier-run" for k in known_keys if k in set(lead_keys)})

    return lookup


def clean_both(tmp_path: Path, run: list[Any], batch: int, vault: Any = None,
               order: list[int] | None = None) -> tuple[Any, Any]:
    results = []
    for threshold in (10**9, 0):
        store = cleaning_spill(tmp_path, threshold)
        batches = [prepare_records(run[s:s + batch]) for s in range(0, len(run), batch)]
        segments: list[Segment | None] = [None] * len(batches)
        for i in order or range(len(batches)):  # the prefetch may prepare batches in any order
            segments[i] = store.put("r1", batches[i])
        if len(batches) > 1:
            store.put("r1", batches[1])  # a batch prepared twice: the step takes one copy
        assert store.spilled("r1") is (threshold == 0 and bool(run))
        cleaning = plan_run(store, "r1", segments, repeated_phone_threshold=2, vault=vault)  # type: ignore[arg-type]
        assert isinstance(cleaning, SpilledCleaning) is (threshold == 0 and bool(run))
        size = len(cleaning)
        leads = [lead for s in range(0, size, 7) for lead in cleaning.build(s, min(size, s + 7))]
        counts = cleaning.finish()
        dropped = [d for chunk in cleaning.iter_dropped(5) for d in chunk]
        results.append((leads, dropped, list(counts.items())))
        store.close("r1")
    return results[0], results[1]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_spilled_run_cleans_exactly_as_in_memory(tmp_path: Path, seed: int) -> None:
    run = varied_run(600, seed)
    memory, spilled = clean_both(tmp_path, run, batch=50, order=list(reversed(range(12))))
    leads, dropped, counts = memory
    c = dict(counts)
    # the run exercises what the spilled path does apart
    assert c["dropped_duplicate"] > 50 and c["dropped_mei"] > 20 and c["dropped_invalid_registry_id"] > 5
    assert c["flag_repeated_phone"] > 20 and c["flag_accountant_like"] > 10 and c["flag_repeated_email"] > 2
    assert any(lead.merged_from for lead in leads)
    assert spilled[0] == leads
    assert spilled[1] == dropped
    assert spilled[2] == counts


def test_a_spilled_run_asks_the_vault_and_counts_what_it_knows_as_in_memory(tmp_path: Path) -> None:
    run = varied_run(400, 9)
    memory, spilled = clean_both(tmp_path, run, batch=40, vault=vault_of(run))
    c = dict(memory[2])
    assert c["vault_phones_matched"] > 0 and c["already_in_vault"] > 5
    assert spilled == memory


def test_a_small_or_empty_run_spills_the_same(tmp_path: Path) -> None:
    for run in ([], varied_run(1, 5), varied_run(3, 6)):
        memory, spilled = clean_both(tmp_path, run, batch=2)
        assert spilled == memory


def test_leads_chained_by_different_shared_addresses_merge_into_one_survivor_on_disk(tmp_path: Path) -> None:
    def rec(n: int, branch: int, emails: list[str], head: bool | None, name: str = "ACME SISTEMAS LTDA") -> Any:
        rid = cnpj(n, branch)
        return records.to_struct(CompanyRecord(
            lead_key=f"BR:{rid}", registry_id=rid, source="csv", legal_name=name, head_office=head,
            emails=emails, phones=[f"11 9{n:04d}-{branch:04d}"]), records.CompanyRecord)

    run = [
        rec(30, 2, ["a@acme.com.br"], False),
        rec(10, 3, ["a@acme.com.br", "b@acme.com.br"], False),
        rec(20, 1, ["b@acme.com.br", "c@acme.com.br"], True),  # the head office: the survivor
        rec(40, 4, ["c@acme.com.br"], None),
        rec(50, 1, ["c@acme.com.br"], True, name="OUTRA EMPRESA LTDA"),  # same address, another name
        rec(60, 1, ["d@beta.com.br"], None, name="BETA LTDA"),
        rec(70, 1, ["d@beta.com.br"], None, name="BETA LTDA"),  # no head office: the smallest key survives
    ]
    memory, spilled = clean_both(tmp_path, run, batch=3)
    leads = {lead.lead_key: lead for lead in memory[0]}
    assert sorted(leads[f"BR:{cnpj(20, 1)}"].merged_from) == sorted(
        f"BR:{cnpj(n, b)}" for n, b in ((30, 2), (10, 3), (40, 4)))
    assert leads[f"BR:{cnpj(60, 1)}"].merged_from == [f"BR:{cnpj(70, 1)}"]
    assert spilled == memory
