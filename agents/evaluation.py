"""Play a router against a fraudster on the vector env and summarise the pairing, with 95% confidence intervals.

:func:`evaluate` plays ``episodes`` seeded episodes of one pairing, batched
(at most ``max_envs`` environments per batch); :func:`round_robin` plays every
router against every fraudster from the **same seed**, so all pairings face
the same customers, gateway weather and coin flips (common random numbers)
and their differences are not noise from different draws.

Definitions (all counts and sums are per episode, then pooled over episodes;
a *transaction* is a step that carries a payment, not an idle checkout slot):

- ``router_return`` / ``fraudster_return``: sum of the agent's rewards.
- ``legit_approval_rate``: captured legitimate transactions / legitimate
  transactions, at decision time (a manual review that later approves a
  legitimate payment is not counted).
- ``approval_rate``: captured transactions / all transactions (fraud included).
- ``auth_success_rate``: captured / routed (allowed, or sent to 3-D Secure):
  how often the gateways (and the 3-D Secure step) let a routed payment through.
- ``fraud_rate``: fraudulent transactions (organic or the ring's) / transactions;
  ``ring_attempt_rate``: the ring's attempts / transactions.
- ``fraud_caught_share``: fraud blocked, sent to review, or stopped by 3-D
  Secure / fraud; ``fraud_passed_share``: fraud captured / fraud;
  ``fraud_challenged_share``: fraud sent to 3-D Secure / fraud.
- ``fraud_loss_bps``: charged-back dollars / captured dollars x 10,000
  (dispute fees excluded; every pending chargeback is settled at the horizon).
- ``chargeback_ratio``: chargebacks / captured transactions.
- ``review_rate``, ``threeds_rate``, ``block_rate``: share of transactions
  given that decision.
- ``cost_per_transaction``: every P&L cost term (gateway fees, chargebacks,
  dispute fees, reviews, 3-D Secure, abandonment, churn) in dollars / transactions.
- ``route_score``, ``fraud_score``, ``retention_score``: SmartPayEnv's three
  grader scores at the final step.
- ``pnl``: each itemised P&L term (``infos["pnl"]``), dollars per episode.

Means of per-episode quantities get a Student-t interval over episodes; ratios
are ratio estimators (pooled numerator / pooled denominator) with a
delta-method interval that treats episodes as independent clusters.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from agents.base import Policy
from agents.strict_json import json_safe
from smartpay_marl.config import GameConfig, make_game_config
from smartpay_marl.layout import AGENT_OF_ROLE, FRAUDSTER, ROUTER
from smartpay_marl.vector_env import VectorEnv, vector_env

DEFAULT_MAX_ENVS = 1024
CONFIDENCE = 0.95
_COST_TERMS = (
    "gateway_fees",
    "chargeback_losses",
    "dispute_fees",
    "review_costs",
    "threeds_costs",
    "abandonment_costs",
    "churn_costs",
)


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its 95% confidence interval (``low``, ``high``); NaN where undefined."""

    mean: float
    low: float
    high: float

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2.0


def _student_t_quantile(probability: float, degrees_of_freedom: int) -> float:
    """Student-t quantile; scipy is imported here so that ``import agents`` needs the core alone."""
    try:
        from scipy import stats
    except ModuleNotFoundError as missing:
        raise ModuleNotFoundError(
            "confidence intervals need scipy, which the 'league' extra installs: pip install 'smartpay-marl[league]'",
            name="scipy",
        ) from missing
    return float(stats.t.ppf(probability, degrees_of_freedom))


def mean_estimate(values: np.ndarray, confidence: float = CONFIDENCE) -> Estimate:
    """Mean of per-episode values with a Student-t interval."""
    values = np.asarray(values, dtype=np.float64)
    n = values.size
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan)
    mean = float(values.mean())
    if n == 1:
        return Estimate(mean, math.nan, math.nan)
    half = float(_student_t_quantile(0.5 + confidence / 2.0, n - 1) * values.std(ddof=1) / math.sqrt(n))
    return Estimate(mean, mean - half, mean + half)


def ratio_estimate(numerators: np.ndarray, denominators: np.ndarray, scale: float = 1.0,
                   confidence: float = CONFIDENCE) -> Estimate:  # fmt: skip
    """Pooled ratio sum(x) / sum(y) x ``scale`` with a delta-method interval over episodes (clusters)."""
    x = np.asarray(numerators, dtype=np.float64)
    y = np.asarray(denominators, dtype=np.float64)
    n = x.size
    total = y.sum()
    if n == 0 or total <= 0:
        return Estimate(math.nan, math.nan, math.nan)
    ratio = x.sum() / total
    if n == 1:
        return Estimate(float(ratio * scale), math.nan, math.nan)
    residuals = x - ratio * y
    standard_error = math.sqrt(np.sum(residuals**2) / (n * (n - 1))) / (total / n)
    half = float(_student_t_quantile(0.5 + confidence / 2.0, n - 1) * standard_error)
    return Estimate(float(ratio * scale), float((ratio - half) * scale), float((ratio + half) * scale))


