"""The fast loss distribution equals RLlib's MultiCategorical, and a learner update with it equals one without."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from league.rllib.fast_distribution import FastMultiCategorical, use_fast_train_distribution

def game_action_lens():
    from smartpay_marl.config import GameConfig
    from smartpay_marl.spaces import build_action_spaces

    spaces = build_action_spaces(GameConfig(**{"difficulty": "medium"}))
    return {agent: [int(n) for n in space.nvec] for agent, space in spaces.items()}


@pytest.mark.parametrize("agent", ["router_0", "fraudster_0"])
def test_logp_entropy_kl_and_gradients_equal_rllibs_multicategorical(agent):
    from ray.rllib.models.torch.torch_distributions import TorchMultiCategorical

    lens = game_action_lens()[agent]
    generator = torch.Generator().manual_seed(0)
    logits = (3 * torch.randn(512, sum(lens), generator=generator)).requires_grad_()
    other = torch.randn(512, sum(lens), generator=generator)
    actions = torch.stack([torch.randint(0, n, (512,), generator=generator) for n in lens], dim=-1)
    ours, theirs = FastMultiCategorical.from_logits(logits, lens), TorchMultiCategorical.from_logits(logits, input_lens=lens)
    torch.testing.assert_close(ours.logp(actions), theirs.logp(actions), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ours.entropy(), theirs.entropy(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ours.kl(FastMultiCategorical.from_logits(other, lens)),
                               theirs.kl(TorchMultiCategorical.from_logits(other, input_lens=lens)), rtol=1e-5, atol=1e-5)  # fmt: skip
    ours_grad = torch.autograd.grad((ours.logp(actions) + 0.01 * ours.entropy()).sum(), logits)[0]
    theirs_grad = torch.autograd.grad((theirs.logp(actions) + 0.01 * theirs.entropy()).sum(), logits)[0]
    torch.testing.assert_close(ours_grad, theirs_grad, rtol=1e-4, atol=1e-5)
    samples = ours.sample()
    assert samples.shape == actions.shape and all((samples[:, k] < n).all() for k, n in enumerate(lens))


def test_wrong_logit_width_is_refused_with_the_sizes():
    with pytest.raises(ValueError, match=r"input_lens \[2, 3\] sum to 5, but the logits have 4 columns"):
        FastMultiCategorical.from_logits(torch.zeros(1, 4), [2, 3])


def test_a_module_without_multidiscrete_actions_is_left_alone():
    class Box:
        import gymnasium as gym

        action_space = gym.spaces.Box(0, 1, (2,))

    module = Box()
    assert not use_fast_train_distribution(module) and not hasattr(module, "get_train_action_dist_cls")


@pytest.fixture(scope="module")
def learners(ray_instance, tmp_path_factory):
    """The smoke league with the fast loss distribution and without, the same weights, one sampled batch."""
    from tests.league.rllib.helpers import build

    built = {fast: build(tmp_path_factory.mktemp(f"fast{fast}"), **{"ppo.fast_loss_distribution": fast,
                                                                    "ppo.train_batch_size": 400})[1]
             for fast in (False, True)}  # fmt: skip
    built[True].learner_group.set_weights(built[False].learner_group.get_weights())
    episodes = built[False].env_runner.sample()
    yield built, episodes
    for algorithm in built.values():
        algorithm.stop()


def test_one_update_with_the_fast_distribution_gives_the_same_weights(learners):
    from league.rllib.learner import FastLossPPOLearner

    built, episodes = learners
    assert isinstance(built[True].learner_group._learner, FastLossPPOLearner)
    assert not isinstance(built[False].learner_group._learner, FastLossPPOLearner)
    trained = ("router_main", "fraudster_main")
    initial = built[False].learner_group.get_weights(module_ids=list(trained))
    for algorithm in built.values():
        algorithm.learner_group.update(episodes=copy.deepcopy(episodes), num_epochs=2, minibatch_size=100,
                                       shuffle_batch_per_epoch=False, timesteps={"num_env_steps_sampled_lifetime": 0})  # fmt: skip
    stock = built[False].learner_group.get_weights(module_ids=list(trained))
    fast = built[True].learner_group.get_weights(module_ids=list(trained))
    for module_id in trained:
        module = built[True].learner_group._learner.module[module_id].unwrapped()
        assert module._fast_train_distribution  # the loss read this module through the fast distribution
        moved = max(float(np.abs(stock[module_id][k] - initial[module_id][k]).max()) for k in initial[module_id])
        assert moved > 1e-4, f"{module_id}: the update did not change the weights, so the comparison would be empty"
        for name, value in stock[module_id].items():
            np.testing.assert_allclose(fast[module_id][name], value, rtol=1e-4, atol=1e-5, err_msg=f"{module_id} {name}")
