"""Cross-check of agents.meta_game against OpenSpiel (pyspiel) on a few zero-sum payoff matrices.

OpenSpiel computes NashConv of a matrix game (as a two-step turn-based game)
with its own best-response code, and solves it with its own CFR+ and
projected replicator dynamics. Skipped where ``open_spiel`` is not installed.
"""

from __future__ import annotations

import numpy as np
import pytest

pyspiel = pytest.importorskip("pyspiel")
from open_spiel.python import policy as openspiel_policy  # noqa: E402
from open_spiel.python.algorithms import exploitability as openspiel_exploitability  # noqa: E402
from open_spiel.python.algorithms import projected_replicator_dynamics as openspiel_prd  # noqa: E402

from agents.meta_game import nash_conv, projected_replicator_dynamics, solve_zero_sum, uniform_meta  # noqa: E402

MATRICES = {
    "rock_paper_scissors": np.array([[0.0, -1.0, 1.0], [1.0, 0.0, -1.0], [-1.0, 1.0, 0.0]]),
    "biased_rps": np.array([[0.0, -2.0, 1.0], [2.0, 0.0, -1.0], [-1.0, 1.0, 0.0]]) * 3.0 + 10.0,
    "saddle_point": np.array([[3.0, 5.0, 4.0], [1.0, 0.0, 2.0], [4.0, 6.0, 7.0]]),
    "random_4x5": np.random.default_rng(7).normal(12.0, 4.0, size=(4, 5)),
    "league_like_3x6": np.random.default_rng(11).uniform(-5.0, 20.0, size=(3, 6)),
}


def turn_based(matrix: np.ndarray):
    """The zero-sum matrix game (router = player 0, payoff ``matrix``) as OpenSpiel's turn-based game."""
    game = pyspiel.create_matrix_game(matrix.tolist(), (-matrix).tolist())
    return pyspiel.convert_to_turn_based(game)


def as_policy(game, row: np.ndarray, column: np.ndarray):
    """Our two mixtures as an OpenSpiel tabular policy (one information state per player)."""
    policy = openspiel_policy.TabularPolicy(game)
    for state_key, index in policy.state_lookup.items():
        player = 0 if index == 0 else 1
        strategy = row if player == 0 else column
        policy.action_probability_array[index, : len(strategy)] = strategy
    return policy


def openspiel_nash_conv(matrix: np.ndarray, row: np.ndarray, column: np.ndarray) -> float:
    game = turn_based(matrix)
    return float(openspiel_exploitability.nash_conv(game, as_policy(game, row, column)))


@pytest.mark.parametrize("name", sorted(MATRICES))
def test_nash_conv_agrees_with_open_spiel(name):
    matrix = MATRICES[name]
    rng = np.random.default_rng(3)
    for _ in range(3):
        row, column = rng.dirichlet(np.ones(matrix.shape[0])), rng.dirichlet(np.ones(matrix.shape[1]))
        assert nash_conv(matrix, row, column) == pytest.approx(openspiel_nash_conv(matrix, row, column), abs=1e-9)


@pytest.mark.parametrize("name", sorted(MATRICES))
def test_our_nash_is_an_equilibrium_for_open_spiel_and_has_cfr_plus_value(name):
    matrix = MATRICES[name]
    nash = solve_zero_sum(matrix)
    assert openspiel_nash_conv(matrix, nash.row_strategy, nash.col_strategy) <= 1e-6
    game = turn_based(matrix)
    solver = pyspiel.CFRPlusSolver(game)
    for _ in range(3000):
        solver.evaluate_and_update_policy()
    average = solver.average_policy()
    value = pyspiel.expected_returns(game.new_initial_state(), average, -1, True)[0]
    scale = float(np.ptp(matrix)) or 1.0
    assert pyspiel.nash_conv(game, average) < 1e-2 * scale  # CFR+ has converged ...
    assert nash.value == pytest.approx(value, abs=1e-2 * scale)  # ... to our value


@pytest.mark.parametrize("name", ["rock_paper_scissors", "biased_rps", "random_4x5"])
def test_prd_and_uniform_against_open_spiel(name):
    matrix = MATRICES[name]
    scale = float(np.ptp(matrix))
    ours = projected_replicator_dynamics(matrix, iterations=20_000)
    row, column = openspiel_prd.projected_replicator_dynamics([matrix, -matrix], prd_iterations=20_000)
    theirs = openspiel_nash_conv(matrix, np.asarray(row), np.asarray(column))
    # Both PRDs approach an equilibrium: our NashConv is no worse than OpenSpiel's PRD by more than 2% of the range.
    assert openspiel_nash_conv(matrix, ours.row_strategy, ours.col_strategy) <= theirs + 0.02 * scale
    uniform = uniform_meta(matrix)
    assert nash_conv(matrix, uniform.row_strategy, uniform.col_strategy) == pytest.approx(
        openspiel_nash_conv(matrix, uniform.row_strategy, uniform.col_strategy), abs=1e-9)
