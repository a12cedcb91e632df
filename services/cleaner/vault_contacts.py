"""What the vault already knows about a run: phones carried by other companies, companies seen before.

Read-only; the queries are the vault's (``shared.vault.lookups``). A vault that does not exist yet
(no file, no tables) knows nothing.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine

from services.cleaner.logic import VaultMatches
from shared.vault.lookups import known_contacts


def lookup_vault(engine: Engine, run_id: str, phones: set[str], lead_keys: set[str]) -> VaultMatches:
    """Phones of the run carried by companies outside the run, and the run's companies first seen earlier."""
    found = known_contacts(engine, run_id, phones, lead_keys)
    return VaultMatches(known_phones=found.phones, known_leads=found.leads)
