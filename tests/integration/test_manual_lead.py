"""Adding one lead by hand: a bad registry id is a 422 with the reason; a good one goes through every
service (extract → clean → score → enrich → rescore) as a run of the ``manual:`` source and lands in the
vault with ``source=manual``, looked up in ``HUNTER_MANUAL_LOOKUP`` when set."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from hunter.demo_run import DEMO_CSV
from hunter.stack import Stack
from services.extractor.sources import SourceError, iter_source
from shared.events import RunFilters
from shared.nats_server import free_port
from shared.registry_ids import normalize_registry_id
from shared.schemas import CompanyRecord

DEMO = [c for c in iter_source(f"csv:{DEMO_CSV}", RunFilters()) if isinstance(c, CompanyRecord)]


def test_registry_ids_typed_by_hand_are_checked_and_normalised() -> None:
    assert normalize_registry_id("19.131.243/0001-97") == ("19131243000197", "BR")
    assert normalize_registry_id("732 829 320") == ("732829320", "FR")
    for bad, reason in (("19131243000198", "not a valid CNPJ nor a valid SIRET"), ("732829321", "SIREN"),
                        ("", "a registry id is needed"), ("12345", "not a CNPJ")):
        try:
            normalize_registry_id(bad)
        except ValueError as exc:
            assert reason in str(exc)
        else:
            raise AssertionError(f"{bad!r} accepted")
    try:
        list(iter_source("manual:id=19131243000197&colour=red", RunFilters()))
    except SourceError as exc:
        assert "unknown field(s) colour" in str(exc)


def wait_run(client: httpx.Client, run_id: str, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = client.get(f"/api/runs/{run_id}")
        if r.status_code == 200 and r.json()["status"] in ("completed", "failed", "cancelled"):
            return r.json()
        time.sleep(0.3)
    raise AssertionError(f"run {run_id} did not finish: {client.get(f'/api/runs/{run_id}').text}")


def wait_lead(client: httpx.Client, key: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = client.get(f"/api/leads/{key}")
        if r.status_code == 200 and (r.json().get("runs") or [{}])[-1].get("score") is not None:
            return r.json()
        time.sleep(0.3)
    raise AssertionError(f"lead {key} not in the vault: {client.get(f'/api/leads/{key}').text}")


def test_a_lead_added_by_hand_goes_through_the_pipeline_and_is_looked_up(fresh_nats_url: str, tmp_path: Path) -> None:
    known = DEMO[0]
    env = {"HUNTER_MANUAL_LOOKUP": f"csv:{DEMO_CSV}", "FETCH_CONNECT_TIMEOUT": "1", "FETCH_READ_TIMEOUT": "1",
           "SEARCH_BASE_URL": "http://127.0.0.1:9/"}
    stack = Stack(data_dir=tmp_path / "data", nats_url=fresh_nats_url, env_extra=env, gateway=True,
                  gateway_port=free_port())
    stack.start()
    try:
        assert stack.wait_gateway(90), stack.crashed()
        with httpx.Client(base_url=stack.gateway_url, timeout=30) as client:
            bad = client.post("/api/leads", json={"registry_id": "19131243000198"})
            assert bad.status_code == 422 and "not a valid CNPJ" in bad.text
            assert client.post("/api/leads", json={"name": "no id"}).status_code == 422

            typed = client.post("/api/leads", json={"registry_id": "19.131.243/0001-97", "name": "Padaria do Zé",
                                                    "phone": "(11) 98765-4321", "uf": "sp", "city": "Campinas"})
            assert typed.status_code == 202, typed.text
            assert typed.json()["lead_key"] == "BR:19131243000197"
            assert wait_run(client, typed.json()["run_id"])["status"] == "completed"
            lead = wait_lead(client, "BR:19131243000197")
            company = lead["company"]
            assert company["source"] == "manual" and company["legal_name"] == "Padaria do Zé"
            assert company["state"] == "SP" and company["phone"] == "+5511987654321"

            looked = client.post("/api/leads", json={"registry_id": known.registry_id, "email": "novo@exemplo.com.br"})
            assert looked.status_code == 202
            assert wait_run(client, looked.json()["run_id"])["status"] == "completed"
            found = wait_lead(client, known.lead_key)["company"]
            assert found["source"] == "manual" and found["legal_name"] == known.legal_name  # the registry's record
            assert found["activity_main"] == known.activity_main
    finally:
        stack.stop()
