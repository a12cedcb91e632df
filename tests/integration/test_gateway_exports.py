"""Exports of a vault filter through the exporter process, and the signed, retried webhook."""

from __future__ import annotations

import asyncio
import csv
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest
from nats.js import api
from sqlmodel import Session, select

from hunter.stack import Stack
from hunter.watch import wait_projected
from services.exporter.webhook import SIGNATURE_HEADER, post_webhook, verify
from shared.bus import Bus, connect_bus, decode
from shared.events import (
    ConfigSaved,
    ExportCompleted,
    ExportRequested,
    LeadStatusChanged,
    RunStep,
    Subjects,
    decode_event,
)
from shared.vault.engine import make_engine
from shared.vault.schema import ApiCallRow
from tests.factories import run_events


class Receiver:
    """A loopback webhook receiver answering with the given statuses in turn (then 200)."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.requests: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver([500])
    yield r
    r.close()


async def _first(bus: Bus, subject: str, timeout: float = 60.0) -> object:
    """The first event on ``subject`` (already stored or still to come)."""
    got: asyncio.Queue[bytes] = asyncio.Queue()

    async def cb(msg) -> None:  # type: ignore[no-untyped-def]
        got.put_nowait(msg.data)

    sub = await bus.js.subscribe(subject, cb=cb, ordered_consumer=True, deliver_policy=api.DeliverPolicy.ALL,
                                 stream=bus.stream)
    try:
        return decode_event(decode(await asyncio.wait_for(got.get(), timeout)))
    finally:
        await sub.unsubscribe()


async def test_a_vault_filter_export_is_written_from_the_vault_and_posted_to_the_signed_webhook(
    tmp_path: Path, fresh_nats_url: str, receiver: Receiver
) -> None:
    data_dir = tmp_path / "data"
    stack = Stack(data_dir=data_dir, nats_url=fresh_nats_url, gateway=False, services=["exporter", "projector"])
    stack.start()
    try:
        async with connect_bus(fresh_nats_url, name="test") as bus:
            for key, value, secret in (("webhook_url", receiver.url, False), ("webhook_secret", "hush", True)):
                await bus.publish(ConfigSaved(key=key, value=value, secret=secret),
                                  subject=Subjects.CONFIG_SAVED.format(key=key))
            for event in run_events("r-vault"):
                await bus.publish(event, stage=getattr(event, "stage", "x"))
            await bus.publish(ExportRequested(export_id="vault-warm", segment="all", formats=["csv", "parquet"],
                                              vault_filter={"bucket": "warm", "uf": "SP"}))
            done = await _first(bus, "export.completed.none")
            await _first(bus, "obs.api_call.exporter")
            await wait_projected(bus, f"sqlite:///{data_dir / 'vault.db'}")
    finally:
        stack.stop()

    # the export holds exactly the vault's warm leads, in CSV and in Parquet
    assert isinstance(done, ExportCompleted) and done.status == "completed", done
    warm = ["BR:00000000000002", "BR:00000000000003", "BR:00000000000004"]
    with open(done.files["csv"], encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["lead_key"] for r in rows) == warm and {r["bucket"] for r in rows} == {"warm"}
    assert sorted(pq.read_table(done.files["parquet"]).column("lead_key").to_pylist()) == warm
    assert done.rows == 3 and json.loads((Path(done.path or "") / "manifest.json").read_text())["filter"] == \
        {"bucket": "warm", "uf": "SP"}

    # the webhook got a 500, was retried, and both deliveries carry a valid HMAC of their body
    assert len(receiver.requests) == 2
    for headers, body in receiver.requests:
        assert verify("hush", body, headers[SIGNATURE_HEADER])
    payload = json.loads(receiver.requests[1][1])
    assert payload["event"] == "export.completed" and payload["data"]["export_id"] == "vault-warm"

    # every attempt is an api_call of the exporter in the vault
    engine = make_engine(f"sqlite:///{data_dir / 'vault.db'}")
    with Session(engine) as s:
        calls = s.exec(select(ApiCallRow).where(ApiCallRow.service == "exporter").order_by(ApiCallRow.idx)).all()
    engine.dispose()
    assert [(c.method, c.status) for c in calls] == [("POST", 500), ("POST", 200)]
    assert calls[0].endpoint == receiver.url and calls[0].error == "HTTP 500"


async def test_a_webhook_refusal_is_not_retried_and_a_dead_receiver_is_retried_a_bounded_number_of_times() -> None:
    refusing = Receiver([403])
    try:
        async with httpx.AsyncClient() as client:
            refused = await post_webhook(client, refusing.url, "x", {}, secret=None, first_delay=0.01)
            dead_url = refusing.url.replace("/hook", "/")  # same server, closed below
            refusing.close()
            dead = await post_webhook(client, dead_url, "x", {}, secret="s", attempts=3, first_delay=0.01)
    finally:
        refusing.server.server_close()
    assert not refused.delivered and [c.status for c in refused.calls] == [403]
    assert SIGNATURE_HEADER not in refusing.requests[0][0]
    assert not dead.delivered and len(dead.calls) == 3 and all(c.status is None and c.error for c in dead.calls)


async def _export(bus: Bus, export_id: str, vault_filter: dict[str, object]) -> tuple[list[str], dict[str, object]]:
    """Ask the exporter for a vault filter's export; once completed, its lead keys and its manifest."""
    await bus.publish(ExportRequested(export_id=export_id, segment="all", vault_filter=vault_filter))
    done: ExportCompleted | None = None
    async with asyncio.timeout(60):
        while done is None:
            async for stored in bus.read("export.completed.none"):
                event = stored.event()  # type: ignore[union-attr]
                if isinstance(event, ExportCompleted) and event.export_id == export_id:
                    done = event
            await asyncio.sleep(0.1)
    assert done.status == "completed", done
    with open(done.files["csv"], encoding="utf-8") as f:
        keys = sorted(r["lead_key"] for r in csv.DictReader(f))
    return keys, json.loads((Path(done.path or "") / "manifest.json").read_text())


