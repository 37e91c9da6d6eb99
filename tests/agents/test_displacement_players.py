"""The displacement game's scripted players: guards keep within the budgets, rings play their channel."""

import numpy as np
import pytest

from agents.displacement import ChannelGuardRouter, channel_signature, guard_routers, target_fraudsters
from smartpay_marl.config import load_game_config
from smartpay_marl.fraud import STRATEGY_NAMES
from smartpay_marl.layout import REVIEW, ROUTER_OBS, ROUTER_OBS_DIM, THREEDS
from smartpay_marl.vector_env import VectorEnv

GAME = load_game_config("configs/game/displacement.yaml")


def test_guard_never_exceeds_the_window_budgets_and_the_game_agrees():
    guard = ChannelGuardRouter(("gamers", "travellers"), GAME.review_capacity, GAME.threeds_capacity, GAME.capacity_window)
    env = VectorEnv(32, GAME)
    obs, _ = env.reset(seed=3)
    guard.reset(32)
    rng = np.random.default_rng(0)
    decisions, reviewed = [], []
    done = False
    while not done:
        actions = guard.act(obs["router_0"])
        ring = np.tile([4, 1, 3, rng.integers(0, 5)], (32, 1))
        obs, _, terms, _, infos = env.step({"router_0": actions, "fraudster_0": ring})
        decisions.append(actions[:, 1])
        reviewed.append(infos["metrics"]["reviewed"])
        done = bool(terms["router_0"][0])
    decisions = np.array(decisions).reshape(-1, GAME.capacity_window, 32)
    assert (decisions == REVIEW).sum(axis=1).max() == GAME.review_capacity
    assert (decisions == THREEDS).sum(axis=1).max() <= GAME.threeds_capacity
    # The game never had to let a review through unchecked: the guard's count matches the game's.
    assert np.array_equal(np.array(reviewed).reshape(decisions.shape), (decisions == REVIEW).astype(float))


def test_signatures_read_the_right_slots():
    obs = np.zeros((4, ROUTER_OBS_DIM), dtype=np.float32)
    obs[:, ROUTER_OBS["merchant"].start + 3] = 1.0  # grocery, median spend ~$37
    obs[0, ROUTER_OBS["amount"].start] = np.log1p(200.0) / 8  # > 2.5 x median
    obs[1, ROUTER_OBS["velocity"].start] = 0.4
    obs[2, ROUTER_OBS["geo_mismatch"].start] = 1.0
    obs[3, ROUTER_OBS["new_device"].start] = 1.0
    for row, segment in enumerate(("big_ticket", "gamers", "travellers", "new_customers")):
        assert channel_signature(obs, segment).tolist() == [r == row for r in range(4)], segment
    with pytest.raises(ValueError, match="unknown segment"):
        channel_signature(obs, "whales")


def test_players_of_the_game():
    assert len(guard_routers(GAME)) == 4 + 6
    rings = {ring.name: ring.action for ring in target_fraudsters(GAME)}
    strategy = {name: STRATEGY_NAMES[action[3]] for name, action in rings.items()}
    # The preset's map: fraud_surge -> high_value_spike, stealth_fraud -> geo_anomaly, ...
    assert strategy == {
        "target_big_ticket": "fraud_surge",
        "target_gamers": "velocity_attack",
        "target_travellers": "stealth_fraud",
        "target_new_customers": "card_testing",
    }
