"""docker-compose.yml and deploy/ cannot be started here (no Docker engine): check they are
well-formed and that every command they run exists in this repo."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILES = [REPO / "docker-compose.yml", *sorted((REPO / "deploy" / "compose").glob("*.yml"))]


def _commands(doc: dict) -> list[list[str]]:
    return [svc["command"] for name, svc in doc.get("services", {}).items()
            if name != "nats" and isinstance(svc.get("command"), list)]


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_compose_files_run_modules_that_exist(path: Path) -> None:
    doc = yaml.safe_load(path.read_text())
    assert doc["services"], path
    for cmd in _commands(doc):
        assert cmd[:2] == ["python", "-m"], cmd
        assert importlib.util.find_spec(cmd[2]) is not None, f"{path.name}: no module {cmd[2]}"


def test_main_compose_has_nats_with_jetstream_every_service_and_enricher_replicas() -> None:
    doc = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = doc["services"]
    assert "-js" in services["nats"]["command"]
    for stage in ("extractor", "cleaner", "scorer", "enricher", "exporter", "projector", "gateway"):
        assert services[stage]["command"] == ["python", "-m", f"services.{stage}"]
    assert "replicas" in services["enricher"]["deploy"]


def test_compose_enricher_replicas_know_how_many_share_the_host() -> None:
    from shared.config import Settings

    aliases = {f.alias for f in Settings.model_fields.values()}
    for path in (REPO / "docker-compose.yml", REPO / "deploy" / "compose" / "enrichers.yml"):
        enricher = yaml.safe_load(path.read_text())["services"]["enricher"]
        assert enricher["environment"]["ENRICHER_REPLICAS_PER_HOST"] == enricher["deploy"]["replicas"], path.name
        assert "ENRICHER_REPLICAS_PER_HOST" in aliases


def test_systemd_units_start_service_modules() -> None:
    units = sorted((REPO / "deploy" / "systemd").glob("*.service"))
    assert units
    for unit in units:
        text = unit.read_text()
        assert "ExecStart=" in text and "-m services." in text and "Restart=always" in text
