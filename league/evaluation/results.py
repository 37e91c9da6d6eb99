"""The results of a league evaluation, as plain data: population, cross-play, meta-game, settings.

:mod:`league.evaluation.evaluate` computes them and :mod:`league.evaluation.report`
renders them; both import this module, so neither needs the other for its types.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from agents.evaluation import DEFAULT_MAX_ENVS, RoundRobinResult
from league.core.players import Role
from league.core.rundir import EVAL_DIR
from league.evaluation.ratings import Ratings

if TYPE_CHECKING:  # typing only: loading imports torch, which rendering a report does not need
    from league.core.win import WinDefinition
    from league.evaluation.loading import PlayerRecord


@dataclass(frozen=True)
class Population:
    """The players of each side, scripted baselines first, then learned players by iteration."""

    routers: list[PlayerRecord]
    fraudsters: list[PlayerRecord]
    #: snapshots left out because they hold the same weights as a live player: snapshot name -> player name
    same_as: dict[str, str] = field(default_factory=dict)

    def side(self, role: Role) -> list[PlayerRecord]:
        return self.routers if role is Role.ROUTER else self.fraudsters


@dataclass
class CrossPlay:
    """Mean router return of every pairing with its 95% CI; rows routers, columns fraudsters.

    ``win_rate`` is the mean soft router win per episode under the win definition.
    """

    router_names: list[str]
    fraudster_names: list[str]
    mean: np.ndarray  # (R, F)
    low: np.ndarray  # (R, F)
    high: np.ndarray  # (R, F)
    win_rate: np.ndarray  # (R, F)
    episodes: int
    seed: int
    wall_s: float

    @classmethod
    def from_round_robin(cls, result: RoundRobinResult, win: WinDefinition) -> CrossPlay:
        """The payoff view of a round robin: router returns with their 95% CIs, and soft win rates under ``win``."""
        pairings = [pairing for row in result.pairings for pairing in row]
        shape = (len(result.router_names), len(result.fraudster_names))

        def grid(values) -> np.ndarray:
            return np.array(list(values), dtype=np.float64).reshape(shape)

        return cls(
            router_names=list(result.router_names),
            fraudster_names=list(result.fraudster_names),
            mean=grid(p.router_return.mean for p in pairings),
            low=grid(p.router_return.low for p in pairings),
            high=grid(p.router_return.high for p in pairings),
            win_rate=grid(np.mean(win.router_win(np.asarray(p.episode_router_returns))) for p in pairings),
            episodes=result.episodes,
            seed=result.seed,
            wall_s=result.wall_time_s,
        )


@dataclass
class MetaGame:
    """The zero-sum meta-game of a payoff matrix (router return; rows routers, columns fraudsters).

    ``*_exploitability`` is, per pure player, how much a best response within
    the population takes from it relative to the game value: router ``i``:
    ``value - min_j A[i, j]``; fraudster ``j``: ``max_i A[i, j] - value``.
    ``*_regret`` is the same against the Nash mixture of the other side instead
    of its best member (see :func:`agents.meta_game.regrets`).
    """

    router_names: list[str]
    fraudster_names: list[str]
    value: float
    router_nash: np.ndarray
    fraudster_nash: np.ndarray
    router_regret: np.ndarray
    fraudster_regret: np.ndarray
    router_exploitability: np.ndarray
    fraudster_exploitability: np.ndarray
    uniform_nash_conv: float  # NashConv of the uniform mixtures over the population

    def exploitability_of(self, name: str) -> float:
        """Exploitability within the population of the router or fraudster ``name``."""
        if name in self.router_names:
            return float(self.router_exploitability[self.router_names.index(name)])
        if name in self.fraudster_names:
            return float(self.fraudster_exploitability[self.fraudster_names.index(name)])
        raise KeyError(f"{name!r} is not in the meta-game; players: {self.router_names + self.fraudster_names}")


@dataclass
class Settings:
    """What an evaluation was run with; enough to reproduce it."""

    run_dir: str
    episodes: int
    seed: int
    baselines: dict[str, list[str]]
    max_snapshots: int | None
    max_envs: int
    output: str
    game: dict[str, Any]
    win_definition: dict[str, float]
    players: list[str] = field(default_factory=list)  # extra players by name (e.g. mixtures)
    started_utc: str = field(default_factory=lambda: datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"))

    def command(self) -> str:
        """The exact ``smartpay-marl evaluate`` command that repeats this evaluation."""
        parts = ["smartpay-marl", "evaluate", self.run_dir, "--episodes", str(self.episodes), "--seed", str(self.seed)]
        for role in Role:
            parts += [f"--{role.value}-baselines", ",".join(self.baselines.get(role.value, [])) or "none"]
        if self.max_snapshots is not None:
            parts += ["--max-snapshots", str(self.max_snapshots)]
        if self.max_envs != DEFAULT_MAX_ENVS:
            parts += ["--max-envs", str(self.max_envs)]
        if self.players:
            parts += ["--players", ",".join(self.players)]
        if Path(self.output) != Path(self.run_dir) / EVAL_DIR:
            parts += ["--output", self.output]
        return shlex.join(parts)


@dataclass
class Evaluation:
    """Everything one evaluation of a run produced."""

    settings: Settings
    population: Population
    play: CrossPlay
    meta: MetaGame
    ratings: Ratings
    iteration: int
    wall_s: float  # restoring, cross-play and analysis; writing the files comes after
    load_s: float
    files: dict[str, Path] = field(default_factory=dict)
