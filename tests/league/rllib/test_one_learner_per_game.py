"""Real RLlib iterations: each game trains one learner, and the counterfactual shadow ignores the fraudster.

These start a real local Ray instance and train small PPO iterations on the
smoke config (the env runner samples in the driver).
"""

from __future__ import annotations


import numpy as np
import pytest

from league.core.matchmaking import MatchupPlan
from league.core.players import Role
from league.rllib.callbacks import EpisodeMapping, opponent_copy_id
from league.rllib.plumbing import push_mapping, set_module_states
from tests.league.rllib.helpers import build

pytestmark = pytest.mark.ray


def weights(algorithm, module_id):
    return {k: np.array(v, copy=True) for k, v in algorithm.learner_group.get_weights(module_ids=[module_id])[module_id].items()}


def same(a, b) -> bool:
    return all(np.array_equal(a[k], b[k]) for k in a)


def only_router_main_learns(algorithm, opponent: str) -> None:
    """Every episode of the next iteration: router_main is the learner, ``opponent`` plays the fraudster."""
    plan = MatchupPlan([("router_main", Role.ROUTER)], {"router_main": ([opponent], [1.0])}, seed=1)
    push_mapping(algorithm, EpisodeMapping(plan))


def test_every_game_has_one_learner_and_its_opponent_plays_current_weights(ray_instance, tmp_path):
    runtime, algorithm = build(tmp_path, **{"league.regime": "self_play", "league.scripted_opponents": []})
    runner = algorithm.env_runner
    for name in ("router_main", "fraudster_main"):  # the frozen copy acts with the learner's current weights
        copy = {k: np.asarray(v) for k, v in runner.module[opponent_copy_id(name)].get_state().items()}
        actor = {k: v for k, v in copy.items() if k.startswith(("encoder.actor_encoder.", "pi."))}
        assert actor and same(actor, weights(algorithm, name))
        assert same(weights(algorithm, opponent_copy_id(name)), weights(algorithm, name))
    episodes = runner.sample()
    assert episodes and all(len(episode.agent_episodes) == 1 for episode in episodes)
    learners = {agent.module_id for episode in episodes for agent in episode.agent_episodes.values()}
    assert learners == {"router_main", "fraudster_main"}
    opponents = {module for router, fraudster, _, _ in runner.last_finished for module in (router, fraudster)}
    assert opponents - learners <= {opponent_copy_id("router_main"), opponent_copy_id("fraudster_main")}
    algorithm.stop()


def test_a_learner_met_as_opponent_is_not_trained_by_games_it_did_not_own(ray_instance, tmp_path):
    runtime, algorithm = build(tmp_path, **{"league.regime": "self_play", "league.scripted_opponents": []})
    only_router_main_learns(algorithm, opponent_copy_id("fraudster_main"))
    before = {name: weights(algorithm, name) for name in ("router_main", "fraudster_main", "fraudster_main_as_opponent")}
    algorithm.train()
    assert not same(weights(algorithm, "router_main"), before["router_main"]), "the learner of the games trained"
    assert same(weights(algorithm, "fraudster_main"), before["fraudster_main"])
    assert same(weights(algorithm, "fraudster_main_as_opponent"), before["fraudster_main_as_opponent"])
    algorithm.stop()


def test_both_learners_train_keeps_the_earlier_behaviour(ray_instance, tmp_path):
    """The contrast: with both_learners_train the opponent learner does train on the same games."""
    runtime, algorithm = build(
        tmp_path, **{"league.regime": "self_play", "league.scripted_opponents": [], "league.both_learners_train": True}
    )
    assert opponent_copy_id("fraudster_main") not in algorithm.config.policies
    only_router_main_learns(algorithm, "fraudster_main")
    before = weights(algorithm, "fraudster_main")
    algorithm.train()
    assert not same(weights(algorithm, "fraudster_main"), before)
    algorithm.stop()


def shadow_returns(tmp_path, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """(shadow term, true fraudster return) per episode of one greedy sample; fraudster weights times ``scale``."""
    runtime, algorithm = build(
        tmp_path,
        **{
            "league.regime": "fixed",
            "league.scripted_opponents": ["router_scripted:bandit"],
            "fraudster_baseline": "counterfactual",
        },
    )
    state = weights(algorithm, "fraudster_main")
    rng = np.random.default_rng(5)
    set_module_states(algorithm, {"fraudster_main": {k: v * scale + (scale != 1) * rng.normal(0, 0.5, v.shape).astype(v.dtype)
                                                     for k, v in state.items()}})  # fmt: skip
    runner = algorithm.env_runner
    episodes = runner.sample(explore=False)
    training = np.array([episode.agent_episodes["fraudster_0"].get_return() for episode in episodes])
    true = np.array([fraudster_return for _, _, _, fraudster_return in runner.last_finished])
    algorithm.stop()
    return training - true, true


def test_the_counterfactual_shadow_of_a_stateful_router_ignores_the_fraudster(ray_instance, tmp_path):
    """The bandit router learns from what it sees; the shadow game has its own copy, so its term is the same."""
    shadow_a, true_a = shadow_returns(tmp_path / "a", 1.0)
    shadow_b, true_b = shadow_returns(tmp_path / "b", 4.0)
    assert not np.allclose(true_a, true_b), "the two fraudsters must play differently for the test to mean anything"
    np.testing.assert_allclose(shadow_a, shadow_b, rtol=0, atol=1e-6)
