from __future__ import annotations

import json
import time

import pytest

from tests.faults.test_fault_injection import TABLE_PATH

_STARTED = time.time()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the fault table when this session wrote it."""
    if not TABLE_PATH.exists() or TABLE_PATH.stat().st_mtime < _STARTED:
        return
    rows = json.loads(TABLE_PATH.read_text(encoding="utf-8"))
    terminalreporter.section(f"fault table ({TABLE_PATH})")
    terminalreporter.line(f"{'fault':24} {'injected on':16} {'outcome':10} {'leads':>5} {'lost':>4} {'dup':>4} "
                          f"{'recovery s':>10} {'run s':>6} replay")
    for r in rows:
        terminalreporter.line(f"{r['fault']:24} {r['injected_on']:16} {r['outcome']:10} {r['leads']:>5} "
                              f"{r['lost']:>4} {r['duplicated']:>4} {r['recovery_s']:>10} {r['run_s']:>6} "
                              f"{'=' if r['vault_equals_replay'] else 'DIFFERS'}")
