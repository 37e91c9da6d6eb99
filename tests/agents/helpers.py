"""Shared helpers for the agents tests: play a policy on a small vector env and record its actions."""

from __future__ import annotations

import numpy as np

import smartpay_marl
from agents.base import Policy, RandomPolicy
from smartpay_marl.layout import AGENT_OF_ROLE
from smartpay_marl.layout import FRAUDSTER, ROUTER


def play_and_record(policy: Policy, seed: int, num_envs: int = 6, steps: int = 25) -> tuple[np.ndarray, object]:
    """Play ``policy`` against a seeded random opponent; return its actions ``(steps, N, k)`` and the env."""
    env = smartpay_marl.vector_env(num_envs, max_cycles=steps)
    opponent_role = "fraudster" if policy.role == "router" else "router"
    opponent = RandomPolicy(opponent_role, seed=seed + 1)
    observations, _ = env.reset(seed=seed)
    policy.reset(num_envs, seed=seed)
    recorded = []
    for _ in range(steps):
        mine = policy.act(observations[AGENT_OF_ROLE[policy.role]])
        theirs = opponent.act(observations[AGENT_OF_ROLE[opponent_role]])
        recorded.append(mine)
        actions = {AGENT_OF_ROLE[policy.role]: mine, AGENT_OF_ROLE[opponent_role]: theirs}
        observations, _, terminations, _, _ = env.step({ROUTER: actions[ROUTER], FRAUDSTER: actions[FRAUDSTER]})
        if terminations[ROUTER].all():
            break
    return np.stack(recorded), env
