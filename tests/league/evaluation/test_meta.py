"""Tests for agents.meta_game: zero-sum meta-game solving, exploitability and meta-solvers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from agents.meta_game import (
    META_SOLVERS,
    MetaStrategies,
    NashResult,
    best_response_values,
    nash_conv,
    fraudster_exploitability,
    get_meta_solver,
    projected_replicator_dynamics,
    regrets,
    router_exploitability,
    solve_zero_sum,
    uniform_meta,
)

RPS = np.array([[0.0, -1.0, 1.0], [1.0, 0.0, -1.0], [-1.0, 1.0, 0.0]])
# Weighted rock-paper-scissors with the non-uniform equilibrium (1/4, 1/2, 1/4) for both sides.
WEIGHTED_RPS = np.array([[0.0, -1.0, 2.0], [1.0, 0.0, -1.0], [-2.0, 1.0, 0.0]])
MATCHING_PENNIES = np.array([[1.0, -1.0], [-1.0, 1.0]])


def assert_probability_vector(p: np.ndarray, size: int) -> None:
    assert p.shape == (size,)
    assert np.all(p >= 0.0)
    assert p.sum() == pytest.approx(1.0, abs=1e-12)


# --------------------------------------------------------------------------
# Known equilibria
# --------------------------------------------------------------------------


def test_rock_paper_scissors_is_uniform_with_value_zero() -> None:
    nash = solve_zero_sum(RPS)
    np.testing.assert_allclose(nash.row_strategy, np.full(3, 1 / 3), atol=1e-8)
    np.testing.assert_allclose(nash.col_strategy, np.full(3, 1 / 3), atol=1e-8)
    assert nash.value == pytest.approx(0.0, abs=1e-9)


def test_weighted_rps_has_known_non_uniform_equilibrium() -> None:
    nash = solve_zero_sum(WEIGHTED_RPS)
    np.testing.assert_allclose(nash.row_strategy, [0.25, 0.5, 0.25], atol=1e-8)
    np.testing.assert_allclose(nash.col_strategy, [0.25, 0.5, 0.25], atol=1e-8)
    assert nash.value == pytest.approx(0.0, abs=1e-9)


def test_strictly_dominated_row_gets_zero_probability() -> None:
    # Row 2 is strictly worse than row 0 (and row 1) against every column.
    A = np.array([[1.0, -1.0], [-1.0, 1.0], [-2.0, -2.0]])
    nash = solve_zero_sum(A)
    assert nash.row_strategy[2] == 0.0
    np.testing.assert_allclose(nash.row_strategy, [0.5, 0.5, 0.0], atol=1e-8)
    np.testing.assert_allclose(nash.col_strategy, [0.5, 0.5], atol=1e-8)
    assert nash.value == pytest.approx(0.0, abs=1e-9)


def test_pure_saddle_point() -> None:
    # Saddle at (row 2, column 1): 2 is the minimum of its row and the maximum of its column.
    A = np.array([[3.0, 1.0, 4.0], [2.0, 0.0, -1.0], [5.0, 2.0, 6.0]])
    nash = solve_zero_sum(A)
    np.testing.assert_allclose(nash.row_strategy, [0.0, 0.0, 1.0], atol=1e-9)
    np.testing.assert_allclose(nash.col_strategy, [0.0, 1.0, 0.0], atol=1e-9)
    assert nash.value == pytest.approx(2.0, abs=1e-9)


@pytest.mark.parametrize(("scale", "shift"), [(1.0, 0.0), (3.0, 5.0), (0.01, -2.0), (250.0, 1e3), (-2.0, 0.5)])
def test_matching_pennies_scaled_and_shifted(scale: float, shift: float) -> None:
    nash = solve_zero_sum(scale * MATCHING_PENNIES + shift)
    np.testing.assert_allclose(nash.row_strategy, [0.5, 0.5], atol=1e-8)
    np.testing.assert_allclose(nash.col_strategy, [0.5, 0.5], atol=1e-8)
    assert nash.value == pytest.approx(shift, abs=1e-8 * max(1.0, abs(scale), abs(shift)))


def test_one_by_one_game() -> None:
    nash = solve_zero_sum(np.array([[4.2]]))
    np.testing.assert_array_equal(nash.row_strategy, [1.0])
    np.testing.assert_array_equal(nash.col_strategy, [1.0])
    assert nash.value == pytest.approx(4.2)


def test_single_router_faces_the_fraudster_minimum() -> None:
    nash = solve_zero_sum(np.array([[3.0, -1.0, 2.0]]))
    np.testing.assert_allclose(nash.col_strategy, [0.0, 1.0, 0.0], atol=1e-9)
    assert nash.value == pytest.approx(-1.0)


def test_single_fraudster_faces_the_router_maximum() -> None:
    nash = solve_zero_sum(np.array([[3.0], [-1.0], [7.0]]))
    np.testing.assert_allclose(nash.row_strategy, [0.0, 0.0, 1.0], atol=1e-9)
    assert nash.value == pytest.approx(7.0)


def test_constant_matrix_has_constant_value_and_zero_exploitability() -> None:
    A = np.full((3, 4), -0.7)
    nash = solve_zero_sum(A)
    assert_probability_vector(nash.row_strategy, 3)
    assert_probability_vector(nash.col_strategy, 4)
    assert nash.value == pytest.approx(-0.7)
    assert nash_conv(A, nash.row_strategy, nash.col_strategy) == pytest.approx(0.0, abs=1e-12)


# --------------------------------------------------------------------------
# Best responses, exploitability, regret
# --------------------------------------------------------------------------


def test_best_response_values_against_pure_strategies() -> None:
    values = best_response_values(RPS, [1.0, 0.0, 0.0], [1.0, 0.0, 0.0])
    # Paper (row 1) beats rock for +1; paper (column 1) beats rock for the router's -1.
    assert values.router == 1.0
    assert values.fraudster == -1.0
    assert nash_conv(RPS, [1.0, 0.0, 0.0], [1.0, 0.0, 0.0]) == 2.0


def test_per_side_exploitability() -> None:
    # Matching pennies, value 0. Router (0.75, 0.25): the fraudster's best reply concedes -0.5.
    x = np.array([0.75, 0.25])
    y = np.array([0.5, 0.5])
    assert router_exploitability(MATCHING_PENNIES, x) == pytest.approx(0.5)
    assert fraudster_exploitability(MATCHING_PENNIES, y) == pytest.approx(0.0, abs=1e-12)
    assert router_exploitability(MATCHING_PENNIES, x, value=0.0) == pytest.approx(0.5)
    # NashConv is the sum of both sides' exploitability.
    total = router_exploitability(MATCHING_PENNIES, x) + fraudster_exploitability(MATCHING_PENNIES, y)
    assert nash_conv(MATCHING_PENNIES, x, y) == pytest.approx(total)


def test_regrets_are_zero_on_support_and_positive_off_it() -> None:
    A = np.array([[1.0, -1.0], [-1.0, 1.0], [-2.0, -2.0]])
    nash = solve_zero_sum(A)
    router_regret, fraudster_regret = regrets(A, nash)
    np.testing.assert_allclose(router_regret, [0.0, 0.0, 2.0], atol=1e-8)
    np.testing.assert_allclose(fraudster_regret, [0.0, 0.0], atol=1e-8)


def test_regrets_of_a_dominated_fraudster() -> None:
    # Column 2 concedes more than column 0 against every router.
    A = np.array([[1.0, -1.0, 3.0], [-1.0, 1.0, 1.0]])
    nash = solve_zero_sum(A)
    router_regret, fraudster_regret = regrets(A, nash)
    assert nash.col_strategy[2] == 0.0
    np.testing.assert_allclose(router_regret, [0.0, 0.0], atol=1e-8)
    np.testing.assert_allclose(fraudster_regret, [0.0, 0.0, 2.0], atol=1e-8)


# --------------------------------------------------------------------------
# Random games
# --------------------------------------------------------------------------

payoff_matrices = st.tuples(st.integers(1, 5), st.integers(1, 5)).flatmap(
    lambda shape: arrays(np.float64, shape, elements=st.floats(-10.0, 10.0, allow_nan=False, allow_infinity=False))
)


@settings(max_examples=150, deadline=None)
@given(A=payoff_matrices)
def test_random_games_equilibrium_properties(A: np.ndarray) -> None:
    nash = solve_zero_sum(A)
    n_rows, n_cols = A.shape
    assert_probability_vector(nash.row_strategy, n_rows)
    assert_probability_vector(nash.col_strategy, n_cols)

    # The value lies between the pure maximin and the pure minimax.
    pure_maximin = A.min(axis=1).max()
    pure_minimax = A.max(axis=0).min()
    assert pure_maximin - 1e-9 <= nash.value <= pure_minimax + 1e-9

    gap = nash_conv(A, nash.row_strategy, nash.col_strategy)
    assert 0.0 <= gap <= 1e-6

    uniform = uniform_meta(A)
    assert nash_conv(A, uniform.row_strategy, uniform.col_strategy) >= gap - 1e-12

    router_regret, fraudster_regret = regrets(A, nash)
    assert np.all(router_regret >= 0.0) and np.all(fraudster_regret >= 0.0)
    # Complementary slackness: players in the support earn the value.
    assert np.all(router_regret[nash.row_strategy > 1e-4] <= 1e-6)
    assert np.all(fraudster_regret[nash.col_strategy > 1e-4] <= 1e-6)
    assert router_exploitability(A, nash.row_strategy, value=nash.value) <= 1e-6
    assert fraudster_exploitability(A, nash.col_strategy, value=nash.value) <= 1e-6


# --------------------------------------------------------------------------
# Alternative meta-solvers
# --------------------------------------------------------------------------


def test_uniform_meta() -> None:
    meta = uniform_meta(np.zeros((2, 5)))
    np.testing.assert_allclose(meta.row_strategy, [0.5, 0.5])
    np.testing.assert_allclose(meta.col_strategy, np.full(5, 0.2))


def test_prd_on_rps_approaches_uniform_from_a_skewed_start() -> None:
    meta = projected_replicator_dynamics(RPS, initial_row=[0.6, 0.3, 0.1], initial_col=[0.2, 0.2, 0.6])
    np.testing.assert_allclose(meta.row_strategy, np.full(3, 1 / 3), atol=0.03)
    np.testing.assert_allclose(meta.col_strategy, np.full(3, 1 / 3), atol=0.03)
    assert nash_conv(RPS, meta.row_strategy, meta.col_strategy) < 0.05


def test_prd_approaches_a_non_uniform_equilibrium() -> None:
    meta = projected_replicator_dynamics(WEIGHTED_RPS)
    np.testing.assert_allclose(meta.row_strategy, [0.25, 0.5, 0.25], atol=0.02)
    np.testing.assert_allclose(meta.col_strategy, [0.25, 0.5, 0.25], atol=0.02)


def test_prd_keeps_the_gamma_floor() -> None:
    # A dominated row is driven down to the floor but never to zero.
    A = np.array([[1.0, -1.0], [-1.0, 1.0], [-2.0, -2.0]])
    gamma = 0.03
    meta = projected_replicator_dynamics(A, iterations=2_000, gamma=gamma)
    assert meta.row_strategy.min() >= gamma / 3 - 1e-12
    assert_probability_vector(meta.row_strategy, 3)


def test_prd_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError, match="iterations"):
        projected_replicator_dynamics(RPS, iterations=0)
    with pytest.raises(ValueError, match="step"):
        projected_replicator_dynamics(RPS, step=-0.1)
    with pytest.raises(ValueError, match="gamma"):
        projected_replicator_dynamics(RPS, gamma=1.0)
    with pytest.raises(ValueError, match="initial_row"):
        projected_replicator_dynamics(RPS, initial_row=[0.5, 0.5])


def test_meta_solver_registry() -> None:
    assert set(META_SOLVERS) == {"nash", "uniform", "prd"}
    for name, solver in META_SOLVERS.items():
        meta = solver(WEIGHTED_RPS)
        assert isinstance(meta, MetaStrategies), name
        assert_probability_vector(meta.row_strategy, 3)
        assert_probability_vector(meta.col_strategy, 3)
    assert isinstance(get_meta_solver("nash")(RPS), NashResult)
    with pytest.raises(ValueError, match="unknown meta-solver 'alpharank'"):
        get_meta_solver("alpharank")


# --------------------------------------------------------------------------
# Input validation
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("A", "message"),
    [
        (np.array([1.0, 2.0]), "2-D"),
        (np.zeros((2, 2, 2)), "2-D"),
        (np.zeros((0, 3)), "non-empty"),
        (np.array([[0.0, np.nan]]), "finite"),
        (np.array([[np.inf, 0.0]]), "finite"),
    ],
)
def test_bad_payoff_matrix_raises(A: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        solve_zero_sum(A)
    with pytest.raises(ValueError, match=message):
        uniform_meta(A)


@pytest.mark.parametrize(
    ("x", "message"),
    [
        ([0.5, 0.5, 0.0], "shape"),
        ([1.5, -0.5], "non-negative"),
        ([0.3, 0.3], "sum to 1"),
        ([np.nan, 1.0], "finite"),
    ],
)
def test_bad_strategy_raises(x: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=f"row_strategy.*{message}"):
        nash_conv(MATCHING_PENNIES, x, [0.5, 0.5])
