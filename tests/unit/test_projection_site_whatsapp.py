"""companies.site_whatsapp: the same whether projected live, loaded fresh (company rows held or written
blind), or added to an older vault."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session, select

from services.projector.digest import vault_digest
from services.projector.projection import Projection, site_whatsapp
from shared.vault.engine import build_indexes, create_tables, make_engine
from shared.vault.schema import Company
from tests.factories import raw_events
from tests.fixtures.postgres import POSTGRES, postgres_schema
from tests.fixtures.vaults import whatsapp_stream

EXPECTED = {"BR:00000000000041": "+5511999990041", "BR:00000000000042": "+5511987650042",
            "BR:00000000000043": "+5511999990043"}


def _site_numbers(engine) -> dict[str, str | None]:  # noqa: ANN001
    with Session(engine) as s:
        return {c.lead_key: c.site_whatsapp for c in s.exec(select(Company)).all()}


def _live(tmp_path: Path) -> tuple[str, dict[str, str | None]]:
    live = make_engine(f"sqlite:///{tmp_path / 'live.db'}")
    for event in raw_events(whatsapp_stream()):
        Projection(live).apply([event])
    try:
        return vault_digest(live), _site_numbers(live)
    finally:
        live.dispose()


@pytest.mark.parametrize("hold", [0, 1, 2, 1000])
@pytest.mark.parametrize("batch", [1, 4, 100])
def test_a_fresh_load_gets_the_site_whatsapp_of_a_live_vault(tmp_path: Path, hold: int, batch: int) -> None:
    digest, numbers = _live(tmp_path)
    assert numbers == EXPECTED
    bulk = make_engine(f"sqlite:///{tmp_path / 'bulk.db'}", bulk=True)
    projection = Projection(bulk, fresh=True, hold_companies=hold)
    raw = raw_events(whatsapp_stream())
    for start in range(0, len(raw), batch):
        projection.apply(raw[start:start + batch])
    projection.finish()
    build_indexes(bulk)
    assert _site_numbers(bulk) == EXPECTED
    assert vault_digest(bulk) == digest
    bulk.dispose()


def test_a_fresh_load_into_postgres_gets_the_site_whatsapp_of_a_live_vault(tmp_path: Path) -> None:
    digest, _ = _live(tmp_path)
    with postgres_schema() as schema:
        pg = make_engine(POSTGRES, create=False, bulk=True).execution_options(schema_translate_map={None: schema})
        create_tables(pg, indexes=False)
        projection = Projection(pg, fresh=True, hold_companies=2)
        for event in raw_events(whatsapp_stream()):
            projection.apply([event])
        projection.finish()
        build_indexes(pg)
        assert _site_numbers(pg) == EXPECTED and vault_digest(pg) == digest
        pg.dispose()


def test_an_older_vault_gets_the_site_whatsapp_of_its_enrichments(tmp_path: Path) -> None:
    digest, _ = _live(tmp_path)
    engine = make_engine(f"sqlite:///{tmp_path / 'live.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE companies DROP COLUMN site_whatsapp")
    Projection(engine)
    assert _site_numbers(engine) == EXPECTED and vault_digest(engine) == digest
    engine.dispose()


def test_a_whatsapp_link_becomes_its_number() -> None:
    assert site_whatsapp(["https://wa.me/5511987650041?text=oi"]) == "+5511987650041"
    assert site_whatsapp(["https://api.whatsapp.com/send?phone=5511987650041"]) == "+5511987650041"
    assert site_whatsapp(["+5511987650042", "+5511000000000"]) == "+5511987650042"
    assert site_whatsapp([]) is None
