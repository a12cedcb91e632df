"""``hunter icp``: save a YAML profile as an event, list and show it, refuse a bad one with its field errors."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from hunter.cli import main


def test_a_saved_profile_is_listed_shown_and_wins_over_files(
    tmp_path: Path, nats_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("NATS_URL", nats_url)
    monkeypatch.setenv("HUNTER_DATA_DIR", str(tmp_path / "data"))
    name = f"dentists-{uuid.uuid4().hex[:6]}"
    path = tmp_path / f"{name}.yaml"
    path.write_text("description: dentists in SP\ntarget_activities: ['8630-5/04']\nregions: [SP]\n")

    assert main(["icp", "save", str(path)]) == 0
    assert f"saved ICP profile {name}" in capsys.readouterr().out

    path.write_text("description: edited\nregions: [RJ]\n")
    assert main(["icp", "save", str(path)]) == 0
    capsys.readouterr()

    assert main(["icp", "list"]) == 0
    listed = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "saved" in listed[name] and "edited" in listed[name]
    assert "template" in listed["software-b2b"]

    assert main(["icp", "show", name]) == 0
    shown = capsys.readouterr().out
    assert "description: edited" in shown and "- RJ" in shown


def test_an_invalid_profile_is_not_saved_and_its_fields_are_named(
    tmp_path: Path, nats_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("NATS_URL", nats_url)
    monkeypatch.setenv("HUNTER_DATA_DIR", str(tmp_path / "data"))
    name = f"bad-{uuid.uuid4().hex[:6]}"
    path = tmp_path / f"{name}.yaml"
    path.write_text("weights: {regoin: 5}\ncapital_min: lots\n")

    assert main(["icp", "save", str(path)]) == 2
    errors = capsys.readouterr().err
    assert "weights: unknown weight keys ['regoin']" in errors and "capital_min:" in errors
    assert main(["icp", "show", name]) == 1
