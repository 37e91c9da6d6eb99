"""Tests for league.core.payoff: decayed router/fraudster head-to-head statistics."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pydantic import ValidationError

from league.core.payoff import PayoffTable
from league.core.players import Player, PlayerKind, Role

ROUTER = Player(name="router_main", role=Role.ROUTER, kind=PlayerKind.MAIN)
FRAUDSTER = Player(name="fraudster_main", role=Role.FRAUDSTER, kind=PlayerKind.MAIN)


def test_unknown_pair_has_prior_half() -> None:
    table = PayoffTable()
    assert table.router_win_rate("router_main", "fraudster_main") == 0.5
    assert table.win_rate(FRAUDSTER, ROUTER) == 0.5
    assert table.games("router_main", "fraudster_main") == 0.0


def test_plain_average_without_decay() -> None:
    table = PayoffTable(decay=1.0)
    table.update("router_main", "fraudster_main", [1.0, 0.0, 1.0])
    table.update("router_main", "fraudster_main", 0.5)
    assert table.games("router_main", "fraudster_main") == 4.0
    assert table.router_win_rate("router_main", "fraudster_main") == pytest.approx(2.5 / 4.0)


def test_decay_is_applied_per_game_by_hand() -> None:
    table = PayoffTable(decay=0.5)
    table.update("router_main", "fraudster_main", [1.0, 1.0])  # wins 1 -> 1.5, games 1 -> 1.5
    assert table.games("router_main", "fraudster_main") == pytest.approx(1.5)
    assert table.router_win_rate("router_main", "fraudster_main") == pytest.approx(1.0)
    table.update("router_main", "fraudster_main", [0.0, 0.0, 0.0, 0.0])  # four halvings, four new games
    assert table.games("router_main", "fraudster_main") == pytest.approx(1.5 / 16 + 0.125 + 0.25 + 0.5 + 1)
    assert table.router_win_rate("router_main", "fraudster_main") == pytest.approx((1.5 / 16) / 1.96875)
    table.update("router_main", "fraudster_main", 1.0)
    assert table.games("router_main", "fraudster_main") == pytest.approx(1.96875 / 2 + 1)
    assert table.router_win_rate("router_main", "fraudster_main") == pytest.approx((1.5 / 32 + 1) / (1.96875 / 2 + 1))
    assert table.played("router_main", "fraudster_main") == 7


def test_the_same_games_give_the_same_table_however_they_are_split() -> None:
    wins = np.random.default_rng(0).random(37)
    whole, one_by_one, in_parts = PayoffTable(decay=0.9), PayoffTable(decay=0.9), PayoffTable(decay=0.9)
    whole.update("router_main", "fraudster_main", wins)
    for win in wins:
        one_by_one.update("router_main", "fraudster_main", float(win))
    for part in np.split(wins, [5, 6, 30]):
        in_parts.update("router_main", "fraudster_main", part)
    for table in (one_by_one, in_parts):
        record, expected = table.stats["router_main"]["fraudster_main"], whole.stats["router_main"]["fraudster_main"]
        assert record.wins == pytest.approx(expected.wins, rel=1e-12)
        assert record.games == pytest.approx(expected.games, rel=1e-12)
        assert record.played == expected.played == 37


def test_win_rate_is_the_prior_until_min_games() -> None:
    table = PayoffTable(decay=1.0, min_games=8)
    table.update("router_main", "fraudster_main", np.ones(7))
    assert table.router_win_rate("router_main", "fraudster_main") == 0.5
    assert table.played("router_main", "fraudster_main") == 7
    table.update("router_main", "fraudster_main", 1.0)
    assert table.router_win_rate("router_main", "fraudster_main") == 1.0
    # With decay the decayed count is what must reach the minimum (DI-engine's rule): 0.5 ** k never sums to 2.
    decayed = PayoffTable(decay=0.5, min_games=2)
    decayed.update("router_main", "fraudster_main", np.ones(50))
    assert decayed.router_win_rate("router_main", "fraudster_main") == 0.5


def test_decay_only_touches_the_updated_pair() -> None:
    table = PayoffTable(decay=0.5)
    table.update("router_main", "fraudster_main", [1.0, 1.0])
    table.update("router_main", "fraudster_main@it1", 0.0)
    assert table.games("router_main", "fraudster_main") == 1.5


def test_empty_update_changes_nothing() -> None:
    table = PayoffTable(decay=0.5)
    table.update("router_main", "fraudster_main", [1.0, 1.0])
    table.update("router_main", "fraudster_main", np.array([]))
    assert table.games("router_main", "fraudster_main") == 1.5


def test_both_perspectives_sum_to_one() -> None:
    table = PayoffTable(decay=0.9)
    rng = np.random.default_rng(3)
    for _ in range(20):
        table.update("router_main", "fraudster_main", rng.random(5))
    assert table.win_rate(ROUTER, FRAUDSTER) + table.win_rate(FRAUDSTER, ROUTER) == pytest.approx(1.0)
    assert table.win_rate(ROUTER, FRAUDSTER) == table.router_win_rate("router_main", "fraudster_main")


def test_win_rate_needs_opposite_roles() -> None:
    other_router = Player(name="router_main@it1", role=Role.ROUTER, kind=PlayerKind.HISTORICAL, parent="router_main")
    with pytest.raises(ValueError, match="other role"):
        PayoffTable().win_rate(ROUTER, other_router)


def test_matrix_layout() -> None:
    table = PayoffTable()
    table.update("router_a", "fraudster_x", 1.0)
    table.update("router_b", "fraudster_x", 0.0)
    table.update("router_b", "fraudster_y", [0.25, 0.75])
    matrix = table.matrix(["router_a", "router_b"], ["fraudster_x", "fraudster_y"])
    np.testing.assert_allclose(matrix, [[1.0, 0.5], [0.0, 0.5]])
    assert table.matrix([], ["fraudster_x"]).shape == (0, 1)


def test_dict_round_trip_through_json() -> None:
    table = PayoffTable(decay=0.93)
    table.update("router_main", "fraudster_main", [0.1, 0.7])
    table.update("router_main", "fraudster_main", [0.3])
    table.update("router_main@it3", "fraudster_scripted:neutral", [1.0])
    restored = PayoffTable.from_dict(json.loads(json.dumps(table.to_dict())))
    assert restored == table
    assert restored.router_win_rate("router_main", "fraudster_main") == table.router_win_rate(
        "router_main", "fraudster_main"
    )


@pytest.mark.parametrize("decay", [0.0, -0.1, 1.5, float("nan")])
def test_decay_range_validated(decay: float) -> None:
    with pytest.raises(ValueError, match="decay"):
        PayoffTable(decay=decay)


@pytest.mark.parametrize("bad", [1.5, -0.1, float("nan")])
def test_router_win_range_validated(bad: float) -> None:
    table = PayoffTable()
    with pytest.raises(ValueError, match="router_win"):
        table.update("router_main", "fraudster_main", [0.5, bad])
    assert table.games("router_main", "fraudster_main") == 0.0


def test_from_dict_rejects_inconsistent_counts() -> None:
    with pytest.raises(ValidationError, match="wins must be <= games"):
        PayoffTable.from_dict({"decay": 1.0, "stats": {"router_main": {"fraudster_main": {"wins": 3, "games": 2}}}})
