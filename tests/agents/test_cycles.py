"""The cycle measures of agents.cycles on games whose answers are known."""

import numpy as np
import pytest

from agents.cycles import best_response_counts, best_response_cycle, cyclic_share, meta_game_summary, three_cycles

MATCHING_PENNIES = np.array([[1.0, -1.0], [-1.0, 1.0]])
#: Guard one of three channels; the ring attacks one: caught (0) where guarded, else a loss of 1.
SECURITY_GAME = -1.0 + np.eye(3)


def test_cyclic_share_is_one_for_matching_pennies_and_zero_for_an_additive_game():
    assert cyclic_share(MATCHING_PENNIES) == pytest.approx(1.0)
    strengths = np.add.outer(np.array([3.0, 1.0, -2.0]), np.array([0.5, -1.0, 4.0, 2.0]))
    assert cyclic_share(strengths) == pytest.approx(0.0, abs=1e-12)
    assert 0.0 < cyclic_share(strengths + 0.3 * SECURITY_GAME[:, [0, 1, 2, 0]]) < 1.0


def test_three_cycles_count_only_non_transitive_games():
    additive = np.add.outer(np.array([3.0, 1.0, -2.0]), np.array([0.5, -1.0, 4.0]))
    assert three_cycles(additive)["three_cycles"] == 0
    cycles = three_cycles(SECURITY_GAME)
    assert cycles["players"] == 9 and cycles["three_cycles"] > 0


def test_best_response_cycle_is_a_saddle_point_or_a_loop():
    saddle = np.array([[3.0, 2.0], [1.0, 0.0]])
    assert best_response_cycle(saddle) == [(0, 1)]
    loop = best_response_cycle(SECURITY_GAME + 0.01 * np.arange(3)[:, None])  # break ties deterministically
    assert len(loop) >= 2 and len({r for r, _ in loop}) >= 2


def test_best_response_counts_share_ties():
    routers, fraudsters = best_response_counts(SECURITY_GAME)
    np.testing.assert_allclose(routers, [1.0, 1.0, 1.0])
    np.testing.assert_allclose(fraudsters, [1.0, 1.0, 1.0])


def test_meta_game_summary_of_the_security_game_mixes_uniformly():
    summary = meta_game_summary(SECURITY_GAME, ["g0", "g1", "g2"], ["a0", "a1", "a2"])
    assert summary["nash"]["value"] == pytest.approx(-2.0 / 3.0, abs=1e-6)
    assert set(summary["nash"]["router_support"]) == {"g0", "g1", "g2"}
    assert all(w == pytest.approx(1 / 3, abs=1e-3) for w in summary["nash"]["fraudster_support"].values())
    assert summary["cyclic_share"] == pytest.approx(1.0)
