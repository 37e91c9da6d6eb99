"""Why a regime wins or does not: the regime study's diagnostic measurements, from files the study already has.

Nothing here trains or plays: every number comes from the cross-play
matrix, the oracle's curves, the runs' progress logs and their league
states. Each function returns plain, JSON-ready data; ``study_report``
turns it into the report's "Why" section.

- ``side_split``: how much of NashConv each side carries;
- ``worst_cases``: each learned main router's worst opponent in the
  cross-play, against what the best scripted router gets from it;
- ``oracle_gains``: what the oracle's best responses gained over their last
  doubling (a curve still rising means a lower bound);
- ``late_learning``: how much the mains were still improving over the second
  half of their budget;
- ``self_play_fallback``: the win rates that decide whether a league main's
  self-play branch meets the other side's main or only its snapshots;
- ``cycles``: how cyclic the cross-play is (bipartite Hodge share).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from study_config import SIDES

LEARNED_MARK = "/"  # cross-play names of learned outputs are <regime>-s<seed>/<kind>; scripted names have none


def is_learned(name: str) -> bool:
    return LEARNED_MARK in name


def side_split(rows: dict, kinds=("main", "mixture")) -> dict[str, list[float]]:
    """Per output kind, the router's share of NashConv for every run (NaN where NashConv is not positive)."""
    shares = {}
    for kind in kinds:
        values = []
        for row in rows.values():
            for router, total in zip(row[kind].get("router_exploitability", []), row[kind]["nash_conv"]):
                values.append(float(router / total) if total > 0 else math.nan)
        shares[kind] = values
    return shares


def worst_cases(matrix: np.ndarray, routers: list[str], fraudsters: list[str]) -> list[dict]:
    """For each learned main router: its worst cross-play opponent, and the best scripted router against it."""
    scripted = [i for i, name in enumerate(routers) if not is_learned(name)]
    found = []
    for i, name in enumerate(routers):
        if not name.endswith("/main"):
            continue
        j = int(np.argmin(matrix[i]))
        best = max(scripted, key=lambda k: matrix[k, j]) if scripted else None
        found.append({
            "router": name, "opponent": fraudsters[j], "return": float(matrix[i, j]),
            "best_scripted_router": routers[best] if best is not None else None,
            "best_scripted_return": float(matrix[best, j]) if best is not None else math.nan,
            "best_scripted_worst_case": float(max(matrix[k].min() for k in scripted)) if scripted else math.nan,
        })  # fmt: skip
    return found


def last_doubling_gain(points: list[tuple[int, float]]) -> float:
    """Exploitability at the curve's last point minus at the last point at or below half its steps (NaN if none)."""
    if len(points) < 2:
        return math.nan
    final_steps, final = points[-1]
    earlier = [value for steps, value in points[:-1] if steps <= final_steps / 2]
    return float(final - earlier[-1]) if earlier else math.nan


def oracle_gains(curves: dict) -> dict[str, dict[str, list[float]]]:
    """``{side: {start: [gain over the last doubling, per target]}}`` from ``curves[(regime, seed, kind, side, start)]``."""
    gains: dict[str, dict[str, list[float]]] = {}
    for (_, _, _, side, start), points in sorted(curves.items()):
        gains.setdefault(side, {}).setdefault(start, []).append(last_doubling_gain(points))
    return gains


def main_vs_scripted_curve(run_dir: Path, side: str) -> list[tuple[int, float]]:
    """``(env steps, return)`` of ``side``'s main against the scripted evaluation opponents; [] without a progress log."""
    from league.core.rundir import read_progress

    if not (run_dir / "progress.csv").exists():
        return []  # PSRO keeps no training curve against the scripted baselines
    return [(int(r["env_steps"]), float(r[f"{side}_main_vs_scripted"])) for r in read_progress(run_dir)
            if r.get(f"{side}_main_vs_scripted")]  # fmt: skip


def late_learning(run_dirs: dict[str, Path], rows: dict) -> dict[str, dict[str, list[float]]]:
    """Per regime and side: the main's return against the scripted evaluation opponents, last point minus halfway.

    Returns are each side's own (higher is better for that side). PSRO keeps
    no such curve and is left out.
    """
    found: dict[str, dict[str, list[float]]] = {}
    for regime, row in rows.items():
        for seed in row["seeds"]:
            for side in SIDES:
                points = main_vs_scripted_curve(run_dirs[f"{regime}-s{seed}"], side)
                if points:
                    found.setdefault(regime, {}).setdefault(side, []).append(last_doubling_gain(points))
    return found


def self_play_fallback(run_dirs: dict[str, Path], rows: dict) -> list[dict]:
    """For every league run with main players' branches: each main's final win rate against the other main.

    AlphaStar's self-play branch plays the other side's main only while the
    learner's win rate against it is at least the fallback threshold; below
    it, the learner meets that main's snapshots instead.
    """
    found = []
    for regime, row in rows.items():
        for seed in row["seeds"]:
            path = run_dirs[f"{regime}-s{seed}"] / "league_state.json"
            if not path.exists():
                continue
            state = json.loads(path.read_text())
            config = state.get("config", {})
            if config.get("regime") != "pfsp":
                continue
            record = state["payoff"]["stats"].get("router_main", {}).get("fraudster_main")
            if not record or not record.get("games"):
                continue
            router_rate = record["wins"] / record["games"]
            found.append({"run": f"{regime}-s{seed}", "router_main": float(router_rate),
                          "fraudster_main": float(1.0 - router_rate),
                          "threshold": float(config.get("main_self_play_fallback_win_rate", math.nan)),
                          "win_reference": float(config.get("win_definition", {}).get("reference", math.nan))})  # fmt: skip
    return found


def cycles(matrix: np.ndarray, routers: list[str], fraudsters: list[str]) -> dict[str, float]:
    """The cyclic share (bipartite Hodge decomposition) of the whole cross-play and of its two halves."""
    from agents.cycles import cyclic_share

    def block(keep_router, keep_fraudster) -> float:
        rows = [i for i, n in enumerate(routers) if keep_router(n)]
        columns = [j for j, n in enumerate(fraudsters) if keep_fraudster(n)]
        if len(rows) < 2 or len(columns) < 2:
            return math.nan
        return float(cyclic_share(matrix[np.ix_(rows, columns)]))

    return {"all": block(lambda n: True, lambda n: True),
            "learned": block(is_learned, is_learned),
            "scripted": block(lambda n: not is_learned(n), lambda n: not is_learned(n))}  # fmt: skip


def diagnose(rows: dict, matrix: np.ndarray, routers: list[str], fraudsters: list[str], curves: dict,
             run_dirs: dict[str, Path]) -> dict:  # fmt: skip
    """Every diagnostic of the module, JSON-ready."""
    return {
        "router_share_of_nash_conv": side_split(rows),
        "worst_cases": worst_cases(matrix, routers, fraudsters),
        "oracle_last_doubling_gain": oracle_gains(curves),
        "late_learning": late_learning(run_dirs, rows),
        "self_play_fallback": self_play_fallback(run_dirs, rows),
        "cyclic_share": cycles(matrix, routers, fraudsters),
    }
