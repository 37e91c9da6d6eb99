"""The fraudster's counterfactual training signal, measured on scripted or restored players.

The vectorised env runner (:mod:`league.rllib.env_runner`) trains a learning
fraudster on its zero-sum reward minus its reward in a *shadow* game: the same
seed (so the same customers, gateways and coin flips, since the game never
draws random numbers from actions), the same router policy acting on the
shadow's own observations, and an idle ring. This module plays that pair of
games for given policies so that the signal can be checked against the true
zero-sum game: per router, the shadow term is a constant that does not depend
on the fraudster, so the fraudsters' ranking, every fraudster best response
and the meta-game's equilibria are unchanged, while the episode-to-episode
variance of the legitimate traffic cancels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agents.base import Policy
from smartpay_marl.config import GameConfig
from smartpay_marl.layout import FRAUDSTER, ROUTER
from smartpay_marl.vector_env import VectorEnv


@dataclass(frozen=True)
class SignalReturns:
    """Per-episode fraudster returns of one pairing under both signals, shape ``(episodes,)``."""

    zero_sum: np.ndarray
    counterfactual: np.ndarray


def play_with_shadow(router: Policy, fraudster: Policy, episodes: int, seed: int, config: GameConfig) -> SignalReturns:
    """Play ``episodes`` games and their shadows in lockstep; the router must be deterministic.

    A stochastic router would need the runner's shared action noise to stay
    aligned with its shadow; scripted routers and greedy modules are deterministic.
    """
    real, shadow = VectorEnv(episodes, config=config), VectorEnv(episodes, config=config)
    observations, _ = real.reset(seed=seed)
    shadow_observations, _ = shadow.reset(seed=seed)
    for policy in (router, fraudster):
        policy.reset(episodes, seed=seed)
    idle = np.zeros((episodes, len(shadow.single_action_spaces[FRAUDSTER].nvec)), dtype=np.int64)
    zero_sum = np.zeros(episodes)
    baseline = np.zeros(episodes)
    # A second router instance would share the scripted policy's state; scripted routers are stateless.
    while True:
        result = real.simulator.step(router.act(observations[ROUTER]), fraudster.act(observations[FRAUDSTER]))
        shadow_result = shadow.simulator.step(router.act(shadow_observations[ROUTER]), idle)
        zero_sum += result.fraudster_reward
        baseline += shadow_result.fraudster_reward
        observations = {ROUTER: result.router_obs, FRAUDSTER: result.fraudster_obs}
        shadow_observations = {ROUTER: shadow_result.router_obs}
        if result.done:
            return SignalReturns(zero_sum, zero_sum - baseline)


def signal_matrices(routers: list[Policy], fraudsters: list[Policy], episodes: int, seed: int, config: GameConfig):
    """Mean fraudster return per (router, fraudster) under both signals, and the per-pairing standard deviations.

    Returns ``(zero_sum_mean, counterfactual_mean, zero_sum_std, counterfactual_std)``,
    each of shape ``(len(routers), len(fraudsters))``; every pairing plays the
    same seeded episodes.
    """
    shape = (len(routers), len(fraudsters))
    means = {"zero_sum": np.zeros(shape), "counterfactual": np.zeros(shape)}
    stds = {"zero_sum": np.zeros(shape), "counterfactual": np.zeros(shape)}
    for i, router in enumerate(routers):
        for j, fraudster in enumerate(fraudsters):
            returns = play_with_shadow(router, fraudster, episodes, seed, config)
            for name in means:
                values = getattr(returns, name)
                means[name][i, j] = values.mean()
                stds[name][i, j] = values.std(ddof=1)
    return means["zero_sum"], means["counterfactual"], stds["zero_sum"], stds["counterfactual"]
