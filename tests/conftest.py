from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from shared.bus import Bus, connect_bus
from tests.nats_fixtures import nats_server
from tests.shared_data import SHARED_DATA

REPO = Path(__file__).resolve().parents[1]

# keep the services' own settings from leaking in from the developer's environment
for var in ("NATS_URL", "HUNTER_VAULT_URL", "HUNTER_HTTP_PROXY", "SEARCH_BASE_URL", "BASIC_AUTH_USER",
            "BASIC_AUTH_PASS"):
    os.environ.pop(var, None)
# Starlette's TestClient says "Host: testserver": a name the gateway admits only when told (DNS rebinding)
os.environ.setdefault("HUNTER_ALLOWED_HOSTS", "testserver")


@pytest.fixture(scope="session")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with nats_server(tmp_path_factory.mktemp("nats")) as url:
        yield url


@pytest.fixture
def fresh_nats_url(tmp_path: Path) -> Iterator[str]:
    """A NATS server of the test's own, for tests that need an empty stream."""
    with nats_server(tmp_path / "nats") as url:
        yield url


@pytest.fixture
async def bus(nats_url: str) -> AsyncIterator[Bus]:
    async with connect_bus(nats_url, name="test") as b:
        yield b


@pytest.fixture
def farm_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The loopback web farm running, and the environment pointing services at it."""
    from hunter.demo_run import farm_settings, start_farm

    proc, proxy, search = start_farm(tmp_path)
    try:
        yield {**farm_settings(proxy, search), "HUNTER_BATCH_SIZE": "100"}
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"product sample data not found at {SHARED_DATA}")
    return SHARED_DATA
