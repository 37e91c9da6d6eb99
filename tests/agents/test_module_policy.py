"""ModulePolicy: an untrained network behind an RLlib-style module plays the game through the Policy interface."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gymnasium import spaces

from agents.evaluation import evaluate
from agents.learned import ModulePolicy
from agents.registry import make_policy
from smartpay_marl.config import GameConfig
from smartpay_marl.layout import FRAUDSTER_OBS_DIM, ROUTER_ACTION_NVEC, ROUTER_OBS_DIM
from smartpay_marl.spaces import fraudster_action_nvec
from tests.agents.helpers import play_and_record


class LogitsModule(torch.nn.Module):
    """What ModulePolicy needs of an RLlib RL module: an action space and ``forward_inference``."""

    def __init__(self, inputs: int, nvec: tuple[int, ...], seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.net = torch.nn.Sequential(torch.nn.Linear(inputs, 32), torch.nn.Tanh(), torch.nn.Linear(32, sum(nvec)))
        self.action_space = spaces.MultiDiscrete(nvec)

    def forward_inference(self, batch: dict) -> dict:
        return {"action_dist_inputs": self.net(batch["obs"])}


def test_deterministic_mode_takes_the_argmax_of_each_logit_block() -> None:
    module = LogitsModule(ROUTER_OBS_DIM, ROUTER_ACTION_NVEC)
    policy = ModulePolicy(module, name="mlp", role="router")
    observations = np.random.default_rng(0).random((16, ROUTER_OBS_DIM), dtype=np.float32)
    actions = policy.act(observations)
    with torch.no_grad():
        logits = module.net(torch.from_numpy(observations)).numpy()
    expected = np.stack(
        [block.argmax(axis=1) for block in np.split(logits, np.cumsum(ROUTER_ACTION_NVEC)[:-1], axis=1)], axis=1
    )
    assert actions.dtype == np.int64
    assert policy.action_nvec == ROUTER_ACTION_NVEC
    np.testing.assert_array_equal(actions, expected)


@pytest.mark.parametrize(
    ("role", "inputs", "nvec"),
    [
        ("router", ROUTER_OBS_DIM, ROUTER_ACTION_NVEC),
        ("fraudster", FRAUDSTER_OBS_DIM, fraudster_action_nvec(GameConfig())),
    ],
)
def test_stochastic_mode_is_reproducible_from_the_seed(role: str, inputs: int, nvec: tuple[int, ...]) -> None:
    def policy() -> ModulePolicy:
        return ModulePolicy(LogitsModule(inputs, nvec), name="mlp", role=role, deterministic=False, seed=1)

    first, _ = play_and_record(policy(), seed=2)
    second, _ = play_and_record(policy(), seed=2)
    other, _ = play_and_record(policy(), seed=9)
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, other)
    assert (first >= 0).all() and (first < np.asarray(nvec)).all()


def test_a_module_router_can_be_evaluated() -> None:
    router = ModulePolicy(LogitsModule(ROUTER_OBS_DIM, ROUTER_ACTION_NVEC), name="mlp", role="router")
    stats = evaluate(router, make_policy("neutral"), episodes=4, seed=0, max_cycles=20)
    assert stats.router == "mlp" and stats.episodes == 4
    assert np.isfinite(stats.router_return.mean)
