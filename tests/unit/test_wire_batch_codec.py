"""The fast batch codec reads and writes exactly what the generic bus path does."""

from __future__ import annotations

import pytest

from shared.bus import decode, encode
from shared.events import LeadsCleaned, LeadsExtracted, RunStep, decode_event, envelope, subject_for
from shared.wire import records
from shared.wire.batch_codec import (
    BatchEncoder,
    Encoded,
    Split,
    decode_as,
    decode_mirror_raw,
    encode_batches,
    encode_event,
)
from tests.factories import cleaned_lead


def _batch() -> LeadsCleaned:
    return LeadsCleaned(run_id="r1", batch=3, leads=[cleaned_lead(n, accountant=n == 2) for n in range(1, 4)])


def test_fast_encoded_batches_decode_on_the_generic_path_with_the_same_id_and_subject() -> None:
    event = _batch()
    subject, meta, data, _ = encode_event(event, key=("r1", 3), causation_id="cause")
    generic = envelope(event, key=("r1", 3), causation_id="cause")
    env = decode(data)
    assert subject == subject_for(event) == "lead.cleaned.r1"
    assert (env.event_id, env.type, env.version, env.run_id, env.causation_id, env.correlation_id) == (
        generic.event_id, "LeadsCleaned", 1, "r1", "cause", "r1")
    assert env.payload == generic.payload and meta.event_id == generic.event_id
    assert decode_event(env) == event


def test_generic_encoded_batches_decode_on_the_fast_path() -> None:
    event = _batch()
    assert decode_as(encode(envelope(event, key=("x",))), LeadsCleaned) == event


def test_a_batch_of_another_type_is_refused() -> None:
    step = RunStep(run_id="r1", stage="extract", status="completed")
    with pytest.raises(ValueError, match="expected LeadsExtracted"):
        decode_as(encode(envelope(step, key=("x",))), LeadsExtracted)


def test_batches_over_the_byte_limit_are_cut_down_keeping_every_lead_in_order() -> None:
    leads = [cleaned_lead(n) for n in range(1, 41)]
    one = len(encode_event(LeadsCleaned(run_id="r1", batch=0, leads=leads[:1]), key=("r1", 0)).data)
    limit = one * 7  # room for a few leads per event, far fewer than the 25 asked for

    def batches() -> list[Encoded]:
        return encode_batches(leads, lambda n, part: LeadsCleaned(run_id="r1", batch=n, leads=part),
                              size=25, max_bytes=limit, key=lambda n: ("r1", n))

    encoded = batches()
    assert len(encoded) > 40 // 25 + 1 and all(len(e.data) <= limit for e in encoded)
    events = [decode_as(e.data, LeadsCleaned) for e in encoded]
    assert [lead for e in events for lead in e.leads] == leads
    assert [e.batch for e in events] == list(range(len(events)))
    assert [e.envelope.event_id for e in batches()] == [e.envelope.event_id for e in encoded]


def test_batches_under_the_byte_limit_keep_the_batch_size() -> None:
    leads = [cleaned_lead(n) for n in range(1, 11)]
    encoded = encode_batches(leads, lambda n, part: LeadsCleaned(run_id="r1", batch=n, leads=part),
                             size=4, max_bytes=1_000_000, key=lambda n: ("r1", n))
    assert [len(decode_as(e.data, LeadsCleaned).leads) for e in encoded] == [4, 4, 2]


def test_batches_encoded_piece_by_piece_are_the_batches_encoded_at_once() -> None:
    leads = [cleaned_lead(n) for n in range(1, 40)]
    make = lambda n, batch: LeadsCleaned(run_id="r1", batch=n, leads=batch)  # noqa: E731
    limit = len(encode_event(make(0, leads[:5]), key=("r1", 0)).data)  # forces cuts below the size
    at_once = encode_batches(leads, make, size=8, max_bytes=limit, key=lambda n: ("r1", n))
    encoder = BatchEncoder(make, size=8, max_bytes=limit, key=lambda n: ("r1", n))
    pieces = [*encoder.add(leads[:3]), *encoder.add(leads[3:20]), *encoder.add(leads[20:21]),
              *encoder.add(leads[21:]), *encoder.flush()]
    assert len(at_once) > len(leads) // 8 + 1
    assert [(e.subject, e.envelope.event_id, e.event) for e in pieces] == [
        (e.subject, e.envelope.event_id, e.event) for e in at_once]


def test_raw_leads_read_alongside_a_batch_are_the_json_the_mirror_writes() -> None:
    event = records.to_struct(_batch(), records.LeadsCleaned)
    data = encode_event(event, key=("r1", 3)).data
    batch, raw = decode_mirror_raw(data, records.LeadsCleaned, records.LeadsCleanedRaw)
    assert raw is not None and [bytes(r) for r in raw.leads] == [records.dump_json(lead) for lead in batch.leads]
    scored = records.ScoredLeadOnWire(lead=raw.leads[0], score=7)
    assert records.dump_json(scored) == records.dump_json(records.ScoredLead(lead=batch.leads[0], score=7))
    assert scored.lead_key == batch.leads[0].lead_key


def test_a_batch_taken_the_pydantic_way_has_no_raw_leads() -> None:
    coerced = encode(envelope(_batch(), key=("x",))).replace(b'"batch":3', b'"batch":"3"')  # pydantic coerces it
    batch, raw = decode_mirror_raw(coerced, records.LeadsCleaned, records.LeadsCleanedRaw)
    assert raw is None and batch.batch == 3


def test_the_two_split_rules_cut_an_oversized_batch_as_each_stage_always_did() -> None:
    leads = [cleaned_lead(n) for n in range(1, 18)]
    make = lambda n, batch: LeadsCleaned(run_id="r1", batch=n, leads=batch)  # noqa: E731
    limit = len(encode_event(make(0, leads[:6]), key=("r1", 0)).data)  # 6 leads fit, 7 do not

    def sizes(split: Split) -> list[int]:
        encoded = encode_batches(leads, make, size=8, max_bytes=limit, key=lambda n: ("r1", n), split=split)
        assert all(len(e.data) <= limit for e in encoded)
        events = [decode_as(e.data, LeadsCleaned) for e in encoded]
        assert [lead for e in events for lead in e.leads] == leads
        assert [e.batch for e in events] == list(range(len(events)))
        return [len(e.leads) for e in events]

    # shrink (clean, score): cut in proportion (with a tenth to spare), the rest starts the next batch of up to 8
    assert sizes("shrink") == [5, 5, 5, 2]
    # halve (extract): 8 -> 4 + 4, and the next batch starts after the whole 8
    assert sizes("halve") == [4, 4, 4, 4, 1]
    with pytest.raises(ValueError, match="split rule"):
        BatchEncoder(make, size=8, max_bytes=limit, key=lambda n: ("r1", n), split="thirds")  # type: ignore[arg-type]
