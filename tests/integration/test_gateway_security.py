"""The gateway against a careless user and a hostile page: auth traps, CSRF, framing, odd input."""

from __future__ import annotations

import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.gateway.app import create_app
from services.gateway.basic_auth import AuthMisconfigured
from services.projector.db import make_engine
from services.projector.projection import Projection
from shared.config import Settings
from tests.factories import raw_events, run_events

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def settings(tmp_path: Path, nats_url: str) -> Settings:
    s = Settings(HUNTER_DATA_DIR=tmp_path, NATS_URL=nats_url)
    Projection(make_engine(s.vault_database_url)).apply(raw_events(run_events("r-sec")))
    return s


# ---- basic auth -------------------------------------------------------------------------------

def test_a_non_ascii_password_lets_its_user_in_and_refuses_others_with_401(tmp_path: Path, nats_url: str) -> None:
    s = Settings(HUNTER_DATA_DIR=tmp_path, NATS_URL=nats_url, BASIC_AUTH_USER="joão", BASIC_AUTH_PASS="señha-ção")
    with TestClient(create_app(s), raise_server_exceptions=False) as client:
        assert client.get("/api/runs", auth=("joão", "señha-ção")).status_code == 200
        assert client.get("/api/runs", auth=("joão", "wrong")).status_code == 401
        assert client.get("/api/runs", auth=("other", "wrong")).status_code == 401
        assert client.get("/api/runs", auth=("joão", "señha-çãó")).status_code == 401
        assert client.get("/api/runs", headers={"Authorization": "Basic !!notbase64"}).status_code == 401


def test_both_username_and_password_are_always_compared(
    tmp_path: Path, nats_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    compared: list[tuple[object, object]] = []
    real = secrets.compare_digest

    def recording(a: object, b: object) -> bool:
        compared.append((a, b))
        return real(a, b)  # type: ignore[arg-type]

    monkeypatch.setattr(secrets, "compare_digest", recording)
    s = Settings(HUNTER_DATA_DIR=tmp_path, NATS_URL=nats_url, BASIC_AUTH_USER="ana", BASIC_AUTH_PASS="s3cret")
    with TestClient(create_app(s)) as client:
        assert client.get("/api/runs", auth=("bob", "s3cret")).status_code == 401
    assert len(compared) == 2  # the password too, though the username was wrong


@pytest.mark.parametrize(("env", "message"), [
    ({"BASIC_AUTH_PASS": "s3cret"}, "BASIC_AUTH_USER is not"),
    ({"BASIC_AUTH_USER": "ana"}, "BASIC_AUTH_PASS is empty or unset"),
    ({"BASIC_AUTH_USER": "ana", "BASIC_AUTH_PASS": ""}, "BASIC_AUTH_PASS is empty or unset"),
])
def test_a_half_auth_configuration_refuses_to_start(tmp_path: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(AuthMisconfigured, match=message):
        create_app(Settings(HUNTER_DATA_DIR=tmp_path, **env))


def test_the_gateway_process_exits_with_the_reason_on_a_half_configuration(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HUNTER_DATA_DIR": str(tmp_path), "BASIC_AUTH_PASS": "s3cret",
           "NATS_URL": "nats://127.0.0.1:1"}
    done = subprocess.run([sys.executable, "-m", "services.gateway"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode != 0
    assert "BASIC_AUTH_PASS is set but BASIC_AUTH_USER is not" in done.stderr
