"""Opponent selection: which learner plays next, and against whom, under each training regime.

Regimes (the opponent is always a player of the learner's opposite role):

- ``fixed``: every learner faces the scripted players of the other side, uniformly.
- ``self_play``: every learner faces the other side's main player (latest vs latest).
- ``fictitious``: every learner faces, uniformly, the other side's historical
  snapshots plus its main player.
- ``pfsp``: AlphaStar's league (docs/league_parity.md), each rule a setting of
  :class:`~league.core.state.LeagueConfig` (:class:`PlayerRules` here):

  - main players mix three branches: ``main_self_play_share`` (0.35) of their
    games against the other side's current main (or, while they win less than
    ``main_self_play_fallback_win_rate`` against it, its snapshots by variance
    PFSP); ``main_verification_share`` (0.15) against the other side's past main
    exploiters they still lose to, else the past mains they have forgotten
    (squared PFSP, else self-play); the rest (0.5) by PFSP over all past players
    of the other side (its snapshots and the league's scripted baselines), with
    the PFSP weighting of their role;
  - main exploiters face the other side's main, or its snapshots (variance PFSP)
    while their win rate against it is below ``main_exploiter_fallback_win_rate``;
  - league exploiters face the other side's frozen players (snapshots and scripted
    baselines) by PFSP with ``league_exploiter_weighting`` (the main while there are none).

A branch with nobody to play falls back as AlphaStar's does: PFSP and verification
to self-play, a fallback to snapshots that do not exist yet to the main itself. The
mixture is computed exactly (:meth:`Matchmaker.opponent_probabilities`), so the
probabilities that are sampled are the ones reported.

``Matchmaker.choose_matchup`` first picks the learner uniformly among the learning
players of both roles that have at least one legal opponent (under ``fixed`` a side
without scripted opponents simply does not train), then picks its opponent.

The matchmaker reads the roster live from its league view, so snapshots added to the
league are seen at the next choice. Candidates are visited in roster order and all
randomness comes from one seeded ``numpy.random.Generator``, so a matchmaker built
with the same seed on the same league makes the same choices.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Protocol

import numpy as np

from league.core.payoff import PayoffTable
from league.core.pfsp import PFSPWeighting, parse_weighting, pfsp_probabilities
from league.core.players import Player, PlayerKind, Regime, Role
from league.core.state import ALPHASTAR_RULES, LeagueConfig, LeagueState


@dataclass(frozen=True)
class PlayerRules:
    """AlphaStar's matchmaking rules under ``pfsp``; the defaults are AlphaStar's values (see LeagueConfig)."""

    main_self_play_share: float = ALPHASTAR_RULES["main_self_play_share"]
    main_verification_share: float = ALPHASTAR_RULES["main_verification_share"]
    main_self_play_fallback_win_rate: float = ALPHASTAR_RULES["main_self_play_fallback_win_rate"]
    verification_win_rate: float = ALPHASTAR_RULES["verification_win_rate"]
    main_exploiter_fallback_win_rate: float = ALPHASTAR_RULES["main_exploiter_fallback_win_rate"]
    league_exploiter_weighting: PFSPWeighting = PFSPWeighting.LINEAR_CAPPED

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name == "league_exploiter_weighting":
                object.__setattr__(self, item.name, parse_weighting(value))
            elif not 0.0 <= value <= 1.0:  # also refuses NaN
                raise ValueError(f"{item.name} must be in [0, 1], got {value!r}")
        if self.main_self_play_share + self.main_verification_share > 1.0 + 1e-12:
            raise ValueError("main_self_play_share + main_verification_share must be <= 1")

    @property
    def main_pfsp_share(self) -> float:
        return max(0.0, 1.0 - self.main_self_play_share - self.main_verification_share)

    @classmethod
    def from_config(cls, config: LeagueConfig) -> PlayerRules:
        return cls(**{item.name: getattr(config, item.name) for item in fields(cls)})


class LeagueView(Protocol):
    """Anything that exposes the league's current roster (``LeagueState`` does)."""

    @property
    def players(self) -> Sequence[Player]: ...


