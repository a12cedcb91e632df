"""Old event versions are upcast on read: a recorded v1 stream still projects after a schema bump."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import Session, select

from services.projector.digest import vault_digest
from services.projector.projection import Projection
from shared.events import (
    Envelope,
    LeadStatusChanged,
    LogRecorded,
    UnknownEvent,
    WrongEventType,
    decode_event,
    decode_event_as,
)
from shared.vault.engine import make_engine
from shared.vault.schema import EnrichmentRow, Lead, LeadCurrent, LogRow, Run, TimelineRow

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "stream_v1.jsonl"


def recorded_stream() -> list[tuple[int, str, bytes]]:
    """The fixture: one line per stream message of a real run, subject and raw envelope JSON."""
    lines = [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines() if line]
    return [(seq, d["subject"], d["envelope"].encode()) for seq, d in enumerate(lines, start=1)]


def _v1_log() -> Envelope:
    for _, _, data in recorded_stream():
        env = Envelope.model_validate_json(data)
        if env.type == "LogRecorded":
            return env
    raise AssertionError("the recorded stream holds no LogRecorded event")


def test_the_recorded_stream_holds_v1_log_events_older_than_this_release() -> None:
    env = _v1_log()
    assert env.version == 1 < LogRecorded.VERSION
    assert "fields" in env.payload and "context" not in env.payload


def test_a_v1_log_event_is_upcast_lifting_the_span_id_and_dropping_repeated_ids() -> None:
    env = _v1_log()
    event = decode_event(env)
    assert isinstance(event, LogRecorded)
    v1_fields = env.payload["fields"]
    assert event.span_id == v1_fields["span_id"] and event.trace_id == v1_fields["trace_id"]
    assert event.context == {"reason": v1_fields["reason"]}
    assert event.run_id == "rec-bad" and event.message == "extract_failed"


def test_an_event_without_an_upcaster_or_newer_than_the_release_is_refused() -> None:
    env = _v1_log()
    with pytest.raises(UnknownEvent, match="newer than this release"):
        decode_event(env.model_copy(update={"version": LogRecorded.VERSION + 1}))
    with pytest.raises(UnknownEvent, match="no upcaster"):
        decode_event(env.model_copy(update={"version": 0}))


def test_the_recorded_v1_stream_projects_into_the_vault_after_the_schema_bump(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'v.db'}")
    stream = recorded_stream()
    assert Projection(engine).apply(stream) == len(stream)
    with Session(engine) as s:
        logs = s.exec(select(LogRow)).all()
        ok, bad = s.get(Run, "rec-ok"), s.get(Run, "rec-bad")
        leads = s.exec(select(Lead).where(Lead.run_id == "rec-ok")).all()
        enrichments = s.exec(select(EnrichmentRow)).all()
    assert [(log.service, log.level, log.message) for log in logs] == [("extractor", "error", "extract_failed")]
    assert set(json.loads(logs[0].fields)) == {"reason", "span_id"}
    assert ok is not None and ok.status == "completed" and bad is not None and bad.status == "failed"
    assert len(leads) == 20 and sum(lead.enriched for lead in leads) == len(enrichments) == 10


def _v1_status_events() -> list[Envelope]:
    return [env for _, _, data in recorded_stream()
            if (env := Envelope.model_validate_json(data)).type == "LeadStatusChanged"]


def test_a_v1_per_run_status_event_is_upcast_to_a_lead_level_one_keeping_its_run_as_context() -> None:
    envs = _v1_status_events()
    assert len(envs) == 4 and {env.version for env in envs} == {1} and LeadStatusChanged.VERSION == 2
    assert all("by" in env.payload and "actor" not in env.payload for env in envs)
    first = decode_event(envs[0])
    assert isinstance(first, LeadStatusChanged)
    assert (first.lead_key, first.status, first.actor, first.run_id, first.reopen) == (
        "BR:29975288000100", "contacted", "ana", "rec-ok", False)
    unsigned = decode_event(envs[1])
    assert isinstance(unsigned, LeadStatusChanged) and unsigned.status is None and unsigned.actor == "api"


def test_the_recorded_v1_status_events_project_to_the_lead_level_funnel_and_timeline(tmp_path: Path) -> None:
    stream = recorded_stream()
    digests = []
    for name in ("a", "b"):  # a replay gives the same vault twice
        engine = make_engine(f"sqlite:///{tmp_path / f'{name}.db'}")
        assert Projection(engine).apply(stream) == len(stream)
        digests.append(vault_digest(engine))
    assert digests[0] == digests[1]
    with Session(engine) as s:
        won, lost = s.get(LeadCurrent, "BR:29975288000100"), s.get(LeadCurrent, "BR:32870465000270")
        untouched = s.exec(select(LeadCurrent).where(LeadCurrent.status == "new")).all()
        timeline = s.exec(select(TimelineRow).where(TimelineRow.lead_key == "BR:29975288000100")
                          .order_by(TimelineRow.seq)).all()  # type: ignore[arg-type]
    assert won is not None and (won.status, won.latest_run_id, won.runs_seen) == ("won", "rec-ok", 1)
    assert won.status_at == "2026-11-25T20:11:29.067530+00:00"
    assert lost is not None and lost.status == "lost" and len(untouched) == 18
    assert [(t.kind, t.previous, t.status, t.text, t.actor, t.run_id) for t in timeline] == [
        ("status", "new", "contacted", "liguei, pediu proposta", "ana", "rec-ok"),
        ("note", None, None, "proposta enviada por e-mail", "api", "rec-ok"),
        ("status", "contacted", "won", "", "ana", "rec-ok"),
    ]


def test_a_reader_of_one_type_gets_it_upcast_and_any_other_type_is_refused_by_name() -> None:
    status = _v1_status_events()[0]
    event = decode_event_as(status, LeadStatusChanged)  # upcast v1 -> v2 on the way, typed for the reader
    assert event.lead_key == "BR:29975288000100" and event.actor == "ana"
    with pytest.raises(WrongEventType, match="^expected LogRecorded, got LeadStatusChanged$"):
        decode_event_as(status, LogRecorded)
    assert issubclass(WrongEventType, ValueError)  # bad input: the service runtime dead-letters it at once
