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


def test_json_columns_are_spelled_like_canonical_json_even_for_exponent_floats() -> None:
    from services.projector.db import canonical_json
    from services.projector.structs import canonical

    for value in ({"b": 1e16, "a": [9.99e-5, {"d": 2.5e-7, "c": "é\u2028\x00"}]}, {"x": [1, 2.5, None, True]}, []):
        assert canonical(value) == canonical_json(value)


def test_a_value_only_pydantic_accepts_projects_like_its_strict_spelling(tmp_path: Path) -> None:
    """msgspec refuses a capital sent as a string; the pydantic path takes it and the row is the same."""
    raw = raw_events(run_events())
    cleaned = next(i for i, (_, subject, _) in enumerate(raw) if subject.startswith("lead.cleaned"))
    seq, subject, data = raw[cleaned]
    assert b'"capital":null' in data

    def with_capital(spelling: bytes) -> list[tuple[int, str, bytes]]:
        return [*raw[:cleaned], (seq, subject, data.replace(b'"capital":null', spelling, 1)), *raw[cleaned + 1:]]

    strict, lax = with_capital(b'"capital":1234.5'), with_capital(b'"capital":"1234.5"')
    digests = []
    for name, events in (("strict", strict), ("lax", lax)):
        engine = make_engine(f"sqlite:///{tmp_path / f'{name}.db'}")
        Projection(engine).apply(events)
        with Session(engine) as s:
            assert s.exec(select(ErrorRow)).all() == []
            assert {c.capital for c in s.exec(select(Company)).all()} == {1234.5, None}
        digests.append(vault_digest(engine))
    assert digests[0] == digests[1]


def test_the_ack_subject_gives_the_stream_sequence_and_time_in_both_formats() -> None:
    from services.projector.stream_reader import reply_metadata

    assert reply_metadata("$JS.ACK.HUNTER.projector.1.4321.17.1764100000000000000.5") == (4321, 1764100000000000000)
    assert reply_metadata("$JS.ACK.hub.ACCHASH.HUNTER.projector.1.4321.17.1764100000000000000.5.tok") == (
        4321, 1764100000000000000)
