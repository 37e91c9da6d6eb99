"""Property tests: random configs and action sequences never break the game's invariants."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import smartpay_marl
from smartpay_marl.layout import FRAUDSTER, ROUTER
from smartpay_marl.rules import PNL_TERMS

configs = st.fixed_dictionaries(
    {
        "difficulty": st.sampled_from(["easy", "medium", "hard"]),
        "reward_mode": st.sampled_from(["zero_sum", "profit", "graded"]),
        "max_cycles": st.integers(1, 90),
        "health_lag": st.integers(0, 5),
        "gross_margin": st.floats(0.01, 0.9),
        "dispute_fee": st.floats(0, 100),
        "review_cost": st.floats(0, 50),
        "chargeback_delay": st.tuples(st.integers(1, 30), st.integers(0, 30)).map(lambda t: (t[0], t[0] + t[1])),
        "review_delay": st.tuples(st.integers(1, 30), st.integers(0, 30)).map(lambda t: (t[0], t[0] + t[1])),
        "background_fraud_rate": st.floats(0, 0.5),
        "gateway_instability": st.floats(0, 1),
        "systemic_outage_prob": st.floats(0, 1),
        "churn_hazard": st.floats(0, 5),
        "heat_per_caught": st.floats(0, 1),
    }
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=configs, num_envs=st.integers(1, 6), seed=st.integers(0, 2**31 - 1), action_seed=st.integers(0, 1000))
def test_random_games_keep_invariants(config, num_envs, seed, action_seed):
    env = smartpay_marl.vector_env(num_envs, **config)
    spaces = {agent: env.single_observation_spaces[agent] for agent in (ROUTER, FRAUDSTER)}
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(action_seed)
    router_nvec = env.single_action_spaces[ROUTER].nvec
    fraud_nvec = env.single_action_spaces[FRAUDSTER].nvec
    total_chargebacks = 0.0
    scheduled = 0.0
    for step in range(config["max_cycles"]):
        for agent, space in spaces.items():
            assert obs[agent].dtype == np.float32
            assert np.all(np.isfinite(obs[agent]))
            assert all(space.contains(row) for row in obs[agent]), f"{agent} observation outside its space"
        actions = {
            ROUTER: rng.integers(0, router_nvec, size=(num_envs, 3)),
            FRAUDSTER: rng.integers(0, fraud_nvec, size=(num_envs, 4)),
        }
        obs, rewards, terms, truncs, info = env.step(actions)
        pnl = np.column_stack([info["pnl"][name] for name in PNL_TERMS])
        assert np.all(np.isfinite(pnl))
        for agent in (ROUTER, FRAUDSTER):
            assert np.all(np.isfinite(rewards[agent]))
        if config["reward_mode"] != "graded":
            # Money is conserved: the router's reward is exactly its itemised P&L, scaled.
            np.testing.assert_allclose(rewards[ROUTER], pnl.sum(axis=1) * 0.01, rtol=1e-12, atol=1e-12)
        if config["reward_mode"] == "zero_sum":
            np.testing.assert_array_equal(rewards[FRAUDSTER], -rewards[ROUTER])
        m = info["metrics"]
        scheduled += (m["amount"] * m["fraud_captured"] * (1 - m["challenged"])).sum()
        total_chargebacks += -info["pnl"]["chargeback_losses"].sum()
        assert np.all(terms[ROUTER] == (step == config["max_cycles"] - 1))
    # Every chargeback scheduled in the episode was settled by its end: nothing is dropped.
    np.testing.assert_allclose(total_chargebacks, scheduled, rtol=1e-9, atol=1e-9)
    assert not env.simulator.calendar.any()
