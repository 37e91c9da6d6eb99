"""The fraud-displacement mechanics (issue 20): off by default, and each one doing what it says when on."""

import hashlib

import numpy as np
import pytest

import smartpay_marl
from smartpay_marl.config import GameConfig, load_game_config, make_game_config
from smartpay_marl.layout import BLOCK, REVIEW, THREEDS, TX_GEO, TX_PAYMENT

PRESET = "configs/game/displacement.yaml"
OFF = {
    "lookalike_share": (0.0, 0.0, 0.0, 0.0),
    "false_decline_churn": 0.0,
    "review_capacity": None,
    "threeds_capacity": None,
    "strategy_templates": None,
    "fraud_signal_scale": 1.0,
    "channel_amount_shift": None,
    "volume_velocity": True,
}


def episode_digest(config: GameConfig, seed: int = 4) -> str:
    sim = smartpay_marl.Simulator(config, num_envs=8)
    sim.reset(seed=seed)
    rng = np.random.default_rng(0)
    digest = hashlib.sha256()
    done = False
    while not done:
        result = sim.step(rng.integers(0, [3, 4, 2], size=(8, 3)), rng.integers(0, [5, 4, 4, 5], size=(8, 4)))
        for array in (result.router_obs, result.fraudster_obs, result.rewards, result.pnl_array, result.metrics_array):
            digest.update(array.tobytes())
        done = result.done
    return digest.hexdigest()


def test_default_game_has_displacement_off_and_the_preset_turns_it_on():
    assert not GameConfig().displacement
    assert load_game_config(PRESET).displacement


@pytest.mark.parametrize("difficulty", ["easy", "medium", "hard"])
def test_explicitly_off_fields_play_the_same_episode_as_the_preset(difficulty):
    assert episode_digest(make_game_config(difficulty=difficulty, **OFF)) == episode_digest(
        make_game_config(difficulty=difficulty)
    )


def test_each_mechanic_changes_the_episode():
    base = episode_digest(GameConfig())
    preset = load_game_config(PRESET).model_dump()
    for field in OFF:
        assert episode_digest(make_game_config(**{field: preset[field]})) != base, field


def play(config: GameConfig, decision: int, seed: int = 1, num_envs: int = 16, fraud=(2, 1, 1, 2)):
    sim = smartpay_marl.Simulator(config, num_envs=num_envs)
    obs, _ = sim.reset(seed=seed)
    router = np.tile([0, decision, 1], (num_envs, 1))
    ring = np.tile(fraud, (num_envs, 1))
    steps = []
    done = False
    while not done:
        tx = obs.copy()
        result = sim.step(router, ring)
        steps.append((tx, result))
        obs, done = result.router_obs, result.done
    return steps


@pytest.mark.parametrize("decision,capacity_field,metric", [(REVIEW, "review_capacity", "reviewed"), (THREEDS, "threeds_capacity", "challenged")])
def test_capacity_caps_reviews_and_challenges_per_window(decision, capacity_field, metric):
    config = make_game_config(**{capacity_field: 2, "capacity_window": 20})
    steps = play(config, decision)
    per_step = np.array([result.metrics[metric] for _, result in steps])  # (steps, envs)
    per_window = per_step.reshape(-1, 20, per_step.shape[1]).sum(axis=1)
    assert per_window.max() == 2
    unlimited = np.array([r.metrics[metric] for _, r in play(GameConfig(), decision)]).reshape(-1, 20, 16).sum(axis=1)
    assert unlimited.min() > 2


def test_travellers_look_like_geo_attacks():
    config = make_game_config(lookalike_share=(0.0, 0.0, 1.0, 0.0))
    steps = play(config, 0, fraud=(0, 0, 0, 0))
    geo = np.concatenate([tx[:, TX_GEO][tx[:, TX_PAYMENT] > 0.5] for tx, _ in steps])
    default = np.concatenate([tx[:, TX_GEO][tx[:, TX_PAYMENT] > 0.5] for tx, _ in play(GameConfig(), 0, fraud=(0, 0, 0, 0))])
    assert geo.mean() > 0.8 and default.mean() < 0.15


def test_false_decline_churn_raises_the_price_of_blocking():
    def churn(config):
        return sum(result.pnl["churn_costs"].sum() for _, result in play(config, BLOCK, fraud=(0, 0, 0, 0)))

    assert churn(make_game_config(false_decline_churn=0.33)) < churn(GameConfig()) < 0


def test_strategy_map_points_a_strategy_at_another_template():
    config = make_game_config(strategy_templates=("mixed", "high_value_spike", "geo_anomaly", "velocity_burst", "device_spoof"))
    geo = np.concatenate([tx[:, TX_GEO][r.metrics["is_ring_attempt"] > 0.5] for tx, r in play(config, 0, fraud=(4, 0, 0, 2))])
    assert geo.size > 50 and geo.mean() > 0.8  # strategy 2 (stealth_fraud in the default game) now plays geo_anomaly


@pytest.mark.parametrize(
    "fields,message",
    [
        ({"strategy_templates": ("mixed",)}, "strategy_templates needs one template per strategy"),
        ({"strategy_templates": ("mixed", "geo", "mixed", "mixed", "mixed")}, "unknown template 'geo'"),
        ({"lookalike_share": (0.5, 0.5, 0.5, 0.0)}, "lookalike_share values must lie in [0, 1] and sum to at most 1"),
        ({"review_capacity": -1}, "review_capacity"),
    ],
)
def test_bad_displacement_fields_are_named(fields, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        make_game_config(**fields)
