"""The demo world's hidden propensity and its simulated funnel histories."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hunter.demo.outcomes import bundled_propensities, propensities, simulate_funnel
from hunter.demo.sample_data import generate_world
from services.ranker.labels import FunnelEvent, outcome_labels

START = datetime(2026, 6, 1, tzinfo=UTC)


def test_the_hidden_propensity_is_a_fixed_function_of_the_bundled_world() -> None:
    hidden = bundled_propensities()
    assert hidden == propensities(generate_world())  # the files the demo hunts are the generator's world
    assert len(hidden) == 300 and all(0 < p < 1 for p in hidden.values())
    values = sorted(hidden.values())
    assert values[-30] > 3 * values[len(values) // 2]  # a top tenth worth finding


def test_the_bundled_world_files_are_unchanged_by_the_propensity() -> None:
    world = generate_world()
    before = world.csv_text
    propensities(world)
    assert world.csv_text == before and world.manifest["seed"] == 7


def test_simulated_histories_are_seeded_and_give_labels_by_propensity() -> None:
    contacts = [(f"BR:{i}", 0.9 if i % 2 else 0.05) for i in range(400)]
    steps = simulate_funnel(contacts, seed=3, start=START)
    assert steps == simulate_funnel(contacts, seed=3, start=START)
    assert steps != simulate_funnel(contacts, seed=4, start=START)
    assert all(s[1] in ("contacted", "replied", "meeting", "won", "lost") for s in steps)
    labels = outcome_labels([FunnelEvent(k, s, t) for k, s, t in steps], START + timedelta(days=200))
    assert len(labels) == 400  # every contact decided once the window is past
    high = [labels[f"BR:{i}"].positive for i in range(1, 400, 2)]
    low = [labels[f"BR:{i}"].positive for i in range(0, 400, 2)]
    assert sum(high) > 150 and sum(low) < 30
