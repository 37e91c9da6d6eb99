"""Tests for league.core.pfsp: PFSP weighting functions and sampling probabilities."""

from __future__ import annotations

import numpy as np
import pytest

from league.core.pfsp import ALLOWED_WEIGHTINGS, pfsp_probabilities, pfsp_weights

WIN_RATES = np.array([0.0, 0.2, 0.5, 0.75, 0.9])


@pytest.mark.parametrize(
    ("weighting", "expected"),
    [
        ("squared", [1.0, 0.64, 0.25, 0.0625, 0.01]),
        ("variance", [0.0, 0.16, 0.25, 0.1875, 0.09]),
        ("linear", [1.0, 0.8, 0.5, 0.25, 0.1]),
        ("linear_capped", [0.5, 0.5, 0.5, 0.25, 0.1]),
        ("uniform", [1.0, 1.0, 1.0, 1.0, 1.0]),
    ],
)
def test_weighting_formulas(weighting: str, expected: list[float]) -> None:
    np.testing.assert_allclose(pfsp_weights(WIN_RATES, weighting), expected)
    np.testing.assert_allclose(pfsp_probabilities(WIN_RATES, weighting), np.array(expected) / sum(expected))


@pytest.mark.parametrize("weighting", ["squared", "linear", "variance"])
def test_all_zero_weights_fall_back_to_uniform(weighting: str) -> None:
    probabilities = pfsp_probabilities([1.0, 1.0, 1.0, 1.0], weighting)
    np.testing.assert_allclose(probabilities, [0.25] * 4)


def test_unknown_weighting_lists_allowed_names() -> None:
    with pytest.raises(ValueError) as error:
        pfsp_probabilities([0.5], "cubic")
    message = str(error.value)
    assert "'cubic'" in message
    for name in ALLOWED_WEIGHTINGS:
        assert name in message


@pytest.mark.parametrize("bad", [[], [0.5, 1.2], [-0.1], [float("nan")], [[0.5]]])
def test_invalid_win_rates_rejected(bad: list) -> None:
    with pytest.raises(ValueError, match="win_rates"):
        pfsp_probabilities(bad, "uniform")
