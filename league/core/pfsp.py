"""Prioritized fictitious self-play (PFSP): how strongly to prefer each candidate opponent.

Following AlphaStar, a learner picks opponents with probability proportional to
``f(x)``, where ``x`` is the LEARNER's win rate against that opponent:

- ``squared``:       ``(1 - x)^2``          focus hard on opponents the learner loses to;
- ``variance``:      ``x (1 - x)``          focus on evenly matched opponents;
- ``linear``:        ``1 - x``              milder focus on hard opponents;
- ``linear_capped``: ``min(0.5, 1 - x)``    like linear, but all opponents the learner
  beats less than half the time get the same weight;
- ``uniform``:       ``1``                  plain fictitious self-play.

If every weight is 0 (e.g. ``squared`` when the learner beats everyone), sampling
falls back to uniform, so a learner always has an opponent.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum

import numpy as np
from numpy.typing import ArrayLike


class PFSPWeighting(str, Enum):
    """Names of the PFSP weighting functions."""

    SQUARED = "squared"
    VARIANCE = "variance"
    LINEAR = "linear"
    LINEAR_CAPPED = "linear_capped"
    UNIFORM = "uniform"


_WEIGHTINGS: dict[PFSPWeighting, Callable[[np.ndarray], np.ndarray]] = {
    PFSPWeighting.SQUARED: lambda x: (1.0 - x) ** 2,
    PFSPWeighting.VARIANCE: lambda x: x * (1.0 - x),
    PFSPWeighting.LINEAR: lambda x: 1.0 - x,
    PFSPWeighting.LINEAR_CAPPED: lambda x: np.minimum(0.5, 1.0 - x),
    PFSPWeighting.UNIFORM: lambda x: np.ones_like(x),
}

ALLOWED_WEIGHTINGS: tuple[str, ...] = tuple(weighting.value for weighting in PFSPWeighting)


def parse_weighting(weighting: PFSPWeighting | str) -> PFSPWeighting:
    """Turn a weighting name into ``PFSPWeighting``; unknown names raise ValueError listing the allowed ones."""
    try:
        return PFSPWeighting(weighting)
    except ValueError:
        raise ValueError(
            f"weighting must be one of {', '.join(ALLOWED_WEIGHTINGS)}; got {weighting!r}"
        ) from None


def _as_win_rates(win_rates: ArrayLike) -> np.ndarray:
    rates = np.asarray(win_rates, dtype=np.float64)
    if rates.ndim != 1 or rates.size == 0:
        raise ValueError(f"win_rates must be a non-empty 1-D sequence, got shape {rates.shape}")
    outside = ~(np.isfinite(rates) & (rates >= 0.0) & (rates <= 1.0))
    if outside.any():
        raise ValueError(f"win_rates must be in [0, 1], got {float(rates[outside][0])!r}")
    return rates


def pfsp_weights(win_rates: ArrayLike, weighting: PFSPWeighting | str) -> np.ndarray:
    """Unnormalised PFSP weight of each candidate, given the learner's win rate against it."""
    rates = _as_win_rates(win_rates)
    return _WEIGHTINGS[parse_weighting(weighting)](rates)


def pfsp_probabilities(win_rates: ArrayLike, weighting: PFSPWeighting | str) -> np.ndarray:
    """Sampling probability of each candidate; uniform if all weights are 0."""
    weights = pfsp_weights(win_rates, weighting)
    total = weights.sum()
    if total <= 0.0:
        return np.full(weights.shape, 1.0 / weights.size)
    return weights / total
