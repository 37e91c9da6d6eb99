"""Tianshou 2.0.1: one DQN per agent trains a few hundred steps on the game, through the uniform wrappers only.

Tianshou's ``PettingZooEnv`` takes an AEC env whose agents share one
observation space and one action space, and reads the action mask from a
``{"observation", "action_mask"}`` observation, so: ``uniform_parallel_env(
shared_size="max", mask_in_observation=True)`` (the router's indices 24..399
masked), then PettingZoo's ``parallel_to_aec``. Run with Tianshou installed
(experiments/clients/install.sh) and the repository on the path:

    PYTHONPATH=$PWD /work/venv-i26/bin/python experiments/clients/tianshou_dqn.py [ROUNDS]
"""

from __future__ import annotations

import sys
import time
from contextlib import ExitStack

import numpy as np
import torch
from pettingzoo.utils import parallel_to_aec
from tianshou.algorithm import DQN
from tianshou.algorithm.modelfree.dqn import DiscreteQLearningPolicy
from tianshou.algorithm.multiagent.marl import MultiAgentOffPolicyAlgorithm
from tianshou.algorithm.optim import AdamOptimizerFactory
from tianshou.data import Collector, VectorReplayBuffer
from tianshou.env import DummyVectorEnv, PettingZooEnv
from tianshou.utils.net.common import Net
from tianshou.utils.torch_utils import policy_within_training_step

import smartpay_marl
from smartpay_marl.pettingzoo_env import SmartPayParallelEnv
from smartpay_marl.wrappers import uniform_parallel_env

ROUNDS, STEPS_PER_ROUND, UPDATES_PER_ROUND = 4, 100, 10  # AEC steps: each agent acts in every other one


class RecordingGame(SmartPayParallelEnv):
    """The game, keeping every action it is given, to check that no padding index reached it."""

    played: dict[str, list] = {}

    def step(self, actions):
        for agent, action in actions.items():
            RecordingGame.played.setdefault(agent, []).append(tuple(int(a) for a in action))
        return super().step(actions)


def make_env() -> PettingZooEnv:
    parallel = uniform_parallel_env(shared_size="max", mask_in_observation=True, env=RecordingGame(max_cycles=50))
    return PettingZooEnv(parallel_to_aec(parallel))


def main(rounds: int = ROUNDS) -> None:
    torch.manual_seed(0)
    np.random.seed(0)  # Tianshou's epsilon-greedy draws from numpy's global generator
    env = make_env()
    observation_space = env.observation_space["observation"]
    algorithms = []
    for _ in env.agents:
        net = Net(state_shape=observation_space.shape, action_shape=env.action_space.n, hidden_sizes=[64, 64])
        policy = DiscreteQLearningPolicy(model=net, action_space=env.action_space, eps_training=0.2)
        algorithms.append(DQN(policy=policy, optim=AdamOptimizerFactory(lr=1e-3), target_update_freq=20))
    algorithm = MultiAgentOffPolicyAlgorithm(algorithms=algorithms, env=env)
    envs = DummyVectorEnv([make_env])
    envs.seed(0)
    buffer = VectorReplayBuffer(2000, len(envs))
    collector = Collector(algorithm, envs, buffer, exploration_noise=True)
    collector.reset()
    start = time.perf_counter()
    for round_ in range(rounds):
        # Without Tianshou's Trainer, the training-step flag is set by hand (exploration on, updates allowed),
        # on each agent's policy too: their epsilon-greedy noise reads their own flag.
        with ExitStack() as stack:
            for policy in [algorithm.policy, *(a.policy for a in algorithms)]:
                stack.enter_context(policy_within_training_step(policy))
            stats = collector.collect(n_step=STEPS_PER_ROUND)
            for _ in range(UPDATES_PER_ROUND):
                losses = algorithm.update(buffer=buffer, sample_size=64).get_loss_stats_dict()
        print(f"round {round_}: collected {stats.n_collected_steps} AEC steps, buffer {len(buffer)}, losses {({k: round(v, 4) for k, v in losses.items()})}")
    print(f"{rounds * STEPS_PER_ROUND} AEC steps and {rounds * UPDATES_PER_ROUND} updates in {time.perf_counter() - start:.1f} s")
    for agent, actions in RecordingGame.played.items():
        nvec = smartpay_marl.parallel_env().action_space(agent).nvec
        played = np.array(actions)
        assert ((played >= 0) & (played < nvec)).all(), agent
        print(f"{agent}: {len(actions)} actions played, {len(set(actions))} distinct, all inside {nvec.tolist()}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else ROUNDS)
