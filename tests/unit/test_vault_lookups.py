"""The queries the cleaner and the enricher ask the vault, through a read-only engine, on SQLite and
PostgreSQL (when it answers): the same answers on both."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.config import Settings
from shared.events import LeadEnriched
from shared.schemas import Enrichment, ScoredLead
from shared.vault.access import VaultMissing, open_reader
from shared.vault.lookups import KnownContacts, fetched_ok, known_contacts, stored_enrichment
from tests.factories import cleaned_lead, run_events
from tests.fixtures.vaults import VAULTS, project, vault_for

AT = "2026-11-01T12:00:00+00:00"
K1, K2, K9 = "BR:00000000000001", "BR:00000000000002", "BR:00000000000009"


@pytest.fixture(params=VAULTS)
def vault(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """A vault holding one earlier run of four companies; the first enriched ok, the second in error."""
    for settings in vault_for(request.param, tmp_path, "nats://127.0.0.1:1"):
        def enriched(n: int, status: str, domain: str | None) -> LeadEnriched:
            lead = cleaned_lead(n)
            return LeadEnriched(run_id="r-old", lead=ScoredLead(lead=lead, score=70), expected_total=2,
                                enrichment=Enrichment(lead_key=lead.company.lead_key, status=status,  # type: ignore[arg-type]
                                                      domain=domain, fetched_at=AT))

        project(settings, [*run_events("r-old"), enriched(1, "ok", "acme1.example"), enriched(2, "error", None)])
        yield settings


def test_the_cleaner_learns_phones_of_other_companies_and_companies_of_earlier_runs(vault: Settings) -> None:
    reader = open_reader(vault.vault_database_url)
    found = known_contacts(reader, "r-new", {"+5511900000001", "+5511900000077"}, {K2, "BR:00000000000077"})
    assert found == KnownContacts(phones={"+5511900000001": 1}, leads={K2: "r-old"})
    # the run's own companies and the run itself are not news
    assert known_contacts(reader, "r-old", {"+5511900000002"}, {K2}) == KnownContacts({}, {})
    reader.dispose()


def test_the_enricher_finds_a_stored_enrichment_by_lead_key_or_by_domain(vault: Settings) -> None:
    reader = open_reader(vault.vault_database_url)
    assert stored_enrichment(reader, K1, None)[:2] == ("ok", AT)  # type: ignore[index]
    assert stored_enrichment(reader, K9, "acme1.example")[:2] == ("ok", AT)  # type: ignore[index]
    assert stored_enrichment(reader, K9, None) is None
    assert stored_enrichment(reader, K2, None)[0] == "error"  # type: ignore[index]
    assert fetched_ok(reader, [K1, K2, K9]) == [(K1, AT)]
    reader.dispose()


def test_a_vault_not_created_yet_knows_no_contact_and_the_enricher_is_told(tmp_path: Path) -> None:
    reader = open_reader(f"sqlite:///{tmp_path / 'vault.db'}")
    assert known_contacts(reader, "r-new", {"+5511900000001"}, {K1}) == KnownContacts({}, {})
    with pytest.raises(VaultMissing):
        stored_enrichment(reader, K1, None)
    assert not (tmp_path / "vault.db").exists()
