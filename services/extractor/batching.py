from __future__ import annotations

from collections.abc import Iterator

from shared.schemas import CompanyRecord, DroppedLead


def take_batch(
    items: Iterator[CompanyRecord | str | DroppedLead], size: int
) -> tuple[list[CompanyRecord | str], list[DroppedLead]]:
    """Pull up to ``size`` companies (models or their JSON text) and whatever rejects come along."""
    companies: list[CompanyRecord | str] = []
    dropped: list[DroppedLead] = []
    add = companies.append
    for item in items:
        if isinstance(item, DroppedLead):
            dropped.append(item)
            if len(dropped) >= size:
                break
        else:
            add(item)
            if len(companies) >= size:
                break
    return companies, dropped
