"""Each adapter over a dependency's private names (``shared/adapters``) still reaches what it means to:
these fail on the upgrade that moves it, not in production."""

from __future__ import annotations

import re

import pytest
from faststream.nats import NatsBroker
from nats.aio.client import Client
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.adapters import faststream_broker, nats_jetstream, otel_sdk, re_parser


def test_faststream_broker_connects_to_the_servers_set_before_it_starts() -> None:
    broker = NatsBroker("nats://127.0.0.1:1", apply_types=False, name="kept")
    faststream_broker.set_servers(broker, ["nats://127.0.0.1:4999", "nats://127.0.0.1:5000"], user="ana")
    assert broker._connection_kwargs["servers"] == ["nats://127.0.0.1:4999", "nats://127.0.0.1:5000"]
    assert broker._connection_kwargs["user"] == "ana" and broker._connection_kwargs["name"] == "kept"


async def test_faststream_broker_really_connects_where_it_was_pointed(tmp_path) -> None:  # noqa: ANN001
    from tests.nats_fixtures import nats_server

    with nats_server(tmp_path / "nats") as url:
        broker = NatsBroker("nats://127.0.0.1:1", apply_types=False)  # nothing listens there
        faststream_broker.set_servers(broker, [url])
        await broker.connect()
        try:
            assert broker.connection.is_connected
            assert broker.connection.connected_url is not None
            assert broker.connection.connected_url.port == int(url.rsplit(":", 1)[1])
        finally:
            await broker.stop()


def test_faststream_adapter_says_so_when_the_broker_keeps_its_servers_elsewhere() -> None:
    broker = NatsBroker("nats://127.0.0.1:1", apply_types=False)
    del broker._connection_kwargs["servers"]
    with pytest.raises(RuntimeError, match="faststream changed"):
        faststream_broker.set_servers(broker, ["nats://127.0.0.1:4999"])


def test_otel_counts_the_sdk_providers_span_processors() -> None:
    provider = TracerProvider()
    assert otel_sdk.span_processor_count(provider) == 0
    provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    assert otel_sdk.span_processor_count(provider) == 2


def test_otel_cannot_count_the_api_providers() -> None:
    assert otel_sdk.span_processor_count(otel_trace.NoOpTracerProvider()) is None
    assert otel_sdk.span_processor_count(otel_trace.ProxyTracerProvider()) is None


def test_re_parser_gives_the_tree_the_literal_search_walks() -> None:
    tree = list(re_parser.parse("ab[cd](d|ef)+x?(?>g)", re.IGNORECASE))
    ops = [op for op, _ in tree]
    assert ops[:3] == [re_parser.LITERAL, re_parser.LITERAL, re_parser.IN]
    assert tree[0][1] == ord("a")
    assert ops[3] is re_parser.MAX_REPEAT
    lo, hi, sub = tree[3][1]
    assert (lo, hi) == (1, re_parser.MAXREPEAT)
    assert [op for op, _ in sub] == [re_parser.SUBPATTERN]  # a group (its tree last) with a branch inside
    assert [op for op, _ in sub[0][1][-1]] == [re_parser.BRANCH]
    assert ops[4] is re_parser.MAX_REPEAT and tree[4][1][:2] == (0, 1)
    assert ops[5] is re_parser.ATOMIC_GROUP
    assert [op for op, _ in list(re_parser.parse("a*?b"))][0] is re_parser.MIN_REPEAT
    assert [op for op, _ in list(re_parser.parse("a*+b"))][0] is re_parser.POSSESSIVE_REPEAT
    with pytest.raises(re.error):
        re_parser.parse("(unclosed")


async def test_nats_adapter_finds_a_jetstream_contexts_client_and_prefix() -> None:
    nc = Client()
    assert nats_jetstream.client_of(nc.jetstream()) is nc
    assert nats_jetstream.api_prefix(nc.jetstream()) == "$JS.API"
    assert nats_jetstream.api_prefix(nc.jetstream(domain="hub")) == "$JS.hub.API"
    assert nats_jetstream.api_prefix(nc.jetstream(prefix="$JS.other.API")) == "$JS.other.API"


def test_sqlalchemy_driven_join_keeps_the_written_order_and_indexes_on_sqlite_only() -> None:
    from sqlalchemy import Column, Integer, MetaData, Table, select
    from sqlalchemy.dialects import postgresql, sqlite

    from shared.adapters.sqlalchemy_join import DrivenJoin

    meta = MetaData()
    a = Table("a", meta, Column("id", Integer, primary_key=True))
    b = Table("b", meta, Column("id", Integer, primary_key=True), Column("a_id", Integer))
    join = DrivenJoin(a, b, a.c.id == b.c.a_id, left_index="ix_a", right_index="ix_b")
    query = select(a.c.id).select_from(join)
    on_sqlite = str(query.compile(dialect=sqlite.dialect()))
    assert "FROM a INDEXED BY ix_a CROSS JOIN b INDEXED BY ix_b ON a.id = b.a_id" in on_sqlite
    assert "FROM a JOIN b ON a.id = b.a_id" in str(query.compile(dialect=postgresql.dialect()))
    # the index names are part of the statement cache's key: two joins differing only there are two statements
    other = select(a.c.id).select_from(DrivenJoin(a, b, a.c.id == b.c.a_id, left_index="ix_other"))
    assert query._generate_cache_key() != other._generate_cache_key()
    same = select(a.c.id).select_from(DrivenJoin(a, b, a.c.id == b.c.a_id, left_index="ix_a", right_index="ix_b"))
    assert query._generate_cache_key() == same._generate_cache_key()
