"""Tests for league.core.slots: the opponents played follow the configured mix, however few the slots."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from scipy.stats import chisquare

from league.core.matchmaking import Matchmaker
from league.core.payoff import PayoffTable
from league.core.players import Player, PlayerKind, Role, make_learning_players, make_scripted_player
from league.core.slots import draw_slots

WEIGHTINGS = {Role.ROUTER: "squared", Role.FRAUDSTER: "squared"}


def league(snapshots_per_learner: int = 3):
    roster = make_learning_players(1, 1) + [make_scripted_player("fraudster_scripted:neutral")]
    learners = [p for p in roster if p.learning]
    for learner in learners:
        for k in range(snapshots_per_learner):
            roster.append(Player(name=f"{learner.name}@it{k + 1}", role=learner.role, kind=PlayerKind.HISTORICAL,
                                 parent=learner.name, created_iteration=k + 1))  # fmt: skip
    payoff = PayoffTable()
    rng = np.random.default_rng(4)
    for router in (p for p in roster if p.role is Role.ROUTER):
        for fraudster in (p for p in roster if p.role is Role.FRAUDSTER):
            payoff.update(router.name, fraudster.name, rng.uniform(0.05, 0.95, size=3))
    matchmaker = Matchmaker("pfsp", WEIGHTINGS, payoff, roster, seed=0)
    targets = {p.name: matchmaker.opponent_probabilities(p) for p in learners}
    return roster, learners, targets


def play(iterations: int, games: int, draw, learners, targets, players, capacity, seed=0):
    """Games played per (learner, opponent) over ``iterations`` iterations of ``games`` games per learner."""
    rng = np.random.default_rng(seed)
    counts = {learner.name: Counter() for learner in learners}
    for _ in range(iterations):
        mixes = draw(learners, targets, players, capacity, rng)
        for learner in learners:
            names = list(mixes[learner.name])
            p = np.array([mixes[learner.name][n] for n in names])
            for index in rng.choice(len(names), size=games, p=p / p.sum()):
                counts[learner.name][names[index]] += 1
    return counts


def exact(learners, targets, players, capacity, rng):
    result = draw_slots(learners, targets, players, capacity, rng)
    for role, names in result.wanted.items():
        assert len(names) <= capacity
    return result.mixes


def fill_likeliest_then_renormalise(learners, targets, players, capacity, rng):
    """The earlier scheme: sample the slot contents without replacement, renormalise over what is loaded."""
    mixes = {}
    for role in Role:
        demand: dict[str, float] = {}
        for learner in (l for l in learners if l.role is role.opponent):
            for name, p in targets[learner.name].items():
                if players[name].kind is PlayerKind.HISTORICAL and p > 0:
                    demand[name] = demand.get(name, 0.0) + p
        names = sorted(demand)
        weights = np.array([demand[n] for n in names])
        loaded = set(names) if len(names) <= capacity else {
            names[i] for i in rng.choice(len(names), size=capacity, replace=False, p=weights / weights.sum())
        }
        for learner in (l for l in learners if l.role is role.opponent):
            kept = {n: p for n, p in targets[learner.name].items() if players[n].kind is not PlayerKind.HISTORICAL or n in loaded}
            mixes[learner.name] = kept
    return mixes


def p_values(counts, targets):
    values = {}
    for learner, played in counts.items():
        names = [n for n, p in targets[learner].items() if p > 0]
        observed = np.array([played[n] for n in names], dtype=float)
        expected = np.array([targets[learner][n] for n in names]) * observed.sum()
        assert sum(played.values()) == observed.sum()  # nothing outside the configured support was played
        if len(names) > 1:
            values[learner] = chisquare(observed, expected).pvalue
    return values


def test_played_opponents_follow_the_configured_mix_self_play_share_included():
    roster, learners, targets = league()
    players = {p.name: p for p in roster}
    # One game per learner per iteration: each game is then an independent draw from the marginal mix (games of
    # one iteration share its slot draw, so more of them would be correlated and overdispersed for chi-square).
    counts = play(20_000, 1, exact, learners, targets, players, capacity=3)
    values = p_values(counts, targets)
    assert len(values) == 4  # both mains and both league exploiters; main exploiters face only the main here
    for learner, p_value in values.items():
        assert p_value > 1e-4, (learner, p_value)
    # The main's share of games against the other main is the configured one (35% self-play + fallbacks).
    main = counts["router_main"]
    share = main["fraudster_main"] / sum(main.values())
    assert share == pytest.approx(targets["router_main"]["fraudster_main"], abs=0.01)
    assert targets["router_main"]["fraudster_main"] >= 0.35


def test_the_earlier_slot_filling_is_caught_by_the_same_test():
    """Filling the slots with the likeliest snapshots and renormalising distorts the mix: the test sees it."""
    roster, learners, targets = league()
    players = {p.name: p for p in roster}
    counts = play(20_000, 1, fill_likeliest_then_renormalise, learners, targets, players, capacity=3)
    assert min(p_values(counts, targets).values()) < 1e-6


def test_every_learner_needs_a_slot():
    roster, learners, targets = league()
    players = {p.name: p for p in roster}
    with pytest.raises(ValueError, match="slots_per_side must be at least the number of learners per side"):
        draw_slots(learners, targets, players, 1, np.random.default_rng(0))  # the main and the league exploiter


def test_each_iterations_mix_is_a_distribution_over_loaded_or_live_players():
    roster, learners, targets = league()
    players = {p.name: p for p in roster}
    result = draw_slots(learners, targets, players, 4, np.random.default_rng(1))
    for learner in learners:
        mix = result.mixes[learner.name]
        assert sum(mix.values()) == pytest.approx(1.0)
        snapshots = {n for n in mix if players[n].kind is PlayerKind.HISTORICAL}
        assert snapshots <= set(result.wanted[learner.role.opponent])
