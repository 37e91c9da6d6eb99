"""Tests for league.evaluation.ratings: Bradley-Terry fit with a role term and the Elo scale."""

from __future__ import annotations

import math

import numpy as np
import pytest

from league.evaluation.ratings import (
    ELO_PER_LOGIT,
    FRAUDSTER,
    ROUTER,
    Match,
    fit_bradley_terry,
    logit_to_elo,
)

# True logits, centred within each role (the model's gauge), and the router advantage.
TRUE_ROUTERS = {"r0": -1.0, "r1": 0.0, "r2": 1.0}
TRUE_FRAUDSTERS = {"f0": -0.8, "f1": -0.2, "f2": 0.2, "f3": 0.8}
TRUE_ADVANTAGE = 0.5
GAMES_PER_PAIR = 400


def simulate_games(seed: int = 7) -> list[Match]:
    """One Bernoulli game per record, every router against every fraudster."""
    rng = np.random.default_rng(seed)
    games = []
    for router, r in TRUE_ROUTERS.items():
        for fraudster, f in TRUE_FRAUDSTERS.items():
            p = 1.0 / (1.0 + math.exp(-(r + TRUE_ADVANTAGE - f)))
            wins = rng.random(GAMES_PER_PAIR) < p
            games.extend(Match(router, fraudster, float(w)) for w in wins)
    return games


def aggregate(games: list[Match]) -> list[tuple[str, str, float, float]]:
    """Collapse single games into (router, fraudster, win rate, game count) soft records."""
    totals: dict[tuple[str, str], list[float]] = {}
    for game in games:
        totals.setdefault((game.router, game.fraudster), []).append(game.router_win)
    return [(r, f, float(np.mean(wins)), float(len(wins))) for (r, f), wins in totals.items()]


@pytest.fixture(scope="module")
def games() -> list[Match]:
    return simulate_games()


# --------------------------------------------------------------------------
# Bradley-Terry
# --------------------------------------------------------------------------


def test_recovers_true_ratings_and_role_advantage(games: list[Match]) -> None:
    ratings = fit_bradley_terry(games)
    truth = {**TRUE_ROUTERS, **TRUE_FRAUDSTERS}
    fitted = dict(zip(ratings.names, ratings.logit))

    assert ratings.names == ("r0", "r1", "r2", "f0", "f1", "f2", "f3")
    assert ratings.roles == (ROUTER,) * 3 + (FRAUDSTER,) * 4
    # Ordering within each role is recovered.
    assert sorted(TRUE_ROUTERS, key=fitted.get) == sorted(TRUE_ROUTERS, key=truth.get)
    assert sorted(TRUE_FRAUDSTERS, key=fitted.get) == sorted(TRUE_FRAUDSTERS, key=truth.get)
    for name, true_logit in truth.items():
        assert fitted[name] == pytest.approx(true_logit, abs=0.2), name
    assert ratings.role_advantage == pytest.approx(TRUE_ADVANTAGE, abs=0.15)

    # Gauge: every role, and so everybody, is centred at 0 logits / 1500 Elo.
    assert ratings.logit[:3].sum() == pytest.approx(0.0, abs=1e-9)
    assert ratings.logit[3:].sum() == pytest.approx(0.0, abs=1e-9)
    assert ratings.elo.mean() == pytest.approx(1500.0)


def test_standard_errors_are_plausible(games: list[Match]) -> None:
    ratings = fit_bradley_terry(games)
    assert ratings.logit_se is not None and ratings.elo_se is not None
    assert ratings.role_advantage_se is not None
    # About 1/sqrt(games * p(1-p)) for ~1600 games per router and ~1200 per fraudster.
    assert np.all((ratings.logit_se > 0.02) & (ratings.logit_se < 0.15))
    assert 0.01 < ratings.role_advantage_se < 0.1
    np.testing.assert_allclose(ratings.elo_se, ELO_PER_LOGIT * ratings.logit_se)
    # The truth lies within 4 standard errors of every estimate.
    truth = np.array([*TRUE_ROUTERS.values(), *TRUE_FRAUDSTERS.values()])
    assert np.all(np.abs(ratings.logit - truth) < 4.0 * ratings.logit_se)


