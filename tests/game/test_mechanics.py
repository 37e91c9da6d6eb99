"""The mechanics the game promises, each checked by playing it."""

import numpy as np
import pytest

import smartpay_marl
from smartpay_marl import layout
from smartpay_marl.layout import ALLOW, BLOCK, FRAUDSTER, FRAUDSTER_OBS, REVIEW, ROUTER, ROUTER_OBS, THREEDS

N = 256


def play(decision=ALLOW, fraudster=(0, 0, 0, 0), steps=200, seed=0, num_envs=N, gateway=0, retry=0, **config):
    """Play constant actions; return per-step metrics, P&L, observations (arrays of shape (steps, N))."""
    env = smartpay_marl.vector_env(num_envs, max_cycles=steps, **config)
    obs, _ = env.reset(seed=seed)
    router = np.tile([gateway, decision, retry], (num_envs, 1))
    ring = np.tile(fraudster, (num_envs, 1))
    metrics, pnl, router_obs, ring_obs = [], [], [obs[ROUTER]], [obs[FRAUDSTER]]
    for _ in range(steps):
        obs, rewards, terms, _, info = env.step({ROUTER: router, FRAUDSTER: ring})
        metrics.append({k: v.copy() for k, v in info["metrics"].items()})
        pnl.append({k: v.copy() for k, v in info["pnl"].items()})
        router_obs.append(obs[ROUTER])
        ring_obs.append(obs[FRAUDSTER])
    stack = lambda rows: {k: np.array([r[k] for r in rows]) for k in rows[0]}  # noqa: E731
    return stack(metrics), stack(pnl), np.array(router_obs), np.array(ring_obs)


def test_ring_attempts_fill_idle_slots_and_never_displace_customers():
    """The customers an episode brings are the same whatever the ring does: attacks add traffic."""
    quiet, _, _, _ = play(fraudster=(0, 0, 0, 0), steps=100, num_envs=64)
    busy, _, busy_obs, _ = play(fraudster=(4, 3, 3, 0), steps=100, num_envs=64)
    customers = quiet["payment_present"].astype(bool)
    ring = busy["is_ring_attempt"].astype(bool)
    assert not (ring & customers).any()
    np.testing.assert_array_equal(busy["amount"][customers], quiet["amount"][customers])
    assert (busy["payment_present"].astype(bool) == (customers | ring)).all()
    idle = ~(customers | ring)
    assert idle.any() and (busy_obs[:-1][idle][:, : layout.TX_DIM] == 0).all(), "an idle slot shows no transaction"


def test_blocking_declines_and_the_episode_goes_on():
    metrics, pnl, _, _ = play(decision=BLOCK, steps=120)
    present = metrics["payment_present"].astype(bool)
    assert metrics["blocked"][present].all() and not metrics["captured"].any()
    assert metrics["blocked"].shape[0] == 120
    assert (pnl["churn_costs"] < 0).any(), "false blocks of customers must cost customer value"


def test_manual_review_costs_money_and_resolves_later():
    metrics, pnl, obs, _ = play(decision=REVIEW, steps=60)
    present = metrics["payment_present"].astype(bool)
    np.testing.assert_allclose(pnl["review_costs"][present], -5.0)
    assert (pnl["review_costs"][~present] == 0).all(), "an idle slot costs nothing"
    assert (pnl["sales_margin"][:9] == 0).all(), "no review resolves before its 10-step minimum delay"
    assert (pnl["sales_margin"][10:] > 0).any()
    assert (obs[11:, :, ROUTER_OBS["reviews_legit_now"].start] > 0).any(), "resolutions are reported back"


def test_pending_reviews_and_chargebacks_are_settled_at_the_end():
    # Five steps is shorter than every delay: all money arrives with the last step.
    _, pnl, _, _ = play(decision=REVIEW, steps=5)
    assert (pnl["sales_margin"][:4] == 0).all() and (pnl["sales_margin"][4] > 0).any()
    metrics, pnl, _, _ = play(decision=ALLOW, fraudster=(4, 0, 0, 1), steps=5)
    expected = (metrics["amount"] * metrics["fraud_captured"]).sum(axis=0)
    assert expected.sum() > 0
    np.testing.assert_allclose(-pnl["chargeback_losses"][4], expected)
    assert (pnl["chargeback_losses"][:4] == 0).all()


def test_three_ds_shifts_liability_and_costs_abandonment():
    metrics, pnl, _, _ = play(decision=THREEDS, fraudster=(4, 0, 0, 1), steps=100)
    assert metrics["fraud_captured"].any(), "some fraudsters pass 3DS"
    assert (pnl["chargeback_losses"] == 0).all(), "authenticated fraud is the issuer's loss"
    np.testing.assert_allclose(pnl["threeds_costs"][metrics["payment_present"].astype(bool)], -0.10)
    assert (pnl["abandonment_costs"] < 0).any()