async def test_opted_out_leads_are_left_out_of_exports_unless_asked_for_and_the_manifest_counts_them(
    tmp_path: Path, fresh_nats_url: str
) -> None:
    data_dir = tmp_path / "data"
    stack = Stack(data_dir=data_dir, nats_url=fresh_nats_url, gateway=False, services=["exporter", "projector"])
    stack.start()
    try:
        async with connect_bus(fresh_nats_url, name="test") as bus:
            for event in run_events("r-dnc"):
                await bus.publish(event, stage=getattr(event, "stage", "x"))
            await bus.publish(LeadStatusChanged(lead_key="BR:00000000000003", status="do_not_contact"),
                              run_id="BR_00000000000003")
            left_out = await _export(bus, "warm-contactable", {"bucket": "warm"})
            asked = await _export(bus, "warm-all", {"bucket": "warm", "include_do_not_contact": True})
            only = await _export(bus, "opted-out", {"status": "do_not_contact"})
    finally:
        stack.stop()
    assert left_out[0] == ["BR:00000000000002", "BR:00000000000004"]
    assert left_out[1]["left_out_do_not_contact"] == 1 and left_out[1]["rows"] == 2
    assert asked[0] == ["BR:00000000000002", "BR:00000000000003", "BR:00000000000004"]
    assert asked[1]["left_out_do_not_contact"] == 0
    assert only[0] == ["BR:00000000000003"] and only[1]["left_out_do_not_contact"] == 0


async def test_a_run_s_own_export_leaves_out_the_leads_that_opted_out_and_says_how_many(
    tmp_path: Path, fresh_nats_url: str
) -> None:
    data_dir = tmp_path / "data"
    stack = Stack(data_dir=data_dir, nats_url=fresh_nats_url, gateway=False, services=["exporter", "projector"])
    stack.start()
    try:
        async with connect_bus(fresh_nats_url, name="test") as bus:
            events = run_events("r-own")[:-1]  # (the run's last step is the exporter's to publish)
            for event in events:
                await bus.publish(event, stage=getattr(event, "stage", "x"))
            await bus.publish(LeadStatusChanged(lead_key="BR:00000000000001", status="do_not_contact"),
                              run_id="BR_00000000000001")
            await wait_projected(bus, f"sqlite:///{data_dir / 'vault.db'}")
            await bus.publish(RunStep(run_id="r-own", stage="rescore", status="completed"), stage="rescore")
            done = await _first(bus, "export.completed.r-own")
    finally:
        stack.stop()
    assert isinstance(done, ExportCompleted) and done.segment == "hot" and done.rows == 0  # its only hot lead
    assert json.loads((Path(done.path or "") / "manifest.json").read_text())["left_out_do_not_contact"] == 1