def test_elo_scale() -> None:
    assert ELO_PER_LOGIT == pytest.approx(400.0 / math.log(10.0))
    # 400 Elo points are a factor of 10 in odds.
    assert logit_to_elo(math.log(10.0)) == pytest.approx(1900.0)
    assert logit_to_elo(0.0) == 1500.0


def test_soft_outcomes_match_the_equivalent_single_games(games: list[Match]) -> None:
    single = fit_bradley_terry(games)
    soft = fit_bradley_terry(aggregate(games))
    assert soft.names == single.names
    np.testing.assert_allclose(soft.logit, single.logit, atol=1e-6)
    assert soft.role_advantage == pytest.approx(single.role_advantage, abs=1e-6)
    np.testing.assert_allclose(soft.logit_se, single.logit_se, rtol=1e-5)


def test_win_probability_uses_role_advantage(games: list[Match]) -> None:
    ratings = fit_bradley_terry(aggregate(games))
    margin = ratings.logit[ratings.index("r2")] + ratings.role_advantage - ratings.logit[ratings.index("f0")]
    assert ratings.win_probability("r2", "f0") == pytest.approx(1.0 / (1.0 + math.exp(-margin)))
    with pytest.raises(ValueError, match="must be a router"):
        ratings.win_probability("f0", "r2")
    with pytest.raises(ValueError, match="unknown player 'nobody'"):
        ratings.index("nobody")


def test_player_with_all_wins_gets_a_finite_top_rating(games: list[Match]) -> None:
    perfect = [("ace", fraudster, 1.0, 50.0) for fraudster in TRUE_FRAUDSTERS]
    ratings = fit_bradley_terry(list(games) + perfect)
    ace = ratings.logit[ratings.index("ace")]
    assert math.isfinite(ace)
    assert ace == ratings.logit[np.array(ratings.roles) == ROUTER].max()
    assert np.all(np.isfinite(ratings.logit_se))


def test_routers_winning_everything_give_a_finite_role_advantage() -> None:
    ratings = fit_bradley_terry([("a", "x", 1.0), ("b", "y", 1.0), ("a", "y", 1.0)])
    assert math.isfinite(ratings.role_advantage) and ratings.role_advantage > 0.0
    assert np.all(np.isfinite(ratings.logit))


def test_weight_scales_evidence() -> None:
    doubled = fit_bradley_terry([("a", "x", 0.7, 20.0), ("b", "x", 0.4, 20.0), ("a", "y", 0.6, 20.0)])
    single = fit_bradley_terry([("a", "x", 0.7, 10.0), ("b", "x", 0.4, 10.0), ("a", "y", 0.6, 10.0)])
    # Twice the evidence: standard errors shrink by sqrt(2), up to the small prior.
    ratio = single.logit_se / doubled.logit_se
    np.testing.assert_allclose(ratio, math.sqrt(2.0), rtol=0.05)


@pytest.mark.parametrize("bad", [1.2, -0.1, float("nan"), "win"])
def test_invalid_outcome_names_the_record(bad: object) -> None:
    matches = [("a", "x", 1.0), ("a", "y", 0.0), ("b", "x", bad, 1.0)]
    with pytest.raises(ValueError, match=r"match record 2 \('b' vs 'x'\): router_win"):
        fit_bradley_terry(matches)


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_invalid_weight_names_the_record(bad: float) -> None:
    with pytest.raises(ValueError, match=r"match record 1 \('b' vs 'x'\): weight"):
        fit_bradley_terry([("a", "x", 1.0, 1.0), ("b", "x", 0.5, bad)])


def test_malformed_records_raise() -> None:
    with pytest.raises(ValueError, match="at least one record"):
        fit_bradley_terry([])
    with pytest.raises(ValueError, match="match record 0 must be"):
        fit_bradley_terry([("a", "x")])
    with pytest.raises(ValueError, match="fraudster name"):
        fit_bradley_terry([("a", 3, 1.0)])
    with pytest.raises(ValueError, match="positive total weight"):
        fit_bradley_terry([("a", "x", 1.0, 0.0)])
    with pytest.raises(ValueError, match="prior_precision"):
        fit_bradley_terry([("a", "x", 1.0)], prior_precision=0.0)


def test_a_player_cannot_take_both_roles() -> None:
    with pytest.raises(ValueError, match=r"'x' appears as fraudster \(match record 0\) and as router \(match record 1\)"):
        fit_bradley_terry([("a", "x", 1.0), ("x", "b", 0.0)])
