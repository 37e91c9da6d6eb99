"""TorchPolicy: an untrained MLP plays the game through the Policy interface."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agents.base import TorchPolicy
from agents.evaluation import evaluate
from agents.registry import make_policy
from smartpay_marl.layout import FRAUDSTER_OBS_DIM, ROUTER_ACTION_NVEC, ROUTER_OBS_DIM
from tests.agents.helpers import play_and_record


def mlp(inputs: int, outputs: int, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(inputs, 32), torch.nn.Tanh(), torch.nn.Linear(32, outputs))


def test_deterministic_mode_takes_the_argmax_of_each_logit_block() -> None:
    module = mlp(ROUTER_OBS_DIM, sum(ROUTER_ACTION_NVEC))
    policy = TorchPolicy(module, role="router")
    observations = np.random.default_rng(0).random((16, ROUTER_OBS_DIM), dtype=np.float32)
    actions = policy.act(observations)
    with torch.no_grad():
        logits = module(torch.from_numpy(observations)).numpy()
    expected = np.stack(
        [block.argmax(axis=1) for block in np.split(logits, np.cumsum(ROUTER_ACTION_NVEC)[:-1], axis=1)], axis=1
    )
    assert actions.dtype == np.int64
    np.testing.assert_array_equal(actions, expected)


@pytest.mark.parametrize(("role", "inputs"), [("router", ROUTER_OBS_DIM), ("fraudster", FRAUDSTER_OBS_DIM)])
def test_stochastic_mode_is_reproducible_from_the_seed(role: str, inputs: int) -> None:
    def policy() -> TorchPolicy:
        nvec = (3, 4, 2) if role == "router" else (5, 4, 4, 5)
        return TorchPolicy(mlp(inputs, sum(nvec)), role=role, deterministic=False, seed=1)  # type: ignore[arg-type]

    first, env = play_and_record(policy(), seed=2)
    second, _ = play_and_record(policy(), seed=2)
    other, _ = play_and_record(policy(), seed=9)
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, other)
    assert (first >= 0).all() and (first < np.asarray(policy().action_nvec)).all()


def test_logits_of_the_wrong_width_are_rejected() -> None:
    policy = TorchPolicy(mlp(ROUTER_OBS_DIM, 5), role="router")
    with pytest.raises(ValueError, match="logits of shape"):
        policy.act(np.zeros((2, ROUTER_OBS_DIM), dtype=np.float32))


def test_a_torch_router_can_be_evaluated() -> None:
    router = TorchPolicy(mlp(ROUTER_OBS_DIM, sum(ROUTER_ACTION_NVEC)), role="router", name="mlp")
    stats = evaluate(router, make_policy("neutral"), episodes=4, seed=0, max_cycles=20)
    assert stats.router == "mlp" and stats.episodes == 4
    assert np.isfinite(stats.router_return.mean)
