"""The uniform-space wrappers: the same episode as the bare game, every action reachable, padding never played."""

import itertools
import warnings

import numpy as np
import pytest
from pettingzoo.test import api_test, parallel_api_test, seed_test
from pettingzoo.utils import parallel_to_aec

import smartpay_marl
from smartpay_marl.layout import FRAUDSTER, ROUTER
from smartpay_marl.wrappers import (
    ACTION_MASK,
    OBSERVATION_LENGTH,
    FlatDiscreteActions,
    MaskInObservation,
    PadObservations,
    uniform_parallel_env,
)

MAX_CYCLES = 60
SHARED_SIZES = (None, "max", "even", 512)


@pytest.fixture(autouse=True)
def _quiet_space_warnings():
    # PettingZoo's suite warns about the bare game's MultiDiscrete actions and unequal spaces: by design.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yield


def _random_multi_actions(env, rng):
    return {agent: rng.integers(0, env.action_space(agent).nvec) for agent in env.agents}


def _strip(info: dict) -> dict:
    return {key: value for key, value in info.items() if key not in (ACTION_MASK, OBSERVATION_LENGTH)}


@pytest.mark.parametrize("shared_size", SHARED_SIZES)
@pytest.mark.parametrize("seed", [0, 7])
def test_wrapped_episode_equals_the_bare_one(shared_size, seed):
    bare = smartpay_marl.parallel_env(max_cycles=MAX_CYCLES)
    flat = FlatDiscreteActions(smartpay_marl.parallel_env(max_cycles=MAX_CYCLES), shared_size=shared_size)
    wrapped = PadObservations(flat)
    rng = np.random.default_rng(seed)
    bare_obs, bare_infos = bare.reset(seed=seed)
    obs, infos = wrapped.reset(seed=seed)
    steps = 0
    while bare.agents:
        for agent in bare.agents:
            length = bare.observation_space(agent).shape[0]
            np.testing.assert_array_equal(obs[agent][:length], bare_obs[agent])
            assert not obs[agent][length:].any()
            assert infos[agent][OBSERVATION_LENGTH] == length
            assert _strip(infos[agent]) == bare_infos[agent]
        multi = _random_multi_actions(bare, rng)
        flat_actions = {agent: flat.to_flat(agent, action) for agent, action in multi.items()}
        if shared_size == "even":  # any of the equivalent indices plays the same action
            flat_actions = {
                agent: index + flat.own_sizes[agent] * int(rng.integers(0, flat.action_space(agent).n // flat.own_sizes[agent]))
                for agent, index in flat_actions.items()
            }
        bare_obs, bare_rewards, bare_terms, bare_truncs, bare_infos = bare.step(multi)
        obs, rewards, terms, truncs, infos = wrapped.step(flat_actions)
        assert rewards == bare_rewards and terms == bare_terms and truncs == bare_truncs
        steps += 1
    assert steps == MAX_CYCLES and wrapped.agents == []
    np.testing.assert_array_equal(wrapped.state(), bare.state())


@pytest.mark.parametrize("shared_size", SHARED_SIZES)
def test_every_action_is_reachable_and_padding_is_never_played(shared_size):
    flat = FlatDiscreteActions(smartpay_marl.parallel_env(), shared_size=shared_size)
    assert flat.own_sizes == {ROUTER: 24, FRAUDSTER: 400}
    for agent in flat.possible_agents:
        nvec = flat.env.action_space(agent).nvec
        size = flat.action_space(agent).n
        mask = flat.action_mask(agent)
        assert mask.shape == (size,) and mask.dtype == np.int8
        played = [tuple(flat.to_multi_discrete(agent, index)) for index in np.flatnonzero(mask)]
        everything = set(itertools.product(*(range(n) for n in nvec)))
        assert set(played) == everything
        counts = {action: played.count(action) for action in everything}
        assert len(set(counts.values())) == 1, "each real action must have the same number of indices"
        for action in everything:
            assert tuple(flat.to_multi_discrete(agent, flat.to_flat(agent, action))) == action
        for index in np.flatnonzero(mask == 0):
            with pytest.raises(ValueError, match=f"{agent}: flat action {index} is padding"):
                flat.to_multi_discrete(agent, index)


def test_shared_sizes():
    env = smartpay_marl.parallel_env()
    assert {a: FlatDiscreteActions(env).action_space(a).n for a in env.possible_agents} == {ROUTER: 24, FRAUDSTER: 400}
    assert FlatDiscreteActions(env, "max").action_space(ROUTER).n == 400
    assert FlatDiscreteActions(env, "even").action_space(ROUTER).n == 1200  # lcm(24, 400)
    assert int(FlatDiscreteActions(env, "max").action_mask(ROUTER).sum()) == 24
    assert int(FlatDiscreteActions(env, "even").action_mask(ROUTER).sum()) == 1200


def test_bad_arguments_name_the_problem():
    env = smartpay_marl.parallel_env()
    with pytest.raises(ValueError, match="at least the largest action count 400 .fraudster_0."):
        FlatDiscreteActions(env, shared_size=100)
    with pytest.raises(ValueError, match="shared_size must be None, 'max', 'even' or an int"):
        FlatDiscreteActions(env, shared_size="min")
    with pytest.raises(ValueError, match="at least the longest observation 47"):
        PadObservations(env, size=20)
    with pytest.raises(TypeError, match="needs FlatDiscreteActions inside it"):
        MaskInObservation(PadObservations(env))
    flat = FlatDiscreteActions(env, "max")
    flat.reset(seed=0)
    with pytest.raises(ValueError, match="router_0: flat action must be in 0..399, got 400"):
        flat.step({ROUTER: 400, FRAUDSTER: 0})
    with pytest.raises(ValueError, match="router_0: flat action 30 is padding .its actions are 0..23."):
        flat.step({ROUTER: 30, FRAUDSTER: 0})


def test_uniform_env_has_one_space_for_all_agents():
    env = uniform_parallel_env(shared_size="max", mask_in_observation=True, max_cycles=20)
    spaces = [(env.observation_space(a), env.action_space(a)) for a in env.possible_agents]
    assert spaces[0] == spaces[1]
    obs, infos = env.reset(seed=3)
    assert obs[ROUTER]["observation"].shape == (47,) and obs[FRAUDSTER]["observation"].shape == (47,)
    np.testing.assert_array_equal(obs[ROUTER][ACTION_MASK], infos[ROUTER][ACTION_MASK])
    assert infos[FRAUDSTER][OBSERVATION_LENGTH] == 13
    assert env.observation_space(ROUTER).contains(obs[ROUTER])


@pytest.mark.parametrize("shared_size,mask_in_observation", [("even", False), ("max", True)])
def test_pettingzoo_suite_on_the_uniform_env(shared_size, mask_in_observation):
    # The suite samples the action space, using the mask when the observation carries one.
    def make():
        return uniform_parallel_env(shared_size=shared_size, mask_in_observation=mask_in_observation, max_cycles=80)

    parallel_api_test(make(), num_cycles=200)
    api_test(parallel_to_aec(make()), num_cycles=200)
    seed_test(lambda: parallel_to_aec(make()), num_cycles=200)
