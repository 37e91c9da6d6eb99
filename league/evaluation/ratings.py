"""Ratings of league members from router-versus-fraudster match results.

Routers only ever play fraudsters, so the match graph is bipartite.  A match
record is ``(router, fraudster, router_win, weight)``: ``router_win`` in
[0, 1] may be a soft outcome (a win rate, or a payoff mapped to [0, 1]) and
``weight`` says how much evidence the record carries (e.g. its episode
count).

``fit_bradley_terry`` is a batch maximum-a-posteriori Bradley-Terry fit with
a role term, ``P(router i beats fraudster j) = sigmoid(r_i + b - r_j)``.

Ratings are reported in logits and on the Elo scale
(``1500 + 400 / ln(10) * logit``), where 400 Elo points are a factor of 10 in
odds.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from scipy import sparse
from scipy.optimize import minimize
from scipy.special import expit

from smartpay_marl.layout import ROLES

__all__ = [
    "ELO_CENTRE",
    "ELO_PER_LOGIT",
    "FRAUDSTER",
    "ROUTER",
    "Match",
    "Ratings",
    "fit_bradley_terry",
    "logit_to_elo",
]

ROUTER, FRAUDSTER = ROLES  # the role names (not the agent ids)
ELO_PER_LOGIT = 400.0 / math.log(10.0)  # Elo points per logit (natural-log odds) unit
ELO_CENTRE = 1500.0

# A converged fit's gradient (of the weight-normalised objective) is below this.
_GRADIENT_TOLERANCE = 1e-6


class Match(NamedTuple):
    """One router-versus-fraudster result; a plain tuple in the same order works too."""

    router: str
    fraudster: str
    router_win: float  # in [0, 1]; 1 = router won, 0 = fraudster won, between = soft outcome
    weight: float = 1.0  # >= 0; how much evidence the record carries


def logit_to_elo(logit: np.ndarray | float) -> np.ndarray | float:
    """Map a centred logit rating to the Elo scale (1500 +- 400 points per factor of 10 in odds)."""
    return ELO_CENTRE + ELO_PER_LOGIT * logit


# --------------------------------------------------------------------------
# Parsing and validating match records
# --------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _MatchTable:
    """Match records as parallel arrays over player indices."""

    names: tuple[str, ...]  # routers first, then fraudsters, each in order of first appearance
    roles: tuple[str, ...]
    router_index: np.ndarray  # (M,) int
    fraudster_index: np.ndarray  # (M,) int
    outcome: np.ndarray  # (M,) float in [0, 1]
    weight: np.ndarray  # (M,) float >= 0


def _parse_record(position: int, record: Any) -> Match:
    """Validate one record and return it as a ``Match``; errors name the record's position."""
    try:
        fields = tuple(record)
    except TypeError:
        raise ValueError(f"match record {position} must be a sequence, got {record!r}") from None
    if len(fields) not in (3, 4):
        raise ValueError(
            f"match record {position} must be (router, fraudster, router_win[, weight]), got {len(fields)} fields: {record!r}"
        )
    router, fraudster = fields[0], fields[1]
    for role, name in ((ROUTER, router), (FRAUDSTER, fraudster)):
        if not isinstance(name, str) or not name:
            raise ValueError(f"match record {position}: {role} name must be a non-empty string, got {name!r}")
    label = f"match record {position} ({router!r} vs {fraudster!r})"
    outcome = _as_number(fields[2], f"{label}: router_win")
    if not 0.0 <= outcome <= 1.0:  # also rejects NaN
        raise ValueError(f"{label}: router_win must lie in [0, 1], got {outcome}")
    weight = _as_number(fields[3], f"{label}: weight") if len(fields) == 4 else 1.0
    if not (math.isfinite(weight) and weight >= 0.0):  # NaN fails the comparison too
        raise ValueError(f"{label}: weight must be finite and >= 0, got {weight}")
    return Match(router, fraudster, outcome, weight)


