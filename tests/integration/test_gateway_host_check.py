"""DNS rebinding: a page whose own name now resolves to 127.0.0.1 talks to the gateway as its "own" site
(its Origin matches its Host), so only the Host header gives it away: such requests get 421 on every route."""

from __future__ import annotations

import http.client
import re
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.gateway.app import create_app
from services.gateway.browser_guard import allowed_host_names, misdirected_reason
from services.projector.projection import Projection
from shared.config import Settings
from shared.vault.access import open_writer
from shared.vault.engine import make_engine
from tests.factories import raw_events, run_events
from tests.integration.test_gateway_security import _stored, serving

ATTACKER = "rebind.evil.example"


@pytest.fixture
def settings(tmp_path: Path, nats_url: str) -> Settings:
    s = Settings(HUNTER_DATA_DIR=tmp_path, NATS_URL=nats_url, GATEWAY_TRUSTED_ORIGINS="https://ui.proxy.example",
                 HUNTER_ALLOWED_HOSTS="testserver,hunter.example.com,*.corp.example")
    Projection(make_engine(s.vault_database_url)).apply(raw_events(run_events("r-host")))
    return s


def _paths(app) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """Every documented route of the app, path parameters filled in, and the undocumented pages."""
    out = [(method.upper(), re.sub(r"\{[^}]+\}", "x", path))
           for path, ops in app.openapi()["paths"].items() for method in ops]
    out = [(m, p.replace("/runs/x/", "/runs/{run}/")) for m, p in out]
    return out + [("GET", p) for p in ("/", "/openapi.json", "/docs", "/metrics", "/static/app.js", "/nowhere")]


def test_a_rebound_name_gets_421_on_every_route_and_publishes_nothing(settings: Settings, nats_url: str) -> None:
    run_id = f"rebind-{uuid.uuid4().hex[:8]}"
    app = create_app(settings)
    routes = _paths(app)
    assert len(routes) > 30 and ("POST", "/api/runs") in routes and ("GET", "/") in routes
    with TestClient(app, base_url=f"http://{ATTACKER}:8080", raise_server_exceptions=False) as client:
        for method, path in routes:
            path = path.replace("{run}", run_id)
            r = client.request(method, path, headers={"Origin": f"http://{ATTACKER}:8080"})  # its own, as it says
            assert r.status_code == 421, (method, path, r.status_code, r.text[:200])
            assert ATTACKER in r.json()["detail"] and "HUNTER_ALLOWED_HOSTS" in r.json()["detail"]
            assert r.headers["X-Frame-Options"] == "DENY"
        assert client.get("/api/runs").status_code == 421
    assert not _stored(nats_url, f"run.cancelled.{run_id}")  # the cancel route was among them
    with TestClient(app, raise_server_exceptions=False) as client:  # "testserver": allowed by the test env
        assert client.post(f"/api/runs/{run_id}/cancel").status_code == 202
    assert _stored(nats_url, f"run.cancelled.{run_id}")  # the same request under the gateway's name does


@pytest.mark.parametrize("host", [
    "localhost:8080", "LOCALHOST", "localhost.", "127.0.0.1:8080", "[::1]:8080", "10.1.2.3:8080", "[fe80::1]",
    "hunter.example.com", "Hunter.Example.COM:443", "a.corp.example", "x.y.corp.example", "ui.proxy.example",
])
def test_local_names_addresses_and_the_configured_names_are_admitted(settings: Settings, host: str) -> None:
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        assert client.get("/api/runs", headers={"Host": host}).status_code == 200, host


@pytest.mark.parametrize("host", [
    "evil.example", "localhost.evil.example", "127.0.0.1.nip.io", "corp.example", "xcorp.example",
    "hunter.example.com.evil.example", "", "bad host",
])
def test_any_other_name_is_refused(host: str) -> None:
    allowed = allowed_host_names(["hunter.example.com", "*.corp.example"], ["https://ui.proxy.example"])
    assert misdirected_reason({"host": host}, allowed) is not None, host
    assert misdirected_reason({}, allowed) is None  # HTTP/1.0 without Host: not a browser
    assert misdirected_reason({"host": host}, allowed_host_names(["*"])) is None  # "*": host check off


def test_over_real_http_the_bound_address_works_and_a_rebound_name_does_not(settings: Settings) -> None:
    with serving(settings) as port:
        for host, status in ((f"127.0.0.1:{port}", 200), (f"localhost:{port}", 200), (f"{ATTACKER}:{port}", 421)):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
            try:
                conn.request("GET", "/api/runs", headers={"Host": host})
                assert conn.getresponse().status == status, host
            finally:
                conn.close()


def test_the_name_the_gateway_is_bound_to_is_one_of_its_names(tmp_path: Path, nats_url: str) -> None:
    s = Settings(HUNTER_DATA_DIR=tmp_path, NATS_URL=nats_url, GATEWAY_HOST="hunter-box.lan", HUNTER_ALLOWED_HOSTS="")
    open_writer(s.vault_database_url).dispose()  # the vault, as the projector creates it
    with TestClient(create_app(s), raise_server_exceptions=False) as client:
        assert client.get("/api/runs", headers={"Host": "hunter-box.lan:8080"}).status_code == 200
        assert client.get("/api/runs").status_code == 421  # "testserver" is not its name here
