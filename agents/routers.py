"""Scripted routers (the defender, ``router_0``): batched numpy baselines for the league and the balance tests.

Each router reads a batch of router observations ``(N, ROUTER_OBS_DIM)``
(47 floats each, :data:`smartpay_marl.layout.ROUTER_SLOTS`) and returns
``(N, 3)`` int64 actions ``[gateway, decision, retry]``. A router is a routing
rule (which gateway, whether to fail over) combined with a fraud rule (allow,
block, 3-D Secure or manual review); every rule works on whole arrays, with no
per-environment Python loop.

Routing rules:

- *fixed*: always the same gateway.
- *affinity*: the gateway with the best expected success for this card, i.e.
  lagged health rate x BIN affinity. The affinity table is the simulator's
  hidden ``BIN_AFFINITY``, used here as if **known from past data** (a real
  router estimates it offline from its own authorisation logs).
- *bandit*: Thompson sampling on the router's own captured/failed feedback
  (see :class:`BanditRouter`), no affinity table and no health view.

Sensible routers fail over to the next gateway once (``retry`` =
:data:`~smartpay_marl.layout.FAILOVER`); the constant baselines do not.
"""

from __future__ import annotations

import numpy as np

from agents.base import Policy
from smartpay_marl.layout import (
    ALLOW,
    BLOCK,
    FAILOVER,
    NO_RETRY,
    NUM_BINS,
    NUM_GATEWAYS,
    REVIEW,
    ROUTER_ACTION_FIELDS,
    ROUTER_ACTION_NVEC,
    ROUTER_OBS,
    THREEDS,
)
from smartpay_marl.simulator import BIN_AFFINITY

_RISK = ROUTER_OBS["risk_score"].start
_AMOUNT = ROUTER_OBS["amount"].start
_VELOCITY = ROUTER_OBS["velocity"].start
_NEW_DEVICE = ROUTER_OBS["new_device"].start
_GEO = ROUTER_OBS["geo_mismatch"].start
_BIN = ROUTER_OBS["bin"]
_HEALTH = ROUTER_OBS["health_rate"]
_LAST_APPROVED = ROUTER_OBS["last_approved"].start
_GATEWAY, _DECISION, _RETRY = (ROUTER_ACTION_FIELDS.index(field) for field in ("gateway", "decision", "retry"))
#: BIN affinity with BINs as rows: ``_AFFINITY_BY_BIN[bin]`` is the (3,) gateway vector.
_AFFINITY_BY_BIN = np.ascontiguousarray(np.asarray(BIN_AFFINITY, dtype=np.float64).T)


def amount_feature(dollars: float) -> float:
    """The observation's ``amount`` value for a purchase of ``dollars`` (log1p($) / 8)."""
    return float(np.log1p(dollars) / 8.0)


def card_bins(observations: np.ndarray) -> np.ndarray:
    """BIN category of each pending transaction, ``(N,)`` int64."""
    return np.argmax(observations[:, _BIN], axis=1)


def affinity_gateway(observations: np.ndarray, use_health: bool = True) -> np.ndarray:
    """The gateway maximising (lagged health rate x) BIN affinity for each transaction, ``(N,)`` int64."""
    scores = _AFFINITY_BY_BIN[card_bins(observations)]
    if use_health:
        scores = scores * observations[:, _HEALTH]
    return np.argmax(scores, axis=1)


def router_actions(
    gateway: np.ndarray | int, decision: np.ndarray | int, retry: np.ndarray | int, num_envs: int
) -> np.ndarray:
    """Stack per-env (or scalar) gateway, decision and retry into ``(N, 3)`` int64 actions."""
    actions = np.empty((num_envs, len(ROUTER_ACTION_FIELDS)), dtype=np.int64)
    actions[:, _GATEWAY] = gateway
    actions[:, _DECISION] = decision
    actions[:, _RETRY] = retry
    return actions


def retry_choice(retry: bool) -> int:
    """The action's retry value: fail over once, or not."""
    return FAILOVER if retry else NO_RETRY


def band_decision(risk: np.ndarray, challenge_above: float, block_above: float) -> np.ndarray:
    """Allow below ``challenge_above``, 3-D Secure up to ``block_above``, block from there on."""
    decision = np.where(risk >= challenge_above, THREEDS, ALLOW)
    return np.where(risk >= block_above, BLOCK, decision)


class ScriptedRouter(Policy):
    """Base of the scripted routers: sets the role and the action sizes."""

    role = "router"
    action_nvec = tuple(ROUTER_ACTION_NVEC)