def _as_number(value: Any, label: str) -> float:
    """``float(value)``, re-raised as ValueError with ``label`` when it is not a number."""
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{label} must be a number, got {value!r}") from None


def _assign_roles(records: Sequence[Match]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Player names (routers first) and their roles; a name may not play both roles."""
    first_seen: dict[str, tuple[str, int]] = {}
    for position, record in enumerate(records):
        for role, name in ((ROUTER, record.router), (FRAUDSTER, record.fraudster)):
            seen_role, seen_at = first_seen.setdefault(name, (role, position))
            if seen_role != role:
                raise ValueError(
                    f"player {name!r} appears as {seen_role} (match record {seen_at}) "
                    f"and as {role} (match record {position}); routers only play fraudsters"
                )
    routers = [name for name, (role, _) in first_seen.items() if role == ROUTER]
    fraudsters = [name for name, (role, _) in first_seen.items() if role == FRAUDSTER]
    return tuple(routers + fraudsters), (ROUTER,) * len(routers) + (FRAUDSTER,) * len(fraudsters)


def _parse_matches(matches: Iterable[Any]) -> _MatchTable:
    """Validate all records and index them by player."""
    records = [_parse_record(position, record) for position, record in enumerate(matches)]
    if not records:
        raise ValueError("matches must contain at least one record")
    names, roles = _assign_roles(records)
    index = {name: i for i, name in enumerate(names)}
    return _MatchTable(
        names=names,
        roles=roles,
        router_index=np.array([index[r.router] for r in records], dtype=np.intp),
        fraudster_index=np.array([index[r.fraudster] for r in records], dtype=np.intp),
        outcome=np.array([r.router_win for r in records], dtype=float),
        weight=np.array([r.weight for r in records], dtype=float),
    )


# --------------------------------------------------------------------------
# Bradley-Terry fit
# --------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Ratings:
    """Fitted Bradley-Terry ratings: ``P(router i beats fraudster j) = sigmoid(logit_i + role_advantage - logit_j)``.

    Each role's logits are centred at 0 (so all are), and ``role_advantage`` is
    the log-odds that an average router beats an average fraudster.  Standard
    errors come from the inverse Hessian of the negative log-posterior at the
    optimum (a Laplace approximation), in the same gauge; they are ``None``
    when that Hessian cannot be inverted.
    """

    names: tuple[str, ...]
    roles: tuple[str, ...]  # ROUTER or FRAUDSTER per name
    logit: np.ndarray  # (P,)
    elo: np.ndarray  # (P,) logit_to_elo(logit)
    role_advantage: float  # logits
    role_advantage_elo: float  # Elo points (a difference, so no 1500 offset)
    logit_se: np.ndarray | None  # (P,)
    elo_se: np.ndarray | None  # (P,)
    role_advantage_se: float | None  # logits

    def index(self, name: str) -> int:
        """Position of ``name`` in ``names``; ValueError for an unknown player."""
        try:
            return self.names.index(name)
        except ValueError:
            raise ValueError(f"unknown player {name!r}") from None

    def win_probability(self, router: str, fraudster: str) -> float:
        """Model probability that ``router`` beats ``fraudster``."""
        i, j = self.index(router), self.index(fraudster)
        if self.roles[i] != ROUTER or self.roles[j] != FRAUDSTER:
            raise ValueError(f"{router!r} must be a router and {fraudster!r} a fraudster")
        return float(expit(self.logit[i] + self.role_advantage - self.logit[j]))


def _role_projector(roles: tuple[str, ...]) -> np.ndarray:
    """Matrix that subtracts each role's mean from a rating vector (symmetric, idempotent)."""
    role_array = np.array(roles)
    same_role = role_array[:, None] == role_array[None, :]
    role_size = same_role.sum(axis=1, keepdims=True)
    return np.eye(len(roles)) - same_role / role_size


def _centre_by_role(values: np.ndarray, roles: tuple[str, ...]) -> np.ndarray:
    """``values`` minus the mean over players of the same role."""
    return _role_projector(roles) @ values


@dataclass(frozen=True)
class _Objective:
    """Negative log-posterior of the Bradley-Terry model, divided by the total weight.

    Parameters are ``theta = [r_0 .. r_{P-1}, b]``.  Dividing by the total
    weight leaves the optimum unchanged and keeps gradient tolerances
    meaningful whatever the number of matches.
    """

    table: _MatchTable
    prior_precision: float
    role_prior_precision: float

    @property
    def total_weight(self) -> float:
        return float(self.table.weight.sum())

    def margins(self, theta: np.ndarray) -> np.ndarray:
        """Logit of a router win for each match."""
        ratings, advantage = theta[:-1], theta[-1]
        return ratings[self.table.router_index] - ratings[self.table.fraudster_index] + advantage

    def value_and_gradient(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        table = self.table
        ratings, advantage = theta[:-1], theta[-1]
        margin = self.margins(theta)
        # -log-likelihood of a (soft) Bernoulli outcome s: softplus(z) - s * z
        nll = np.sum(table.weight * (np.logaddexp(0.0, margin) - table.outcome * margin))
        prior = 0.5 * (self.prior_precision * ratings @ ratings + self.role_prior_precision * advantage**2)
        residual = table.weight * (expit(margin) - table.outcome)  # d nll / d margin
        n_players = ratings.size
        gradient = np.empty_like(theta)
        gradient[:-1] = (
            np.bincount(table.router_index, residual, n_players)
            - np.bincount(table.fraudster_index, residual, n_players)
            + self.prior_precision * ratings
        )
        gradient[-1] = residual.sum() + self.role_prior_precision * advantage
        return float((nll + prior) / self.total_weight), gradient / self.total_weight

    def hessian(self, theta: np.ndarray) -> np.ndarray:
        """Hessian of the un-normalised negative log-posterior (a precision matrix)."""
        n_players = theta.size - 1
        probability = expit(self.margins(theta))
        curvature = self.table.weight * probability * (1.0 - probability)
        design = self.design_matrix()
        hessian = (design.T @ design.multiply(curvature[:, None])).toarray()
        hessian[np.arange(n_players), np.arange(n_players)] += self.prior_precision
        hessian[n_players, n_players] += self.role_prior_precision
        return hessian

    def design_matrix(self) -> sparse.csr_matrix:
        """Sparse (M, P + 1) matrix of d margin / d theta: +1 router, -1 fraudster, +1 role term."""
        table = self.table
        n_matches = table.outcome.size
        n_players = len(table.names)
        rows = np.repeat(np.arange(n_matches), 3)
        cols = np.column_stack(
            [table.router_index, table.fraudster_index, np.full(n_matches, n_players)]
        ).ravel()
        signs = np.tile([1.0, -1.0, 1.0], n_matches)
        return sparse.csr_matrix((signs, (rows, cols)), shape=(n_matches, n_players + 1))


def _gauge_fix(theta: np.ndarray, roles: tuple[str, ...]) -> np.ndarray:
    """Centre each role's ratings and fold the removed offsets into the role term.

    In a bipartite league ``r_i + b - r_j`` is unchanged by adding a constant
    to every router rating and subtracting it from ``b`` (and by adding one
    constant to everybody), so only within-role rating differences and
    ``b + mean(router r) - mean(fraudster r)`` are identified.
    """
    ratings, advantage = theta[:-1], theta[-1]
    role_array = np.array(roles)
    router_mean = ratings[role_array == ROUTER].mean()
    fraudster_mean = ratings[role_array == FRAUDSTER].mean()
    return np.append(_centre_by_role(ratings, roles), advantage + router_mean - fraudster_mean)


def _gauge_covariance(hessian: np.ndarray, roles: tuple[str, ...]) -> np.ndarray | None:
    """Laplace covariance of ``theta`` restricted to the gauge (role-centred ratings, free ``b``).

    With ``P`` projecting onto that subspace, the restricted precision is
    ``P H P``; adding ``I - P`` makes it invertible without touching the
    subspace, so ``P (P H P + I - P)^-1 P`` is its inverse embedded in full
    coordinates.
    """
    size = hessian.shape[0]
    projector = np.zeros((size, size))
    projector[:-1, :-1] = _role_projector(roles)
    projector[-1, -1] = 1.0
    restricted = projector @ hessian @ projector + (np.eye(size) - projector)
    try:
        covariance = projector @ np.linalg.inv(restricted) @ projector
    except np.linalg.LinAlgError:
        return None
    if not np.all(np.isfinite(covariance)) or np.any(np.diag(covariance) < 0.0):
        return None
    return covariance


def _check_precision(value: float, name: str) -> float:
    if not (math.isfinite(value) and value > 0.0):
        raise ValueError(f"{name} must be a positive finite number, got {value}")
    return float(value)


def fit_bradley_terry(
    matches: Iterable[Any],
    *,
    prior_precision: float = 0.01,
    role_prior_precision: float = 0.01,
) -> Ratings:
    """Maximum-a-posteriori Bradley-Terry ratings with a router role term.

    Maximises ``sum_k w_k log P(s_k | sigmoid(r_i + b - r_j))`` (soft outcomes
    ``s_k`` in [0, 1] use the Bernoulli cross-entropy) minus the Gaussian prior
    ``prior_precision / 2 * |r|^2 + role_prior_precision / 2 * b^2``, using
    L-BFGS with the analytic gradient.  The prior keeps ratings finite for
    players with perfect records; the default precision 0.01 is a prior
    standard deviation of 10 logits (about 1700 Elo), so it barely affects
    well-observed players.
    """
    prior_precision = _check_precision(prior_precision, "prior_precision")
    role_prior_precision = _check_precision(role_prior_precision, "role_prior_precision")
    table = _parse_matches(matches)
    if not table.weight.sum() > 0.0:
        raise ValueError("matches must have positive total weight")
    objective = _Objective(table, prior_precision, role_prior_precision)
    theta = _minimise(objective, len(table.names))
    fixed = _gauge_fix(theta, table.roles)
    covariance = _gauge_covariance(objective.hessian(theta), table.roles)
    return _make_ratings(table, fixed, covariance)


def _minimise(objective: _Objective, n_players: int) -> np.ndarray:
    """Run L-BFGS from all-zero ratings and check that it converged."""
    result = minimize(
        objective.value_and_gradient,
        np.zeros(n_players + 1),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 10_000, "gtol": 1e-10, "ftol": 1e-15},
    )
    _, gradient = objective.value_and_gradient(result.x)
    # L-BFGS-B may report a line-search failure once it is at machine precision;
    # the gradient is the real test of convergence.
    if not np.max(np.abs(gradient)) < _GRADIENT_TOLERANCE:
        raise RuntimeError(f"Bradley-Terry fit did not converge: {result.message}")
    return result.x


def _make_ratings(table: _MatchTable, theta: np.ndarray, covariance: np.ndarray | None) -> Ratings:
    logit = theta[:-1]
    advantage = float(theta[-1])
    if covariance is None:
        logit_se = elo_se = None
        advantage_se = None
    else:
        standard_errors = np.sqrt(np.diag(covariance))
        logit_se, advantage_se = standard_errors[:-1], float(standard_errors[-1])
        elo_se = ELO_PER_LOGIT * logit_se
    return Ratings(
        names=table.names,
        roles=table.roles,
        logit=logit,
        elo=logit_to_elo(logit),
        role_advantage=advantage,
        role_advantage_elo=ELO_PER_LOGIT * advantage,
        logit_se=logit_se,
        elo_se=elo_se,
        role_advantage_se=advantage_se,
    )
