"""What services other than the projector ask the vault, read-only (an engine from ``open_reader``).

- the cleaner: the run's phones carried by companies outside it, the run's companies first seen in
  an earlier run (two queries per run whatever its size: the phones and lead keys travel as one
  JSON array parameter each; phones are read from ``companies.data``, the latest CleanedLead,
  which lists every phone, not only the ``phone``/``whatsapp`` columns);
- the enricher: a company's stored enrichment, by lead key or by its site's domain.

A vault that does not exist yet (no file, no tables) knows nothing: empty answers, not errors,
for the cleaner; the enricher's caller decides (it retries later)."""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from sqlalchemy import bindparam, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, ProgrammingError

from shared.vault.access import VaultMissing
from shared.vault.schema import EnrichmentRow

_SQLITE_PHONES = text(
    "SELECT DISTINCT c.lead_key, json_extract(p.value, '$.e164') AS e164"
    " FROM companies c, json_each(c.data, '$.phones') p"
    " WHERE json_extract(p.value, '$.e164') IN (SELECT value FROM json_each(:phones))"
)
_SQLITE_LEADS = text(
    "SELECT lead_key, first_run FROM companies WHERE lead_key IN (SELECT value FROM json_each(:keys))"
)
_PG_PHONES = text(
    "SELECT DISTINCT c.lead_key, p.value ->> 'e164' AS e164"
    " FROM companies c CROSS JOIN LATERAL jsonb_array_elements(CAST(c.data AS jsonb) -> 'phones') AS p(value)"
    " WHERE p.value ->> 'e164' IN (SELECT jsonb_array_elements_text(CAST(:phones AS jsonb)))"
)
_PG_LEADS = text(
    "SELECT lead_key, first_run FROM companies"
    " WHERE lead_key IN (SELECT jsonb_array_elements_text(CAST(:keys AS jsonb)))"
)

_ENRICHMENTS = EnrichmentRow.__table__  # type: ignore[attr-defined]
_COLUMNS = (_ENRICHMENTS.c.status, _ENRICHMENTS.c.fetched_at, _ENRICHMENTS.c.data)
_BY_KEY = select(*_COLUMNS).where(_ENRICHMENTS.c.lead_key == bindparam("key"))
_BY_DOMAIN = select(*_COLUMNS).where(_ENRICHMENTS.c.domain == bindparam("domain")).limit(1)
_KEYS_IN = select(_ENRICHMENTS.c.lead_key, _ENRICHMENTS.c.fetched_at).where(
    _ENRICHMENTS.c.status == "ok", _ENRICHMENTS.c.lead_key.in_(bindparam("keys", expanding=True)))
KEYS_PER_QUERY = 500


class KnownContacts(NamedTuple):
    phones: dict[str, int]  # E.164 -> companies outside the run carrying it
    leads: dict[str, str]  # lead_key -> the earlier run that first brought it into the vault


def known_contacts(engine: Engine, run_id: str, phones: set[str], lead_keys: set[str]) -> KnownContacts:
    """Phones of the run carried by companies outside the run, and the run's companies first seen earlier."""
    sqlite = engine.dialect.name == "sqlite"
    phones_sql, leads_sql = (_SQLITE_PHONES, _SQLITE_LEADS) if sqlite else (_PG_PHONES, _PG_LEADS)
    carriers: dict[str, int] = {}
    known: dict[str, str] = {}
    try:
        with engine.connect() as conn:
            if phones:
                rows = conn.execute(phones_sql, {"phones": json.dumps(sorted(phones))})
                for lead_key, e164 in rows:
                    if lead_key not in lead_keys:
                        carriers[e164] = carriers.get(e164, 0) + 1
            if lead_keys:
                for lead_key, first_run in conn.execute(leads_sql, {"keys": json.dumps(sorted(lead_keys))}):
                    if first_run and first_run != run_id:
                        known[lead_key] = first_run
    except VaultMissing:
        return KnownContacts({}, {})
    except (OperationalError, ProgrammingError) as exc:
        if "companies" not in str(exc):  # only "no such table" means an empty vault
            raise
        return KnownContacts({}, {})
    return KnownContacts(carriers, known)


def stored_enrichment(engine: Engine, lead_key: str, domain: str | None) -> tuple[Any, ...] | None:
    """(status, fetched_at, data JSON) of the company's enrichment by lead key, else by its site's domain.
    Two indexed lookups, no ORM session. Raises what the vault raises (:class:`VaultMissing` among them)."""
    with engine.connect() as conn:
        row = conn.execute(_BY_KEY, {"key": lead_key}).first()
        if row is None and domain:
            row = conn.execute(_BY_DOMAIN, {"domain": domain}).first()
    return tuple(row) if row is not None else None


def fetched_ok(engine: Engine, lead_keys: list[str]) -> list[tuple[str, str | None]]:
    """(lead_key, fetched_at) of the enrichments fetched ok among these lead keys (by lead key only),
    a few hundred keys per query."""
    found: list[tuple[str, str | None]] = []
    with engine.connect() as conn:
        for start in range(0, len(lead_keys), KEYS_PER_QUERY):
            found.extend((key, at) for key, at in conn.execute(
                _KEYS_IN, {"keys": lead_keys[start:start + KEYS_PER_QUERY]}))
    return found
