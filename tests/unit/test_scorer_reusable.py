"""The scorer's question to the enricher (which leads the vault can serve): chunked, and read strictly."""

from __future__ import annotations

import orjson
import pytest

from services.scorer.reusable import answer_keys, questions


def test_questions_carry_every_key_once_in_chunks() -> None:
    keys = [f"BR:{i:014d}" for i in range(4500)]
    asked = [orjson.loads(q)["keys"] for q in questions(keys, size=2000)]
    assert [len(a) for a in asked] == [2000, 2000, 500]
    assert [k for a in asked for k in a] == keys
    assert list(questions([])) == []


def test_an_answer_is_a_set_of_keys_and_a_malformed_one_raises() -> None:
    assert answer_keys(b'{"keys": ["BR:1", "BR:2", "BR:1"]}') == {"BR:1", "BR:2"}
    with pytest.raises(KeyError):
        answer_keys(b'{"found": []}')
    with pytest.raises(TypeError):
        answer_keys(b'{"keys": "BR:1"}')
