"""Opponent selection: which learner plays next, and against whom, under each training regime.

Regimes (the opponent is always a player of the learner's opposite role):

- ``fixed``: every learner faces the scripted players of the other side, uniformly.
- ``self_play``: every learner faces the other side's main player (latest vs latest).
- ``fictitious``: every learner faces, uniformly, the other side's historical
  snapshots plus its main player.
- ``pfsp``: the full AlphaStar-style league:

  - main players sample the other side's snapshots, its main player and the
    league's scripted baselines of that side with the PFSP weighting of their
    role (``league.core.pfsp``), using their win rates from the payoff table;
    with ``main_self_play_share`` > 0, that share of their games is instead
    played against the other side's current main, as AlphaStar's main agents
    did (35% self-play);
  - main exploiters always face the other side's main player;
  - league exploiters sample the whole other side (every player of that role:
    main, exploiters, snapshots and scripted baselines) with PFSP.

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
from typing import Protocol

import numpy as np

from league.core.payoff import PayoffTable
from league.core.pfsp import PFSPWeighting, parse_weighting, pfsp_probabilities
from league.core.players import Player, PlayerKind, Regime, Role
from league.core.state import LeagueState



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
        main_self_play_share: float = 0.0,
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
        if not 0.0 <= main_self_play_share <= 1.0:
            raise ValueError(f"main_self_play_share must be in [0, 1], got {main_self_play_share!r}")
        self.main_self_play_share = float(main_self_play_share)
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
            main_self_play_share=config.main_self_play_share,
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
        snapshots_and_main = [p for p in other if p.kind in (PlayerKind.HISTORICAL, PlayerKind.MAIN)]
        if self.regime is Regime.FIXED:
            return [p for p in other if p.kind is PlayerKind.SCRIPTED]
        if self.regime is Regime.SELF_PLAY:
            return main
        if self.regime is Regime.FICTITIOUS:
            return snapshots_and_main
        if learner.kind is PlayerKind.MAIN_EXPLOITER:
            return main
        if learner.kind is PlayerKind.LEAGUE_EXPLOITER:
            return other
        # The full league: the other side's snapshots, its main, and any scripted baselines in the
        # league (fixed opponents keep the learners honest against known attacks and defences).
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
        uses_pfsp = self.regime is Regime.PFSP and learner.kind in (PlayerKind.MAIN, PlayerKind.LEAGUE_EXPLOITER)
        if not uses_pfsp:
            return np.full(len(candidates), 1.0 / len(candidates))
        win_rates = self.payoff.win_rates(learner, candidates)
        probabilities = pfsp_probabilities(win_rates, self.weightings[learner.role])
        share = self.main_self_play_share if learner.kind is PlayerKind.MAIN else 0.0
        mains = [k for k, p in enumerate(candidates) if p.kind is PlayerKind.MAIN]
        if share and mains:
            # AlphaStar's mix: part pure self-play against the current main, whatever PFSP thinks of it
            # (squared PFSP drops an opponent the learner beats, and the mains then stop co-evolving).
            probabilities = (1.0 - share) * probabilities
            probabilities[mains] += share / len(mains)
        return probabilities

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
