"""The ``hunter`` command as a user runs it: demo, replay, vault digest, a hunt with a bad source."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def hunter(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hunter.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env={**__import__("os").environ, "NATS_URL": ""})


def test_demo_then_replay_gives_the_digest_the_demo_printed(tmp_path: Path) -> None:
    data = str(tmp_path / "d")
    demo = hunter("demo", "--no-serve", "--data-dir", data)
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert "run completed" in demo.stdout
    printed = next(line.split()[-1] for line in demo.stdout.splitlines() if line.startswith("vault digest:"))
    export = next(line.split()[-1] for line in demo.stdout.splitlines() if line.startswith("export:"))
    assert Path(export).read_text(encoding="utf-8").count("\n") > 1  # header and at least one hot lead

    assert hunter("vault", "digest", "--data-dir", data).stdout.strip() == printed
    replay = hunter("replay", "--data-dir", data)
    assert replay.returncode == 0, replay.stderr[-3000:]
    assert replay.stdout.strip().splitlines()[-1] == printed
    assert hunter("vault", "digest", "--data-dir", data).stdout.strip() == printed


def test_a_hunt_on_a_missing_file_fails_with_a_clear_reason(tmp_path: Path) -> None:
    result = hunter("hunt", "--source", f"csv:{tmp_path / 'nope.csv'}", "--data-dir", str(tmp_path / "d"),
                    "--timeout", "120")
    assert result.returncode == 1
    assert "failed" in result.stdout
    assert "nope.csv" in result.stdout
