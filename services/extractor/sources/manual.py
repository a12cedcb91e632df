"""``manual:`` — one lead added by hand (``POST /api/leads``): a registry id (CNPJ, SIREN or SIRET) and what
the person typed. With ``HUNTER_MANUAL_LOOKUP`` set to a source (``cnpj:DIR``, ``sirene:PATH``, ``csv:PATH``)
the id is looked up there (a scan of that source) and the registry's record is kept, completed with the
typed contacts; without it, or when the id is not found, the lead is kept with what was typed.

The spec is URL-encoded fields: ``manual:id=19131243000197&name=ACME&website=acme.com.br&phone=...``."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs

from shared.config import Settings
from shared.events import RunFilters
from shared.registry_ids import normalize_registry_id
from shared.schemas import Address, CompanyRecord

from .errors import SourceError

FIELDS = ("id", "country", "name", "trade_name", "website", "phone", "email", "city", "uf", "activity")


def parse_manual(spec: str) -> dict[str, str]:
    """The typed fields of a ``manual:`` spec; refuses unknown fields and a missing or invalid id."""
    query = spec.partition(":")[2]
    fields = {k: v[-1].strip() for k, v in parse_qs(query, keep_blank_values=False).items()}
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise SourceError(f"manual: unknown field(s) {', '.join(unknown)}; known: {', '.join(FIELDS)}")
    try:
        registry_id, country = normalize_registry_id(fields.get("id", ""), fields.get("country"))
    except ValueError as exc:
        raise SourceError(f"manual: {exc}") from exc
    return {**fields, "id": registry_id, "country": country}


def iter_manual(spec: str, settings: Settings) -> Iterator[CompanyRecord]:
    typed = parse_manual(spec)
    found = _look_up(typed["id"], settings)
    record = found or CompanyRecord(
        lead_key=f"{typed['country']}:{typed['id']}", country=typed["country"], registry_id=typed["id"],
        source="manual", legal_name=typed.get("name") or None, trade_name=typed.get("trade_name") or None,
        activity_main=typed.get("activity") or None,
        address=Address(city=(typed.get("city") or "").upper() or None, state=(typed.get("uf") or "").upper() or None))
    extra = {"phones": [typed["phone"]] if typed.get("phone") else [],
             "emails": [typed["email"]] if typed.get("email") else []}
    yield record.model_copy(update={
        "source": "manual", "phones": [*record.phones, *extra["phones"]], "emails": [*record.emails, *extra["emails"]],
        "website": typed.get("website") or record.website,
        "legal_name": record.legal_name or typed.get("name") or None,
        "extra": {**record.extra, "looked_up": "yes" if found else "no"}})


def _look_up(registry_id: str, settings: Settings) -> CompanyRecord | None:
    """The registry's record of this id in ``HUNTER_MANUAL_LOOKUP``, if set and found there."""
    source = getattr(settings, "manual_lookup", None)
    if not source:
        return None
    from . import iter_source

    for item in iter_source(source, RunFilters(status=["*"]), settings=settings):
        if isinstance(item, CompanyRecord) and item.registry_id in (registry_id, registry_id[:9]):
            return item
    return None