class FixedRouter(ScriptedRouter):
    """Constant action: one gateway, one decision, one retry setting (allow-all, always-3DS, ... baselines)."""

    def __init__(self, decision: int = ALLOW, gateway: int = 0, retry: bool = False, name: str | None = None):
        self.decision, self.gateway, self.retry = int(decision), int(gateway), bool(retry)
        self.name = name or f"fixed_g{gateway}_d{decision}"

    def act(self, observations: np.ndarray) -> np.ndarray:
        return router_actions(self.gateway, self.decision, retry_choice(self.retry), observations.shape[0])


class AffinityRouter(ScriptedRouter):
    """Allows everything; routes to the best lagged-health x BIN-affinity gateway, with failover."""

    def __init__(self, use_health: bool = True, retry: bool = True, name: str = "smart_routing"):
        self.use_health, self.retry, self.name = use_health, bool(retry), name

    def act(self, observations: np.ndarray) -> np.ndarray:
        gateway = affinity_gateway(observations, self.use_health)
        return router_actions(gateway, ALLOW, retry_choice(self.retry), observations.shape[0])


class RiskThresholdRouter(ScriptedRouter):
    """Blocks when the upstream risk score is at least ``block_above``, allows the rest; smart routing."""

    def __init__(self, block_above: float = 0.5, retry: bool = True, name: str = "risk_threshold"):
        self.block_above, self.retry, self.name = block_above, bool(retry), name

    def act(self, observations: np.ndarray) -> np.ndarray:
        decision = np.where(observations[:, _RISK] >= self.block_above, BLOCK, ALLOW)
        return router_actions(affinity_gateway(observations), decision, retry_choice(self.retry), observations.shape[0])


class RiskBandRouter(ScriptedRouter):
    """Allows low risk, sends a middle risk band to 3-D Secure, blocks high risk; smart routing."""

    def __init__(
        self, challenge_above: float = 0.2, block_above: float = 0.6, retry: bool = True, name: str = "risk_3ds_band"
    ):
        if not challenge_above <= block_above:
            raise ValueError(f"need challenge_above <= block_above, got {challenge_above} > {block_above}")
        self.challenge_above, self.block_above, self.retry, self.name = challenge_above, block_above, bool(retry), name

    def act(self, observations: np.ndarray) -> np.ndarray:
        decision = band_decision(observations[:, _RISK], self.challenge_above, self.block_above)
        return router_actions(affinity_gateway(observations), decision, retry_choice(self.retry), observations.shape[0])


class VelocityRulesRouter(ScriptedRouter):
    """Rules on card velocity, device/location flags and risk: block bursts, challenge anomalies; smart routing.

    Legitimate cards rarely see more than two transactions an hour (velocity
    feature <= 0.2); bursts, velocity attacks and card testing push it up.
    Block at ``velocity_block`` or ``risk_block``; 3-D Secure at
    ``velocity_challenge``, at ``risk_challenge``, or when a new device and a
    location mismatch come together; allow the rest.
    """

    def __init__(
        self,
        velocity_block: float = 0.5,
        velocity_challenge: float = 0.3,
        risk_block: float = 0.7,
        risk_challenge: float = 0.3,
        retry: bool = True,
        name: str = "velocity_rules",
    ):
        self.velocity_block, self.velocity_challenge = velocity_block, velocity_challenge
        self.risk_block, self.risk_challenge = risk_block, risk_challenge
        self.retry, self.name = bool(retry), name

    def act(self, observations: np.ndarray) -> np.ndarray:
        risk, velocity = observations[:, _RISK], observations[:, _VELOCITY]
        anomaly = (observations[:, _NEW_DEVICE] > 0.5) & (observations[:, _GEO] > 0.5)
        challenge = (velocity >= self.velocity_challenge) | (risk >= self.risk_challenge) | anomaly
        block = (velocity >= self.velocity_block) | (risk >= self.risk_block)
        decision = np.where(block, BLOCK, np.where(challenge, THREEDS, ALLOW))
        return router_actions(affinity_gateway(observations), decision, retry_choice(self.retry), observations.shape[0])


