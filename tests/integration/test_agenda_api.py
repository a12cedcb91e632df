"""The agenda over a real stack (NATS, the projector process, the gateway app): today's lanes from the
vault's funnel, outcomes recorded from the agenda move the funnel and count against the daily limit,
and the lanes' settings are saved as an event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from hunter.stack import Stack
from hunter.watch import wait_projected
from services.gateway.app import create_app
from shared.bus import connect_bus
from shared.config import Settings
from shared.events import LeadsCleaned, LeadsScored, LeadStatusChanged, RunRequested
from shared.schemas import ScoredLead
from tests.factories import cleaned_lead

RUN = "r-agenda"


async def test_the_agenda_lists_lanes_and_its_outcomes_move_the_funnel(fresh_nats_url: str, tmp_path: Path) -> None:
    settings = Settings(HUNTER_DATA_DIR=tmp_path, NATS_URL=fresh_nats_url)
    stack = Stack(data_dir=tmp_path, nats_url=fresh_nats_url, services=["projector"], gateway=False)
    stack.start()
    try:
        leads = [cleaned_lead(i) for i in range(1, 7)]
        scored = [ScoredLead(lead=lead, score=90 - 5 * i, rank=i + 1, bucket="warm") for i, lead in enumerate(leads)]
        keys = [lead.company.lead_key for lead in leads]
        long_ago = datetime.now(UTC) - timedelta(days=30)
        async with connect_bus(fresh_nats_url, name="test-agenda") as bus:
            await bus.publish(RunRequested(run_id=RUN, source="csv:x.csv"), key=(RUN,))
            await bus.publish(LeadsCleaned(run_id=RUN, batch=0, leads=leads), key=(RUN, "c"))
            await bus.publish(LeadsScored(run_id=RUN, batch=0, icp="software-b2b", leads=scored), key=(RUN, "s"))
            for key, state in ((keys[4], "contacted"), (keys[5], "contacted")):  # a month ago: due a follow-up
                await bus.publish(LeadStatusChanged(lead_key=key, status=state), lead_key=key, occurred_at=long_ago)
            await bus.publish(LeadStatusChanged(lead_key=keys[5], status="replied"), lead_key=keys[5],
                              occurred_at=long_ago + timedelta(days=1))  # replied long ago: to check
            await wait_projected(bus, settings.vault_database_url)

            with TestClient(create_app(settings)) as client:
                saved = client.put("/api/agenda/settings", json={"contact_daily": 2, "contact_weekly": 10,
                                                                 "weekdays": list(range(7)),
                                                                 "timezone": "America/Sao_Paulo"})
                assert saved.status_code == 202, saved.text
                assert client.put("/api/agenda/settings", json={"timezone": "Nowhere/Land"}).status_code == 422
                await wait_projected(bus, settings.vault_database_url)
                agenda = client.get("/api/agenda").json()
                lanes = {x["lane"]: x["tasks"] for x in agenda["lanes"]}
                assert agenda["working_day"] and agenda["settings"]["contact_daily"] == 2
                assert sorted(t["lead_key"] for t in lanes["contact"]) == keys[:2]  # the two best ranked
                assert [t["lead_key"] for t in lanes["follow_up"]] == [keys[4]]
                assert [t["lead_key"] for t in lanes["check"]] == [keys[5]]
                task = lanes["contact"][0]
                assert task["whatsapp_link"].startswith("https://wa.me/55") and task["email"] and task["name"]

                # the person contacts the first lead from the agenda: the funnel moves, the day's room shrinks
                moved = client.post(f"/api/leads/{task['lead_key']}/status", json={"status": "contacted"})
                assert moved.status_code == 202, moved.text
                await wait_projected(bus, settings.vault_database_url)
                after = client.get("/api/agenda").json()
                contact = next(x for x in after["lanes"] if x["lane"] == "contact")["tasks"]
                assert after["contacted_today"] == 1 and len(contact) == 1
                assert task["lead_key"] not in {t["lead_key"] for t in contact}
                lead = client.get(f"/api/leads/{task['lead_key']}").json()
                assert lead["current"]["status"] == "contacted"
    finally:
        stack.stop()
