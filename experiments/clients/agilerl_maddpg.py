"""AgileRL 2.58: MADDPG trains a few hundred steps on the game, through the flat-discrete wrapper only.

MADDPG needs ``Discrete`` (or ``Box``) actions and reads action masks from
``info[agent]["action_mask"]``. Run with AgileRL installed
(experiments/clients/install.sh; it pins ``pettingzoo<1.27``) and the
repository on the path:

    PYTHONPATH=$PWD /work/venv-i26-agilerl/bin/python experiments/clients/agilerl_maddpg.py [own|max] [STEPS]

``own`` (default): each agent its own ``Discrete`` size (24 and 400) and its
own observation length; ``max``: one size (400, the router's padding masked
in ``info``) and observations padded to 47.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch
from agilerl.algorithms import MADDPG
from agilerl.components.data import MultiAgentTransition, transition_to_tensordict
from agilerl.components.replay_buffer import ReplayBuffer
from agilerl.vector import PzDummyVecEnv

from smartpay_marl.pettingzoo_env import SmartPayParallelEnv
from smartpay_marl.wrappers import FlatDiscreteActions, PadObservations

STEPS, BATCH_SIZE = 400, 64


class RecordingGame(SmartPayParallelEnv):
    """The game, keeping every action it is given, to check that no padding index reached it."""

    def __init__(self, **config):
        super().__init__(**config)
        self.played: dict[str, list] = {agent: [] for agent in self.possible_agents}

    def step(self, actions):
        for agent, action in actions.items():
            self.played[agent].append(tuple(int(a) for a in action))
        return super().step(actions)


def main(mode: str, steps: int = STEPS) -> None:
    torch.manual_seed(0)
    game = RecordingGame(max_cycles=50)
    env = FlatDiscreteActions(game) if mode == "own" else PadObservations(FlatDiscreteActions(game, shared_size="max"))
    agent_ids = list(env.possible_agents)
    print(f"mode {mode}: action spaces {[env.action_space(a) for a in agent_ids]}, "
          f"observation lengths {[env.observation_space(a).shape[0] for a in agent_ids]}")  # fmt: skip
    vec_env = PzDummyVecEnv(env)
    maddpg = MADDPG(
        observation_spaces=[env.observation_space(a) for a in agent_ids],
        action_spaces=[env.action_space(a) for a in agent_ids],
        agent_ids=agent_ids,
        batch_size=BATCH_SIZE,
        learn_step=5,
    )
    memory = ReplayBuffer(max_size=5000)
    obs, info = vec_env.reset(seed=0)
    learned, episodes, start = 0, 0, time.perf_counter()
    for step in range(steps):
        action, raw_action = maddpg.get_action(obs=obs, infos=info)
        next_obs, reward, termination, truncation, info = vec_env.step(action)
        transition = transition_to_tensordict(
            MultiAgentTransition(obs=obs, action=raw_action, reward=reward, next_obs=next_obs, done=termination)
        )
        transition.batch_size = torch.Size([1])
        memory.add(transition)
        if step % maddpg.learn_step == 0 and len(memory) >= BATCH_SIZE:
            losses = maddpg.learn(memory.sample(BATCH_SIZE))
            learned += 1
        obs = next_obs
        if all(np.asarray(termination[a]).all() or np.asarray(truncation[a]).all() for a in agent_ids):
            episodes += 1
            maddpg.reset_action_noise([0])
    print(f"{steps} steps, {episodes} episodes ended, {learned} learning steps in {time.perf_counter() - start:.1f} s")
    print("last losses (actor, critic):", {a: tuple(round(float(x), 4) for x in l) for a, l in losses.items()})
    for agent in agent_ids:
        nvec = game.action_space(agent).nvec
        played = np.array(game.played[agent])
        assert ((played >= 0) & (played < nvec)).all(), agent
        print(f"{agent}: {len(played)} actions played, {len(set(game.played[agent]))} distinct, all inside {nvec.tolist()}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "own", int(sys.argv[2]) if len(sys.argv) > 2 else STEPS)
