"""What the browser tests share: the gateway served over real HTTP on a free loopback port, and
Chromium launched the same way (skipped with the reason where it is not installed)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from services.gateway.app import create_app
from shared.config import Settings
from shared.nats_server import free_port


@contextmanager
def served(settings: Settings, timeout: float = 30.0) -> Iterator[str]:
    """The gateway app of ``settings`` under uvicorn in a thread; its base URL once ``/health`` answers."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)


CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))  # Debian's (apt-get install chromium)
BROWSER_TEST = [  # a browser test module's ``pytestmark``
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"Chromium not found at {CHROMIUM} (apt-get install chromium)"),
]


async def launch(playwright: Any) -> Any:
    """Debian's Chromium, headless, as every browser test runs it."""
    return await playwright.chromium.launch(executable_path=str(CHROMIUM), args=[
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