@dataclass
class PairingStats:
    """Statistics of one router-fraudster pairing over ``episodes`` episodes (see the module docstring)."""

    router: str
    fraudster: str
    episodes: int
    seed: int
    router_return: Estimate
    fraudster_return: Estimate
    legit_approval_rate: Estimate
    approval_rate: Estimate
    auth_success_rate: Estimate
    fraud_rate: Estimate
    ring_attempt_rate: Estimate
    fraud_caught_share: Estimate
    fraud_passed_share: Estimate
    fraud_challenged_share: Estimate
    fraud_loss_bps: Estimate
    chargeback_ratio: Estimate
    review_rate: Estimate
    threeds_rate: Estimate
    block_rate: Estimate
    cost_per_transaction: Estimate
    route_score: Estimate
    fraud_score: Estimate
    retention_score: Estimate
    pnl: dict[str, Estimate]
    wall_time_s: float
    #: Per-episode router returns, in episode order (for paired comparisons under common random numbers).
    episode_router_returns: list[float] = field(repr=False)

    def estimates(self) -> dict[str, Estimate]:
        """Every :class:`Estimate` field by name."""
        return {f.name: getattr(self, f.name) for f in fields(self) if isinstance(getattr(self, f.name), Estimate)}

    def to_dict(self) -> dict[str, Any]:
        return json_safe(asdict(self))

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)


