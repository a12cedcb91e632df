"""The gateway against a careless user and a hostile page: auth traps, CSRF, framing, odd input."""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import event

from services.gateway.app import create_app
from services.gateway.basic_auth import AuthMisconfigured
from services.projector.projection import Projection
from shared.bus import connect_bus
from shared.config import Settings
from shared.nats_server import free_port
from shared.vault.access import open_writer
from shared.vault.engine import make_engine
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
    open_writer(s.vault_database_url).dispose()  # the vault, as the projector creates it
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


# ---- CSRF and the security headers --------------------------------------------------------------

def _stored(nats_url: str, subject: str) -> bool:
    async def read() -> bool:
        async with connect_bus(nats_url) as bus:
            return await bus.last(subject) is not None

    return asyncio.run(read())


EVIL = "http://evil.example"
CSV = b"cnpj;razao_social\n11222333000181;ACME\n"


def test_writes_from_a_foreign_origin_are_refused_and_publish_nothing(settings: Settings, nats_url: str) -> None:
    run_id = f"csrf-{uuid.uuid4().hex[:8]}"
    with TestClient(create_app(settings)) as client:
        cancel = client.post(f"/api/runs/{run_id}/cancel", headers={"Origin": EVIL})
        upload = client.post("/api/runs/upload", headers={"Origin": EVIL}, files={"file": ("a.csv", CSV)})
        by_referer = client.post(f"/api/runs/{run_id}/cancel", headers={"Referer": f"{EVIL}/page.html"})
        sandboxed = client.put("/api/config", headers={"Origin": "null"}, json={"enrich_top_default": 0.5})
        other_port = client.post(f"/api/runs/{run_id}/cancel", headers={"Origin": "http://testserver:8081"})
        lookalike = client.delete(f"/api/runs/{run_id}", headers={"Origin": "http://testserver.evil.example"})
    for response in (cancel, upload, by_referer, sandboxed, other_port, lookalike):
        assert response.status_code == 403, response.text
        assert "cross-site request refused" in response.json()["detail"]
    assert EVIL in cancel.json()["detail"]
    assert not _stored(nats_url, f"run.cancelled.{run_id}")
    assert not list((settings.data_dir / "uploads").glob("*a.csv"))


def test_same_origin_and_non_browser_writes_still_work(settings: Settings, nats_url: str) -> None:
    with TestClient(create_app(settings)) as client:
        same = client.post("/api/runs/same/cancel", headers={"Origin": "http://testserver"})
        referer = client.post("/api/runs/ref/cancel", headers={"Referer": "http://testserver/#mission"})
        cli = client.post("/api/runs/cli/cancel")  # no Origin, no Referer: the CLI, curl
        upload = client.post("/api/runs/upload", headers={"Origin": "http://testserver"},
                             files={"file": ("a.csv", CSV)})
        read = client.get("/api/runs", headers={"Origin": EVIL})  # reads are not refused (nor shared: no CORS)
    assert [r.status_code for r in (same, referer, cli, upload, read)] == [202, 202, 202, 202, 200]
    assert "access-control-allow-origin" not in read.headers
    assert _stored(nats_url, "run.cancelled.cli")


def test_a_trusted_origin_may_write(tmp_path: Path, nats_url: str) -> None:
    s = Settings(HUNTER_DATA_DIR=tmp_path, NATS_URL=nats_url,
                 GATEWAY_TRUSTED_ORIGINS="https://hunter.example, https://ops.example:8443")
    with TestClient(create_app(s)) as client:
        assert client.post("/api/runs/t1/cancel", headers={"Origin": "https://hunter.example"}).status_code == 202
        assert client.post("/api/runs/t2/cancel", headers={"Origin": "https://ops.example:8443"}).status_code == 202
        assert client.post("/api/runs/t3/cancel", headers={"Origin": "https://ops.example"}).status_code == 403


def test_every_response_forbids_framing_and_sniffing_and_carries_a_csp(tmp_path: Path, nats_url: str) -> None:
    s = Settings(HUNTER_DATA_DIR=tmp_path, NATS_URL=nats_url, BASIC_AUTH_USER="ana", BASIC_AUTH_PASS="s3cret")
    open_writer(s.vault_database_url).dispose()  # the vault, as the projector creates it
    with TestClient(create_app(s)) as client:
        responses = [client.get("/", auth=("ana", "s3cret")), client.get("/docs", auth=("ana", "s3cret")),
                     client.get("/api/runs", auth=("ana", "s3cret")), client.get("/api/runs"),
                     client.get("/static/nope", auth=("ana", "s3cret")),
                     client.post("/api/runs/x/cancel", headers={"Origin": EVIL})]
    assert [r.status_code for r in responses] == [200, 200, 200, 401, 404, 403]
    for r in responses:
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "same-origin"
        csp = r.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in \
            csp.split("script-src")[1].split(";")[0]


