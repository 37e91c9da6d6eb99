"""The regime study's numbers, computed from what the phases wrote: exploitability, NashConv, intervals.

Exploitability is measured against one common value ``v`` per game, the
value of the zero-sum meta-game of the whole cross-play (every regime's
outputs and the scripted population), so the numbers compare across
regimes. Every responder's router return is kept as it was measured, and ``v``
is applied here, so adding a seed (which moves ``v`` a little) re-bases the
old best responses instead of training them again.

For a router ``x`` the exploitability is ``v - min u(x, f)`` over every
responder ``f`` the study has (the oracle's warm-started and from-scratch
best responses at their final point, the run's own population, the study's
cross-play); for a fraudster ``y`` it is ``max u(r, y) - v``. NashConv is
their sum for a pair from the same run (``v`` cancels).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from study_config import SIDES, StudyGame
from study_phases import ORACLE_STARTS, WARM, Output, oracle_path

KINDS = ("main", "mixture")
REFERENCE_REGIME = "self_play"


# ---------------------------------------------------------------------- intervals


def t_quantile(degrees: int) -> float:
    """Two-sided 95% Student-t quantile."""
    from agents.evaluation import _student_t_quantile

    return float(_student_t_quantile(0.975, degrees))


@dataclass(frozen=True)
class Interval:
    """A mean over seeds with the half-width of its 95% t-interval (NaN with one value: a single run)."""

    mean: float
    half_width: float
    n: int

    @classmethod
    def of(cls, values) -> Interval:
        finite = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
        if finite.size == 0:
            return cls(math.nan, math.nan, 0)
        if finite.size == 1:
            return cls(float(finite[0]), math.nan, 1)
        half = t_quantile(finite.size - 1) * finite.std(ddof=1) / math.sqrt(finite.size)
        return cls(float(finite.mean()), float(half), int(finite.size))

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width

    def text(self, sign: bool = True) -> str:
        if not np.isfinite(self.mean):
            return "-"
        value = f"{self.mean:+.2f}" if sign else f"{self.mean:.2f}"
        return f"{value} ± {self.half_width:.2f}" if np.isfinite(self.half_width) else value

    def overlaps(self, other: Interval) -> bool | None:
        if not (np.isfinite(self.half_width) and np.isfinite(other.half_width)):
            return None
        return not (self.high < other.low or other.high < self.low)


def paired_difference(values: dict[int, float], reference: dict[int, float]) -> Interval:
    """Mean of ``values - reference`` over the seeds both have, with a paired t-interval."""
    seeds = sorted(set(values) & set(reference))
    return Interval.of([values[s] - reference[s] for s in seeds])


# ---------------------------------------------------------------------- the oracle's files


@dataclass
class OracleRun:
    """One best response of the oracle, reduced to router returns (independent of v)."""

    start: str
    final_return: float  # the router's return against the responder at its last curve point
    best_return: float  # the responder's best point (a slightly optimistic estimate)
    flattened: bool
    env_steps: int
    warm_start: str | None
    wall_s: float
    curve: list[tuple[int, float]]
    population_returns: dict[str, float] = field(default_factory=dict)  # the run's own population, by name

    @classmethod
    def read(cls, document: dict, start: str) -> OracleRun:
        seed_run = document["seeds"][0]
        returns = [point["router_return"] for point in seed_run["curve"]]
        router_target = document["role"] == "router"  # a router's responder wants the router's return low
        best = min(returns) if router_target else max(returns)
        population = {r["name"]: r["router_return"] for r in document.get("responders", [])}
        return cls(start, returns[-1], best, bool(seed_run["flattened"]), int(seed_run["env_steps"]),
                   seed_run.get("warm_start"), float(document.get("wall_s", 0.0)),
                   [(p["env_steps"], p["router_return"]) for p in seed_run["curve"]], population)  # fmt: skip


def read_oracles(run_dir: Path, player: str) -> dict[str, OracleRun]:
    found = {}
    for start in ORACLE_STARTS:
        path = oracle_path(run_dir, player, start)
        if path.exists():
            found[start] = OracleRun.read(json.loads(path.read_text()), start)
    return found


# ---------------------------------------------------------------------- one output's numbers


@dataclass
class SideResult:
    """Exploitability of one output player (a main or a mixture) of one run, and what produced it."""

    exploitability: float
    by: str  # the responder that got furthest: oracle-warm, oracle-cold, run population or study cross-play
    oracle_exploitability: dict[str, float]  # per start, final point
    oracle_best_exploitability: dict[str, float]
    flattened: dict[str, bool]
    oracle_steps: dict[str, int]
    warm_start: str | None
    training_set_return: float  # mean router return against the side's opposite training set (scripted)
    held_out_return: float  # the same against the opposite held-out set
    oracle_wall_s: float


def side_result(side: str, name: str, oracles: dict[str, OracleRun], matrix: np.ndarray, routers: list[str],
                fraudsters: list[str], value: float, game: StudyGame) -> SideResult:  # fmt: skip
    """``name`` (a cross-play player) of ``side``, bounded by every responder against the common ``value``."""
    sign = 1.0 if side == "router" else -1.0  # exploitability = sign * (v - router return of the worst case)

    def exploitability(router_return: float) -> float:
        return sign * (value - router_return)

    candidates = {}
    for start, oracle in oracles.items():
        candidates[f"oracle-{start}"] = exploitability(oracle.final_return)
        if oracle.population_returns:
            extreme = min if side == "router" else max
            candidates.setdefault("run population", -math.inf)
            candidates["run population"] = max(candidates["run population"],
                                               exploitability(extreme(oracle.population_returns.values())))  # fmt: skip
    if side == "router":
        row = matrix[routers.index(name)]
        candidates["study cross-play"] = exploitability(row.min())
        opposite = fraudsters
        returns = dict(zip(fraudsters, row))
    else:
        column = matrix[:, fraudsters.index(name)]
        candidates["study cross-play"] = exploitability(column.max())
        opposite = routers
        returns = dict(zip(routers, column))
    other = "fraudster" if side == "router" else "router"
    by = max(candidates, key=candidates.get)
    return SideResult(
        exploitability=float(candidates[by]),
        by=by,
        oracle_exploitability={s: exploitability(o.final_return) for s, o in oracles.items()},
        oracle_best_exploitability={s: exploitability(o.best_return) for s, o in oracles.items()},
        flattened={s: o.flattened for s, o in oracles.items()},
        oracle_steps={s: o.env_steps for s, o in oracles.items()},
        warm_start=oracles[WARM].warm_start if WARM in oracles else None,
        training_set_return=float(np.mean([returns[n] for n in game.training(other) if n in opposite])),
        held_out_return=float(np.mean([returns[n] for n in game.held_out(other) if n in opposite])),
        oracle_wall_s=float(sum(o.wall_s for o in oracles.values())),
    )


# ---------------------------------------------------------------------- training-side facts


def main_sample_share(run_dir: Path, regime: str, config: dict) -> dict[str, float]:
    """The share of the run's env steps that trained each side's main player (the rest: exploiters, other side)."""
    if regime == "psro":
        psro = json.loads((run_dir / "psro.json").read_text())
        total = sum(epoch["env_steps"] for epoch in psro["epochs"]) or 1
        last = config["psro"]["best_response_steps"]  # the last best response is PSRO's main player of its side
        return {side: last / total for side in SIDES}
    from league.core.rundir import read_progress

    rows = [json.loads(r["learner_shares"]) for r in read_progress(run_dir) if r.get("learner_shares")]
    return {side: float(np.mean([row.get(f"{side}_main", 0.0) for row in rows])) if rows else math.nan for side in SIDES}


def main_vs_main_share(run_dir: Path, regime: str) -> dict[str, float]:
    """Per side, the mean share over iterations of the main's games against the other side's current main.

    AlphaStar's mains meet each other in their self-play branch (35%); under
    squared PFSP alone the first study's mains almost stopped meeting. PSRO
    has no such games (its best responses meet frozen mixtures): NaN.
    """
    if regime == "psro":
        return {side: math.nan for side in SIDES}
    from league.core.rundir import read_progress

    rows = read_progress(run_dir)
    shares = {}
    for side in SIDES:
        other = "fraudster" if side == "router" else "router"
        names = (f"{other}_main", f"{other}_main_as_opponent")  # a learner met as an opponent plays its frozen copy
        values = [sum(json.loads(r[f"{side}_main_opponent_players"]).get(n, 0.0) for n in names)
                  for r in rows if r.get(f"{side}_main_opponent_players")]  # fmt: skip
        shares[side] = float(np.mean(values)) if values else math.nan
    return shares


def snapshot_counts(run_dir: Path) -> dict[str, int]:
    """Snapshots in the run's league at the end, by the kind of player they were taken from."""
    from league.evaluation.loading import open_run

    run = open_run(run_dir)
    kinds = {p.name: p.kind.value for p in run.state.players}
    counts: dict[str, int] = {}
    for player in run.state.players:
        if player.kind.value == "historical":
            parent_kind = kinds.get(player.parent or "", "unknown")
            counts[parent_kind] = counts.get(parent_kind, 0) + 1
    return counts


