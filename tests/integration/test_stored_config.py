"""Settings saved on the Config page reach the services: read back from the stream, applied live."""

from __future__ import annotations

import json
import uuid

import pytest

from services.enricher.logic import Enricher
from shared.bus import Bus, connect_bus
from shared.events import ConfigSaved, Subjects, subject_token
from shared.stored_config import StoredSettings, effective_settings

from .test_fetcher_enricher import lead, make_settings
from .test_fetcher_loopback import LoopbackServer, html


@pytest.fixture
async def bus(fresh_nats_url: str):  # noqa: ANN201 - saved settings must not reach other tests' services
    async with connect_bus(fresh_nats_url, name="test") as b:
        yield b


async def save(bus: Bus, key: str, value: str, *, secret: bool = False) -> None:
    await bus.publish(ConfigSaved(key=key, value=value, secret=secret), key=(key, uuid.uuid4().hex),
                      subject=Subjects.CONFIG_SAVED.format(key=subject_token(key)))


async def test_saved_values_override_the_environment_and_bad_ones_are_ignored(bus: Bus, tmp_path) -> None:
    base = make_settings(LoopbackServer(), LoopbackServer(), tmp_path, FETCH_PAGES_PER_SITE=3)
    key = f"k{uuid.uuid4().hex[:6]}"
    assert await StoredSettings(bus).get(key, "fallback") == "fallback"
    await save(bus, "fetch_pages_per_site", "5")
    await save(bus, "enable_playwright", "true")
    got = await effective_settings(bus, base, ["fetch_pages_per_site", "enable_playwright"])
    assert got.fetch_pages_per_site == 5 and got.enable_playwright is True
    assert base.fetch_pages_per_site == 3 and base.enable_playwright is False  # the original is untouched
    await save(bus, "fetch_pages_per_site", "many")
    assert (await effective_settings(bus, base, ["fetch_pages_per_site"])).fetch_pages_per_site == 3


@pytest.fixture
def farm():
    with LoopbackServer() as proxy, LoopbackServer() as search:
        yield proxy, search


async def test_a_search_key_saved_in_the_ui_is_the_one_the_enricher_sends(farm, bus: Bus, tmp_path) -> None:
    proxy, search = farm
    search.routes[("*", "/search")] = (200, {"Content-Type": "application/json"}, json.dumps({"organic": [
        {"title": "Padaria Boa", "link": "https://padariaboa.com.br/", "position": 1}]}).encode())
    proxy.routes[("padariaboa.com.br", "/")] = html("<html><body>Padaria Boa. Ligue (11) 98765-4321</body></html>")
    await save(bus, "serper_api_key", "saved-in-ui", secret=True)
    settings = make_settings(proxy, search, tmp_path)  # SERPER_API_KEY=k123 in the environment
    async with Enricher(settings) as enricher:
        await enricher.reconfigure(await effective_settings(bus, settings, ["serper_api_key"]))
        out = await enricher.enrich(lead("12345678000195", "Padaria Boa", phone="+5511987654321",
                                         city="São Paulo"), run_id="r1")
    assert out.enrichment.discovered_by == "search"
    assert [headers["X-API-KEY"] for _, headers, _ in search.posts] == ["saved-in-ui"]
