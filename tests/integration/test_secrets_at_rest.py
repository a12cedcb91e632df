"""Secrets saved on the Config page are sealed under HUNTER_SECRET_KEY: neither the stream nor the vault
holds them in clear, the services that use them open them, and without a key none is stored."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.gateway.app import create_app
from services.projector.projection import Projection
from shared.bus import connect_bus
from shared.config import Settings, get_settings
from shared.secrets import new_key, reveal, seal
from shared.stored_config import effective_settings, stored_setting
from shared.vault.engine import make_engine

SECRET = "sk-live-0123456789abcdef"


def test_sealed_values_open_with_their_key_only() -> None:
    key = new_key()
    sealed = seal(SECRET, key)
    assert SECRET not in sealed and reveal(sealed, key) == SECRET
    assert reveal(sealed, new_key()) is None and reveal(sealed, None) is None
    assert reveal("plain-from-before", None) == "plain-from-before"  # saved before sealing existed


async def test_a_secret_is_refused_without_a_key_and_sealed_in_the_stream_and_vault(
    fresh_nats_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    without = Settings(HUNTER_DATA_DIR=tmp_path / "a", NATS_URL=fresh_nats_url)
    (tmp_path / "a").mkdir()
    with TestClient(create_app(without)) as client:
        r = client.put("/api/config", json={"serper_api_key": SECRET})
        assert r.status_code == 422 and "HUNTER_SECRET_KEY is not set" in r.text
        assert client.put("/api/config", json={"fetch_pages_per_site": 2}).status_code == 202  # not a secret

    key = new_key()
    settings = Settings(HUNTER_DATA_DIR=tmp_path, NATS_URL=fresh_nats_url, HUNTER_SECRET_KEY=key)
    with TestClient(create_app(settings)) as client:
        assert client.put("/api/config", json={"serper_api_key": SECRET, "webhook_secret": "hook-s3cret"}
                          ).status_code == 202

    async with connect_bus(fresh_nats_url, name="test-secrets") as bus:
        raw = [(seq, subject, data) async for seq, subject, data, _ in bus.read("config.>", raw=True)]
        assert raw and all(SECRET.encode() not in data and b"hook-s3cret" not in data for _, _, data in raw)
        vault_path = tmp_path / "vault.db"
        engine = make_engine(f"sqlite:///{vault_path}")
        Projection(engine).apply(raw)
        engine.dispose()
        assert SECRET.encode() not in vault_path.read_bytes()
        assert stat.S_IMODE(vault_path.stat().st_mode) == 0o600
        with TestClient(create_app(settings)) as client:  # the gateway reads this vault
            shown = client.get("/api/config").json()
            assert shown["serper_api_key"]["set"] is True and SECRET not in str(shown)

        monkeypatch.setenv("HUNTER_SECRET_KEY", key)  # the service's environment, as hunter up gives it
        get_settings.cache_clear()  # a service reads its settings once; this test plays two services
        assert await stored_setting(bus, "serper_api_key") == SECRET
        assert (await effective_settings(bus, Settings(), ["serper_api_key"])).serper_api_key == SECRET
        monkeypatch.setenv("HUNTER_SECRET_KEY", new_key())  # another key opens nothing: the environment's stays
        get_settings.cache_clear()
        assert await stored_setting(bus, "serper_api_key") is None
    get_settings.cache_clear()
