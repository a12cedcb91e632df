"""Reuse a vault enrichment still within its TTL instead of fetching the site again.

The vault is the projector's: this only reads it (no table creation), off the event loop.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, select

from services.projector.db import make_engine
from services.projector.models import EnrichmentRow
from shared.config import Settings
from shared.schemas import Enrichment


class VaultReuse:
    def __init__(self, settings: Settings) -> None:
        self.ttl = timedelta(hours=settings.cache_ttl_hours)
        self.engine = make_engine(settings.vault_database_url, create=False)

    def find(self, lead_key: str, domain: str | None, *, now: datetime | None = None) -> Enrichment | None:
        now = now or datetime.now(UTC)
        try:
            with Session(self.engine) as s:
                row = s.get(EnrichmentRow, lead_key)
                if row is None and domain:
                    row = s.exec(select(EnrichmentRow).where(EnrichmentRow.domain == domain)).first()
        except SQLAlchemyError:
            return None
        if row is None or row.status != "ok" or not row.fetched_at:
            return None
        fetched = datetime.fromisoformat(row.fetched_at)
        if fetched.tzinfo is None:
            fetched = fetched.replace(tzinfo=UTC)
        if now - fetched > self.ttl:
            return None
        found = Enrichment.model_validate_json(row.data)
        return found.model_copy(update={"lead_key": lead_key, "reused": True})

    async def lookup(self, lead_key: str, domain: str | None) -> Enrichment | None:
        return await asyncio.to_thread(self.find, lead_key, domain)