class Matchmaker:
    """Chooses learners and their opponents for one regime; deterministic given its seed."""

    def __init__(
        self,
        regime: Regime | str,
        weightings: Mapping[Role | str, PFSPWeighting | str],
        payoff: PayoffTable,
        league: LeagueView | Sequence[Player],
        seed: int,
        main_self_play_share: float | None = None,
        rules: PlayerRules | None = None,
    ) -> None:
        try:
            self.regime = Regime(regime)
        except ValueError:
            allowed = ", ".join(r.value for r in Regime)
            raise ValueError(f"regime must be one of {allowed}; got {regime!r}") from None
        parsed = {Role(role): parse_weighting(weighting) for role, weighting in weightings.items()}
        missing = [role.value for role in Role if role not in parsed]
        if missing:
            raise ValueError(f"weightings must give a weighting for every role; missing {', '.join(missing)}")
        self.weightings: dict[Role, PFSPWeighting] = parsed
        rules = PlayerRules() if rules is None else rules
        if main_self_play_share is not None:
            if not 0.0 <= main_self_play_share <= 1.0:
                raise ValueError(f"main_self_play_share must be in [0, 1], got {main_self_play_share!r}")
            verification = min(rules.main_verification_share, 1.0 - main_self_play_share)
            rules = replace(rules, main_self_play_share=float(main_self_play_share), main_verification_share=verification)
        self.rules = rules
        self.payoff = payoff
        self._league = league
        self.rng = np.random.default_rng(seed)

    @classmethod
    def from_state(cls, state: LeagueState, seed: int) -> Matchmaker:
        """A matchmaker over a league state's roster, payoff table and configured regime."""
        config = state.config
        return cls(
            config.regime,
            {Role.ROUTER: config.router_weighting, Role.FRAUDSTER: config.fraudster_weighting},
            state.payoff,
            state,
            seed,
            rules=PlayerRules.from_config(config),
        )

    @property
    def players(self) -> list[Player]:
        """The league's current roster."""
        league = self._league
        return list(league if isinstance(league, Sequence) else league.players)

    def candidates(self, learner: Player) -> list[Player]:
        """Every opponent ``learner`` may face under this regime, in roster order."""
        self._check_learner(learner)
        other = [p for p in self.players if p.role is learner.role.opponent]
        main = [p for p in other if p.kind is PlayerKind.MAIN]
        if self.regime is Regime.FIXED:
            return [p for p in other if p.kind is PlayerKind.SCRIPTED]
        if self.regime is Regime.SELF_PLAY:
            return main
        if self.regime is Regime.FICTITIOUS:
            return [p for p in other if p.kind in (PlayerKind.HISTORICAL, PlayerKind.MAIN)]
        if learner.kind is PlayerKind.MAIN_EXPLOITER:
            return main + _snapshots_of(other, main)
        # Mains and league exploiters: the other side's main, its snapshots and the league's scripted
        # baselines (fixed opponents keep the learners honest against known attacks and defences).
        return [p for p in other if p.kind in (PlayerKind.HISTORICAL, PlayerKind.MAIN, PlayerKind.SCRIPTED)]

    def opponent_probabilities(self, learner: Player) -> dict[str, float]:
        """Probability of each candidate opponent (by name) being chosen for ``learner``."""
        candidates = self.candidates(learner)
        if not candidates:
            return {}
        return dict(zip((p.name for p in candidates), self._probabilities(learner, candidates).tolist()))

    def choose_opponent(self, learner: Player, rng: np.random.Generator | None = None) -> Player:
        """Draw ``learner``'s next opponent; uses the matchmaker's own generator unless ``rng`` is given."""
        rng = self.rng if rng is None else rng
        candidates = self.candidates(learner)
        if not candidates:
            raise ValueError(
                f"learner {learner.name!r} has no legal opponent under regime {self.regime.value!r}; "
                f"the league needs {self._needed_opponents(learner)}"
            )
        probabilities = self._probabilities(learner, candidates)
        return candidates[int(rng.choice(len(candidates), p=probabilities))]

    def choose_matchup(self, rng: np.random.Generator | None = None) -> tuple[Player, Player]:
        """Pick a learner uniformly, then its opponent; returns ``(router, fraudster)``."""
        rng = self.rng if rng is None else rng
        learners = [p for p in self.players if p.learning and self.candidates(p)]
        if not learners:
            raise ValueError(
                f"no learning player has a legal opponent under regime {self.regime.value!r}; "
                f"roster: {[p.name for p in self.players]}"
            )
        learner = learners[int(rng.integers(len(learners)))]
        opponent = self.choose_opponent(learner, rng)
        return (learner, opponent) if learner.role is Role.ROUTER else (opponent, learner)

    def _probabilities(self, learner: Player, candidates: Sequence[Player]) -> np.ndarray:
        if self.regime is not Regime.PFSP:
            return np.full(len(candidates), 1.0 / len(candidates))
        other = [p for p in self.players if p.role is learner.role.opponent]
        if learner.kind is PlayerKind.MAIN:
            mix = self._main_mix(learner, other)
        elif learner.kind is PlayerKind.MAIN_EXPLOITER:
            mix = self._main_exploiter_mix(learner, other)
        else:
            mix = self._league_exploiter_mix(learner, other)
        probabilities = np.array([mix.get(p.name, 0.0) for p in candidates], dtype=np.float64)
        return probabilities / probabilities.sum()

    # ------------------------------------------------------------------ AlphaStar's branches (pfsp)
    def _pfsp(self, learner: Player, opponents: Sequence[Player], weighting: PFSPWeighting | str) -> dict[str, float]:
        """``{name: probability}`` over ``opponents`` by PFSP on ``learner``'s win rates against them."""
        probabilities = pfsp_probabilities(self.payoff.win_rates(learner, opponents), weighting)
        return dict(zip((p.name for p in opponents), probabilities.tolist()))

    def _main_mix(self, learner: Player, other: Sequence[Player]) -> dict[str, float]:
        rules = self.rules
        main = [p for p in other if p.kind is PlayerKind.MAIN]
        past = [p for p in other if p.kind in (PlayerKind.HISTORICAL, PlayerKind.SCRIPTED)]
        self_play = self._self_play_branch(learner, main, other)
        pfsp = self._pfsp(learner, past, self.weightings[learner.role]) if past else self_play
        verification = self._verification_branch(learner, main, other) or self_play
        return _mixture(
            (rules.main_pfsp_share, pfsp),
            (rules.main_self_play_share, self_play),
            (rules.main_verification_share, verification),
        )

    def _self_play_branch(self, learner: Player, main: Sequence[Player], other: Sequence[Player]) -> dict[str, float]:
        """The other side's main; its snapshots by variance PFSP while the learner wins too rarely against it."""
        if not main:
            return {}
        threshold = self.rules.main_self_play_fallback_win_rate
        return self._main_or_its_snapshots(learner, main, other, threshold)

    def _main_or_its_snapshots(
        self, learner: Player, main: Sequence[Player], other: Sequence[Player], threshold: float
    ) -> dict[str, float]:
        shares: dict[str, float] = {}
        for opponent in main:  # one main per side; the loop keeps the rule general
            snapshots = _snapshots_of(other, [opponent])
            if snapshots and self.payoff.win_rate(learner, opponent) < threshold:
                branch = self._pfsp(learner, snapshots, PFSPWeighting.VARIANCE)
            else:
                branch = {opponent.name: 1.0}
            for name, probability in branch.items():
                shares[name] = shares.get(name, 0.0) + probability / len(main)
        return shares

    def _verification_branch(
        self, learner: Player, main: Sequence[Player], other: Sequence[Player]
    ) -> dict[str, float] | None:
        """Past main exploiters the learner still loses to, else past mains it has forgotten; None if neither."""
        strong = self.rules.verification_win_rate
        exploiters = [p for p in self.players if p.kind is PlayerKind.MAIN_EXPLOITER and p.role is learner.role.opponent]
        past_exploiters = _snapshots_of(other, exploiters)
        if past_exploiters:
            rates = self.payoff.win_rates(learner, past_exploiters)
            if rates.min() < 1.0 - strong:
                return self._pfsp(learner, past_exploiters, PFSPWeighting.SQUARED)
        past_mains = _without_monotonic_suffix(_snapshots_of(other, main), lambda p: self.payoff.win_rate(learner, p))
        if past_mains and self.payoff.win_rates(learner, past_mains).min() < strong:
            return self._pfsp(learner, past_mains, PFSPWeighting.SQUARED)
        return None

    def _main_exploiter_mix(self, learner: Player, other: Sequence[Player]) -> dict[str, float]:
        main = [p for p in other if p.kind is PlayerKind.MAIN]
        return self._main_or_its_snapshots(learner, main, other, self.rules.main_exploiter_fallback_win_rate)

    def _league_exploiter_mix(self, learner: Player, other: Sequence[Player]) -> dict[str, float]:
        frozen = [p for p in other if p.kind in (PlayerKind.HISTORICAL, PlayerKind.SCRIPTED)]
        if not frozen:
            return {p.name: 1.0 for p in other if p.kind is PlayerKind.MAIN}
        return self._pfsp(learner, frozen, self.rules.league_exploiter_weighting)

    def _check_learner(self, learner: Player) -> None:
        if not learner.learning:
            raise ValueError(f"learner must be a learning player; {learner.name!r} is {learner.kind.value!r}")
        if learner.name not in {p.name for p in self.players}:
            raise ValueError(f"learner {learner.name!r} is not in the league roster")

    def _needed_opponents(self, learner: Player) -> str:
        other = learner.role.opponent.value
        if self.regime is Regime.FIXED:
            return f"at least one scripted {other} player"
        return f"a {other} main player"


