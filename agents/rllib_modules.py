"""RLlib module specs for the league's players, and a module that plays a scripted baseline.

Learning players and their frozen snapshots use RLlib's default PPO torch
module (an MLP policy and value head); a snapshot slot is the same module with
weights copied in, never trained. :class:`ScriptedRLModule` lets a scripted
baseline from :mod:`agents.registry` sit in an RLlib multi-agent setup as an
opponent: it outputs actions directly and has no weights.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.rl_module import RLModule, RLModuleSpec

from smartpay_marl.config import GameConfig
from smartpay_marl.layout import AGENT_OF_ROLE
from smartpay_marl.spaces import build_action_spaces, build_observation_spaces



class ScriptedRLModule(RLModule):
    """A scripted baseline (``model_config = {"policy": name, "role": role}``) as a frozen RLlib module.

    Stateless baselines only: RLlib hands the module batches from several
    episodes with no stable env index, so a stateful policy's memory would mix
    episodes. The league's scripted opponents are all stateless.
    """

    def setup(self) -> None:
        from agents.registry import make_policy

        self._policy = make_policy(self.model_config["policy"], self.model_config["role"])
        self._policy.reset(1, seed=0)

    def act(self, observations: np.ndarray) -> np.ndarray:
        """The baseline's actions for a batch of observations (numpy in, numpy out)."""
        return self._policy.act(np.asarray(observations, dtype=np.float32))

    def _forward(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        observations = batch[Columns.OBS]
        if hasattr(observations, "numpy"):
            observations = observations.detach().cpu().numpy()
        return {Columns.ACTIONS: self.act(observations)}

    def _forward_train(self, batch, **kwargs):
        raise NotImplementedError(
            f"ScriptedRLModule({self.model_config['policy']!r}) is not trainable; "
            "leave it out of policies_to_train"
        )

    def get_state(self, *args, **kwargs) -> dict:
        return {}

    def set_state(self, state: dict) -> None:
        pass


def learner_module_spec(role: str, hidden: list[int], game: GameConfig | None = None) -> RLModuleSpec:
    """The PPO module spec of a learning player (or snapshot slot) of ``role``: the snapshot format's architecture."""
    from agents.snapshot_format import make_spec, module_spec

    return module_spec(make_spec(role, hidden, game))


def scripted_module_spec(role: str, policy: str, game: GameConfig | None = None) -> RLModuleSpec:
    """The spec of a scripted baseline playing ``role`` inside RLlib."""
    agent = AGENT_OF_ROLE[role]
    game = game or GameConfig()
    return RLModuleSpec(
        module_class=ScriptedRLModule,
        observation_space=build_observation_spaces()[agent],
        action_space=build_action_spaces(game)[agent],
        model_config={"policy": policy, "role": role},
    )
