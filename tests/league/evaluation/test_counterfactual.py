"""The fraudster's counterfactual signal leaves the game unchanged: same rankings, same equilibria, less variance.

Played on a scripted round robin (every pairing on the same seeded episodes):
under the counterfactual signal each router's row is the zero-sum row minus a
constant, so the fraudsters' ranking against every router and the meta-game
Nash equilibrium are the same, and the per-episode noise of the legitimate
traffic cancels.
"""

from __future__ import annotations

import numpy as np
import pytest

from agents.registry import make_policy
from league.evaluation.counterfactual import signal_matrices
from agents.meta_game import solve_zero_sum
from smartpay_marl.config import make_game_config

ROUTERS = ["allow_all", "risk_threshold", "risk_3ds_band", "velocity_rules", "smartpay_heuristic"]
FRAUDSTERS = ["neutral", "fraud_surge", "stealth_fraud", "velocity_attack", "card_testing", "max_everything"]


@pytest.fixture(scope="module")
def matrices():
    routers = [make_policy(name, "router") for name in ROUTERS]
    fraudsters = [make_policy(name, "fraudster") for name in FRAUDSTERS]
    return signal_matrices(routers, fraudsters, episodes=64, seed=5, config=make_game_config(difficulty="medium"))


def test_each_router_row_shifts_by_a_constant_and_keeps_the_fraudsters_ranking(matrices):
    zero_sum, counterfactual, _, _ = matrices
    shift = zero_sum - counterfactual
    assert np.allclose(shift, shift[:, :1], atol=1e-9), "the shadow term must not depend on the fraudster"
    for row in range(len(ROUTERS)):
        assert list(np.argsort(-zero_sum[row], kind="stable")) == list(np.argsort(-counterfactual[row], kind="stable"))
    # The neutral ring gains nothing over the shadow, where the ring is idle too.
    assert np.allclose(counterfactual[:, FRAUDSTERS.index("neutral")], 0.0, atol=1e-9)


def test_the_zero_sum_nash_equilibrium_is_an_equilibrium_under_the_counterfactual_signal(matrices):
    zero_sum, counterfactual, _, _ = matrices
    router_payoff = -zero_sum
    nash = solve_zero_sum(router_payoff)
    x, y = nash.row_strategy, nash.col_strategy
    # The fraudster's mixture is a best response to the router's under the counterfactual payoffs ...
    assert x @ counterfactual @ y >= (x @ counterfactual).max() - 1e-6
    # ... and the router's payoffs are untouched, so its mixture stays a best response.
    assert x @ router_payoff @ y >= (router_payoff @ y).max() - 1e-6
    # Conversely a best response under one signal is one under the other, for any router mixture.
    rng = np.random.default_rng(0)
    for _ in range(20):
        mixture = rng.dirichlet(np.ones(len(ROUTERS)))
        assert np.argmax(mixture @ zero_sum) == np.argmax(mixture @ counterfactual)


def test_the_counterfactual_signal_has_far_less_variance(matrices):
    _, _, zero_sum_std, counterfactual_std = matrices
    attacks = [FRAUDSTERS.index(name) for name in FRAUDSTERS if name != "neutral"]
    ratio = counterfactual_std[:, attacks].mean() / zero_sum_std[:, attacks].mean()
    assert ratio < 0.6, f"standard deviation ratio {ratio:.2f}"
