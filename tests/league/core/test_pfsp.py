"""Tests for league.core.pfsp: PFSP weighting functions and opponent sampling."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chisquare

from league.core.pfsp import ALLOWED_WEIGHTINGS, pfsp_probabilities, pfsp_weights, sample_opponent

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


def test_names_and_rates_must_match() -> None:
    with pytest.raises(ValueError, match="same length"):
        sample_opponent(["a", "b"], [0.5], "uniform", np.random.default_rng(0))


@pytest.mark.parametrize("weighting", list(ALLOWED_WEIGHTINGS))
def test_empirical_frequencies_match_probabilities(weighting: str) -> None:
    names = [f"fraudster_{i}" for i in range(len(WIN_RATES))]
    probabilities = pfsp_probabilities(WIN_RATES, weighting)
    rng = np.random.default_rng(12345)
    draws = 20_000
    picks = [sample_opponent(names, WIN_RATES, weighting, rng) for _ in range(draws)]
    counts = np.array([picks.count(name) for name in names])
    possible = probabilities > 0
    assert counts[~possible].sum() == 0  # a zero-weight opponent is never drawn
    _, p_value = chisquare(counts[possible], draws * probabilities[possible])
    assert p_value > 0.001


def test_sampling_is_deterministic_given_seed() -> None:
    names = ["a", "b", "c"]
    rng_a, rng_b = np.random.default_rng(7), np.random.default_rng(7)
    seq_a = [sample_opponent(names, [0.1, 0.5, 0.9], "squared", rng_a) for _ in range(50)]
    seq_b = [sample_opponent(names, [0.1, 0.5, 0.9], "squared", rng_b) for _ in range(50)]
    assert seq_a == seq_b