def test_no_page_of_the_gateway_has_an_inline_script(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        for path in ("/", "/docs"):
            html = client.get(path).text
            scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, flags=re.S)
            assert scripts and all("src=" in attrs and not body.strip() for attrs, body in scripts), path
        assert "SwaggerUIBundle" in client.get("/docs/static/swagger-init.js").text


# ---- odd input is a 4xx, never a 500 ------------------------------------------------------------

@pytest.mark.parametrize("path", ["/api/leads", "/api/diagnostics/steps", "/api/diagnostics/api_calls", "/api/rejects",
                                  "/api/rejects.csv"])
@pytest.mark.parametrize("offset", ["9223372036854775807", "9223372036854775808", "1000000001"])
def test_an_offset_too_large_for_the_database_is_a_422(settings: Settings, path: str, offset: str) -> None:
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        r = client.get(path, params={"offset": offset})
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["loc"] == ["query", "offset"]
        assert client.get(path, params={"offset": "1000000000"}).status_code == 200


def test_an_icp_name_is_never_read_as_a_file(settings: Settings, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "stolen.yaml").write_text("name: stolen\ndescription: a file of the working directory\n")
    monkeypatch.chdir(tmp_path)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        for name in ("stolen.yaml", "stolen.yml", "..%2Fstolen.yaml", "STOLEN", "a" * 65):
            r = client.get(f"/api/icp/{name}")
            assert r.status_code in (404, 422), (name, r.status_code, r.text)
            assert "a file of the working directory" not in r.text
        assert client.get("/api/icp/software-b2b").json()["origin"] == "template"


# ---- uploads ------------------------------------------------------------------------------------

