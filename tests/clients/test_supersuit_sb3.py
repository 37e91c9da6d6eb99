"""Stable-Baselines3 PPO trains on the game through SuperSuit's vector env, with the uniform wrappers only.

SB3 trains one network for both agents (parameter sharing), so it needs one
observation space and one ``Discrete`` action space: :func:`uniform_parallel_env`
with ``shared_size="even"``, since SB3's PPO cannot mask padding indices.
"""

import numpy as np
import pytest

pytestmark = pytest.mark.slow

supersuit = pytest.importorskip("supersuit")
sb3 = pytest.importorskip("stable_baselines3")

from smartpay_marl.layout import FRAUDSTER, ROUTER  # noqa: E402
from smartpay_marl.pettingzoo_env import SmartPayParallelEnv  # noqa: E402
from smartpay_marl.wrappers import FlatDiscreteActions, uniform_parallel_env  # noqa: E402

TIMESTEPS = 512  # agent-steps: 256 game steps, two agents each


class _CountingGame(SmartPayParallelEnv):
    """The game, keeping every action it is given (below the wrappers, as the client drives it)."""

    def __init__(self, **config):
        super().__init__(**config)
        self.played = {ROUTER: [], FRAUDSTER: []}

    def step(self, actions):
        for agent, action in actions.items():
            self.played[agent].append(tuple(int(a) for a in action))
        return super().step(actions)


def test_ppo_learns_a_few_hundred_steps_through_supersuit():
    env = uniform_parallel_env(shared_size="even", env=_CountingGame(max_cycles=64))
    assert env.action_space(ROUTER) == env.action_space(FRAUDSTER)
    assert env.observation_space(ROUTER) == env.observation_space(FRAUDSTER)
    vec = supersuit.pettingzoo_env_to_vec_env_v1(env)
    vec = supersuit.concat_vec_envs_v1(vec, 1, num_cpus=0, base_class="stable_baselines3")
    # PPO(seed=...) calls the vector env's seed(), which SuperSuit 3.11's ConcatVecEnv lacks: seed SB3 alone.
    sb3.common.utils.set_random_seed(0)
    model = sb3.PPO("MlpPolicy", vec, n_steps=128, batch_size=64, n_epochs=1, device="cpu", verbose=0)
    model.learn(total_timesteps=TIMESTEPS)
    assert model.num_timesteps >= TIMESTEPS
    # SuperSuit plays a copy of the env it was given: find the game that was driven.
    game = vec.venv.vec_envs[0].par_env.unwrapped
    assert isinstance(game, _CountingGame)
    assert len(game.played[ROUTER]) >= TIMESTEPS // 2
    # Every action the game got was a legal MultiDiscrete action of that agent, and PPO's exploration reached many.
    for agent in (ROUTER, FRAUDSTER):
        played = np.array(game.played[agent])
        assert ((played >= 0) & (played < game.action_space(agent).nvec)).all()
        assert len(set(game.played[agent])) >= min(20, game.action_space(agent).nvec.prod() // 2)
    # The trained policy's greedy action decodes to a real action for each agent.
    flat = env.env
    assert isinstance(flat, FlatDiscreteActions) and flat.folds_evenly
    observations, _ = env.reset(seed=1)
    for agent, observation in observations.items():
        index, _ = model.predict(observation, deterministic=True)
        action = flat.to_multi_discrete(agent, index)
        assert game.action_space(agent).contains(action)