class SmartPayHeuristicRouter(ScriptedRouter):
    """SmartPayEnv's heuristic: route by BIN affinity, 3DS medium risk, block high risk, review big medium-risk buys.

    Routing ignores gateway health (as the seed's heuristic did) but fails over.
    Medium risk is ``[challenge_above, block_above)``; within it, amounts of at
    least ``review_amount`` dollars go to manual review instead of 3-D Secure.
    """

    def __init__(
        self,
        challenge_above: float = 0.3,
        block_above: float = 0.7,
        review_amount: float = 500.0,
        retry: bool = True,
        name: str = "smartpay_heuristic",
    ):
        self.challenge_above, self.block_above = challenge_above, block_above
        self.review_above = amount_feature(review_amount)
        self.retry, self.name = bool(retry), name

    def act(self, observations: np.ndarray) -> np.ndarray:
        risk = observations[:, _RISK]
        decision = band_decision(risk, self.challenge_above, self.block_above)
        big = observations[:, _AMOUNT] >= self.review_above
        decision = np.where((decision == THREEDS) & big, REVIEW, decision)
        gateway = affinity_gateway(observations, use_health=False)
        return router_actions(gateway, decision, retry_choice(self.retry), observations.shape[0])


class BanditRouter(ScriptedRouter):
    """Thompson sampling over gateways from its own captured/failed feedback, plus a risk-threshold block.

    Each environment keeps a Beta posterior per gateway (or per gateway and BIN
    with ``per_bin=True``). After an *allowed* transaction the next
    observation's ``last_approved`` says whether it was captured; since this
    policy chose the gateway, it credits that gateway. With failover on, the
    credited outcome is "captured by this gateway or its failover", which is
    what routing to it first achieves. Counts decay towards the prior by
    ``discount`` every step so the posterior follows gateway degradations and
    recoveries. Blocked, challenged and reviewed transactions teach nothing
    (their outcome is not the gateway's).

    Args:
        block_above: risk score from which a transaction is blocked.
        prior_successes, prior_failures: Beta prior per arm.
        discount: per-step decay of the evidence towards the prior, in (0, 1].
        per_bin: one arm per (gateway, BIN) instead of per gateway.
        retry: fail over to the next gateway once.
        seed: seed of the sampling generator until :meth:`reset` gives another.
    """

    def __init__(
        self,
        block_above: float = 0.5,
        prior_successes: float = 9.0,
        prior_failures: float = 1.0,
        discount: float = 0.95,
        per_bin: bool = False,
        retry: bool = True,
        seed: int | None = 0,
        name: str = "bandit",
    ):
        if not 0.0 < discount <= 1.0:
            raise ValueError(f"discount must lie in (0, 1], got {discount}")
        self.block_above, self.discount, self.per_bin, self.retry, self.name = (
            block_above, discount, per_bin, bool(retry), name,
        )  # fmt: skip
        self.prior = np.array([prior_successes, prior_failures], dtype=np.float64)
        self._rng = np.random.default_rng(seed)
        self.reset(1)

    def reset(self, num_envs: int, seed: int | None = None) -> None:
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        arms = NUM_GATEWAYS * (NUM_BINS if self.per_bin else 1)
        self._counts = np.broadcast_to(self.prior, (num_envs, arms, 2)).copy()
        self._last_arm = np.zeros(num_envs, dtype=np.int64)
        self._last_allowed = np.zeros(num_envs, dtype=bool)

    @staticmethod
    def _arms(gateway: np.ndarray, bins: np.ndarray) -> np.ndarray:
        """Arm index of (gateway, BIN); ``bins`` is all zeros when arms are per gateway only."""
        return bins * NUM_GATEWAYS + gateway

    def act(self, observations: np.ndarray) -> np.ndarray:
        num_envs = observations.shape[0]
        if self._counts.shape[0] != num_envs:
            self.reset(num_envs)
        rows = np.arange(num_envs)
        counts = self._counts
        counts += (1.0 - self.discount) * (self.prior - counts)
        captured = observations[:, _LAST_APPROVED] > 0.5
        credited = self._last_allowed
        counts[rows[credited], self._last_arm[credited], 0] += captured[credited]
        counts[rows[credited], self._last_arm[credited], 1] += ~captured[credited]

        bins = card_bins(observations) if self.per_bin else np.zeros(num_envs, dtype=np.int64)
        candidate_arms = self._arms(np.arange(NUM_GATEWAYS)[None, :], bins[:, None])  # (N, 3)
        alpha = counts[rows[:, None], candidate_arms, 0]
        beta = counts[rows[:, None], candidate_arms, 1]
        gateway = np.argmax(self._rng.beta(alpha, beta), axis=1)

        decision = np.where(observations[:, _RISK] >= self.block_above, BLOCK, ALLOW)
        self._last_arm = self._arms(gateway, bins)
        self._last_allowed = decision == ALLOW
        return router_actions(gateway, decision, retry_choice(self.retry), num_envs)
