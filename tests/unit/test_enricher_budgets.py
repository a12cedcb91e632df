"""Run budgets add up what every enricher replica spent on a run."""

from __future__ import annotations

import time

import pytest

from services.enricher.budgets import BudgetExceeded, RunBudgets


def test_a_replica_alone_stops_at_the_run_budget() -> None:
    budgets = RunBudgets(max_requests=3, max_bytes=1000, max_seconds=60)
    for _ in range(3):
        budgets.check("r1")
        budgets.charge("r1", requests=1, nbytes=10)
    with pytest.raises(BudgetExceeded, match="requests"):
        budgets.check("r1")
    assert budgets.exceeded("r2") is None  # another run has its own budget
    assert budgets.exceeded(None) is None


def test_the_other_replicas_reports_count_towards_the_budget() -> None:
    budgets = RunBudgets(max_requests=10, max_bytes=1000, max_seconds=60)
    budgets.charge("r1", requests=4)
    budgets.merge("enricher@b", {"r1": [5, 100, time.time()]})
    assert budgets.totals("r1")[:2] == (9, 100)
    assert budgets.exceeded("r1") is None
    budgets.merge("enricher@b", {"r1": [5, 100, time.time()]})  # repeated: running totals, not increments
    assert budgets.exceeded("r1") is None
    budgets.merge("enricher@c", {"r1": [1, 0, time.time()]})
    assert budgets.exceeded("r1") == "requests"
    bytes_budget = RunBudgets(max_requests=100, max_bytes=1000, max_seconds=60)
    bytes_budget.merge("enricher@b", {"r1": [1, 1000, time.time()]})
    assert bytes_budget.exceeded("r1") == "bytes"


def test_the_seconds_budget_runs_from_the_earliest_start_any_replica_saw() -> None:
    budgets = RunBudgets(max_requests=100, max_bytes=1000, max_seconds=30)
    budgets.charge("r1", requests=1)
    assert budgets.exceeded("r1") is None
    budgets.merge("enricher@b", {"r1": [1, 0, time.time() - 31]})
    assert budgets.exceeded("r1") == "seconds"


def test_a_report_holds_the_runs_spent_on_since_the_last_one() -> None:
    budgets = RunBudgets(max_requests=100, max_bytes=1000, max_seconds=60)
    budgets.charge("r1", requests=2, nbytes=20)
    budgets.charge("r2", requests=1)
    report = budgets.shared_report()
    assert {run: values[:2] for run, values in report.items()} == {"r1": [2, 20], "r2": [1, 0]}
    assert budgets.shared_report() == {}
    budgets.charge("r1", requests=1)
    assert budgets.shared_report()["r1"][:2] == [3, 20]  # the running total
    budgets.merge("enricher@b", {"r1": [1, 2]})  # not a report: ignored
    assert budgets.totals("r1")[:2] == (3, 20)
