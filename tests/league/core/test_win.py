"""Tests for league.core.win: the soft-win definition from continuous returns."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from league.core.win import WinDefinition, fraudster_win, router_win, stable_sigmoid

finite_returns = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False)
references = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
scales = st.floats(min_value=1e-6, max_value=1e6, allow_nan=False)


@given(arrays(np.float64, st.integers(1, 50), elements=finite_returns), references, scales)
def test_router_and_fraudster_wins_sum_to_one(returns: np.ndarray, reference: float, scale: float) -> None:
    definition = WinDefinition(reference=reference, scale=scale)
    total = definition.router_win(returns) + definition.fraudster_win(returns)
    assert np.all(total == 1.0)


@given(arrays(np.float64, st.integers(1, 50), elements=finite_returns), references, scales)
def test_wins_are_within_bounds(returns: np.ndarray, reference: float, scale: float) -> None:
    wins = router_win(returns, reference, scale)
    assert np.all((wins >= 0.0) & (wins <= 1.0))


@given(finite_returns, finite_returns, references, scales)
def test_router_win_is_monotone_in_return(a: float, b: float, reference: float, scale: float) -> None:
    low, high = min(a, b), max(a, b)
    assert router_win(low, reference, scale) <= router_win(high, reference, scale)
    assert fraudster_win(low, reference, scale) >= fraudster_win(high, reference, scale)


def test_values_at_known_points() -> None:
    assert router_win(0.0) == 0.5
    assert router_win(3.0, reference=3.0, scale=7.0) == 0.5
    assert router_win(1.0) == pytest.approx(1.0 / (1.0 + np.exp(-1.0)))
    assert router_win(4.0, reference=2.0, scale=2.0) == pytest.approx(1.0 / (1.0 + np.exp(-1.0)))
    assert fraudster_win(1.0) == pytest.approx(1.0 / (1.0 + np.exp(1.0)))


def test_strictly_increasing_on_a_grid() -> None:
    wins = router_win(np.linspace(-20.0, 20.0, 201))
    assert np.all(np.diff(wins) > 0)


def test_stable_for_huge_returns() -> None:
    with np.errstate(all="raise"):
        wins = router_win(np.array([-1e9, 1e9, -np.inf, np.inf]))
        tiny_scale = router_win(np.array([-1e308, 1e308]), scale=1e-6)
    assert wins.tolist() == [0.0, 1.0, 0.0, 1.0]
    assert tiny_scale.tolist() == [0.0, 1.0]
    assert fraudster_win(1e9) == 0.0
    assert fraudster_win(-1e9) == 1.0
    assert np.all(np.isfinite(stable_sigmoid(np.array([-1e308, 1e308]))))


def test_scalar_in_scalar_out_and_shape_preserved() -> None:
    assert isinstance(router_win(0.3), float)
    assert router_win(np.zeros((2, 3))).shape == (2, 3)


@pytest.mark.parametrize("scale", [0.0, -1.0, float("inf"), float("nan")])
def test_non_positive_or_non_finite_scale_rejected(scale: float) -> None:
    with pytest.raises(ValueError, match="scale"):
        WinDefinition(scale=scale)
    with pytest.raises(ValueError, match="scale"):
        router_win(1.0, scale=scale)


def test_nan_return_rejected() -> None:
    with pytest.raises(ValueError, match="NaN"):
        router_win(np.array([0.0, np.nan]))


def test_defaults() -> None:
    definition = WinDefinition()
    assert (definition.reference, definition.scale) == (0.0, 1.0)
