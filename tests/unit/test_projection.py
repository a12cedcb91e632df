from __future__ import annotations

from pathlib import Path

from sqlmodel import Session, select

from services.projector.db import make_engine
from services.projector.digest import vault_digest
from services.projector.models import Company, DroppedRow, ErrorRow, Lead, Run
from services.projector.projection import Projection
from tests.factories import raw_events, run_events


def test_events_project_into_companies_leads_dropped_and_runs(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'v.db'}")
    assert Projection(engine).apply(raw_events(run_events())) == 7
    with Session(engine) as s:
        assert len(s.exec(select(Company)).all()) == 4
        leads = {lead.lead_key: lead for lead in s.exec(select(Lead)).all()}
        assert leads["BR:00000000000001"].score == 95 and leads["BR:00000000000001"].enriched
        assert leads["BR:00000000000002"].bucket == "warm"
        assert s.exec(select(DroppedRow)).one().reason == "mei"
        run = s.get(Run, "r1")
        assert run is not None and run.status == "completed" and '"extract.extracted":5' in run.counts


def test_redelivered_events_change_nothing(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'v.db'}")
    projection = Projection(engine)
    raw = raw_events(run_events())
    projection.apply(raw)
    before = vault_digest(engine)
    assert projection.apply(raw[3:]) == 0
    assert vault_digest(engine) == before


def test_batch_boundaries_do_not_change_the_vault(tmp_path: Path) -> None:
    raw = raw_events(run_events())
    one = make_engine(f"sqlite:///{tmp_path / 'one.db'}")
    Projection(one).apply(raw)
    many = make_engine(f"sqlite:///{tmp_path / 'many.db'}")
    for event in raw:
        Projection(many).apply([event])
    assert vault_digest(one) == vault_digest(many)


def test_an_undecodable_event_is_recorded_as_an_error_not_a_crash(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'v.db'}")
    Projection(engine).apply([(1, "lead.cleaned.r1", b"{not json"), (2, "lead.cleaned.r1", b'{"type":"Nope"}')])
    with Session(engine) as s:
        errors = s.exec(select(ErrorRow)).all()
    assert [e.kind for e in errors] == ["projection", "projection"]
    assert Projection(engine).checkpoint() == 2


def _postgres_url() -> str | None:
    import socket

    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=0.5).close()
    except OSError:
        return None
    return "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def test_postgres_vault_gets_the_same_digest_as_sqlite(tmp_path: Path) -> None:
    import uuid

    import pytest
    from sqlalchemy import text

    url = _postgres_url()
    if url is None:
        pytest.skip("no PostgreSQL answering on 127.0.0.1:5432")
    schema = f"t_{uuid.uuid4().hex[:8]}"
    admin = make_engine(url, create=False)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        pg = make_engine(url, create=False)
        pg = pg.execution_options(schema_translate_map={None: schema})
        from sqlmodel import SQLModel

        SQLModel.metadata.create_all(pg)
        Projection(pg).apply(raw_events(run_events()))
        lite = make_engine(f"sqlite:///{tmp_path / 'v.db'}")
        Projection(lite).apply(raw_events(run_events()))
        assert vault_digest(pg) == vault_digest(lite)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
