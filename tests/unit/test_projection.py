from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from services.projector.digest import vault_digest
from services.projector.projection import Projection
from shared.vault.engine import build_indexes, create_tables, make_engine
from shared.vault.schema import Company, DroppedRow, ErrorRow, Lead, Run
from tests.factories import raw_events, run_events
from tests.fixtures.postgres import POSTGRES, postgres_schema


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


def test_postgres_vault_gets_the_same_digest_as_sqlite(tmp_path: Path) -> None:
    from sqlmodel import SQLModel

    with postgres_schema() as schema:
        pg = make_engine(POSTGRES, create=False).execution_options(schema_translate_map={None: schema})
        SQLModel.metadata.create_all(pg)
        Projection(pg).apply(raw_events(run_events()))
        lite = make_engine(f"sqlite:///{tmp_path / 'v.db'}")
        Projection(lite).apply(raw_events(run_events()))
        assert vault_digest(pg) == vault_digest(lite)


def test_json_columns_are_spelled_like_canonical_json_even_for_exponent_floats() -> None:
    from services.projector.structs import canonical
    from shared.vault.engine import canonical_json

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


def _index_shapes(engine: Engine) -> dict[str, tuple[str | None, ...]]:
    from shared.vault.migrations import _present

    schema = (engine.get_execution_options().get("schema_translate_map") or {}).get(None)
    return _present(engine, schema)


def _older_list_indexes(engine: Engine, schema: str | None = None) -> None:
    """The list indexes as the previous release left them: single-column ones under today's names, two
    single-column ones a composite index now covers, none of the indexes added since."""
    prefix = f"{schema}." if schema else ""
    with engine.begin() as conn:
        for name in ("ix_companies_city", "ix_companies_state", "ix_companies_legal_name", "ix_leads_lead_key",
                     "ix_leads_run_bucket_score", "ix_lead_current_updated_key"):
            conn.exec_driver_sql(f"DROP INDEX {prefix}{name}")
        for name, table, column in (("ix_companies_city", "companies", "city"),
                                    ("ix_companies_state", "companies", "state"),
                                    ("ix_companies_legal_name", "companies", "legal_name"),
                                    ("ix_leads_lead_key", "leads", "lead_key"), ("ix_leads_score", "leads", "score"),
                                    ("ix_leads_bucket", "leads", "bucket"),
                                    ("ix_leads_updated_key", "leads", "updated_at")):
            conn.exec_driver_sql(f"CREATE INDEX {name} ON {prefix}{table} ({column})")


def _check_upgrade(engine: Engine, schema: str | None = None) -> None:
    Projection(engine).apply(raw_events(run_events()))
    expected, before = _index_shapes(engine), vault_digest(engine)
    assert expected["ix_companies_city"] == ("city", "lead_key")
    assert expected["ix_leads_lead_key"] == ("lead_key", "score")
    assert expected["ix_leads_run_bucket_score"] == ("run_id", "bucket", "score")
    _older_list_indexes(engine, schema)
    assert _index_shapes(engine) != expected
    Projection(engine)  # any process opening the vault upgrades it
    assert _index_shapes(engine) == expected
    assert vault_digest(engine) == before


def test_an_older_vault_gets_the_list_indexes_in_their_current_shape(tmp_path: Path) -> None:
    _check_upgrade(make_engine(f"sqlite:///{tmp_path / 'v.db'}"))


def test_an_older_postgres_vault_gets_the_list_indexes_in_their_current_shape() -> None:
    with postgres_schema() as schema:
        pg = make_engine(POSTGRES, create=False).execution_options(schema_translate_map={None: schema})
        create_tables(pg)
        _check_upgrade(pg, schema)


