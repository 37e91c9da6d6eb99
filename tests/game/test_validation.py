"""Bad input to the game is refused with a message naming the argument, the agent or the field, and the bound."""

from __future__ import annotations

import numpy as np
import pytest

import smartpay_marl
from smartpay_marl import make_game_config


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"reward_scale": float("inf")}, r"reward_scale.*finite"),
        ({"attempt_cost": float("inf")}, r"attempt_cost.*finite"),
        ({"dispute_fee": float("nan")}, r"dispute_fee.*finite"),
        ({"reward_scale": 1e9}, r"reward_scale.*less than or equal to 1000"),
        ({"chargeback_delay": (1, 10**6)}, r"chargeback_delay.*<= 1000"),
        ({"intensity_levels": tuple([0.0] * 40)}, r"intensity_levels needs between 2 and 16 levels"),
        ({"customer_value": (15.0, 40.0, 1e12)}, r"customer_value values must lie in \[0, 1e\+06\]"),
    ],
)
def test_every_numeric_field_is_finite_and_bounded(fields, message):
    with pytest.raises(ValueError, match=message):
        make_game_config(**fields)


def test_a_preset_name_in_place_of_a_config_is_named():
    with pytest.raises(TypeError, match="config must be a GameConfig.*difficulty="):
        smartpay_marl.parallel_env(config="hard")


def test_extra_agents_and_huge_actions_are_refused_and_the_episode_goes_on():
    env = smartpay_marl.parallel_env(max_cycles=5)
    env.reset(seed=3)
    good = {"router_0": [0, 0, 0], "fraudster_0": [0, 0, 0, 0]}
    with pytest.raises(ValueError, match=r"unknown agents \['spy'\]"):
        env.step({**good, "spy": [1]})
    with pytest.raises(ValueError, match=r"router_0: action \[\[1e\+30.*outside MultiDiscrete\(\[3, 4, 2\]\)"):
        env.step({**good, "router_0": np.array([1e30, 0, 0])})
    env.step(good)  # nothing was lost: the episode continues


@pytest.mark.parametrize("seed", [-1, "abc", 1.5, True])
def test_reset_seed_must_be_a_non_negative_integer(seed):
    env = smartpay_marl.parallel_env(max_cycles=5)
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        env.reset(seed=seed)


def test_aec_checks_an_action_at_its_agents_turn():
    env = smartpay_marl.env(max_cycles=5)
    env.reset(seed=0)
    assert env.agent_selection == "router_0"
    with pytest.raises(ValueError, match="router_0: action"):
        env.step([9, 9, 9])
    # The bad action was not stored: the router can still act, then the fraudster.
    env.step([0, 0, 0])
    env.step([0, 0, 0, 0])
    assert env.agent_selection == "router_0"
