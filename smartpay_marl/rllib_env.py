"""The game as an RLlib ``MultiAgentEnv`` (new API stack), a thin adapter over the simulator.

Subclassing ``MultiAgentEnv`` directly, rather than wrapping the PettingZoo env
in ``ParallelPettingZooEnv``, keeps the episode-end flags consistent (both
agents terminate together and ``"__all__"`` is set) and skips a layer of
dict copying. Per-step infos are empty; the last step's router info carries
the episode's totals (profit, approval rate, fraud caught) for logging.

The env measures the wall time spent inside its own ``reset`` and ``step``
(``env_seconds``) and notes when the current sampling window began
(``window_start``, the first env call after the last ``sample()`` ended), so
training can report which share of sampling time the game itself costs.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from ray.rllib.env.multi_agent_env import MultiAgentEnv

from smartpay_marl.config import GameConfig, make_game_config
from smartpay_marl.layout import AGENTS, FRAUDSTER, ROUTER
from smartpay_marl.rules import M_CAPTURED, M_FRAUD_CAPTURED, M_IS_FRAUD, M_ROUTED
from smartpay_marl.simulator import Simulator
from smartpay_marl.spaces import build_action_spaces, build_observation_spaces

ENV_NAME = "smartpay_marl"


class SmartPayRLlibEnv(MultiAgentEnv):
    """One game for RLlib. ``config`` is a dict of :class:`GameConfig` fields (RLlib's ``env_config``)."""

    def __init__(self, config: dict[str, Any] | None = None):
        super().__init__()
        fields = dict(config or {})
        self._seed_offset = int(fields.pop("seed_offset", 0))
        self.game_config: GameConfig = make_game_config(**fields)
        self.simulator = Simulator(self.game_config, num_envs=1)
        self.possible_agents = list(AGENTS)
        self.agents = list(AGENTS)
        self.observation_spaces = build_observation_spaces()
        self.action_spaces = build_action_spaces(self.game_config)
        self.env_seconds = 0.0
        self.env_steps = 0
        self.window_start: float | None = None
        self._totals = np.zeros(5)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        start = time.perf_counter()
        if self.window_start is None:
            self.window_start = start
        router_obs, fraudster_obs = self.simulator.reset(None if seed is None else seed + self._seed_offset)
        self.agents = list(AGENTS)
        self._totals[:] = 0.0
        self.env_seconds += time.perf_counter() - start
        return {ROUTER: router_obs[0], FRAUDSTER: fraudster_obs[0]}, {}

    def step(self, action_dict: dict[str, Any]):
        start = time.perf_counter()
        if self.window_start is None:
            self.window_start = start
        result = self.simulator.step(action_dict[ROUTER], action_dict[FRAUDSTER])
        m = result.metrics_array[0]
        self._totals += (result.pnl_array[0].sum(), m[M_ROUTED], m[M_CAPTURED], m[M_IS_FRAUD], m[M_FRAUD_CAPTURED])
        router_reward, fraudster_reward = result.rewards[0].tolist()
        done = result.done
        observations = {ROUTER: result.router_obs[0], FRAUDSTER: result.fraudster_obs[0]}
        rewards = {ROUTER: router_reward, FRAUDSTER: fraudster_reward}
        terminateds = {ROUTER: done, FRAUDSTER: done, "__all__": done}
        truncateds = {ROUTER: False, FRAUDSTER: False, "__all__": False}
        infos: dict[str, dict] = {}
        if done:
            profit, routed, captured, frauds, fraud_captured = self._totals.tolist()
            infos = {
                ROUTER: {
                    "profit": profit,
                    "capture_rate": captured / max(routed, 1.0),
                    "fraud_passed_share": fraud_captured / max(frauds, 1.0),
                }
            }
            self.agents = []
        self.env_steps += 1
        self.env_seconds += time.perf_counter() - start
        return observations, rewards, terminateds, truncateds, infos
