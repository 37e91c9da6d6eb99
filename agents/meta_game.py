"""Meta-game analysis of an empirical router-versus-fraudster payoff matrix.

It lives with the agents because the scripted round robin (``smartpay-marl
baselines``) needs it as much as the league's evaluation and PSRO do, and the
league sits above the agents.

The league plays every router snapshot against every fraudster snapshot and
records the router's mean payoff in a matrix ``A`` of shape ``(R, F)``: rows
are routers, columns are fraudsters.  The game is zero-sum, so the fraudster
receives ``-A`` and wants each entry to be small.

This module turns such a matrix into meta-strategies (probability vectors over
league members) and measures how far a pair of meta-strategies is from
equilibrium. Names: a player's (or mixture's) *exploitability* is how much the
other side's best response takes from it beyond the game value
(:func:`router_exploitability`, :func:`fraudster_exploitability`); the sum of
both sides' exploitabilities is *NashConv* (:func:`nash_conv`). All are in
the matrix's units (the game's reward units per episode).  It is plain numpy/scipy and knows nothing about how ``A`` was
estimated or about any training oracle, so the same functions serve a
PSRO-style meta-solver and offline evaluation.

Conventions: ``x`` (length ``R``) is the router mixture, ``y`` (length ``F``)
the fraudster mixture; ``A @ y`` is each pure router's payoff against ``y``
and ``x @ A`` is the router payoff each pure fraudster concedes against ``x``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

__all__ = [
    "META_SOLVERS",
    "MetaSolver",
    "BestResponseValues",
    "MetaStrategies",
    "NashResult",
    "best_response_values",
    "fraudster_exploitability",
    "get_meta_solver",
    "nash_conv",
    "projected_replicator_dynamics",
    "regrets",
    "router_exploitability",
    "solve_zero_sum",
    "uniform_meta",
]

# Tolerance for accepting a user-supplied vector as a probability vector.
_PROBABILITY_ATOL = 1e-6
# HiGHS feasibility tolerances; tighter than the defaults (1e-7) so the
# returned equilibrium is exploitable by well under 1e-6 on a unit-scale game.
_LP_TOLERANCE = 1e-10


@dataclass(frozen=True, eq=False)
class MetaStrategies:
    """A mixture over routers and a mixture over fraudsters."""

    row_strategy: np.ndarray  # (R,) router mixture, sums to 1
    col_strategy: np.ndarray  # (F,) fraudster mixture, sums to 1


@dataclass(frozen=True, eq=False)
class NashResult(MetaStrategies):
    """A Nash equilibrium of the zero-sum meta-game and its value."""

    value: float  # router's equilibrium payoff


class BestResponseValues(NamedTuple):
    """Payoffs that each side's best pure response achieves."""

    router: float  # max_i (A y)_i: best router payoff against y
    fraudster: float  # min_j (x^T A)_j: lowest router payoff a fraudster can force against x


# --------------------------------------------------------------------------
# Input validation
# --------------------------------------------------------------------------


def _as_payoff_matrix(A: np.ndarray) -> np.ndarray:
    """Return ``A`` as a float array after checking it is 2-D, non-empty and finite."""
    matrix = np.asarray(A, dtype=float)
    if matrix.ndim != 2:
        raise ValueError(f"payoff matrix must be 2-D (routers x fraudsters), got shape {matrix.shape}")
    if matrix.size == 0:
        raise ValueError(f"payoff matrix must be non-empty, got shape {matrix.shape}")
    if not np.all(np.isfinite(matrix)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(matrix))[0])
        raise ValueError(f"payoff matrix must be finite, found {matrix[bad]} (NaN or inf) at index {bad}")
    return matrix


