"""A malformed ``config.saved.*`` or ``icp.saved.*`` event on the stream is skipped with a logged reason;
every other saved setting or profile still counts (one bad event used to void them all)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from hunter.cli import main
from shared.bus import Bus, connect_bus, encode
from shared.config import Settings
from shared.domain.icp_profiles import saved_event, validate_profile
from shared.events import ConfigSaved, Subjects, envelope, subject_token
from shared.stored_config import effective_settings, stored_setting


@pytest.fixture
async def bus(fresh_nats_url: str):  # noqa: ANN201 - saved settings must not reach other tests' services
    async with connect_bus(fresh_nats_url, name="test") as b:
        yield b


async def _save(bus: Bus, key: str, value: str) -> None:
    await bus.publish(ConfigSaved(key=key, value=value), key=(key, uuid.uuid4().hex),
                      subject=Subjects.CONFIG_SAVED.format(key=subject_token(key)))


async def test_a_malformed_config_event_is_skipped_and_the_other_settings_still_apply(bus: Bus) -> None:
    await _save(bus, "fetch_pages_per_site", "7")
    await _save(bus, "enable_playwright", "true")
    await bus.js.publish("config.saved.enable_playwright", b"{not json at all", stream=bus.stream)
    invalid = envelope(ConfigSaved(key="serper_api_key", value="x"))
    invalid.payload["value"] = {"not": "a string"}
    await bus.js.publish("config.saved.serper_api_key", encode(invalid), stream=bus.stream)

    base = Settings(SERPER_API_KEY="from-env", FETCH_PAGES_PER_SITE=3)
    with capture_logs() as logs:
        got = await effective_settings(bus, base, ["fetch_pages_per_site", "enable_playwright", "serper_api_key"])
    assert got.fetch_pages_per_site == 7  # untouched by the bad events of other keys
    assert got.enable_playwright is True  # the latest readable value of its key
    assert got.serper_api_key == "from-env"  # nothing readable saved: the environment's
    skipped = {e["subject"]: e["reason"] for e in logs if e["event"] == "config_event_skipped"}
    assert skipped.keys() == {"config.saved.enable_playwright", "config.saved.serper_api_key"}
    assert all(e["log_level"] == "warning" for e in logs if e["event"] == "config_event_skipped")
    assert "ValidationError" in skipped["config.saved.serper_api_key"]
    assert await stored_setting(bus, "webhook_url") is None


def test_hunter_icp_list_skips_a_malformed_saved_profile_and_lists_the_others(
    tmp_path: Path, fresh_nats_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    async def publish() -> None:
        async with connect_bus(fresh_nats_url, name="test") as b:
            good = saved_event(validate_profile({"description": "good one", "regions": ["SP"]}, name="good-one"))
            await b.publish(good, name="good-one")
            await b.js.publish("icp.saved.broken", b"\x00garbage", stream=b.stream)

    asyncio.run(publish())
    monkeypatch.setenv("NATS_URL", fresh_nats_url)
    monkeypatch.setenv("HUNTER_DATA_DIR", str(tmp_path / "data"))
    assert main(["icp", "list"]) == 0
    out, err = capsys.readouterr()
    listed = {line.split()[0]: line for line in out.splitlines()}
    assert "saved" in listed["good-one"] and "template" in listed["software-b2b"]
    assert "broken" not in listed
    assert "skipped icp.saved.broken" in err
    assert main(["icp", "show", "broken"]) == 1  # an error that says why, not a crash
    assert "the saved profile 'broken' is unusable" in capsys.readouterr().err
