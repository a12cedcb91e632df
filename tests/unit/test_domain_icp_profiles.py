"""Saved ICP profiles: validation with field errors, the event, YAML round trip, resolution order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shared.domain.icp import load_icp
from shared.domain.icp_profiles import (
    IcpProfileInvalid,
    load_profile_yaml,
    profile_from_saved,
    profile_yaml,
    resolve_icp,
    saved_event,
    saved_subject,
    validate_profile,
)
from shared.events import subject_for


def test_a_valid_profile_dict_becomes_a_profile() -> None:
    icp = validate_profile({"name": "dentists", "target_activities": [8630], "weights": {"region": 20}})
    assert (icp.name, icp.target_activities, icp.weight("region")) == ("dentists", ["8630"], 20)


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"name": "x", "weights": {"regoin": 5}}, "weights", "unknown weight keys ['regoin']"),
        ({"name": "x", "capital_min": 10, "capital_max": 1}, "capital_min", "greater than capital_max"),
        ({"name": "x", "min_age_years": 9, "max_age_years": 1}, "min_age_years", "greater than max_age_years"),
        ({"name": "x", "unexpected": True}, "unexpected", "Extra inputs are not permitted"),
        ({"name": "x", "capital_min": "lots"}, "capital_min", "valid number"),
        ({"name": "x", "weights": {"region": "high"}}, "weights.region", "valid integer"),
        ({"name": "Has Spaces"}, "name", "lower-case letters"),
        ({"regions": ["SP"]}, "name", "required"),
    ],
)
def test_invalid_profiles_report_the_field_and_what_is_wrong(data: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(IcpProfileInvalid) as caught:
        validate_profile(data)
    assert words in caught.value.errors[field], caught.value.errors


def test_every_bad_field_is_reported_at_once() -> None:
    with pytest.raises(IcpProfileInvalid) as caught:
        validate_profile({"name": "BAD NAME", "capital_min": "x", "weights": {"nope": 1}})
    assert set(caught.value.errors) == {"name", "capital_min", "weights"}


def test_the_path_name_fills_a_missing_name_and_must_match_a_given_one() -> None:
    assert validate_profile({"regions": ["SP"]}, name="sp-only").name == "sp-only"
    with pytest.raises(IcpProfileInvalid) as caught:
        validate_profile({"name": "other"}, name="sp-only")
    assert "does not match" in caught.value.errors["name"]


def test_a_non_mapping_is_rejected_as_a_whole() -> None:
    with pytest.raises(IcpProfileInvalid) as caught:
        validate_profile(["not", "a", "mapping"])  # type: ignore[arg-type]
    assert list(caught.value.errors) == ["profile"]


def test_the_saved_event_round_trips_the_profile_on_its_own_subject() -> None:
    icp = validate_profile({"name": "dentists", "regions": ["SP"], "capital_min": 1000, "weights": {"region": 20}})
    event = saved_event(icp)
    assert subject_for(event, name=event.name) == saved_subject("dentists") == "icp.saved.dentists"
    assert profile_from_saved(event) == icp


def test_yaml_files_round_trip_and_take_their_name_from_the_file(tmp_path: Path) -> None:
    path = tmp_path / "dentists.yaml"
    path.write_text("target_activities: ['8630-5/04']\nregions: [SP]\n")
    icp = load_profile_yaml(path)
    assert icp.name == "dentists"
    (tmp_path / "again.yaml").write_text(profile_yaml(icp))
    assert load_profile_yaml(tmp_path / "again.yaml") == icp


def test_broken_yaml_is_an_invalid_profile(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("regions: [SP\n")
    with pytest.raises(IcpProfileInvalid) as caught:
        load_profile_yaml(path)
    assert "not valid YAML" in caught.value.errors["profile"]


def test_a_saved_profile_wins_over_the_template_of_the_same_name() -> None:
    saved = saved_event(validate_profile({"name": "software-b2b", "description": "saved", "regions": ["RJ"]}))
    assert resolve_icp("software-b2b", saved).description == "saved"
    assert resolve_icp("software-b2b", None) == load_icp("software-b2b")
    assert resolve_icp(None, None).name == "software-b2b"