def test_there_is_fraud_by_default_and_difficulty_raises_it():
    rates = {}
    for difficulty in ("easy", "medium", "hard"):
        metrics, _, _, _ = play(steps=100, difficulty=difficulty)
        assert not metrics["is_ring_attempt"].any(), "a neutral ring makes no attempts"
        present = metrics["payment_present"].astype(bool)
        assert abs(present.mean() - 0.8) < 0.01, "customers pay in 80% of steps"
        rates[difficulty] = metrics["is_fraud"][present].mean()
        base = smartpay_marl.GameConfig(difficulty=difficulty).background_fraud_rate
        assert base <= rates[difficulty] <= 2 * base  # night hours double the organic rate
    assert rates["easy"] < rates["medium"] < rates["hard"]


def test_difficulty_raises_gateway_instability():
    degraded = {}
    for difficulty in ("easy", "hard"):
        _, _, obs, _ = play(steps=200, difficulty=difficulty)
        degraded[difficulty] = obs[..., ROUTER_OBS["health_degraded"]].mean()
    assert degraded["easy"] < degraded["hard"]


def test_ring_intensity_sets_its_share_of_traffic():
    config = smartpay_marl.GameConfig()
    for level, share in enumerate(config.intensity_levels):
        metrics, _, _, _ = play(fraudster=(level, 0, 0, 1), steps=100)
        assert abs(metrics["is_ring_attempt"].mean() - share) < 0.01


def test_stealth_masks_the_risk_signal_but_shrinks_amounts():
    results = {}
    for stealth in (0, 3):
        metrics, _, obs, _ = play(fraudster=(3, stealth, 0, 1), steps=150, decision=ALLOW)
        ring = metrics["is_ring_attempt"].astype(bool)
        # obs[t] shows the transaction decided at step t (metrics[t]).
        risk = obs[:-1, :, ROUTER_OBS["risk_score"].start][ring]
        results[stealth] = (risk.mean(), metrics["amount"][ring].mean())
    assert results[3][0] < results[0][0] - 0.1
    assert results[3][1] < 0.6 * results[0][1]


def test_getting_caught_heats_the_ring_up():
    risk = {}
    for decision in (ALLOW, BLOCK):
        metrics, _, obs, _ = play(decision=decision, fraudster=(3, 0, 0, 3), steps=150)
        ring = metrics["is_ring_attempt"].astype(bool)
        risk[decision] = obs[:-1, :, ROUTER_OBS["risk_score"].start][ring].mean()
    assert risk[BLOCK] > risk[ALLOW] + 0.02


def test_card_testing_builds_validated_cards():
    _, _, _, ring_obs = play(decision=ALLOW, fraudster=(3, 0, 0, 4), steps=100)
    assert ring_obs[-1, :, FRAUDSTER_OBS["validated_cards"].start].mean() > 0.3


def test_bursts_raise_card_velocity():
    velocity = {}
    for burst in (0, 3):
        metrics, _, obs, _ = play(fraudster=(1, 0, burst, 1), steps=150)
        ring = metrics["is_ring_attempt"].astype(bool)
        velocity[burst] = obs[:-1, :, ROUTER_OBS["velocity"].start][ring].mean()
    assert velocity[3] > velocity[0] + 0.1


def test_failover_recovers_gateway_declines():
    without, _, _, _ = play(retry=0, steps=150, difficulty="hard")
    with_retry, pnl, _, _ = play(retry=1, steps=150, difficulty="hard")
    assert with_retry["captured"].mean() > without["captured"].mean() + 0.01
    assert with_retry["retried"].any()


@pytest.mark.parametrize("mode", ["zero_sum", "profit", "graded"])
def test_reward_modes(mode):
    env = smartpay_marl.vector_env(8, reward_mode=mode, max_cycles=50)
    env.reset(seed=1)
    seen_ring = False
    for _ in range(50):
        _, rewards, _, _, info = env.step({ROUTER: np.zeros((8, 3), int), FRAUDSTER: np.tile([3, 0, 0, 1], (8, 1))})
        m = info["metrics"]
        profit = sum(info["pnl"].values())
        if mode == "zero_sum":
            # The router earns its P&L x reward_scale; the ring earns exactly the negative.
            np.testing.assert_allclose(rewards[ROUTER], profit * 0.01, rtol=1e-12, atol=1e-12)
            np.testing.assert_array_equal(rewards[FRAUDSTER], -rewards[ROUTER])
        elif mode == "profit":
            np.testing.assert_allclose(rewards[ROUTER], profit * 0.01, rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(rewards[FRAUDSTER], (m["ring_value"] - m["ring_cost"]) * 0.01)
        else:
            assert np.all((0 <= rewards[ROUTER]) & (rewards[ROUTER] <= 1))
            np.testing.assert_array_equal(rewards[FRAUDSTER], -rewards[ROUTER])
        seen_ring = seen_ring or bool(m["is_ring_attempt"].any())
    assert seen_ring, "the ring attacked, so every mode was exercised on its attempts"