@contextlib.contextmanager
def serving(settings: Settings) -> Iterator[int]:
    """The app on a real loopback port (uvicorn in a thread): the port."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)


def _response_head(sock: socket.socket) -> str:
    sock.settimeout(15)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data.decode("latin-1")


def test_an_upload_announced_over_the_limit_is_refused_before_its_body_is_read(
    tmp_path: Path, nats_url: str,
) -> None:
    s = Settings(HUNTER_DATA_DIR=tmp_path, NATS_URL=nats_url, MAX_UPLOAD_BYTES=100_000)
    with serving(s) as port, socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"POST /api/runs/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 157286400\r\n"
                     b"Content-Type: multipart/form-data; boundary=b\r\n\r\n")  # 150 MB announced, none sent
        head = _response_head(sock)
    assert head.startswith("HTTP/1.1 413"), head
    assert not (tmp_path / "uploads").exists() or not list((tmp_path / "uploads").glob("*"))


def test_a_chunked_upload_is_cut_off_with_413_once_it_passes_the_limit(tmp_path: Path, nats_url: str) -> None:
    s = Settings(HUNTER_DATA_DIR=tmp_path, NATS_URL=nats_url, MAX_UPLOAD_BYTES=100_000)
    part = (b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.csv\"\r\n"
            b"Content-Type: text/csv\r\n\r\ncnpj;razao_social\n")
    row = b"11222333000181;ACME" + b"x" * 1000 + b"\n"
    with serving(s) as port, socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"POST /api/runs/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
                     b"Content-Type: multipart/form-data; boundary=b\r\n\r\n")
        sock.sendall(b"%x\r\n%s\r\n" % (len(part), part))
        chunk = row * 64  # 64 KB per chunk; 250 of them would be 16 MB: only the first few are sent
        for _ in range(4):
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        head = _response_head(sock)
    assert head.startswith("HTTP/1.1 413"), head
    uploads = tmp_path / "uploads"
    assert not uploads.exists() or not list(uploads.glob("*big.csv"))


def test_an_upload_over_the_limit_by_the_test_client_gets_413_with_the_reason(tmp_path: Path, nats_url: str) -> None:
    s = Settings(HUNTER_DATA_DIR=tmp_path, NATS_URL=nats_url, MAX_UPLOAD_BYTES=100_000)
    content = b"cnpj;razao_social\n" + b"11222333000181;ACME\n" * 10_000  # 200 KB
    with TestClient(create_app(s)) as client:
        r = client.post("/api/runs/upload", files={"file": ("big.csv", content)})
    assert r.status_code == 413 and "100,000 bytes" in r.json()["detail"]


@pytest.mark.parametrize(("content", "reason"), [
    (b"cnpj;razao_social\n11222333000181;" + b"A" * 200_000 + b"\n", "line 2: field larger than field limit"),
    (b"", "the file is empty"),
    (b"cnpj;razao_social\n", "a header but no rows"),
    (b"name;city\nA;B\n", "no registry id column"),
])
def test_an_upload_that_does_not_parse_is_a_422_with_the_reason_and_is_not_kept(
    settings: Settings, content: bytes, reason: str,
) -> None:
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        r = client.post("/api/runs/upload", files={"file": ("bad.csv", content)})
    assert r.status_code == 422, r.text
    assert reason in r.json()["detail"][0]["msg"]
    assert not list((settings.data_dir / "uploads").glob("*bad.csv"))


def test_a_latin1_upload_is_accepted_and_saved_byte_for_byte(settings: Settings) -> None:
    content = "cnpj;razao_social\n11222333000181;CAFÉ SÃO JOÃO\n".encode("latin-1")
    with TestClient(create_app(settings)) as client:
        r = client.post("/api/runs/upload", files={"file": ("latin.csv", content)})
    assert r.status_code == 202 and r.json()["rows"] == 1
    assert [p.read_bytes() for p in (settings.data_dir / "uploads").glob("*latin.csv")] == [content]


# ---- vault queries stay off the event loop --------------------------------------------------------

def test_no_vault_query_runs_on_the_event_loop(settings: Settings) -> None:
    on_loop: list[str] = []

    def where(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # a worker thread: fine
        on_loop.append(statement.split()[0] + " " + statement[:80])

    app = create_app(settings)
    event.listen(app.state.gateway.engine, "before_cursor_execute", where)
    with TestClient(app) as client:
        lead_key = client.get("/api/leads").json()["items"][0]["lead_key"]
        for path in ("/api/leads?uf=SP&sort=name", f"/api/leads/{lead_key}", "/api/runs", "/api/runs/r-sec",
                     "/api/partners?q=silva", "/api/exports", "/api/diagnostics/summary", "/api/diagnostics/steps",
                     "/api/config", "/api/icp", "/api/icp/software-b2b"):
            assert client.get(path).status_code == 200, path
        assert client.post(f"/api/leads/{lead_key}/status", json={"status": "contacted"}).status_code == 202
        assert client.post("/api/runs", json={"source": "csv:x.csv"}).status_code == 202
        assert client.post("/api/partners/import", json={"lead_keys": [lead_key]}).status_code == 202
    assert not on_loop, on_loop


# ---- what schemathesis found: every status the API gives is documented ---------------------------

def test_every_operation_documents_auth_csrf_body_limit_and_not_found_answers(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        spec = client.get("/openapi.json").json()
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            documented = set(op["responses"])
            assert {"400", "401", "403", "413"} <= documented, (method, path, documented)
            if "{" in path and "{table}" not in path:
                assert "404" in documented, (method, path, documented)


def test_empty_filters_are_no_filters_on_diagnostics(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        r = client.get("/api/diagnostics/api_calls", params={"status": "", "service": "", "run_id": ""})
        assert r.status_code == 200, r.text
        assert client.get("/api/diagnostics/api_calls", params={"status": "x"}).status_code == 422


def test_a_run_from_an_unknown_source_kind_is_refused_by_the_schema(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        spec = client.get("/openapi.json").json()
        assert "pattern" in spec["components"]["schemas"]["RunCreate"]["properties"]["source"]
        assert client.post("/api/runs", json={"source": "000"}).status_code == 422
        assert client.post("/api/runs", json={"source": "casadosdados"}).status_code == 202


def test_a_rejects_csv_of_a_run_named_in_any_script_downloads_with_an_ascii_file_name(settings: Settings) -> None:
    # (schemathesis found it: a header is Latin-1, so a run id such as this was a 500)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        r = client.get("/api/rejects.csv", params={"run_id": "ª𒹾弎{run"})
        assert r.status_code == 200, r.text
        assert r.headers["content-disposition"] == 'attachment; filename="rejects-____run.csv"'