def test_a_bulk_load_builds_the_indexes_after_it_and_gets_the_digest_of_a_live_vault(tmp_path: Path) -> None:
    raw = raw_events([*run_events("r1"), *run_events("r2")])  # the same companies hunted twice
    live = make_engine(f"sqlite:///{tmp_path / 'live.db'}")
    for event in raw:
        Projection(live).apply([event])
    with Session(live) as s:
        assert {(c.first_run, c.last_run) for c in s.exec(select(Company)).all()} == {("r1", "r2")}
    for hold in (0, 2, 1000):  # company rows written at every batch, held a while, held to the end
        bulk = make_engine(f"sqlite:///{tmp_path / f'bulk{hold}.db'}", bulk=True)
        assert _index_shapes(bulk) == {}  # only the primary keys while loading
        projection = Projection(bulk, fresh=True, hold_companies=hold)
        for event in raw:
            projection.apply([event])
        projection.finish()
        build_indexes(bulk)
        assert _index_shapes(bulk) == _index_shapes(live)
        with bulk.connect() as conn:  # the planner has statistics on the list tables
            analyzed = set(conn.exec_driver_sql("SELECT tbl FROM sqlite_stat1").scalars())
        assert {"companies", "leads", "lead_current"} <= analyzed
        assert vault_digest(bulk) == vault_digest(live)


def test_a_bulk_load_into_postgres_gets_the_indexes_and_the_digest_of_a_live_sqlite_vault(tmp_path: Path) -> None:
    raw = raw_events(run_events())
    live = make_engine(f"sqlite:///{tmp_path / 'live.db'}")
    for event in raw:
        Projection(live).apply([event])
    with postgres_schema() as schema:
        pg = make_engine(POSTGRES, create=False, bulk=True).execution_options(schema_translate_map={None: schema})
        create_tables(pg, indexes=False)
        assert _index_shapes(pg) == {}
        projection = Projection(pg, fresh=True)
        projection.apply(raw[:4])
        projection.apply_decoded(projection.decode(raw, after=2))  # overlapping what is in: skipped
        build_indexes(pg)
        assert _index_shapes(pg) == _index_shapes(live)
        assert vault_digest(pg) == vault_digest(live)


def _column_added_later_is_filled(engine: Engine, schema: str | None = None) -> None:
    Projection(engine).apply(raw_events(run_events()))
    before = vault_digest(engine)
    with engine.begin() as conn:  # a vault from before runs.targets
        conn.exec_driver_sql(f"ALTER TABLE {schema + '.' if schema else ''}runs DROP COLUMN targets")
        conn.exec_driver_sql(f"DROP INDEX {schema + '.' if schema else ''}ix_runs_batch_id")
        conn.exec_driver_sql(f"ALTER TABLE {schema + '.' if schema else ''}runs DROP COLUMN batch_id")
    engine.dispose()  # as a new process would open it
    Projection(engine)  # any process opening the vault upgrades it
    with engine.connect() as conn:
        targets = conn.exec_driver_sql(f"SELECT targets FROM {schema + '.' if schema else ''}runs").scalars().all()
    assert targets == ["{}"]
    assert "ix_runs_batch_id" in {i["name"] for i in inspect(engine).get_indexes("runs", schema=schema)}
    assert vault_digest(engine) == before


def test_an_older_vault_gets_a_column_added_since_with_its_default(tmp_path: Path) -> None:
    _column_added_later_is_filled(make_engine(f"sqlite:///{tmp_path / 'v.db'}"))


def test_an_older_postgres_vault_gets_a_column_added_since_with_its_default() -> None:
    with postgres_schema() as schema:
        pg = make_engine(POSTGRES, create=False).execution_options(schema_translate_map={None: schema})
        create_tables(pg)
        _column_added_later_is_filled(pg, schema)
def _funnel_stream() -> list[tuple[int, str, bytes]]:
    """Three runs over the same companies, with funnel moves and activities between and after them."""
    from shared.events import LeadActivityRecorded, LeadStatusChanged

    key = "BR:00000000000002"
    return raw_events([
        *run_events("r1"), LeadStatusChanged(lead_key=key, status="contacted", actor="ana"),
        *run_events("r2"), LeadActivityRecorded(lead_key=key, kind="task", text="call back", due_on="2026-12-01"),
        LeadStatusChanged(lead_key=key, status="won", note="signed", run_id="r2"),
        LeadStatusChanged(lead_key="BR:00000000000003", status="do_not_contact"), *run_events("r3"),
    ])


