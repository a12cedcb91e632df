"""Open-file limits: raised up to the hard limit, and the crawler's idle connections sized to fit."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

resource = pytest.importorskip("resource")

from services.enricher.fetcher import FD_RESERVE, MAX_IDLE_CONNECTIONS, idle_connections  # noqa: E402


def run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_soft_limit_is_raised_up_to_the_hard_one_and_the_idle_pool_fits_in_it() -> None:
    out = run("""
        import resource
        from shared.fd_limit import raise_fd_limit
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        hard = 600 if hard == resource.RLIM_INFINITY else min(600, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(256, hard), hard))
        got = raise_fd_limit()
        from services.enricher.fetcher import Fetcher
        from shared.config import Settings
        fetcher = Fetcher(Settings(FETCH_CONCURRENCY=200))
        print(hard, got, resource.getrlimit(resource.RLIMIT_NOFILE)[0], fetcher._transport._max_idle)
    """)
    hard, got, soft, idle = map(int, out.split())
    assert got == soft == hard
    assert idle == max(1, hard - 200 - FD_RESERVE)


def test_idle_connections_within_the_limit(caplog: pytest.LogCaptureFixture) -> None:
    assert idle_connections(None, 200) == MAX_IDLE_CONNECTIONS
    assert idle_connections(65536, 200) == MAX_IDLE_CONNECTIONS
    assert idle_connections(1024, 200) == 1024 - 200 - FD_RESERVE
    assert not caplog.records
    assert idle_connections(256, 200) == 1  # a limit too low for the concurrency: one kept, and a warning
    assert "FETCH_CONCURRENCY" in caplog.text