@dataclass
class RoundRobinResult:
    """Every router against every fraudster: mean router returns as a matrix (rows routers, columns fraudsters)."""

    router_names: list[str]
    fraudster_names: list[str]
    router_returns: list[list[float]]
    pairings: list[list[PairingStats]]
    episodes: int
    seed: int
    config: dict[str, Any]
    wall_time_s: float

    @property
    def matrix(self) -> np.ndarray:
        """Mean router return, shape ``(routers, fraudsters)``."""
        return np.asarray(self.router_returns, dtype=np.float64)

    def stats(self, router: str, fraudster: str) -> PairingStats:
        """The pairing of the named router and fraudster."""
        return self.pairings[self.router_names.index(router)][self.fraudster_names.index(fraudster)]

    def to_dict(self) -> dict[str, Any]:
        return json_safe(
            {
                "router_names": self.router_names,
                "fraudster_names": self.fraudster_names,
                "router_returns": self.router_returns,
                "episodes": self.episodes,
                "seed": self.seed,
                "config": self.config,
                "wall_time_s": self.wall_time_s,
                "pairings": [[asdict(p) for p in row] for row in self.pairings],
            }
        )

    def to_json(self, path: str | Path | None = None, indent: int | None = 2) -> str:
        """The result as JSON (NaN written as null); also written to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=indent)
        if path is not None:
            Path(path).write_text(text)
        return text


class _EpisodeTotals:
    """Per-episode running sums of the step metrics, for one batch of environments."""

    SUMS = (
        "router_return", "fraudster_return", "transactions", "legit", "legit_captured", "captured", "routed",
        "fraud", "ring", "fraud_captured", "fraud_stopped", "fraud_challenged", "captured_volume",
        "chargeback_dollars", "chargebacks", "reviewed", "challenged", "blocked", "costs",
    )  # fmt: skip

    def __init__(self, num_envs: int):
        for name in self.SUMS:
            setattr(self, name, np.zeros(num_envs))
        self.route_score = np.zeros(num_envs)
        self.fraud_score = np.zeros(num_envs)
        self.retention_score = np.zeros(num_envs)
        self.pnl: dict[str, np.ndarray] = {}

    def add(self, rewards: dict[str, np.ndarray], infos: dict[str, Any]) -> None:
        metrics, pnl = infos["metrics"], infos["pnl"]
        fraud = np.asarray(metrics["is_fraud"], dtype=bool)
        present = np.asarray(metrics["payment_present"], dtype=bool)  # idle checkout slots carry no payment
        captured = np.asarray(metrics["captured"], dtype=bool)
        challenged = np.asarray(metrics["challenged"], dtype=bool)
        self.router_return += rewards[ROUTER]
        self.fraudster_return += rewards[FRAUDSTER]
        self.transactions += present
        self.legit += present & ~fraud
        self.legit_captured += captured & ~fraud
        self.captured += captured
        self.routed += metrics["routed"]
        self.fraud += fraud
        self.ring += metrics["is_ring_attempt"]
        self.fraud_captured += metrics["fraud_captured"]
        self.fraud_stopped += metrics["fraud_stopped"]
        self.fraud_challenged += challenged & fraud
        self.captured_volume += metrics["amount"] * captured
        self.chargeback_dollars -= pnl["chargeback_losses"]
        self.chargebacks += metrics["chargebacks_matured"]
        self.reviewed += metrics["reviewed"]
        self.challenged += challenged
        self.blocked += metrics["blocked"]
        for term in _COST_TERMS:
            self.costs -= pnl[term]
        for term, dollars in pnl.items():
            self.pnl[term] = self.pnl.get(term, 0.0) + dollars
        self.route_score = np.asarray(metrics["route_score"], dtype=np.float64)
        self.fraud_score = np.asarray(metrics["fraud_score"], dtype=np.float64)
        self.retention_score = np.asarray(metrics["retention_score"], dtype=np.float64)

    @staticmethod
    def concatenate(batches: list["_EpisodeTotals"]) -> dict[str, Any]:
        names = (*_EpisodeTotals.SUMS, "route_score", "fraud_score", "retention_score")
        totals: dict[str, Any] = {name: np.concatenate([getattr(b, name) for b in batches]) for name in names}
        totals["pnl"] = {term: np.concatenate([b.pnl[term] for b in batches]) for term in batches[0].pnl}
        return totals


def batch_seeds(seed: int, batch: int) -> tuple[int, int, int]:
    """Seeds of the env, the router and the fraudster for one batch of an evaluation."""
    env_seed, router_seed, fraudster_seed = np.random.SeedSequence([seed, batch]).generate_state(3)
    return int(env_seed), int(router_seed), int(fraudster_seed)


def _check_policy(policy: Policy, role: str, env: VectorEnv) -> None:
    if policy.role != role:
        raise ValueError(f"{policy.name!r} plays the {policy.role} role, expected a {role}")
    nvec = tuple(int(v) for v in env.single_action_spaces[AGENT_OF_ROLE[role]].nvec)
    if tuple(policy.action_nvec) != nvec:
        raise ValueError(f"{policy.name!r} emits actions of sizes {policy.action_nvec}, the game expects {nvec}")


def _play_batch(env: VectorEnv, router: Policy, fraudster: Policy, seeds: tuple[int, int, int]) -> _EpisodeTotals:
    env_seed, router_seed, fraudster_seed = seeds
    observations, _ = env.reset(seed=env_seed)
    router.reset(env.num_envs, seed=router_seed)
    fraudster.reset(env.num_envs, seed=fraudster_seed)
    totals = _EpisodeTotals(env.num_envs)
    for _ in range(env.config.max_cycles):
        actions = {ROUTER: router.act(observations[ROUTER]), FRAUDSTER: fraudster.act(observations[FRAUDSTER])}
        observations, rewards, terminations, truncations, infos = env.step(actions)
        totals.add(rewards, infos)
        if np.all(terminations[ROUTER] | truncations[ROUTER]):
            break
    return totals


def _summarise(router: Policy, fraudster: Policy, totals: dict[str, Any], seed: int, wall: float) -> PairingStats:
    t = totals
    return PairingStats(
        router=router.name,
        fraudster=fraudster.name,
        episodes=int(t["transactions"].size),
        seed=seed,
        router_return=mean_estimate(t["router_return"]),
        fraudster_return=mean_estimate(t["fraudster_return"]),
        legit_approval_rate=ratio_estimate(t["legit_captured"], t["legit"]),
        approval_rate=ratio_estimate(t["captured"], t["transactions"]),
        auth_success_rate=ratio_estimate(t["captured"], t["routed"]),
        fraud_rate=ratio_estimate(t["fraud"], t["transactions"]),
        ring_attempt_rate=ratio_estimate(t["ring"], t["transactions"]),
        fraud_caught_share=ratio_estimate(t["fraud_stopped"], t["fraud"]),
        fraud_passed_share=ratio_estimate(t["fraud_captured"], t["fraud"]),
        fraud_challenged_share=ratio_estimate(t["fraud_challenged"], t["fraud"]),
        fraud_loss_bps=ratio_estimate(t["chargeback_dollars"], t["captured_volume"], scale=1e4),
        chargeback_ratio=ratio_estimate(t["chargebacks"], t["captured"]),
        review_rate=ratio_estimate(t["reviewed"], t["transactions"]),
        threeds_rate=ratio_estimate(t["challenged"], t["transactions"]),
        block_rate=ratio_estimate(t["blocked"], t["transactions"]),
        cost_per_transaction=ratio_estimate(t["costs"], t["transactions"]),
        route_score=mean_estimate(t["route_score"]),
        fraud_score=mean_estimate(t["fraud_score"]),
        retention_score=mean_estimate(t["retention_score"]),
        pnl={term: mean_estimate(dollars) for term, dollars in t["pnl"].items()},
        wall_time_s=wall,
        episode_router_returns=t["router_return"].tolist(),
    )


class _EnvPool:
    """Vector envs of one config, built once per batch size and reused across pairings."""

    def __init__(self, config: GameConfig):
        self.config = config
        self._envs: dict[int, VectorEnv] = {}

    def get(self, num_envs: int) -> VectorEnv:
        if num_envs not in self._envs:
            self._envs[num_envs] = vector_env(num_envs, **self.config.model_dump())
        return self._envs[num_envs]


def _resolve_config(config: GameConfig | None, config_fields: dict[str, Any]) -> GameConfig:
    if config is None:
        return make_game_config(**config_fields)
    if config_fields:
        return make_game_config(**{**config.model_dump(), **config_fields})
    return config


def _evaluate(
    pool: _EnvPool, router: Policy, fraudster: Policy, episodes: int, seed: int, max_envs: int
) -> PairingStats:
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    if max_envs < 1:
        raise ValueError(f"max_envs must be >= 1, got {max_envs}")
    start = time.perf_counter()
    batches = []
    for batch, first in enumerate(range(0, episodes, max_envs)):
        env = pool.get(min(max_envs, episodes - first))
        if batch == 0:
            _check_policy(router, "router", env)
            _check_policy(fraudster, "fraudster", env)
        batches.append(_play_batch(env, router, fraudster, batch_seeds(seed, batch)))
    totals = _EpisodeTotals.concatenate(batches)
    return _summarise(router, fraudster, totals, seed, time.perf_counter() - start)


def evaluate(
    router: Policy,
    fraudster: Policy,
    episodes: int = 100,
    seed: int = 0,
    config: GameConfig | None = None,
    max_envs: int = DEFAULT_MAX_ENVS,
    **config_fields: Any,
) -> PairingStats:
    """Play ``episodes`` episodes of ``router`` against ``fraudster`` and summarise them.

    Episodes run in batches of at most ``max_envs`` environments; batch ``b``
    uses seeds derived from ``(seed, b)`` for the env and both policies, so the
    same arguments give identical results.

    Args:
        router, fraudster: the two players (their ``role`` must match).
        episodes: number of episodes E (the confidence intervals are over these).
        seed: the evaluation's seed.
        config: the game; or give its fields as keyword arguments (``difficulty="hard"``).
        max_envs: largest batch of environments stepped together.
    """
    pool = _EnvPool(_resolve_config(config, config_fields))
    return _evaluate(pool, router, fraudster, episodes, seed, max_envs)


def round_robin(
    routers: Sequence[Policy],
    fraudsters: Sequence[Policy],
    episodes: int = 100,
    seed: int = 0,
    config: GameConfig | None = None,
    max_envs: int = DEFAULT_MAX_ENVS,
    progress: Callable[[int, Policy, float], None] | None = None,
    **config_fields: Any,
) -> RoundRobinResult:
    """Every router against every fraudster, all from the same ``seed`` (common random numbers).

    Arguments as for :func:`evaluate`; policy names must be unique within each side.
    ``progress(i, router, seconds)`` is called once router ``i`` has played every fraudster.
    """
    for side, policies in (("router", routers), ("fraudster", fraudsters)):
        names = [p.name for p in policies]
        if len(set(names)) != len(names):
            raise ValueError(f"{side} names must be unique, got {names}")
    game = _resolve_config(config, config_fields)
    pool = _EnvPool(game)
    start = time.perf_counter()
    pairings = []
    for i, router in enumerate(routers):
        row_start = time.perf_counter()
        pairings.append([_evaluate(pool, router, f, episodes, seed, max_envs) for f in fraudsters])
        if progress is not None:
            progress(i, router, time.perf_counter() - row_start)
    return RoundRobinResult(
        router_names=[r.name for r in routers],
        fraudster_names=[f.name for f in fraudsters],
        router_returns=[[p.router_return.mean for p in row] for row in pairings],
        pairings=pairings,
        episodes=episodes,
        seed=seed,
        config=game.model_dump(mode="json"),
        wall_time_s=time.perf_counter() - start,
    )