def test_a_replay_of_runs_over_the_same_companies_with_funnel_moves_gives_the_live_digest_twice(
    tmp_path: Path,
) -> None:
    from shared.vault.schema import LeadCurrent, TimelineRow

    raw = _funnel_stream()
    live = make_engine(f"sqlite:///{tmp_path / 'live.db'}")
    for event in raw:
        Projection(live).apply([event])
    with Session(live) as s:
        current = {c.lead_key: c for c in s.exec(select(LeadCurrent)).all()}
        assert len(s.exec(select(TimelineRow)).all()) == 4
    assert len(current) == 4 and {c.runs_seen for c in current.values()} == {3}
    assert {c.latest_run_id for c in current.values()} == {"r3"}
    assert (current["BR:00000000000002"].status, current["BR:00000000000003"].status) == ("won", "do_not_contact")
    digests = set()
    for name in ("first", "second"):
        bulk = make_engine(f"sqlite:///{tmp_path / f'{name}.db'}", bulk=True)
        projection = Projection(bulk, fresh=True, hold_companies=1000)
        projection.apply(raw)
        projection.finish()
        build_indexes(bulk)
        digests.add(vault_digest(bulk))
    assert digests == {vault_digest(live)}


def _as_before_the_lead_level_funnel(engine: Engine, schema: str | None = None) -> None:
    """The vault as the release before lead_current left it: a status and notes on each per-run row."""
    prefix = f"{schema}." if schema else ""
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DELETE FROM {prefix}lead_current")
        conn.exec_driver_sql(f"DELETE FROM {prefix}lead_timeline")
        conn.exec_driver_sql(f"ALTER TABLE {prefix}leads ADD COLUMN status VARCHAR NOT NULL DEFAULT 'new'")
        conn.exec_driver_sql(f"ALTER TABLE {prefix}leads ADD COLUMN notes VARCHAR NOT NULL DEFAULT ''")
        conn.exec_driver_sql(f"UPDATE {prefix}leads SET status = 'won', notes = 'signed' "
                             "WHERE run_id = 'r1' AND lead_key = 'BR:00000000000002'")


def _check_funnel_upgrade(engine: Engine, schema: str | None = None) -> None:
    from shared.vault.schema import LeadCurrent

    Projection(engine).apply(raw_events([*run_events("r1"), *run_events("r2")]))
    _as_before_the_lead_level_funnel(engine, schema)
    projection = Projection(engine)  # any process opening the vault upgrades it
    with Session(engine) as s:
        current = {c.lead_key: c for c in s.exec(select(LeadCurrent)).all()}
    assert len(current) == 4 and {(c.runs_seen, c.latest_run_id) for c in current.values()} == {(2, "r2")}
    assert current["BR:00000000000002"].status == "won" and current["BR:00000000000001"].score == 95
    projection.apply(raw_events(run_events("r3"), start=100))  # and the projection goes on in it
    with Session(engine) as s:
        assert {c.runs_seen for c in s.exec(select(LeadCurrent)).all()} == {3}


def test_a_vault_from_before_the_lead_level_funnel_is_upgraded_keeping_each_lead_s_status(tmp_path: Path) -> None:
    _check_funnel_upgrade(make_engine(f"sqlite:///{tmp_path / 'v.db'}"))


def test_a_postgres_vault_from_before_the_lead_level_funnel_is_upgraded() -> None:
    with postgres_schema() as schema:
        pg = make_engine(POSTGRES, create=False).execution_options(schema_translate_map={None: schema})
        create_tables(pg)
        _check_funnel_upgrade(pg, schema)


def test_the_projector_sees_a_sequence_skipped_in_delivery() -> None:
    from services.projector.faults import first_gap

    assert first_gap([5, 6, 7], 5) is None
    assert first_gap([3, 4, 5, 6], 5) is None  # redelivered ones below the checkpoint: applied already
    assert first_gap([6, 7], 5) == 5  # 5 lost in transit, 6 and 7 would be applied past it
    assert first_gap([5, 7, 8], 5) == 6
    assert first_gap([], 5) is None
