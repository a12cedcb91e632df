"""What the vault already knows about a run: phones carried by other companies, companies seen before.

Read-only, two queries per run whatever its size: the run's phones and lead keys travel as one
JSON array parameter each. Phones are read from ``companies.data`` (the latest CleanedLead, which
lists every phone), not only the ``phone``/``whatsapp`` columns. A vault that does not exist yet
(no file, no tables) knows nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError, ProgrammingError

from services.cleaner.logic import VaultMatches

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


def vault_exists(url: str) -> bool:
    """False for a SQLite vault whose file is not there yet (connecting would create it)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return True
    return Path(parsed.database).is_file()


def lookup_vault(engine: Engine, run_id: str, phones: set[str], lead_keys: set[str]) -> VaultMatches:
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
    except (OperationalError, ProgrammingError) as exc:
        if "companies" not in str(exc):  # only "no such table" means an empty vault
            raise
        return VaultMatches()
    return VaultMatches(known_phones=carriers, known_leads=known)
