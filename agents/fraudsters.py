"""Scripted fraud rings (the attacker, ``fraudster_0``): batched numpy baselines for the league and the balance tests.

Each fraudster reads a batch of fraudster observations ``(N, 13)`` (only the
outcomes of its own attempts, the clock and the episode's progress) and returns
``(N, 4)`` int64 actions ``[intensity, stealth, burst, strategy]``, each an
index into the config's levels and :data:`smartpay_marl.layout.STRATEGIES`.

"Moderate" settings, used by the one-strategy rings and the adaptive ring, are
intensity index 2, stealth index 1 and burst index 1: with the default config
about 6% of traffic plus a 5-attempt burst with 2% chance per step, lightly
masked.
"""

from __future__ import annotations

import numpy as np

from agents.base import Policy, default_action_nvec
from smartpay_marl.layout import FRAUDSTER_ACTION_FIELDS, FRAUDSTER_OBS, STRATEGIES

MODERATE_INTENSITY, MODERATE_STEALTH, MODERATE_BURST = 2, 1, 1
_INTENSITY, _STEALTH, _BURST, _STRATEGY = (
    FRAUDSTER_ACTION_FIELDS.index(field) for field in ("intensity", "stealth", "burst", "strategy")
)
#: The adaptive ring's first choices; strategies it does not name follow in :data:`STRATEGIES` order.
ADAPTIVE_PREFERENCE = ("fraud_surge", "stealth_fraud", "velocity_attack", "mixed")
_ATTEMPTED = FRAUDSTER_OBS["attempted"].start
#: Outcome columns that mean "the router caught the attempt" (3-D Secure stops or shifts liability).
_CAUGHT_COLUMNS = [FRAUDSTER_OBS[name].start for name in ("outcome_challenged", "outcome_blocked", "outcome_reviewed")]


class ScriptedFraudster(Policy):
    """Base of the scripted fraudsters: sets the role and the action sizes."""

    role = "fraudster"

    def __init__(self, action_nvec: tuple[int, ...] | None = None):
        self.action_nvec = tuple(action_nvec) if action_nvec is not None else default_action_nvec("fraudster")


class FixedFraudster(ScriptedFraudster):
    """The same ``[intensity, stealth, burst, strategy]`` indices every step (neutral, one strategy, maximum).

    Negative indices count from the top level, as in Python (``-1`` = maximum).
    """

    def __init__(
        self,
        intensity: int,
        stealth: int,
        burst: int,
        strategy: int,
        name: str | None = None,
        action_nvec: tuple[int, ...] | None = None,
    ):
        super().__init__(action_nvec)
        indices = []
        requested = (intensity, stealth, burst, strategy)
        for field, index, size in zip(FRAUDSTER_ACTION_FIELDS, requested, self.action_nvec):
            if not -size <= index < size:
                raise ValueError(f"{field} index {index} out of range for {size} levels")
            indices.append(index % size)
        self.action = np.asarray(indices, dtype=np.int64)
        self.name = name or "fixed_" + "_".join(map(str, indices))

    def act(self, observations: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.action, (observations.shape[0], len(self.action))).copy()


def neutral_fraudster(action_nvec: tuple[int, ...] | None = None) -> FixedFraudster:
    """No attack effort: intensity 0 and no bursts (only organic background fraud remains)."""
    return FixedFraudster(0, 0, 0, 0, name="neutral", action_nvec=action_nvec)