def _as_strategy(strategy: np.ndarray, size: int, name: str) -> np.ndarray:
    """Return ``strategy`` as a float vector after checking it is a probability vector of ``size``."""
    vector = np.asarray(strategy, dtype=float)
    if vector.shape != (size,):
        raise ValueError(f"{name} must have shape ({size},), got shape {vector.shape}")
    if not np.all(np.isfinite(vector)):
        raise ValueError(f"{name} must be finite, got {vector}")
    if np.any(vector < -_PROBABILITY_ATOL):
        raise ValueError(f"{name} must be non-negative, got minimum {vector.min()}")
    total = vector.sum()
    if abs(total - 1.0) > _PROBABILITY_ATOL:
        raise ValueError(f"{name} must sum to 1, got sum {total}")
    return vector


def _clean_distribution(weights: np.ndarray) -> np.ndarray:
    """Clip solver round-off below zero and renormalise to an exact probability vector."""
    clipped = np.clip(weights, 0.0, None)
    total = clipped.sum()
    if not total > 0.0:
        raise RuntimeError(f"solver returned a strategy with no positive mass: {weights}")
    return clipped / total


def _unit_scale(A: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Affinely map ``A`` into [-1, 1]; return (scaled, offset, scale) with A = scale * scaled + offset.

    Equilibria are invariant to positive affine maps of the payoffs, and a unit
    range keeps the LP well conditioned and PRD step sizes comparable across games.
    """
    offset = 0.5 * (A.max() + A.min())
    half_range = 0.5 * (A.max() - A.min())
    # A constant matrix has no range; any scale works and 1 keeps it unchanged.
    scale = half_range if half_range > 0.0 else 1.0
    return (A - offset) / scale, float(offset), float(scale)


# --------------------------------------------------------------------------
# Nash equilibrium by linear programming
# --------------------------------------------------------------------------


def _maximin_strategy(A: np.ndarray) -> np.ndarray:
    """Row player's maximin mixture: maximise v subject to (x^T A)_j >= v, x in the simplex.

    Variables are ``[x_1..x_R, v]`` with ``v`` free, so no positivity shift is needed.
    """
    from scipy.optimize import linprog  # imported on use: the scripted players need no scipy

    n_rows, n_cols = A.shape
    cost = np.zeros(n_rows + 1)
    cost[-1] = -1.0  # linprog minimises, so minimise -v
    # v - (x^T A)_j <= 0 for every column j
    a_ub = np.hstack([-A.T, np.ones((n_cols, 1))])
    b_ub = np.zeros(n_cols)
    a_eq = np.hstack([np.ones((1, n_rows)), np.zeros((1, 1))])
    b_eq = np.ones(1)
    bounds = [(0.0, None)] * n_rows + [(None, None)]
    result = linprog(
        cost,
        A_ub=a_ub,
        b_ub=b_ub,
        A_eq=a_eq,
        b_eq=b_eq,
        bounds=bounds,
        method="highs",
        options={
            "primal_feasibility_tolerance": _LP_TOLERANCE,
            "dual_feasibility_tolerance": _LP_TOLERANCE,
        },
    )
    if result.status != 0:
        raise RuntimeError(f"linprog failed to solve the meta-game (status {result.status}): {result.message}")
    return _clean_distribution(result.x[:n_rows])


def solve_zero_sum(A: np.ndarray) -> NashResult:
    """Nash equilibrium of the zero-sum game where the router (rows) maximises ``A``.

    Solves one LP per side: the router's maximin mixture on ``A`` and the
    fraudster's minimax mixture (the maximin of ``-A^T``).  ``value`` is the
    midpoint of the two guarantees ``min_j (x^T A)_j`` and ``max_i (A y)_i``,
    which coincide up to solver tolerance.
    """
    matrix = _as_payoff_matrix(A)
    scaled, _, _ = _unit_scale(matrix)
    row_strategy = _maximin_strategy(scaled)
    col_strategy = _maximin_strategy(-scaled.T)
    guarantees = best_response_values(matrix, row_strategy, col_strategy)
    value = 0.5 * (guarantees.router + guarantees.fraudster)
    return NashResult(row_strategy=row_strategy, col_strategy=col_strategy, value=float(value))


# --------------------------------------------------------------------------
# Best responses, exploitability and regret
# --------------------------------------------------------------------------


def best_response_values(A: np.ndarray, row_strategy: np.ndarray, col_strategy: np.ndarray) -> BestResponseValues:
    """Best pure-router payoff against ``col_strategy`` and lowest pure-fraudster payoff against ``row_strategy``."""
    matrix = _as_payoff_matrix(A)
    x = _as_strategy(row_strategy, matrix.shape[0], "row_strategy")
    y = _as_strategy(col_strategy, matrix.shape[1], "col_strategy")
    return BestResponseValues(router=float(np.max(matrix @ y)), fraudster=float(np.min(x @ matrix)))


def nash_conv(A: np.ndarray, row_strategy: np.ndarray, col_strategy: np.ndarray) -> float:
    """NashConv ``max_i (A y)_i - min_j (x^T A)_j``: the sum of both sides' exploitabilities; 0 exactly at a Nash equilibrium.

    It needs no game value: ``router_exploitability(x) + fraudster_exploitability(y)`` for any value ``v``.
    """
    values = best_response_values(A, row_strategy, col_strategy)
    # The gap is non-negative in exact arithmetic; clip round-off when x, y are an equilibrium.
    return max(0.0, values.router - values.fraudster)


def _game_value(A: np.ndarray, value: float | None) -> float:
    """The given game value, or the one computed by ``solve_zero_sum``."""
    return solve_zero_sum(A).value if value is None else float(value)


def router_exploitability(A: np.ndarray, row_strategy: np.ndarray, *, value: float | None = None) -> float:
    """How much the router mixture loses to a best-responding fraudster: ``value - min_j (x^T A)_j``.

    Pass ``value`` to reuse an already computed game value.
    """
    matrix = _as_payoff_matrix(A)
    x = _as_strategy(row_strategy, matrix.shape[0], "row_strategy")
    # Non-negative in exact arithmetic; clip the LP's tolerance-sized noise.
    return max(0.0, _game_value(matrix, value) - float(np.min(x @ matrix)))


def fraudster_exploitability(A: np.ndarray, col_strategy: np.ndarray, *, value: float | None = None) -> float:
    """How much the fraudster mixture concedes to a best-responding router: ``max_i (A y)_i - value``.

    Pass ``value`` to reuse an already computed game value.
    """
    matrix = _as_payoff_matrix(A)
    y = _as_strategy(col_strategy, matrix.shape[1], "col_strategy")
    # Non-negative in exact arithmetic; clip the LP's tolerance-sized noise.
    return max(0.0, float(np.max(matrix @ y)) - _game_value(matrix, value))


def regrets(A: np.ndarray, nash: NashResult) -> tuple[np.ndarray, np.ndarray]:
    """Regret of each pure player for not being the equilibrium mixture.

    Router ``i``: ``value - (A y*)_i``; fraudster ``j``: ``(x*^T A)_j - value``.
    Both are >= 0 at an equilibrium (round-off is clipped) and are 0 on the
    support, so they rank league members by how far each is from the
    equilibrium payoff.
    """
    matrix = _as_payoff_matrix(A)
    x = _as_strategy(nash.row_strategy, matrix.shape[0], "nash.row_strategy")
    y = _as_strategy(nash.col_strategy, matrix.shape[1], "nash.col_strategy")
    router_regret = np.clip(nash.value - matrix @ y, 0.0, None)
    fraudster_regret = np.clip(x @ matrix - nash.value, 0.0, None)
    return router_regret, fraudster_regret


# --------------------------------------------------------------------------
# Alternative meta-solvers
# --------------------------------------------------------------------------


def uniform_meta(A: np.ndarray) -> MetaStrategies:
    """Uniform mixture over all routers and all fraudsters (fictitious-play-style baseline)."""
    n_rows, n_cols = _as_payoff_matrix(A).shape
    return MetaStrategies(row_strategy=np.full(n_rows, 1.0 / n_rows), col_strategy=np.full(n_cols, 1.0 / n_cols))


def _project_to_simplex(vector: np.ndarray, mass: float) -> np.ndarray:
    """Euclidean projection of ``vector`` onto ``{z >= 0, sum(z) = mass}`` (sort-and-threshold)."""
    descending = np.sort(vector)[::-1]
    excess = np.cumsum(descending) - mass
    ranks = np.arange(1, vector.size + 1)
    # Largest k whose k-th largest entry stays positive after subtracting the threshold.
    k = ranks[descending - excess / ranks > 0][-1]
    threshold = excess[k - 1] / k
    return np.clip(vector - threshold, 0.0, None)


def _project_to_floored_simplex(vector: np.ndarray, gamma: float) -> np.ndarray:
    """Projection onto the simplex with every entry at least ``gamma / n``.

    The floor keeps every league member in play, as in projected replicator
    dynamics; ``gamma`` is the total probability reserved by the floor.
    """
    floor = gamma / vector.size
    return _project_to_simplex(vector - floor, 1.0 - gamma) + floor


def _initial_strategy(strategy: np.ndarray | None, size: int, name: str) -> np.ndarray:
    """A validated starting mixture, uniform when none is given."""
    if strategy is None:
        return np.full(size, 1.0 / size)
    return _clean_distribution(_as_strategy(strategy, size, name))


def projected_replicator_dynamics(
    A: np.ndarray,
    iterations: int = 10_000,
    step: float = 0.05,
    gamma: float = 1e-6,
    *,
    initial_row: np.ndarray | None = None,
    initial_col: np.ndarray | None = None,
) -> MetaStrategies:
    """Projected replicator dynamics (PRD) meta-solver, returning time-averaged mixtures.

    Each iteration moves both mixtures simultaneously along the replicator
    field, ``x_i += step * x_i * (u_i - x.u)``, with the router's utilities
    ``u = A y`` and the fraudster's ``u = -(x^T A)``, then projects back onto
    the simplex whose entries are at least ``gamma / n``.  Payoffs are first
    mapped into [-1, 1] so ``step`` means the same on every game.

    The averages of the iterates are returned because in zero-sum games the
    replicator iterates cycle around the equilibrium while their time average
    approaches it.
    """
    matrix = _as_payoff_matrix(A)
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
    if not (np.isfinite(step) and step > 0.0):
        raise ValueError(f"step must be a positive finite number, got {step}")
    if not 0.0 <= gamma < 1.0:
        raise ValueError(f"gamma must lie in [0, 1), got {gamma}")
    scaled, _, _ = _unit_scale(matrix)
    x = _initial_strategy(initial_row, matrix.shape[0], "initial_row")
    y = _initial_strategy(initial_col, matrix.shape[1], "initial_col")
    x_sum = np.zeros_like(x)
    y_sum = np.zeros_like(y)
    for _ in range(iterations):
        router_utility = scaled @ y
        fraudster_utility = -(x @ scaled)
        x_next = x + step * x * (router_utility - x @ router_utility)
        y_next = y + step * y * (fraudster_utility - y @ fraudster_utility)
        x = _project_to_floored_simplex(x_next, gamma)
        y = _project_to_floored_simplex(y_next, gamma)
        x_sum += x
        y_sum += y
    return MetaStrategies(row_strategy=_clean_distribution(x_sum), col_strategy=_clean_distribution(y_sum))


MetaSolver = Callable[[np.ndarray], MetaStrategies]

# Meta-solvers by name, for configuration files; each maps A to a pair of mixtures.
META_SOLVERS: Mapping[str, MetaSolver] = {
    "nash": solve_zero_sum,
    "uniform": uniform_meta,
    "prd": projected_replicator_dynamics,
}


def get_meta_solver(name: str) -> MetaSolver:
    """Look up a meta-solver by name, raising ValueError that lists the known names."""
    try:
        return META_SOLVERS[name]
    except KeyError:
        raise ValueError(f"unknown meta-solver {name!r}; choose one of {sorted(META_SOLVERS)}") from None
