from __future__ import annotations

from collections.abc import Iterator

from shared.schemas import CompanyRecord, DroppedLead


def take_batch(
    items: Iterator[CompanyRecord | DroppedLead], size: int
) -> tuple[list[CompanyRecord], list[DroppedLead]]:
    """Pull up to ``size`` companies (and whatever rejects come along) from a source."""
    companies: list[CompanyRecord] = []
    dropped: list[DroppedLead] = []
    for item in items:
        if isinstance(item, CompanyRecord):
            companies.append(item)
            if len(companies) >= size:
                break
        else:
            dropped.append(item)
            if len(dropped) >= size:
                break
    return companies, dropped