def ranking_agreement(matrix: np.ndarray, routers: list[str], fraudsters: list[str]) -> tuple[float, float]:
    """Mean pairwise Spearman correlation of the learned main players' rankings, across learned opponents.

    1: every opponent ranks them alike (a transitive population, where a
    league has little to add over self-play); near 0 or below: cycles.
    """
    rows = [i for i, n in enumerate(routers) if n.endswith("/main")]
    columns = [j for j, n in enumerate(fraudsters) if n.endswith("/main")]
    learned = matrix[np.ix_(rows, columns)]

    def agreement(ranked: np.ndarray) -> float:  # one ranking per column
        if ranked.shape[0] < 2 or ranked.shape[1] < 2:
            return math.nan
        ranks = ranked.argsort(axis=0).argsort(axis=0).astype(float)
        correlation = np.corrcoef(ranks.T)
        return float(np.nanmean(correlation[np.triu_indices_from(correlation, k=1)]))

    return agreement(learned), agreement(-learned.T)


# ---------------------------------------------------------------------- the study's table


def study_value(matrix: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    from agents.meta_game import solve_zero_sum

    nash = solve_zero_sum(matrix)
    return float(nash.value), np.asarray(nash.row_strategy), np.asarray(nash.col_strategy)


def regime_rows(regimes, seeds, run_dirs: dict[str, Path], outputs: dict[str, dict[str, Output]], configs: dict,
                matrix, routers, fraudsters, value: float, game: StudyGame, train_wall_s: dict) -> dict:  # fmt: skip
    """Per regime: per-seed numbers of both outputs (main, mixture) and of training; plain lists, JSON-ready."""
    rows = {}
    for regime in regimes:
        present = [s for s in seeds if f"{regime}-s{s}" in outputs]
        row = {"seeds": present, "main_sample_share": {s: [] for s in SIDES}, "main_vs_main_share": {s: [] for s in SIDES},
               "snapshots": [], "train_wall_s": []}  # fmt: skip
        for kind in KINDS:
            row[kind] = {"nash_conv": []}
        for seed in present:
            name = f"{regime}-s{seed}"
            share = main_sample_share(run_dirs[name], regime, configs[name])
            meetings = main_vs_main_share(run_dirs[name], regime)
            for side in SIDES:
                row["main_sample_share"][side].append(share[side])
                row["main_vs_main_share"][side].append(meetings[side])
            row["snapshots"].append(snapshot_counts(run_dirs[name]))
            row["train_wall_s"].append(train_wall_s[name])
            for kind in KINDS:
                total = 0.0
                for side in SIDES:
                    player = outputs[name][side].player(kind)
                    result = side_result(side, f"{name}/{kind}", read_oracles(run_dirs[name], player), matrix,
                                         routers, fraudsters, value, game)  # fmt: skip
                    record = row[kind].setdefault(side, {})
                    for key, item in vars(result).items():
                        record.setdefault(key, []).append(item)
                    total += result.exploitability
                row[kind]["nash_conv"].append(total)
        for kind in KINDS:
            for side in SIDES:
                if side in row[kind]:
                    row[kind][f"{side}_exploitability"] = row[kind][side]["exploitability"]
        rows[regime] = row
    return rows


def comparisons(rows: dict, reference: str = REFERENCE_REGIME) -> dict:
    """Every regime's NashConv against the reference regime's: paired difference, ratio of means, overlap."""
    found = {}
    if reference not in rows:
        return found
    for kind in KINDS:
        base = dict(zip(rows[reference]["seeds"], rows[reference][kind]["nash_conv"]))
        base_interval = Interval.of(base.values())
        for regime, row in rows.items():
            if regime == reference:
                continue
            mine = dict(zip(row["seeds"], row[kind]["nash_conv"]))
            interval = Interval.of(mine.values())
            difference = paired_difference(mine, base)
            ratio = interval.mean / base_interval.mean if base_interval.mean else math.nan
            found[f"{regime}/{kind}"] = {
                "regime": regime, "kind": kind, "nash_conv": interval, "reference": base_interval,
                "paired_difference": difference, "ratio": ratio, "overlap": interval.overlaps(base_interval),
                "at_most_half": bool(ratio <= 0.5) if np.isfinite(ratio) else None,
            }  # fmt: skip
    return found
