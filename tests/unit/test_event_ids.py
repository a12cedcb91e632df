"""Deterministic event ids: the same parts give the same id (``Nats-Msg-Id`` dedup of re-published events),
and the ids are the UUID5 of earlier releases, so a stream written by them dedups against this one."""

from __future__ import annotations

import random
import string
import uuid

from shared.events import EVENT_NAMESPACE, event_id_for


def test_event_ids_are_uuid5_of_the_joined_parts() -> None:
    rng = random.Random(3)
    alphabet = string.printable + "çãé€😀\u0000"
    for _ in range(5000):
        parts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30))) for _ in range(rng.randint(1, 4))]
        expected = str(uuid.uuid5(EVENT_NAMESPACE, "|".join(parts)))
        assert event_id_for(*parts) == expected
        assert uuid.UUID(expected).version == 5
    # a known id: a change of namespace or joining would break dedup against streams already written
    assert event_id_for("lead.enriched", "run-1", "BR:12345678000190") == \
        str(uuid.uuid5(uuid.UUID("6f1c9a52-3a8e-4c1e-9a55-2f8d1b7e4c10"), "lead.enriched|run-1|BR:12345678000190"))
    assert event_id_for("x", 1, None) == str(uuid.uuid5(EVENT_NAMESPACE, "x|1|None"))
