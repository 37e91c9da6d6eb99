"""Decayed head-to-head results between routers and fraudsters (the league's payoff table).

For every (router, fraudster) pair the table keeps two decayed sums, as in AlphaStar
and DI-engine: ``wins`` (sum of the router's soft wins, see ``league.core.win``) and
``games`` (number of episodes, each of weight 1), plus ``played``, the plain number
of episodes. The decay is applied once per GAME, as AlphaStar's and DI-engine's
payoffs do: recording one episode with soft win ``w`` is

    wins  <- decay * wins  + w
    games <- decay * games + 1

and ``update`` with k episodes applies this k times in the order given, so the same
episodes give the same table however they are split into calls. ``decay`` is in
(0, 1]; 1 means plain averages, ``d < 1`` weighs the last ``1 / (1 - d)`` games of a
pair most.

The router's win rate is ``wins / games``. A pair whose decayed game count is below
``min_games`` (or that never played) has the prior win rate 0.5: too little is known,
so neither side is favoured (DI-engine's ``min_win_rate_games``, 8 there).
The fraudster's win rate against a router is ``1 - `` the router's rate, so the two
perspectives always sum to 1.

The table is a pydantic model so that it serialises to plain JSON as part of the
league state; ``to_dict``/``from_dict`` give the same round trip on their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from league.core.players import Player, Role

UNKNOWN_PAIR_WIN_RATE = 0.5
"""Prior router win rate for a pair with no recorded games."""


class PairRecord(BaseModel):
    """Decayed sums for one (router, fraudster) pair."""

    model_config = ConfigDict(extra="forbid")

    wins: float = Field(ge=0.0, allow_inf_nan=False)
    games: float = Field(ge=0.0, allow_inf_nan=False)
    played: int = Field(default=0, ge=0, description="episodes recorded for the pair, not decayed")

    @model_validator(mode="after")
    def _wins_within_games(self) -> PairRecord:
        if self.wins > self.games:
            raise ValueError(f"wins must be <= games, got wins={self.wins!r} games={self.games!r}")
        return self


class PayoffTable(BaseModel):
    """Decayed router-win statistics keyed by router name, then fraudster name."""

    model_config = ConfigDict(extra="forbid")

    decay: float = Field(default=1.0, allow_inf_nan=False, description="per-game decay of the sums, in (0, 1]")
    min_games: float = Field(
        default=0.0, ge=0.0, allow_inf_nan=False,
        description="decayed games a pair needs before its win rate is used; below it the rate is 0.5",
    )
    stats: dict[str, dict[str, PairRecord]] = Field(default_factory=dict)

    @field_validator("decay")
    @classmethod
    def _decay_in_range(cls, value: float) -> float:
        if not 0.0 < value <= 1.0:
            raise ValueError(f"decay must be in (0, 1], got {value!r}")
        return value

    def update(self, router: str, fraudster: str, router_win: float | ArrayLike) -> None:
        """Record episodes between ``router`` and ``fraudster``.

        ``router_win`` is one soft win or an array of them, each in [0, 1], in the
        order they were played. Each episode first decays the pair's sums by
        ``decay``, then adds itself with weight 1 (see the module docstring). An
        empty array records nothing and leaves the pair untouched.
        """
        wins = np.asarray(router_win, dtype=np.float64).ravel()
        if wins.size == 0:
            return
        if not np.all(np.isfinite(wins)) or wins.min() < 0.0 or wins.max() > 1.0:
            bad = wins[~(np.isfinite(wins) & (wins >= 0.0) & (wins <= 1.0))][0]
            raise ValueError(f"router_win values must be in [0, 1], got {float(bad)!r}")
        _check_name("router", router)
        _check_name("fraudster", fraudster)
        record = self.stats.setdefault(router, {}).get(fraudster)
        if record is None:
            record = PairRecord(wins=0.0, games=0.0)
            self.stats[router][fraudster] = record
        # k sequential per-game updates in closed form: the i-th of k games (0-based) ends up with
        # weight decay ** (k - 1 - i), and the old sums with decay ** k.
        weights = self.decay ** np.arange(wins.size - 1, -1, -1, dtype=np.float64)
        carried = self.decay**wins.size
        record.wins = min(carried * record.wins + float(weights @ wins), carried * record.games + float(weights.sum()))
        record.games = carried * record.games + float(weights.sum())
        record.played += int(wins.size)

    def games(self, router: str, fraudster: str) -> float:
        """Decayed number of games recorded for the pair (0.0 if it never played)."""
        record = self.stats.get(router, {}).get(fraudster)
        return 0.0 if record is None else record.games

    def played(self, router: str, fraudster: str) -> int:
        """Episodes recorded for the pair, not decayed (0 if it never played)."""
        record = self.stats.get(router, {}).get(fraudster)
        return 0 if record is None else record.played

    def router_win_rate(self, router: str, fraudster: str) -> float:
        """Router's decayed win rate against ``fraudster``; 0.5 while the pair has fewer than ``min_games`` games."""
        record = self.stats.get(router, {}).get(fraudster)
        if record is None or record.games <= 0.0 or record.games < self.min_games:
            return UNKNOWN_PAIR_WIN_RATE
        return record.wins / record.games

    def win_rate(self, player: Player, opponent: Player) -> float:
        """``player``'s win rate against ``opponent``, from ``player``'s side of the table."""
        if player.role is opponent.role:
            raise ValueError(
                f"opponent must play the other role: {player.name!r} and {opponent.name!r} "
                f"are both {player.role.value!r}"
            )
        if player.role is Role.ROUTER:
            return self.router_win_rate(player.name, opponent.name)
        return 1.0 - self.router_win_rate(opponent.name, player.name)

    def win_rates(self, player: Player, opponents: Sequence[Player]) -> np.ndarray:
        """``player``'s win rate against each of ``opponents``, in the same order."""
        return np.array([self.win_rate(player, opponent) for opponent in opponents], dtype=np.float64)

    def matrix(self, routers: Sequence[str], fraudsters: Sequence[str]) -> np.ndarray:
        """Router win rates, shape ``(len(routers), len(fraudsters))``; row i is ``routers[i]``."""
        table = np.empty((len(routers), len(fraudsters)), dtype=np.float64)
        for i, router in enumerate(routers):
            for j, fraudster in enumerate(fraudsters):
                table[i, j] = self.router_win_rate(router, fraudster)
        return table

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-compatible data; ``PayoffTable.from_dict`` restores an equal table."""
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PayoffTable:
        """Rebuild a table from ``to_dict`` output; raises pydantic's ValidationError on bad data."""
        return cls.model_validate(data)


def _check_name(field: str, name: str) -> None:
    if not isinstance(name, str) or not name:
        raise ValueError(f"{field} must be a non-empty player name, got {name!r}")
