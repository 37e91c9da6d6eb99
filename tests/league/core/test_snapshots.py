"""Tests for league.core.snapshots: when a learner is frozen into a snapshot."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from league.core.snapshots import SnapshotRule


def test_periodic_rule_counts_from_last_snapshot() -> None:
    rule = SnapshotRule(every_iterations=5, win_rate_threshold=None)
    assert [i for i in range(12) if rule.should_snapshot(i, None, None)] == [5, 6, 7, 8, 9, 10, 11]
    assert not rule.should_snapshot(9, 5, None)
    assert rule.should_snapshot(10, 5, None)


def test_threshold_rule_fires_at_or_above_threshold() -> None:
    rule = SnapshotRule(every_iterations=None, win_rate_threshold=0.7)
    assert not rule.should_snapshot(3, None, 0.69)
    assert rule.should_snapshot(3, None, 0.7)
    assert rule.should_snapshot(3, 1, 0.95)
    assert not rule.should_snapshot(3, 1, None)


def test_min_iterations_between_gates_both_triggers() -> None:
    rule = SnapshotRule(every_iterations=2, win_rate_threshold=0.6, min_iterations_between=4)
    assert not rule.should_snapshot(12, 10, 0.99)  # only 2 since last
    assert not rule.should_snapshot(13, 10, 0.99)
    assert rule.should_snapshot(14, 10, 0.0)  # periodic, and the gap is met
    assert rule.should_snapshot(14, 10, 0.99)


def test_combination_fires_on_either_trigger() -> None:
    rule = SnapshotRule(every_iterations=10, win_rate_threshold=0.8, min_iterations_between=1)
    assert rule.should_snapshot(4, 3, 0.85)  # threshold only
    assert rule.should_snapshot(13, 3, 0.1)  # period only
    assert not rule.should_snapshot(12, 3, 0.5)  # neither


def test_never_twice_in_one_iteration() -> None:
    rule = SnapshotRule(every_iterations=1, win_rate_threshold=0.5, min_iterations_between=0)
    assert not rule.should_snapshot(7, 7, 1.0)
    assert rule.should_snapshot(8, 7, None)


def test_no_triggers_never_snapshots() -> None:
    rule = SnapshotRule(every_iterations=None, win_rate_threshold=None)
    assert not any(rule.should_snapshot(i, None, 1.0) for i in range(100))


@pytest.mark.parametrize(
    "fields",
    [{"every_iterations": 0}, {"win_rate_threshold": 0.0}, {"win_rate_threshold": 1.1}, {"min_iterations_between": -1}],
)
def test_config_validation(fields: dict) -> None:
    with pytest.raises(ValidationError, match=next(iter(fields))):
        SnapshotRule(**fields)


def test_threshold_of_one_is_allowed() -> None:
    assert SnapshotRule(every_iterations=None, win_rate_threshold=1.0).should_snapshot(1, None, 1.0)


@pytest.mark.parametrize(
    ("iteration", "last", "win_rate", "field"),
    [(-1, None, None, "iteration"), (5, 6, None, "last_snapshot_iteration"), (5, None, 1.5, "win_rate_vs_opponents")],
)
def test_call_arguments_validated(iteration: int, last: int | None, win_rate: float | None, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        SnapshotRule().should_snapshot(iteration, last, win_rate)