def threshold_opponents(regime: Regime | str, learner: Player, players: Sequence[Player]) -> list[Player]:
    """Whom ``learner`` must beat (every one of them) for the snapshot rule's win-rate trigger.

    Under ``pfsp``, AlphaStar's: a main exploiter the other side's main; mains and
    league exploiters every past player of the other side (its snapshots and the
    scripted baselines). Under the other regimes: every opponent the regime allows.
    """
    other = [p for p in players if p.role is learner.role.opponent]
    if Regime(regime) is Regime.PFSP:
        if learner.kind is PlayerKind.MAIN_EXPLOITER:
            return [p for p in other if p.kind is PlayerKind.MAIN]
        return [p for p in other if p.frozen]
    return Matchmaker(regime, {role: "uniform" for role in Role}, PayoffTable(), list(players), seed=0).candidates(learner)


def _snapshots_of(other: Sequence[Player], parents: Sequence[Player]) -> list[Player]:
    """The snapshots in ``other`` taken from any of ``parents``, oldest first (roster order)."""
    names = {p.name for p in parents}
    return [p for p in other if p.kind is PlayerKind.HISTORICAL and p.parent in names]


def _without_monotonic_suffix(snapshots: list[Player], win_rate) -> list[Player]:
    """``snapshots`` (oldest first) without the newest run along which the learner's win rate only falls.

    AlphaStar's verification branch looks for past mains the learner has *forgotten*: the
    newest snapshots are naturally harder, so a falling tail of win rates is not
    forgetting and is left out.
    """
    rates = [win_rate(p) for p in snapshots]
    for index in range(len(rates) - 1, 0, -1):
        if rates[index - 1] < rates[index]:
            return snapshots[: index + 1]
    return []