def strategy_fraudster(strategy: str, action_nvec: tuple[int, ...] | None = None) -> FixedFraudster:
    """One strategy of :data:`STRATEGIES` at the moderate intensity, stealth and burst settings."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; expected one of {STRATEGIES}")
    return FixedFraudster(
        MODERATE_INTENSITY, MODERATE_STEALTH, MODERATE_BURST, STRATEGIES.index(strategy), name=strategy,
        action_nvec=action_nvec,
    )  # fmt: skip


def max_everything_fraudster(strategy: str = "mixed", action_nvec: tuple[int, ...] | None = None) -> FixedFraudster:
    """Maximum intensity, maximum stealth and maximum burst rate, with ``strategy`` (mixed by default)."""
    return FixedFraudster(-1, -1, -1, STRATEGIES.index(strategy), name="max_everything", action_nvec=action_nvec)


class AdaptiveFraudster(ScriptedFraudster):
    """Plays one strategy until its recent attempts get caught, then switches to the most promising other one.

    Every step it reads the outcome of its previous attempt from its own
    observation: when ``attempted`` was 1, the attempt was caught if the moving
    average of ``outcome_blocked``, ``outcome_reviewed`` or
    ``outcome_challenged`` went up. Once the current strategy has at least
    ``min_attempts`` attempts and a caught share of at least ``caught_threshold``,
    the ring records that share and switches: first to strategies it has not
    tried yet (in ``preference`` order), then to the one with the lowest
    recorded caught share. ``preference`` may name only some strategies; the
    others follow in :data:`STRATEGIES` order. Intensity, stealth and burst
    stay at the moderate settings.
    """

    def __init__(
        self,
        caught_threshold: float = 0.5,
        min_attempts: int = 4,
        preference: tuple[str, ...] = ADAPTIVE_PREFERENCE,
        intensity: int = MODERATE_INTENSITY,
        stealth: int = MODERATE_STEALTH,
        burst: int = MODERATE_BURST,
        name: str = "adaptive",
        action_nvec: tuple[int, ...] | None = None,
    ):
        super().__init__(action_nvec)
        unknown = [s for s in preference if s not in STRATEGIES]
        if unknown or len(set(preference)) != len(preference):
            raise ValueError(f"preference must list distinct strategies of {STRATEGIES}, got {preference}")
        preference = (*preference, *(s for s in STRATEGIES if s not in preference))
        self.caught_threshold, self.min_attempts, self.name = caught_threshold, min_attempts, name
        self.settings = (intensity, stealth, burst)
        self._order = np.array([STRATEGIES.index(s) for s in preference], dtype=np.int64)
        # Rank of each strategy in the preference order, as a tie-breaker below any caught share.
        self._untried_score = np.empty(len(STRATEGIES))
        self._untried_score[self._order] = -1.0 + np.arange(len(STRATEGIES)) / len(STRATEGIES) / 2
        self.reset(1)

    def reset(self, num_envs: int, seed: int | None = None) -> None:
        self.strategy = np.full(num_envs, self._order[0], dtype=np.int64)
        self._attempts = np.zeros(num_envs)
        self._caught = np.zeros(num_envs)
        self._recorded = np.full((num_envs, len(STRATEGIES)), np.nan)
        self._previous: np.ndarray | None = None

    def act(self, observations: np.ndarray) -> np.ndarray:
        num_envs = observations.shape[0]
        if self.strategy.shape[0] != num_envs:
            self.reset(num_envs)
        if self._previous is not None:
            attempted = self._previous[:, _ATTEMPTED] > 0.5
            rose = observations[:, _CAUGHT_COLUMNS] > self._previous[:, _CAUGHT_COLUMNS]
            self._attempts += attempted
            self._caught += attempted & rose.any(axis=1)
        self._previous = observations.copy()

        share = self._caught / np.maximum(self._attempts, 1.0)
        switch = (self._attempts >= self.min_attempts) & (share >= self.caught_threshold)
        if switch.any():
            rows = np.flatnonzero(switch)
            self._recorded[rows, self.strategy[rows]] = share[rows]
            scores = np.where(np.isnan(self._recorded[rows]), self._untried_score, self._recorded[rows])
            scores[np.arange(rows.size), self.strategy[rows]] = np.inf
            self.strategy[rows] = np.argmin(scores, axis=1)
            self._attempts[rows] = 0.0
            self._caught[rows] = 0.0

        actions = np.empty((num_envs, len(FRAUDSTER_ACTION_FIELDS)), dtype=np.int64)
        actions[:, _INTENSITY], actions[:, _STEALTH], actions[:, _BURST] = self.settings
        actions[:, _STRATEGY] = self.strategy
        return actions
