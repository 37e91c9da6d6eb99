"""The PettingZoo 1.27 test suite itself, run on the game for every difficulty and reward mode."""

import itertools
import warnings

import pytest
from pettingzoo.test import api_test, max_cycles_test, parallel_api_test, render_test, seed_test, state_test
from pettingzoo.utils import parallel_to_aec

import smartpay_marl

SETTINGS = list(itertools.product(("easy", "medium", "hard"), ("zero_sum", "profit", "graded")))


@pytest.fixture(autouse=True)
def _quiet_heterogeneous_agent_warnings():
    # The suite warns that our two agents have different spaces and MultiDiscrete actions: by design.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yield


@pytest.mark.parametrize("difficulty,reward_mode", SETTINGS)
def test_parallel_api(difficulty, reward_mode):
    parallel_api_test(smartpay_marl.parallel_env(difficulty=difficulty, reward_mode=reward_mode), num_cycles=400)


@pytest.mark.parametrize("difficulty,reward_mode", SETTINGS)
def test_aec_api_strict(difficulty, reward_mode):
    # The strict check: observations inside their spaces with the right dtype, bool flags, float rewards.
    env = parallel_to_aec(smartpay_marl.parallel_env(difficulty=difficulty, reward_mode=reward_mode, max_cycles=150))
    api_test(env, num_cycles=400)


@pytest.mark.parametrize("difficulty,reward_mode", SETTINGS)
def test_seed(difficulty, reward_mode):
    # parallel_seed_test in 1.27.0 compares a single step; seed_test on the AEC form compares whole runs.
    seed_test(lambda: smartpay_marl.env(difficulty=difficulty, reward_mode=reward_mode), num_cycles=300)


def test_max_cycles():
    max_cycles_test(smartpay_marl)


@pytest.mark.parametrize("difficulty,reward_mode", SETTINGS)
def test_render(difficulty, reward_mode):
    render_test(lambda render_mode=None: smartpay_marl.env(render_mode=render_mode, difficulty=difficulty, reward_mode=reward_mode))


@pytest.mark.parametrize("difficulty,reward_mode", SETTINGS)
def test_state(difficulty, reward_mode):
    parallel = smartpay_marl.parallel_env(difficulty=difficulty, reward_mode=reward_mode)
    parallel.reset(seed=0)
    state_test(smartpay_marl.env(difficulty=difficulty, reward_mode=reward_mode), parallel)


def test_registered_with_pettingzoo():
    import pettingzoo

    if not hasattr(pettingzoo, "make"):
        pytest.skip("this PettingZoo release has no registry (added in 1.27); the game works without it")

    parallel = pettingzoo.make("parallel", smartpay_marl.ENV_ID, max_cycles=7)
    assert isinstance(parallel, smartpay_marl.SmartPayParallelEnv)
    assert parallel.config.max_cycles == 7
    aec = pettingzoo.make("aec", smartpay_marl.ENV_ID, difficulty="hard")
    aec.reset(seed=1)
    assert aec.unwrapped.config.difficulty == "hard"


# ----------------------------------------------------------------------------- the fraud-displacement preset (issue 20)
def _displacement_fields() -> dict:
    from smartpay_marl.config import load_game_config

    return load_game_config("configs/game/displacement.yaml").model_dump()


def test_parallel_api_displacement():
    parallel_api_test(smartpay_marl.parallel_env(**_displacement_fields()), num_cycles=400)


def test_aec_api_strict_displacement():
    api_test(parallel_to_aec(smartpay_marl.parallel_env(**{**_displacement_fields(), "max_cycles": 150})), num_cycles=400)


def test_seed_displacement():
    seed_test(lambda: smartpay_marl.env(**_displacement_fields()), num_cycles=300)


def test_render_displacement():
    render_test(lambda render_mode=None: smartpay_marl.env(render_mode=render_mode, **_displacement_fields()))
