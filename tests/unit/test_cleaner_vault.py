"""The cleaner against the vault: phones carried by other companies, companies seen in earlier runs."""

from __future__ import annotations

from pathlib import Path

from services.cleaner.logic import VaultMatches, clean_run
from services.cleaner.vault_contacts import lookup_vault
from services.projector.projection import Projection
from shared.events import LeadsCleaned
from shared.schemas import CompanyRecord
from shared.vault.access import open_reader
from shared.vault.engine import make_engine
from tests.factories import raw_events
from tests.unit.test_cleaner_run import company, flag

SHARED = "11 3333-4444"
SHARED_E164 = "+551133334444"


def _vault_with(tmp_path: Path, run: str, records: list[CompanyRecord]) -> str:
    """A real vault holding the cleaned leads of one earlier run (projected as the projector does)."""
    url = f"sqlite:///{tmp_path / 'vault.db'}"
    engine = make_engine(url)
    leads = clean_run(records).leads
    Projection(engine).apply(raw_events([LeadsCleaned(run_id=run, batch=0, leads=leads)]))
    engine.dispose()
    return url


def test_phones_carried_by_other_vault_companies_make_a_run_phone_repeated(tmp_path: Path) -> None:
    url = _vault_with(tmp_path, "old", [company(n, phones=[SHARED, f"11 3{n:03d}-0000"]) for n in range(1, 4)])
    engine = make_engine(url, create=False)
    newcomer = company(50, phones=[SHARED])
    result = clean_run([newcomer], vault=lambda phones, keys: lookup_vault(engine, "new", phones, keys))
    [lead] = result.leads
    assert lead.phones[0].shared_count == 4  # itself + 3 companies of the vault
    assert f"{SHARED_E164} on 4 companies" in flag(lead, "repeated_phone").detail
    assert result.counts["vault_phones_matched"] == 1


def test_a_phone_found_in_the_data_json_not_only_the_first_phone_column_counts(tmp_path: Path) -> None:
    url = _vault_with(tmp_path, "old", [company(1, phones=["11 2222-0000", SHARED])])  # SHARED is 2nd
    matches = lookup_vault(make_engine(url, create=False), "new", {SHARED_E164}, set())
    assert matches.known_phones == {SHARED_E164: 1}


def test_the_run_own_companies_are_not_counted_twice_from_the_vault(tmp_path: Path) -> None:
    records = [company(n, phones=[SHARED]) for n in range(1, 5)]
    url = _vault_with(tmp_path, "old", records)
    engine = make_engine(url, create=False)
    result = clean_run(records, vault=lambda phones, keys: lookup_vault(engine, "again", phones, keys))
    assert {lead.phones[0].shared_count for lead in result.leads} == {4}


def test_companies_seen_in_an_earlier_run_are_kept_flagged_and_counted(tmp_path: Path) -> None:
    url = _vault_with(tmp_path, "run-1", [company(1), company(2)])
    engine = make_engine(url, create=False)
    result = clean_run([company(1), company(3)], vault=lambda p, k: lookup_vault(engine, "run-2", p, k))
    leads = {lead.lead_key: lead for lead in result.leads}
    assert len(leads) == 2 and result.counts["out"] == 2
    assert flag(leads[company(1).lead_key], "already_in_vault").detail == "first seen in run run-1; updated"
    assert flag(leads[company(3).lead_key], "already_in_vault") is None
    assert result.counts["already_in_vault"] == 1


def test_recleaning_the_same_run_does_not_call_its_leads_already_known(tmp_path: Path) -> None:
    url = _vault_with(tmp_path, "run-1", [company(1)])
    matches = lookup_vault(make_engine(url, create=False), "run-1", set(), {company(1).lead_key})
    assert matches.known_leads == {}


def test_a_vault_without_tables_or_file_knows_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    assert lookup_vault(open_reader(f"sqlite:///{missing}"), "r", {SHARED_E164}, {"BR:1"}) == VaultMatches()
    assert not missing.exists()  # the reader created nothing
    (tmp_path / "empty.db").touch()
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    assert lookup_vault(open_reader(url), "r", {SHARED_E164}, {"BR:1"}) == VaultMatches()
    assert lookup_vault(make_engine(url, create=False), "r", {SHARED_E164}, {"BR:1"}) == VaultMatches()


def test_the_vault_lookup_is_called_once_with_the_run_phones_and_keys() -> None:
    calls: list[tuple[set[str], set[str]]] = []

    def lookup(phones: set[str], keys: set[str]) -> VaultMatches:
        calls.append((phones, keys))
        return VaultMatches()

    records = [company(1, phones=[SHARED]), company(1, phones=["11 98765-4321"]), company(2, mei=True)]
    clean_run(records, vault=lookup)
    [(phones, keys)] = calls
    assert phones == {SHARED_E164, "+5511987654321"}
    assert keys == {company(1).lead_key, company(2).lead_key}
