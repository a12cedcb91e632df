"""Schemathesis against the live gateway's /openapi.json, with basic auth: whatever it sends, no
answer is a 5xx and every status is one the schema documents."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, status_code_conformance

from services.gateway.app import create_app
from services.projector.projection import Projection
from shared.config import Settings
from shared.nats_server import free_port
from shared.vault.engine import make_engine
from tests.factories import raw_events, run_events

AUTH = {"Authorization": "Basic " + base64.b64encode(b"ana:s3cret").decode()}


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory, nats_url: str) -> Iterator[schemathesis.BaseSchema]:
    data = tmp_path_factory.mktemp("fuzz")
    s = Settings(HUNTER_DATA_DIR=Path(data), NATS_URL=nats_url, BASIC_AUTH_USER="ana", BASIC_AUTH_PASS="s3cret")
    Projection(make_engine(s.vault_database_url)).apply(raw_events(run_events("r-fuzz")))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(s), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield schemathesis.openapi.from_url(f"http://127.0.0.1:{port}/openapi.json", headers=AUTH)
    finally:
        server.should_exit = True
        thread.join(10)


schema = schemathesis.pytest.from_fixture("api_schema").exclude(path_regex=r"/events$")  # SSE: never ends


@schema.parametrize()
# derandomized: the same examples every run (CI never flakes on a draw); the huge and negative integers
# schemathesis reaches for first are among them (they found the unbounded rejects offset)
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_request_gets_a_server_error_or_an_undocumented_status(case: schemathesis.Case) -> None:
    case.call_and_validate(headers=AUTH, checks=[not_a_server_error, status_code_conformance], timeout=30)
