"""The game for N environments at once: batched actions and observations, the fast path.

A :class:`VectorEnv` steps ``num_envs`` games in one call to the simulator. All
environments share the same horizon (``max_cycles``) and end together, so
there is no auto-reset: call :meth:`VectorEnv.reset` to start the next batch
of episodes.

Observations are dicts ``{agent: float32 array (N, obs_dim)}``, actions dicts
``{agent: int array (N, action_dims)}``; rewards, terminations and truncations
are dicts of ``(N,)`` arrays; ``infos`` holds ``"pnl"`` (the router's itemised
P&L in dollars) and ``"metrics"`` (per-step metrics), each a dict of ``(N,)``
arrays. With ``num_envs=1`` and the same seed it plays exactly the episode of
the PettingZoo env.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from smartpay_marl.config import GameConfig, make_game_config
from smartpay_marl.layout import AGENTS, FRAUDSTER, ROUTER
from smartpay_marl.simulator import Simulator
from smartpay_marl.spaces import build_action_spaces, build_observation_spaces


class VectorEnv:
    """``num_envs`` copies of the game, stepped together.

    Args:
        num_envs: number of environments (>= 1).
        config: a :class:`GameConfig`; or give its fields as keyword arguments.
    """

    def __init__(self, num_envs: int, config: GameConfig | None = None, **overrides: Any):
        if config is None:
            config = make_game_config(**overrides)
        elif overrides:
            config = make_game_config(**{**config.model_dump(), **overrides})
        self.config = config
        self.num_envs = num_envs
        self.possible_agents = list(AGENTS)
        self.simulator = Simulator(config, num_envs)
        self.single_observation_spaces: dict[str, spaces.Box] = build_observation_spaces()
        self.single_action_spaces: dict[str, spaces.MultiDiscrete] = build_action_spaces(config)

    def reset(self, seed: int | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        router_obs, fraudster_obs = self.simulator.reset(seed)
        return {ROUTER: router_obs, FRAUDSTER: fraudster_obs}, {}

    def step(self, actions: dict[str, np.ndarray]):
        missing = [agent for agent in AGENTS if agent not in actions]
        if missing:
            raise ValueError(f"missing actions for {missing}; expected a dict with keys {list(AGENTS)}")
        result = self.simulator.step(actions[ROUTER], actions[FRAUDSTER])
        obs = {ROUTER: result.router_obs, FRAUDSTER: result.fraudster_obs}
        rewards = {ROUTER: result.router_reward, FRAUDSTER: result.fraudster_reward}
        ended = np.full(self.num_envs, result.done)
        not_ended = np.zeros(self.num_envs, dtype=bool)
        terminations = {agent: ended for agent in AGENTS}
        truncations = {agent: not_ended for agent in AGENTS}
        infos = {"pnl": result.pnl, "metrics": result.metrics}
        return obs, rewards, terminations, truncations, infos


def vector_env(num_envs: int, **config: Any) -> VectorEnv:
    """Build a :class:`VectorEnv` of ``num_envs`` games from config fields."""
    return VectorEnv(num_envs, **config)
