"""Evaluation statistics on tiny runs: interval arithmetic, reproducibility, round robin shape, JSON."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from agents.evaluation import Estimate, evaluate, mean_estimate, ratio_estimate, round_robin
from agents.registry import make_policy

TINY = {"max_cycles": 40}


def _strict_json(text: str):
    def reject(constant: str):
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=reject)


def test_mean_estimate_matches_a_t_interval() -> None:
    values = np.array([1.0, 2.0, 3.0, 4.0])
    estimate = mean_estimate(values)
    assert estimate.mean == 2.5
    # t(0.975, 3) = 3.182446; sd = 1.290994
    assert estimate.half_width == pytest.approx(3.182446 * 1.290994 / 2.0, rel=1e-5)


def test_ratio_estimate_is_the_pooled_ratio() -> None:
    estimate = ratio_estimate(np.array([1.0, 3.0, 2.0]), np.array([2.0, 4.0, 4.0]), scale=100.0)
    assert estimate.mean == pytest.approx(60.0)
    assert estimate.low < 60.0 < estimate.high


def test_undefined_estimates_are_nan() -> None:
    assert math.isnan(ratio_estimate(np.zeros(3), np.zeros(3)).mean)
    single = mean_estimate(np.array([5.0]))
    assert single.mean == 5.0 and math.isnan(single.low)


@pytest.fixture(scope="module")
def tiny_stats():
    """Two batches (max_envs=4) of a tiny evaluation, played twice from the same seed, once from another."""
    def run(seed: int):
        return evaluate(make_policy("risk_3ds_band"), make_policy("mixed"), episodes=7, seed=seed, max_envs=4, **TINY)

    return run(1), run(1), run(2)


def test_confidence_intervals_contain_the_mean(tiny_stats) -> None:
    stats = tiny_stats[0]
    assert stats.episodes == 7 and len(stats.episode_router_returns) == 7
    for name, estimate in stats.estimates().items():
        if math.isnan(estimate.mean):
            continue
        assert estimate.low <= estimate.mean <= estimate.high, name
    assert stats.router_return.mean == pytest.approx(np.mean(stats.episode_router_returns))
    assert 0.0 <= stats.legit_approval_rate.mean <= 1.0
    assert stats.fraud_caught_share.mean + stats.fraud_passed_share.mean <= 1.0 + 1e-9


def test_same_seed_gives_identical_results(tiny_stats) -> None:
    first, second, other = tiny_stats
    strip = lambda stats: {k: v for k, v in stats.to_dict().items() if k != "wall_time_s"}  # noqa: E731
    assert strip(first) == strip(second)
    assert first.episode_router_returns != other.episode_router_returns


def test_zero_sum_returns_are_opposite(tiny_stats) -> None:
    stats = tiny_stats[0]
    assert stats.fraudster_return.mean == pytest.approx(-stats.router_return.mean)


def test_router_return_is_the_scaled_sum_of_the_pnl(tiny_stats) -> None:
    stats = tiny_stats[0]
    dollars = sum(estimate.mean for estimate in stats.pnl.values())
    assert stats.router_return.mean == pytest.approx(0.01 * dollars)


def test_block_all_stops_every_fraud_and_captures_nothing() -> None:
    stats = evaluate(make_policy("block_all"), make_policy("fraud_surge"), episodes=3, seed=0, **TINY)
    assert stats.block_rate.mean == 1.0
    assert stats.approval_rate.mean == 0.0
    assert stats.fraud_caught_share.mean == 1.0
    assert math.isnan(stats.chargeback_ratio.mean)


def test_round_robin_uses_common_random_numbers() -> None:
    routers = [make_policy("allow_all"), make_policy("risk_threshold")]
    fraudsters = [make_policy("neutral"), make_policy("fraud_surge"), make_policy("card_testing")]
    result = round_robin(routers, fraudsters, episodes=3, seed=5, **TINY)
    assert result.matrix.shape == (2, 3)
    assert result.router_names == ["allow_all", "risk_threshold"]
    assert result.fraudster_names == ["neutral", "fraud_surge", "card_testing"]
    alone = evaluate(make_policy("risk_threshold"), make_policy("fraud_surge"), episodes=3, seed=5, **TINY)
    assert result.stats("risk_threshold", "fraud_surge").episode_router_returns == alone.episode_router_returns
    # Same seed, same customers: on neutral traffic both routers see the same organic fraud.
    fraud_rates = [result.stats(r, "neutral").fraud_rate.mean for r in result.router_names]
    assert fraud_rates[0] == fraud_rates[1]
    decoded = _strict_json(result.to_json())
    np.testing.assert_allclose(decoded["router_returns"], result.matrix)
    assert decoded["pairings"][1][1]["router"] == "risk_threshold"
    assert decoded["pairings"][0][0]["chargeback_ratio"]["mean"] is not None


def test_policies_in_the_wrong_role_are_rejected() -> None:
    with pytest.raises(ValueError, match="expected a router"):
        evaluate(make_policy("neutral"), make_policy("neutral"), episodes=1, **TINY)
    with pytest.raises(ValueError, match="unique"):
        round_robin([make_policy("allow_all"), make_policy("allow_all")], [make_policy("neutral")], episodes=1, **TINY)


def test_estimate_is_a_plain_value() -> None:
    assert Estimate(1.0, 0.5, 1.5).half_width == 0.5
