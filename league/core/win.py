"""The win definition: turning continuous episode returns into soft wins.

The game is zero-sum-ish with continuous returns, so there is no natural win/loss.
The league scores each episode by the router's return alone:

    router_win    = sigmoid((router_return - reference) / scale)      in [0, 1]
    fraudster_win = 1 - router_win

where ``sigmoid(z) = 1 / (1 + exp(-z))``. A router return equal to ``reference``
counts as half a win for each side; ``scale`` (> 0, in return units) sets how
quickly the score saturates towards a clear win or loss. Because the fraudster's
score is defined as the complement, the two sides' win rates sum to 1 for every
pairing (in float64, ``r + (1 - r)`` rounds to exactly 1.0 for any r in [0, 1]).

Defaults: ``reference = 0.0`` and ``scale = 1.0``; both come from the league config.
The sigmoid is evaluated as ``exp(-|z|)`` based branches, so it never overflows and
gives exactly 0.0 or 1.0 for huge ``|z|`` (e.g. returns of +-1e9).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike
from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_REFERENCE = 0.0
DEFAULT_SCALE = 1.0


def stable_sigmoid(z: ArrayLike) -> np.ndarray:
    """Logistic sigmoid of ``z`` element-wise, without overflow for any finite or infinite input."""
    z = np.asarray(z, dtype=np.float64)
    with np.errstate(under="ignore"):  # exp(-|z|) underflowing to 0 is the correct limit
        small = np.exp(-np.abs(z))  # in [0, 1], never overflows
    return np.where(z >= 0, 1.0 / (1.0 + small), small / (1.0 + small))


def _as_returns(returns: ArrayLike) -> np.ndarray:
    values = np.asarray(returns, dtype=np.float64)
    if np.isnan(values).any():
        raise ValueError("returns must not contain NaN (allowed: any real number or +-inf)")
    return values


def _scalar_or_array(values: np.ndarray, like: ArrayLike) -> float | np.ndarray:
    return float(values) if np.ndim(like) == 0 else values


def router_win(
    router_returns: ArrayLike, reference: float = DEFAULT_REFERENCE, scale: float = DEFAULT_SCALE
) -> float | np.ndarray:
    """Router's soft win per episode, in [0, 1]; a float for scalar input, else an array of the same shape."""
    _check_parameters(reference, scale)
    values = _as_returns(router_returns)
    with np.errstate(over="ignore"):  # a standardised return beyond float range is +-inf: a sure win or loss
        standardised = (values - reference) / scale
    return _scalar_or_array(stable_sigmoid(standardised), router_returns)


def fraudster_win(
    router_returns: ArrayLike, reference: float = DEFAULT_REFERENCE, scale: float = DEFAULT_SCALE
) -> float | np.ndarray:
    """Fraudster's soft win per episode: exactly ``1 - router_win`` for the same episode."""
    wins = router_win(router_returns, reference, scale)
    return 1.0 - wins


def _check_parameters(reference: float, scale: float) -> None:
    if not math.isfinite(reference):
        raise ValueError(f"reference must be a finite number, got {reference!r}")
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a finite number > 0, got {scale!r}")


class WinDefinition(BaseModel):
    """Config-level win definition: ``router_win = sigmoid((router_return - reference) / scale)``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reference: float = Field(default=DEFAULT_REFERENCE, allow_inf_nan=False)
    scale: float = Field(default=DEFAULT_SCALE, allow_inf_nan=False)

    @field_validator("scale")
    @classmethod
    def _scale_positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError(f"scale must be > 0, got {value!r}")
        return value

    def router_win(self, router_returns: ArrayLike) -> float | np.ndarray:
        """Router's soft win per episode, in [0, 1]."""
        return router_win(router_returns, self.reference, self.scale)

    def fraudster_win(self, router_returns: ArrayLike) -> float | np.ndarray:
        """Fraudster's soft win per episode, ``1 - router_win``."""
        return fraudster_win(router_returns, self.reference, self.scale)