def _mixture(*branches: tuple[float, dict[str, float]]) -> dict[str, float]:
    """``sum share * branch``, renormalised over the branches that have players (shares of empty ones move pro rata)."""
    mix: dict[str, float] = {}
    total = 0.0
    for share, branch in branches:
        if share <= 0 or not branch:
            continue
        total += share
        for name, probability in branch.items():
            mix[name] = mix.get(name, 0.0) + share * probability
    return {name: value / total for name, value in mix.items()} if total > 0 else mix


class MatchupPlan:
    """One iteration's matchmaking over the modules that are playable now, drawn per episode.

    The league driver turns each learner's opponent probabilities (from
    :meth:`Matchmaker.opponent_probabilities`, renormalised over the opponents
    that have a module loaded this iteration) into a plan and sends it to
    every sampler. :meth:`draw` is the one place where a training episode's
    matchup is drawn: a learner uniformly, then its opponent by the plan's
    probabilities, as :meth:`Matchmaker.choose_matchup` does over players.

    Args:
        learners: ``[(module id, role)]`` of the learning modules that may be chosen.
        opponents: ``{learner module id: ([opponent module ids], [probabilities])}``.
        seed: seed for samplers that draw from this plan.
    """

    def __init__(
        self,
        learners: Sequence[tuple[str, Role | str]],
        opponents: Mapping[str, tuple[Sequence[str], Sequence[float]]],
        seed: int = 0,
    ):
        if not learners:
            raise ValueError("no learning module has an opponent; check the league's regime and scripted_opponents")
        self.learners = [(module, Role(role)) for module, role in learners]
        self.opponents: dict[str, tuple[list[str], np.ndarray]] = {}
        for module, _ in self.learners:
            if module not in opponents:
                raise ValueError(f"learner module {module!r} has no opponents in the plan")
            names, probabilities = opponents[module]
            weights = np.asarray(probabilities, dtype=float)
            if len(names) != len(weights) or not len(names) or (weights < 0).any() or weights.sum() <= 0:
                raise ValueError(f"opponent probabilities of {module!r} must be non-negative, non-empty and match the names")
            self.opponents[module] = (list(names), weights / weights.sum())
        self.seed = int(seed)

    def draw(self, rng: np.random.Generator, count: int) -> list[tuple[str, str]]:
        """``count`` independent matchups as ``(router module, fraudster module)``."""
        learner_index = rng.integers(len(self.learners), size=count)
        uniforms = rng.random(count)
        matchups = []
        for index, u in zip(learner_index.tolist(), uniforms.tolist()):
            learner, role = self.learners[index]
            names, probabilities = self.opponents[learner]
            position = min(int(np.searchsorted(np.cumsum(probabilities), u, side="right")), len(names) - 1)
            opponent = names[position]
            matchups.append((learner, opponent) if role is Role.ROUTER else (opponent, learner))
        return matchups

    def learner_modules(self) -> list[str]:
        return [module for module, _ in self.learners]
