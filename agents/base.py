"""The one interface every player of the game implements, and the random player.

A :class:`Policy` maps a batch of observations ``(N, obs_dim)`` (float32) to a
batch of MultiDiscrete actions ``(N, k)`` (int64). Scripted baselines, random
players and neural networks all answer this call, so evaluation code never
cares where a policy came from (:class:`agents.learned.ModulePolicy` wraps a
neural network). Stateful policies (bandits, adaptive
fraudsters) size and clear their state in :meth:`Policy.reset`, which the
evaluator calls before every batch of episodes; the same seed then gives the
same actions.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from smartpay_marl.config import GameConfig
from smartpay_marl.layout import ROLES, ROUTER_ACTION_NVEC, Role
from smartpay_marl.spaces import fraudster_action_nvec

__all__ = ["ROLES", "Policy", "RandomPolicy", "Role", "default_action_nvec"]

def default_action_nvec(role: Role, config: GameConfig | None = None) -> tuple[int, ...]:
    """Sizes of the role's MultiDiscrete action under ``config`` (the default game if None)."""
    if role == "router":
        return tuple(ROUTER_ACTION_NVEC)
    if role == "fraudster":
        return tuple(fraudster_action_nvec(config or GameConfig()))
    raise ValueError(f"unknown role {role!r}; expected one of {ROLES}")


class Policy(ABC):
    """A batched player: ``act(observations (N, obs_dim)) -> actions (N, k) int64``.

    Attributes:
        name: short identifier used in tables and registries.
        role: ``"router"`` or ``"fraudster"``.
        action_nvec: sizes of the MultiDiscrete action this policy emits.
    """

    name: str
    role: Role
    action_nvec: tuple[int, ...]

    def reset(self, num_envs: int, seed: int | None = None) -> None:
        """Start new episodes in ``num_envs`` environments; reseed randomness when ``seed`` is given.

        Stateless, deterministic policies need not override this.
        """

    @abstractmethod
    def act(self, observations: np.ndarray) -> np.ndarray:
        """Actions for a batch of observations: int64 array of shape ``(N, len(action_nvec))``."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, role={self.role!r})"


class RandomPolicy(Policy):
    """Uniformly random actions, batched and seeded (a floor for every pairing table).

    Args:
        role: ``"router"`` or ``"fraudster"``.
        action_nvec: action sizes; the default game's when None.
        seed: seed of the generator until :meth:`reset` is given another.
        name: table name (default ``"random"``).
    """

    def __init__(
        self,
        role: Role,
        action_nvec: tuple[int, ...] | None = None,
        seed: int | None = 0,
        name: str = "random",
    ):
        self.role = role
        self.action_nvec = tuple(action_nvec) if action_nvec is not None else default_action_nvec(role)
        self.name = name
        self._high = np.asarray(self.action_nvec, dtype=np.int64)
        self._rng = np.random.default_rng(seed)

    def reset(self, num_envs: int, seed: int | None = None) -> None:
        if seed is not None:
            self._rng = np.random.default_rng(seed)

    def act(self, observations: np.ndarray) -> np.ndarray:
        num_envs = observations.shape[0]
        return self._rng.integers(0, self._high, size=(num_envs, len(self._high)), dtype=np.int64)
