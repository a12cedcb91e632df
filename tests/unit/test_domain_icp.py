"""ICP profiles: shipped templates, loading by name / path / directory, validation."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from shared.domain.icp import DEFAULT_WEIGHTS, IcpNotFound, IcpProfile, list_templates, load_icp


def test_two_templates_are_shipped() -> None:
    assert list_templates() == ["local-retail-ecommerce", "software-b2b"]


def test_none_loads_the_default_software_template() -> None:
    icp = load_icp(None)
    assert icp.name == "software-b2b"
    assert {"62", "63"} <= set(icp.activity_prefixes)
    assert {"SP", "RJ", "MG", "PR", "SC", "RS"} <= icp.region_codes


@pytest.mark.parametrize("name", ["software-b2b", "local-retail-ecommerce"])
def test_templates_load_by_name_and_are_valid(name: str) -> None:
    icp = load_icp(name)
    assert icp.name == name and icp.description
    assert icp.target_activities and icp.regions


def test_retail_template_targets_retail_and_weights_ecommerce_more() -> None:
    icp = load_icp("local-retail-ecommerce")
    assert "47" in icp.activity_prefixes
    assert icp.weight("tech_ecommerce") > DEFAULT_WEIGHTS["tech_ecommerce"]


def test_a_profile_in_icp_dir_wins_over_the_template(tmp_path: Path) -> None:
    (tmp_path / "software-b2b.yaml").write_text("description: mine\ntarget_activities: ['6201']\n")
    (tmp_path / "dentists.yml").write_text("target_activities: ['8630-5/04']\nregions: [SP]\n")
    assert load_icp("software-b2b", tmp_path).description == "mine"
    dentists = load_icp("dentists", tmp_path)
    assert dentists.name == "dentists" and dentists.activity_prefixes == ("8630504",)
    assert "dentists" in list_templates(tmp_path)


def test_a_yaml_path_is_loaded(tmp_path: Path) -> None:
    path = tmp_path / "custom.yaml"
    path.write_text("name: custom\nkeywords: [software]\nweights: {region: 20}\n")
    icp = load_icp(str(path))
    assert (icp.name, icp.weight("region"), icp.weight("activity_main")) == ("custom", 20, 30)


@pytest.mark.parametrize("value", ["no-such-profile", "missing.yaml", "../etc/passwd"])
def test_unknown_profiles_raise(value: str) -> None:
    with pytest.raises(IcpNotFound):
        load_icp(value)


@pytest.mark.parametrize(
    "data",
    [
        {"name": "x", "weights": {"regoin": 5}},
        {"name": "x", "capital_min": 10, "capital_max": 1},
        {"name": "x", "min_age_years": 10, "max_age_years": 1},
        {"name": "x", "unexpected": True},
    ],
)
def test_invalid_profiles_are_rejected(data: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        IcpProfile.model_validate(data)


def test_numeric_yaml_codes_become_strings(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("regions: [75, SP]\ntarget_activities: [62]\nexclusions: [84, igreja]\n")
    icp = load_icp(str(path))
    assert icp.regions == ["75", "SP"] and icp.excluded_activity_prefixes == ("84",)
    assert icp.excluded_keywords == ("igreja",)
