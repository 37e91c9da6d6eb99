"""Tests for league.core.matchmaking: legal opponents per regime, PFSP preference, determinism."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from league.core.matchmaking import Matchmaker, PlayerRules, Regime
from league.core.payoff import PayoffTable
from league.core.players import Player, PlayerKind, Role, make_learning_players, make_scripted_player

SCRIPTED = ["fraudster_scripted:neutral", "fraudster_scripted:aggressive", "router_scripted:rules"]
SNAPSHOTS = [
    Player(name="router_main@it5", role=Role.ROUTER, kind=PlayerKind.HISTORICAL, parent="router_main"),
    Player(name="fraudster_main@it5", role=Role.FRAUDSTER, kind=PlayerKind.HISTORICAL, parent="fraudster_main"),
    Player(
        name="fraudster_main_exploiter_0@it8",
        role=Role.FRAUDSTER,
        kind=PlayerKind.HISTORICAL,
        parent="fraudster_main_exploiter_0",
        created_iteration=8,
    ),
]
WEIGHTINGS = {Role.ROUTER: "squared", Role.FRAUDSTER: "variance"}


def make_roster(*, scripted: list[str] = SCRIPTED) -> list[Player]:
    return make_learning_players(1, 1) + [make_scripted_player(n) for n in scripted] + list(SNAPSHOTS)


def by_name(roster: list[Player], name: str) -> Player:
    return next(p for p in roster if p.name == name)


def opponent_names(matchmaker: Matchmaker, learner: Player, draws: int = 300) -> set[str]:
    return {matchmaker.choose_opponent(learner).name for _ in range(draws)}


def legal(roster: list[Player], learner: Player, regime: Regime) -> set[str]:
    """Independent statement of the rules, for cross-checking the matchmaker."""
    other = [p for p in roster if p.role is learner.role.opponent]
    if regime is Regime.FIXED:
        return {p.name for p in other if p.kind is PlayerKind.SCRIPTED}
    main = {p.name for p in other if p.kind is PlayerKind.MAIN}
    history = {p.name for p in other if p.kind is PlayerKind.HISTORICAL}
    if regime is Regime.SELF_PLAY:
        return main
    if regime is Regime.FICTITIOUS:
        return main | history
    if learner.kind is PlayerKind.MAIN_EXPLOITER:  # the main, or its snapshots when losing to it
        return main | {p.name for p in other if p.kind is PlayerKind.HISTORICAL and p.parent in main}
    return main | history | {p.name for p in other if p.kind is PlayerKind.SCRIPTED}


@pytest.mark.parametrize("regime", list(Regime))
def test_each_regime_picks_only_legal_opponents(regime: Regime) -> None:
    roster = make_roster()
    matchmaker = Matchmaker(regime, WEIGHTINGS, PayoffTable(), roster, seed=1)
    for learner in (p for p in roster if p.learning):
        allowed = legal(roster, learner, regime)
        assert {p.name for p in matchmaker.candidates(learner)} == allowed
        chosen = opponent_names(matchmaker, learner)
        assert chosen <= allowed
        likely = {name for name, p in matchmaker.opponent_probabilities(learner).items() if p > 0.05}
        assert likely <= chosen  # with 300 draws, every opponent of probability > 5% shows up
        if regime is not Regime.PFSP:
            assert chosen == allowed


@pytest.mark.parametrize("regime", list(Regime))
def test_matchups_are_router_vs_fraudster_with_a_legal_learner(regime: Regime) -> None:
    roster = make_roster()
    matchmaker = Matchmaker(regime, WEIGHTINGS, PayoffTable(), roster, seed=2)
    players_seen: set[str] = set()
    for _ in range(400):
        router, fraudster = matchmaker.choose_matchup()
        assert router.role is Role.ROUTER and fraudster.role is Role.FRAUDSTER
        # Either side may have been the learner; at least one reading must be legal.
        assert (router.learning and fraudster.name in legal(roster, router, regime)) or (
            fraudster.learning and router.name in legal(roster, fraudster, regime)
        )
        players_seen |= {router.name, fraudster.name}
    assert {p.name for p in roster if p.learning} <= players_seen


def test_fixed_regime_skips_a_side_without_scripted_opponents() -> None:
    roster = make_roster(scripted=["fraudster_scripted:neutral"])
    matchmaker = Matchmaker("fixed", WEIGHTINGS, PayoffTable(), roster, seed=3)
    for _ in range(100):
        router, fraudster = matchmaker.choose_matchup()
        assert fraudster.name == "fraudster_scripted:neutral"
        assert router.learning
    with pytest.raises(ValueError, match="no legal opponent.*scripted router"):
        matchmaker.choose_opponent(by_name(roster, "fraudster_main"))


def test_fixed_scripted_choice_is_uniform() -> None:
    roster = make_roster()
    matchmaker = Matchmaker(Regime.FIXED, WEIGHTINGS, PayoffTable(), roster, seed=4)
    assert matchmaker.opponent_probabilities(by_name(roster, "router_main")) == {
        "fraudster_scripted:neutral": 0.5,
        "fraudster_scripted:aggressive": 0.5,
    }


PFSP_ONLY = PlayerRules(main_self_play_share=0.0, main_verification_share=0.0)


def historical(name: str, parent: str, iteration: int) -> Player:
    role = Role.ROUTER if name.startswith("router") else Role.FRAUDSTER
    return Player(name=name, role=role, kind=PlayerKind.HISTORICAL, parent=parent, created_iteration=iteration)


def test_pfsp_branch_samples_an_always_beaten_opponent_less_under_squared() -> None:
    payoff = PayoffTable()
    payoff.update("router_main", "fraudster_main@it5", np.full(50, 0.95))  # router almost always wins
    payoff.update("router_main", "fraudster_main_exploiter_0@it8", np.full(50, 0.5))
    roster = make_roster(scripted=[])
    matchmaker = Matchmaker(Regime.PFSP, WEIGHTINGS, payoff, roster, seed=5, rules=PFSP_ONLY)
    learner = by_name(roster, "router_main")
    probabilities = matchmaker.opponent_probabilities(learner)
    # The PFSP branch is over past players only (AlphaStar): squared weights 0.0025 and 0.25; the live main 0.
    assert probabilities["fraudster_main@it5"] == pytest.approx(0.0025 / 0.2525)
    assert probabilities["fraudster_main"] == 0.0
    draws = 5000
    counts = Counter(matchmaker.choose_opponent(learner).name for _ in range(draws))
    assert counts["fraudster_main@it5"] / draws < 0.03  # expected ~0.01, versus 1/2 under uniform
    assert counts["fraudster_main"] == 0


def test_pfsp_uses_the_learners_role_weighting_and_perspective() -> None:
    roster = make_roster(scripted=[]) + [historical("router_main@it9", "router_main", 9)]
    payoff = PayoffTable()
    payoff.update("router_main@it5", "fraudster_main", np.ones(10))  # router_main@it5 always beats fraudster_main
    matchmaker = Matchmaker(Regime.PFSP, WEIGHTINGS, payoff, roster, seed=6, rules=PFSP_ONLY)
    # The fraudster's view: win rate 0 against it5, 0.5 (unknown) against it9. Its weighting is variance,
    # x(1 - x): 0 and 0.25. (Squared would prefer it5, the router's view would give the same zero.)
    probabilities = matchmaker.opponent_probabilities(by_name(roster, "fraudster_main"))
    assert probabilities == {"router_main": 0.0, "router_main@it5": 0.0, "router_main@it9": 1.0}


def test_main_branch_shares_are_alphastars_by_default() -> None:
    roster = make_roster(scripted=[])
    payoff = PayoffTable()
    payoff.update("router_main", "fraudster_main", np.zeros(10))  # fraudster_main always beats router_main
    matchmaker = Matchmaker(Regime.PFSP, WEIGHTINGS, payoff, roster, seed=6)
    # 50% PFSP over past routers (only router_main@it5); 35% self-play (it wins: no fallback); 15%
    # verification, which finds no threat (no router exploiter snapshot, one past main is no forgetting)
    # and so plays self-play as well.
    probabilities = matchmaker.opponent_probabilities(by_name(roster, "fraudster_main"))
    assert probabilities == pytest.approx({"router_main": 0.5, "router_main@it5": 0.5})
    draws = 4000
    counts = Counter(matchmaker.choose_opponent(by_name(roster, "fraudster_main")).name for _ in range(draws))
    assert abs(counts["router_main"] / draws - 0.5) < 0.04
    # The old keyword still sets the self-play share.
    older = Matchmaker(Regime.PFSP, WEIGHTINGS, payoff, roster, seed=6, main_self_play_share=0.35)
    assert older.opponent_probabilities(by_name(roster, "fraudster_main")) == pytest.approx(probabilities)


def test_self_play_falls_back_to_the_mains_snapshots_when_it_is_too_strong() -> None:
    roster = make_roster(scripted=[])
    payoff = PayoffTable()
    payoff.update("router_main", "fraudster_main", np.ones(10))  # the fraudster main never wins (< 0.3)
    rules = PlayerRules(main_self_play_share=1.0, main_verification_share=0.0)
    matchmaker = Matchmaker(Regime.PFSP, WEIGHTINGS, payoff, roster, seed=6, rules=rules)
    assert matchmaker.opponent_probabilities(by_name(roster, "fraudster_main")) == {
        "router_main": 0.0, "router_main@it5": 1.0,
    }


def test_verification_plays_past_exploiters_it_loses_to_then_forgotten_mains() -> None:
    roster = make_roster(scripted=[]) + [historical("fraudster_main@it9", "fraudster_main", 9)]
    router = by_name(roster, "router_main")
    rules = PlayerRules(main_self_play_share=0.0, main_verification_share=1.0)
    payoff = PayoffTable()
    payoff.update("router_main", "fraudster_main_exploiter_0@it8", np.full(10, 0.1))  # a threat: below 0.3
    verification = Matchmaker(Regime.PFSP, WEIGHTINGS, payoff, roster, seed=0, rules=rules)
    assert verification.opponent_probabilities(router)["fraudster_main_exploiter_0@it8"] == 1.0
    # No threat: past mains it beats less than 0.7 are forgotten, unless they are the newest, harder ones.
    payoff = PayoffTable()
    payoff.update("router_main", "fraudster_main_exploiter_0@it8", np.full(10, 0.9))
    payoff.update("router_main", "fraudster_main@it5", np.full(10, 0.4))
    payoff.update("router_main", "fraudster_main@it9", np.full(10, 0.8))
    forgotten = Matchmaker(Regime.PFSP, WEIGHTINGS, payoff, roster, seed=0, rules=rules).opponent_probabilities(router)
    assert forgotten["fraudster_main@it5"] == pytest.approx(0.36 / (0.36 + 0.04))  # squared: 0.6^2, 0.2^2
    payoff.update("router_main", "fraudster_main@it5", np.full(1000, 0.95))  # win rates now fall: 0.95.., 0.8
    falling = Matchmaker(Regime.PFSP, WEIGHTINGS, payoff, roster, seed=0, rules=rules).opponent_probabilities(router)
    assert falling == {**{name: 0.0 for name in falling}, "fraudster_main": 1.0}  # nothing to verify: self-play


def test_exploiter_rules_in_pfsp() -> None:
    roster = make_roster()
    matchmaker = Matchmaker(Regime.PFSP, WEIGHTINGS, PayoffTable(), roster, seed=7)
    for role in Role:
        main_exploiter = by_name(roster, f"{role.value}_main_exploiter_0")
        assert opponent_names(matchmaker, main_exploiter, 50) == {f"{role.opponent.value}_main"}
        league_exploiter = by_name(roster, f"{role.value}_league_exploiter_0")
        frozen = {p.name for p in roster if p.role is role.opponent and p.frozen}
        assert opponent_names(matchmaker, league_exploiter, 300) == frozen  # every frozen player, never a learner
    # A main exploiter that keeps losing (< 0.2) to the main plays the main's snapshots instead.
    payoff = PayoffTable()
    payoff.update("router_main", "fraudster_main_exploiter_0", np.full(10, 0.9))
    losing = Matchmaker(Regime.PFSP, WEIGHTINGS, payoff, roster, seed=7)
    assert losing.opponent_probabilities(by_name(roster, "fraudster_main_exploiter_0")) == {
        "router_main": 0.0, "router_main@it5": 1.0,
    }


def test_pfsp_main_players_also_meet_the_leagues_scripted_baselines() -> None:
    roster = make_roster()
    matchmaker = Matchmaker(Regime.PFSP, WEIGHTINGS, PayoffTable(), roster, seed=12)
    router_pool = {p.name for p in matchmaker.candidates(by_name(roster, "router_main"))}
    assert {"fraudster_scripted:neutral", "fraudster_scripted:aggressive"} <= router_pool
    assert "fraudster_main_exploiter_0" not in router_pool  # exploiters are not main players' opponents
    assert "router_scripted:rules" in {p.name for p in matchmaker.candidates(by_name(roster, "fraudster_main"))}


def test_league_exploiter_uses_its_own_pfsp_weighting() -> None:
    roster = make_roster()
    payoff = PayoffTable()
    for fraudster in (p for p in roster if p.role is Role.FRAUDSTER):
        payoff.update("router_league_exploiter_0", fraudster.name, 1.0)  # beats everyone ...
    payoff.update("router_league_exploiter_0", "fraudster_main@it5", [0.0, 0.0, 0.0])  # ... except one snapshot
    matchmaker = Matchmaker(Regime.PFSP, WEIGHTINGS, payoff, roster, seed=8)
    probabilities = matchmaker.opponent_probabilities(by_name(roster, "router_league_exploiter_0"))
    assert probabilities["fraudster_main@it5"] == 1.0  # linear_capped (AlphaStar's): beaten players weigh 0


def test_deterministic_given_seed_and_roster_seen_live() -> None:
    roster = make_roster()
    first = Matchmaker(Regime.PFSP, WEIGHTINGS, PayoffTable(), roster, seed=11)
    second = Matchmaker(Regime.PFSP, WEIGHTINGS, PayoffTable(), roster, seed=11)
    sequence_a = [tuple(p.name for p in first.choose_matchup()) for _ in range(200)]
    sequence_b = [tuple(p.name for p in second.choose_matchup()) for _ in range(200)]
    assert sequence_a == sequence_b
    explicit = [tuple(p.name for p in first.choose_matchup(np.random.default_rng(3))) for _ in range(3)]
    assert len(set(explicit)) == 1

    roster.append(
        Player(name="fraudster_main@it20", role=Role.FRAUDSTER, kind=PlayerKind.HISTORICAL, parent="fraudster_main")
    )
    assert "fraudster_main@it20" in {p.name for p in first.candidates(by_name(roster, "router_main"))}


def test_bad_inputs_rejected() -> None:
    roster = make_roster()
    with pytest.raises(ValueError, match="regime must be one of"):
        Matchmaker("league", WEIGHTINGS, PayoffTable(), roster, seed=0)
    with pytest.raises(ValueError, match="missing fraudster"):
        Matchmaker("pfsp", {Role.ROUTER: "squared"}, PayoffTable(), roster, seed=0)
    with pytest.raises(ValueError, match="weighting must be one of"):
        Matchmaker("pfsp", {"router": "squared", "fraudster": "cubic"}, PayoffTable(), roster, seed=0)
    matchmaker = Matchmaker("pfsp", WEIGHTINGS, PayoffTable(), roster, seed=0)
    with pytest.raises(ValueError, match="learning player"):
        matchmaker.choose_opponent(by_name(roster, "router_main@it5"))
    stranger = Player(name="router_main_exploiter_9", role=Role.ROUTER, kind=PlayerKind.MAIN_EXPLOITER)
    with pytest.raises(ValueError, match="not in the league roster"):
        matchmaker.choose_opponent(stranger)


# ---------------------------------------------------------------------- MatchupPlan (what training samples from)


def test_matchup_plan_draws_learners_uniformly_and_opponents_by_probability():
    from league.core.matchmaking import MatchupPlan

    plan = MatchupPlan(
        [("router_main", Role.ROUTER), ("fraudster_main", Role.FRAUDSTER)],
        {"router_main": (["fraudster_main", "fraudster_slot_0"], [0.75, 0.25]), "fraudster_main": (["router_main"], [1.0])},
        seed=3,
    )
    matchups = plan.draw(np.random.default_rng(0), 40_000)
    assert all(len(m) == 2 for m in matchups)
    share_slot = sum(m == ("router_main", "fraudster_slot_0") for m in matchups) / len(matchups)
    share_main = sum(m == ("router_main", "fraudster_main") for m in matchups) / len(matchups)
    # Half the draws pick the router learner; a quarter of those face the slot. The other half is the
    # fraudster learner against router_main, which is also the pair (router_main, fraudster_main).
    assert share_slot == pytest.approx(0.125, abs=0.01)
    assert share_main == pytest.approx(0.5 + 0.375, abs=0.01)
    again = plan.draw(np.random.default_rng(0), 40_000)
    assert again == matchups


def test_matchup_plan_rejects_a_learner_without_opponents():
    from league.core.matchmaking import MatchupPlan

    with pytest.raises(ValueError, match="no learning module"):
        MatchupPlan([], {})
    with pytest.raises(ValueError, match="router_main"):
        MatchupPlan([("router_main", Role.ROUTER)], {})
    with pytest.raises(ValueError, match="non-negative"):
        MatchupPlan([("router_main", Role.ROUTER)], {"router_main": (["a"], [-1.0])})
