"""The replay's fast paths give the vault the slow ones give: a fresh load that reads back only the
rows it wrote, tuples in the decoded views, the digest's per-table normaliser."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from sqlalchemy.engine import Engine

from services.projector.decoding import decode_message
from services.projector.digest import _normalise, _normaliser, vault_digest
from services.projector.projection import Projection
from services.projector.structs import canonical
from shared.bus import decode
from shared.events import decode_event
from shared.vault.engine import build_indexes, canonical_json, create_tables, make_engine
from shared.vault.schema import Company
from tests.fixtures.postgres import POSTGRES, postgres_schema
from tests.fixtures.synthetic_stream import synthetic_stream

RAW = [(seq, subject, data)
       for seq, (subject, data, _) in enumerate(synthetic_stream(2600, leads_per_run=300, pool=500), start=1)]


def _live_digest(tmp_path: Path) -> str:
    live = make_engine(f"sqlite:///{tmp_path / 'live.db'}")
    projection = Projection(live)
    for start in range(0, len(RAW), 500):
        projection.apply(RAW[start:start + 500])
    digest = vault_digest(live)
    live.dispose()
    return digest


@pytest.fixture(params=["sqlite", "postgresql"])
def bulk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'bulk.db'}", bulk=True)
        yield engine
        engine.dispose()
        return
    with postgres_schema() as schema:
        engine = make_engine(POSTGRES, create=False, bulk=True).execution_options(schema_translate_map={None: schema})
        create_tables(engine, indexes=False)
        yield engine
        engine.dispose()


def test_a_fresh_load_in_small_batches_gets_the_digest_of_a_live_vault(tmp_path: Path, bulk: Engine) -> None:
    """Runs span many batches: a lead is written, then read back by a later batch of its run."""
    projection = Projection(bulk, fresh=True, hold_companies=200)
    for start in range(0, len(RAW), 37):
        projection.apply(RAW[start:start + 37])
    projection.finish()
    build_indexes(bulk)
    assert vault_digest(bulk) == _live_digest(tmp_path)


def test_a_fresh_load_resumed_on_a_vault_with_rows_reads_them_back(tmp_path: Path, bulk: Engine) -> None:
    """A second projection picking up a load where the first stopped (its checkpoint past 0) cannot
    assume it wrote every row there is."""
    half = len(RAW) // 2
    first = Projection(bulk, fresh=True)
    for start in range(0, half, 300):
        first.apply(RAW[start:min(start + 300, half)])
    second = Projection(bulk, fresh=True)
    for start in range(0, len(RAW), 300):  # what the first one applied is skipped by the checkpoint
        second.apply(RAW[start:start + 300])
    build_indexes(bulk)
    assert vault_digest(bulk) == _live_digest(tmp_path)


def test_decoded_views_spell_their_records_like_the_pydantic_models() -> None:
    seen = set()
    for _, _, data in RAW:
        env, view = decode_message(data)
        if env.type in seen or env.type not in ("LeadsCleaned", "RunStep", "ApiCallsRecorded", "ExportCompleted"):
            continue
        seen.add(env.type)
        model = decode_event(decode(data))
        assert canonical(view) == canonical_json(model.model_dump(mode="json"))
        # the generic path converts to the same view
        assert msgspec.to_builtins(msgspec.convert(model.model_dump(mode="json"), type(view))) == \
            msgspec.to_builtins(view)
    assert len(seen) == 4


def test_the_digest_normaliser_is_the_per_value_normalisation() -> None:
    columns = list(Company.__table__.columns)  # type: ignore[attr-defined]
    bools = tuple(i for i, c in enumerate(columns) if c.name in ("accountant_like", "repeated_phone"))
    floats = tuple(i for i, c in enumerate(columns) if c.name == "capital")
    rows = []
    for k, (flag, capital) in enumerate([(0, None), (1, 1234.56789012), (None, 0), (2, 1e-7), (True, 10)]):
        row = [f"v{k}{i}" for i in range(len(columns))]
        for i in bools:
            row[i] = flag
        for i in floats:
            row[i] = capital
        rows.append(tuple(row))
    fixed = _normaliser(len(columns), bools, floats)(rows)
    assert [list(r) for r in fixed] == [[_normalise(v, c) for v, c in zip(row, columns, strict=True)] for row in rows]
    assert [type(r[bools[0]]) for r in fixed] == [bool, bool, type(None), bool, bool]
