"""One free-mail rule (``shared.domain.emails``) for the cleaner's flag and the enricher's site guesses."""

from __future__ import annotations

import pytest

from services.enricher.discovery import email_domain_candidates
from shared.schemas import CleanedLead, CompanyRecord, ScoredLead


def scored_with_raw_emails(*emails: str) -> ScoredLead:
    company = CompanyRecord(lead_key="BR:19131243000197", registry_id="19131243000197", source="test",
                            legal_name="ACME SISTEMAS LTDA", emails=list(emails))
    return ScoredLead(lead=CleanedLead(company=company), score=50)


@pytest.mark.parametrize("domain", ["gmail.com", "bol.com.br", "yahoo.fr", "gmx.de", "hotmail.es", "uol.com.br"])
def test_a_free_mail_domain_is_never_a_site_candidate(domain: str) -> None:
    assert email_domain_candidates(scored_with_raw_emails(f"contato@{domain}", "vendas@acmesistemas.com.br")) == [
        "acmesistemas.com.br"
    ]
