"""The enricher reuses a vault enrichment fetched ok within the TTL: by lead key, else by the site's domain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import Session

from services.enricher.vault_reuse import VaultReuse
from shared.config import Settings
from shared.schemas import Enrichment
from shared.vault.engine import make_engine
from shared.vault.schema import EnrichmentRow


def _row(lead_key: str, domain: str, status: str, fetched: datetime) -> EnrichmentRow:
    enrichment = Enrichment(lead_key=lead_key, domain=domain, site=f"https://{domain}/", status=status,
                            emails=[f"contato@{domain}"])
    return EnrichmentRow(lead_key=lead_key, domain=domain, site=enrichment.site, status=status,
                         fetched_at=fetched.isoformat(), data=enrichment.model_dump_json())


def test_reuse_within_the_ttl_by_key_or_domain(tmp_path: Path) -> None:
    settings = Settings(HUNTER_DATA_DIR=tmp_path, CACHE_TTL_HOURS=24)
    now = datetime(2026, 11, 26, 12, tzinfo=UTC)
    reuse = VaultReuse(settings)
    assert reuse.find("BR:1", "acme.com.br", now=now) is None  # no vault yet: nothing, and not asked again soon
    assert reuse._unavailable_until > 0  # noqa: SLF001
    engine = make_engine(settings.vault_database_url)
    with Session(engine) as s:
        s.add(_row("BR:1", "acme.com.br", "ok", now - timedelta(hours=2)))
        s.add(_row("BR:2", "old.com.br", "ok", now - timedelta(hours=30)))
        s.add(_row("BR:3", "down.com.br", "error", now - timedelta(hours=1)))
        s.commit()
    engine.dispose()
    reuse = VaultReuse(settings)
    found = reuse.find("BR:1", None, now=now)
    assert found is not None and found.reused and found.emails == ["contato@acme.com.br"]
    by_domain = reuse.find("BR:9", "acme.com.br", now=now)  # another registry id, the same site
    assert by_domain is not None and by_domain.lead_key == "BR:9" and by_domain.domain == "acme.com.br"
    assert reuse.find("BR:2", "old.com.br", now=now) is None  # past the TTL
    assert reuse.find("BR:3", "down.com.br", now=now) is None  # not fetched ok
    assert reuse.find("BR:8", "nowhere.com.br", now=now) is None


def test_reusable_keys_are_the_leads_with_their_own_enrichment_fetched_ok_within_the_ttl(tmp_path: Path) -> None:
    settings = Settings(HUNTER_DATA_DIR=tmp_path, CACHE_TTL_HOURS=24)
    now = datetime(2026, 11, 26, 12, tzinfo=UTC)
    assert VaultReuse(settings).reusable_keys(["BR:1"], now=now) == []  # no vault yet
    engine = make_engine(settings.vault_database_url)
    with Session(engine) as s:
        s.add(_row("BR:1", "acme.com.br", "ok", now - timedelta(hours=2)))
        s.add(_row("BR:2", "old.com.br", "ok", now - timedelta(hours=30)))
        s.add(_row("BR:3", "down.com.br", "error", now - timedelta(hours=1)))
        s.add_all(_row(f"BR:1{i:04d}", f"s{i}.com.br", "ok", now - timedelta(hours=1)) for i in range(1200))
        s.commit()
    engine.dispose()
    asked = ["BR:1", "BR:2", "BR:3", "BR:9", *(f"BR:1{i:04d}" for i in range(1200))]
    found = VaultReuse(settings).reusable_keys(asked, now=now)
    assert sorted(found) == sorted(["BR:1", *(f"BR:1{i:04d}" for i in range(1200))])  # over several queries
