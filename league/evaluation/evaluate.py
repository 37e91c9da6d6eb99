"""Cross-play, ratings and meta-game of a league run: ``smartpay-marl evaluate RUN_DIR``.

Every router of the run (main, exploiters, snapshots, and a few scripted
baselines) plays every fraudster (the same kinds) for E episodes on the vector
env. Every pairing uses the same seed, so all pairings face the same customers,
gateway weather and coin flips (common random numbers) and their differences
are not draw noise. From the matrix of mean router returns it computes

- ratings: a Bradley-Terry fit over the bipartite matches, each episode scored
  by the league's win definition (``router_win = sigmoid((return - reference)
  / scale)``), with a role term so routers and fraudsters share one scale;
- the meta-game: the zero-sum Nash equilibrium of the empirical payoff matrix,
  its value, each player's regret against it and each player's exploitability
  within the population (how much a best response among the other side's
  members takes from it), in particular of the main router and fraudster.

Outputs go to ``RUN_DIR/eval/``: ``report.md`` (tables, settings, the command
that reproduces it), ``payoff.json``, ``payoff.csv``, ``payoff_heatmap.png``
(players ordered by snapshot time), ``ratings.png`` (rating of each snapshot
against its creation iteration) and ``learning_curves.png`` (from the
training log).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from agents.evaluation import DEFAULT_MAX_ENVS, round_robin
from league.core.rundir import EVAL_DIR, read_progress
from league.evaluation import report
from agents.meta_game import (
    nash_conv,
    fraudster_exploitability,
    regrets,
    router_exploitability,
    solve_zero_sum,
    uniform_meta,
)
from league.core.players import PlayerKind, Role
from league.evaluation.ratings import Ratings, fit_bradley_terry
from league.evaluation.results import CrossPlay, Evaluation, MetaGame, Population, Settings
from league.core.win import WinDefinition

if TYPE_CHECKING:  # loading imports torch; it is imported where players are restored, so --help stays fast
    from agents.base import Policy
    from league.evaluation.loading import LeagueRun, PlayerRecord

__all__ = [  # the result types live in results.py; re-exported for callers that import them from here
    "CrossPlay", "Evaluation", "MetaGame", "Population", "Settings", "analyse_meta_game", "cross_play",
    "fit_ratings", "run_evaluation", "select_population",
]  # fmt: skip

DEFAULT_EPISODES = 200
DEFAULT_SEED = 0
#: Order of kinds within one iteration of the time axis: snapshots, then the live learners.
_KIND_ORDER = {PlayerKind.HISTORICAL.value: 0, PlayerKind.MAIN.value: 1, PlayerKind.MAIN_EXPLOITER.value: 2,
               PlayerKind.LEAGUE_EXPLOITER.value: 3}  # fmt: skip

Log = Callable[[str], None]


# ---------------------------------------------------------------------- population


def default_baselines(run: LeagueRun) -> dict[Role, list[str]]:
    """The registry baselines the run scored its main players against (its ``eval_opponents``).

    The router main was scored against fraudster baselines and vice versa, so
    each side's default baselines come from the other side's list.
    """
    opponents = run.config.eval_opponents
    return {Role.ROUTER: list(opponents.get("fraudster", [])), Role.FRAUDSTER: list(opponents.get("router", []))}


def select_population(
    run: LeagueRun, baselines: dict[Role, list[str]] | None = None, max_snapshots: int | None = None
) -> Population:
    """Routers and fraudsters to cross-play: learners, snapshots, the league's scripted players and baselines.

    ``baselines`` maps a role to agents.registry policy names; a role left out
    gets :func:`default_baselines`. ``max_snapshots`` keeps at most that many
    snapshots per role, evenly spaced in creation time and always including
    the newest. A snapshot taken at the iteration of the checkpoint its live
    player is restored from holds the same weights; it is left out (listed in
    ``Population.same_as``) so the tables do not show one player twice.
    """
    from league.evaluation.loading import baseline_names

    baselines = {**default_baselines(run), **(baselines or {})}
    sides = {}
    same_as: dict[str, str] = {}
    for role in Role:
        learned = [run.record(p.name) for p in run.learned_players(role)]
        duplicates = _same_as_live(learned)
        same_as.update(duplicates)
        learned = _thin_snapshots([r for r in learned if r.name not in duplicates], max_snapshots)
        scripted = [p.name for p in run.state.players if p.role is role and p.kind is PlayerKind.SCRIPTED]
        scripted += [n for n in baseline_names(role, baselines.get(role, [])) if n not in scripted]
        sides[role] = [run.record(name) for name in scripted] + sorted(learned, key=_time_key)
    return Population(routers=sides[Role.ROUTER], fraudsters=sides[Role.FRAUDSTER], same_as=same_as)


def _same_as_live(records: list[PlayerRecord]) -> dict[str, str]:
    """Snapshots ``<player>@itN`` whose live ``<player>`` is restored from iteration N: snapshot -> player."""
    live = {(r.name, r.iteration) for r in records if r.kind != PlayerKind.HISTORICAL.value}
    same: dict[str, str] = {}
    for record in records:
        if record.kind == PlayerKind.HISTORICAL.value and "@" in record.name:
            parent = record.name.split("@")[0]
            if record.iteration is not None and (parent, record.iteration) in live:
                same[record.name] = parent
    return same


def _time_key(record: PlayerRecord) -> tuple[int, int, str]:
    return (record.iteration or 0, _KIND_ORDER.get(record.kind, 9), record.name)


def _thin_snapshots(records: list[PlayerRecord], limit: int | None) -> list[PlayerRecord]:
    snapshots = sorted((r for r in records if r.kind == PlayerKind.HISTORICAL.value), key=_time_key)
    if limit is None or len(snapshots) <= limit:
        return records
    if limit <= 0:
        keep: set[str] = set()
    else:
        # Evenly spaced indices, anchored at the newest snapshot (the one most worth watching).
        picks = np.unique(np.round(np.linspace(len(snapshots) - 1, 0, limit)).astype(int))
        keep = {snapshots[i].name for i in picks}
    return [r for r in records if r.kind != PlayerKind.HISTORICAL.value or r.name in keep]


# ---------------------------------------------------------------------- cross-play


def cross_play(
    routers: Sequence[Policy],
    fraudsters: Sequence[Policy],
    episodes: int,
    seed: int,
    game,
    win: WinDefinition,
    max_envs: int = DEFAULT_MAX_ENVS,
    log: Log = print,
) -> CrossPlay:
    """Every router against every fraudster, all from ``seed`` (common random numbers); one progress line per router.

    The games are :func:`agents.evaluation.round_robin`'s; this adds each pairing's soft win rate under ``win``.
    """
    start = time.perf_counter()

    def progress(i: int, router: Policy, seconds: float) -> None:
        log(
            f"  [{i + 1:>3}/{len(routers)}] {router.name:<32} vs {len(fraudsters)} fraudsters "
            f"{seconds:5.1f} s  (elapsed {time.perf_counter() - start:6.1f} s)"
        )

    result = round_robin(routers, fraudsters, episodes=episodes, seed=seed, config=game, max_envs=max_envs,
                         progress=progress)  # fmt: skip
    return CrossPlay.from_round_robin(result, win)


# ---------------------------------------------------------------------- meta-game


def analyse_meta_game(matrix: np.ndarray, router_names: Sequence[str], fraudster_names: Sequence[str]) -> MetaGame:
    """Nash equilibrium, value, regrets and per-player exploitability of an empirical payoff matrix."""
    matrix = np.asarray(matrix, dtype=float)
    if matrix.shape != (len(router_names), len(fraudster_names)):
        raise ValueError(f"payoff matrix of shape {matrix.shape} does not fit {len(router_names)} routers "
                         f"x {len(fraudster_names)} fraudsters")  # fmt: skip
    nash = solve_zero_sum(matrix)
    router_regret, fraudster_regret = regrets(matrix, nash)
    uniform = uniform_meta(matrix)
    rows, columns = np.eye(matrix.shape[0]), np.eye(matrix.shape[1])  # each player as a pure strategy
    router_exploit = np.array([router_exploitability(matrix, x, value=nash.value) for x in rows])
    fraudster_exploit = np.array([fraudster_exploitability(matrix, y, value=nash.value) for y in columns])
    return MetaGame(
        router_names=list(router_names),
        fraudster_names=list(fraudster_names),
        value=nash.value,
        router_nash=nash.row_strategy,
        fraudster_nash=nash.col_strategy,
        router_regret=router_regret,
        fraudster_regret=fraudster_regret,
        router_exploitability=router_exploit,
        fraudster_exploitability=fraudster_exploit,
        uniform_nash_conv=nash_conv(matrix, uniform.row_strategy, uniform.col_strategy),
    )


def write_nash_mixtures(run: LeagueRun, meta: MetaGame, population: Population, iteration: int,
                        source: str) -> dict[str, str]:  # fmt: skip
    """Write the meta-Nash mixtures ``router_nash@<iteration>`` and ``fraudster_nash@<iteration>`` into the run.

    A live learner keeps training after the evaluation, so a mixture names its
    snapshot of the same iteration instead where one exists (same weights).
    """
    from league.evaluation.mixture import make_mixture, write_mixture

    from league.evaluation.mixture import mixture_name, mixture_path, read_mixture

    stable = {parent: snapshot for snapshot, parent in population.same_as.items()}
    files = {}
    for role, names, weights in ((Role.ROUTER, meta.router_names, meta.router_nash),
                                 (Role.FRAUDSTER, meta.fraudster_names, meta.fraudster_nash)):  # fmt: skip
        path = mixture_path(run.run_dir, mixture_name(role.value, "nash", iteration))
        if path.is_file() and not _written_by_evaluate(path, read_mixture):
            continue  # a mixture the run wrote itself (PSRO's meta-strategy) is the run's own output: kept
        members = [stable.get(name, name) for name in names]
        mixture = make_mixture(role.value, "nash", iteration, members, weights, f"{EVALUATE_SOURCE}{source}", meta.value)
        files[mixture.name] = str(write_mixture(run.run_dir, mixture))
    return files


EVALUATE_SOURCE = "evaluate: "


def _written_by_evaluate(path: Path, read) -> bool:
    try:
        return read(path).source.startswith(EVALUATE_SOURCE)
    except ValueError:
        return True  # a malformed file is replaced


def fit_ratings(play: CrossPlay) -> Ratings:
    """Bradley-Terry ratings with a role term from the soft wins of every pairing.

    One record per pairing with the mean soft win and weight E has the same
    likelihood as E per-episode records (the Bernoulli cross-entropy is linear
    in the outcome), so the fit does not grow with the episode count.
    """
    matches = [
        (router, fraudster, float(np.clip(play.win_rate[i, j], 0.0, 1.0)), float(play.episodes))
        for i, router in enumerate(play.router_names)
        for j, fraudster in enumerate(play.fraudster_names)
    ]
    return fit_bradley_terry(matches)


# ---------------------------------------------------------------------- the whole evaluation


def run_evaluation(
    run_dir: str | Path,
    episodes: int = DEFAULT_EPISODES,
    seed: int = DEFAULT_SEED,
    baselines: dict[Role, list[str]] | None = None,
    max_snapshots: int | None = None,
    output: str | Path | None = None,
    max_envs: int = DEFAULT_MAX_ENVS,
    verbose: bool = True,
    extra_players: Sequence[str] = (),
) -> Evaluation:
    """Cross-play a run's population, rate it, solve its meta-game and write the report files.

    ``extra_players`` adds players by name (e.g. a mixture ``router_nash@12``) to their side of the population.
    """
    from league.evaluation.loading import load_player, open_run, torch_threads

    if episodes < 2:
        raise ValueError(f"episodes must be >= 2 (confidence intervals need two), got {episodes}")
    log: Log = print if verbose else (lambda *_: None)
    start = time.perf_counter()
    run = open_run(run_dir)
    # Read the training log first: an unreadable progress.csv must stop us before anything is played or written.
    progress_rows = read_progress(run.run_dir)
    baselines = {**default_baselines(run), **(baselines or {})}
    population = select_population(run, baselines, max_snapshots)
    for name in extra_players:
        record = run.record(name)
        side = population.routers if record.role == Role.ROUTER.value else population.fraudsters
        if all(r.name != name for r in side):
            side.append(record)
    output = Path(output) if output is not None else run.run_dir / EVAL_DIR
    settings = Settings(
        run_dir=str(run_dir),
        episodes=episodes,
        seed=seed,
        baselines={role.value: list(baselines.get(role, [])) for role in Role},
        max_snapshots=max_snapshots,
        max_envs=max_envs,
        output=str(output),
        game=run.game.model_dump(mode="json"),
        win_definition=run.state.config.win_definition.model_dump(),
        players=list(extra_players),
    )
    with torch_threads(1):
        log(f"evaluate {run.run_dir}: {len(population.routers)} routers x {len(population.fraudsters)} fraudsters, "
            f"{episodes} episodes per pairing, seed {seed}")  # fmt: skip
        routers = [load_player(run, r.name) for r in population.routers]
        fraudsters = [load_player(run, f.name) for f in population.fraudsters]
        load_s = time.perf_counter() - start
        log(f"  restored {len(routers) + len(fraudsters)} players in {load_s:.1f} s")
        win = run.state.config.win_definition
        play = cross_play(routers, fraudsters, episodes, seed, run.game, win, max_envs, log)
    pairings = len(routers) * len(fraudsters)
    log(f"  cross-play: {pairings} pairings x {episodes} episodes in {play.wall_s:.1f} s")
    meta = analyse_meta_game(play.mean, play.router_names, play.fraudster_names)
    ratings = fit_ratings(play)
    wall_s = time.perf_counter() - start
    evaluation = Evaluation(settings, population, play, meta, ratings, run.state.iteration, wall_s, load_s)
    evaluation.files = report.write_evaluation(evaluation, output, run.run_dir, progress_rows)
    if not any(run.record(name).mixture for name in play.router_names + play.fraudster_names):
        evaluation.files.update(write_nash_mixtures(run, meta, population, run.state.iteration, str(output)))
    log(report.summary(evaluation))
    log(f"done in {time.perf_counter() - start:.1f} s; report: {evaluation.files['report']}")
    return evaluation


# ---------------------------------------------------------------------- command line


def _parse_names(text: str) -> list[str]:
    """A comma-separated list of registry names; ``none`` (or empty) for no names."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    return [] if names == ["none"] else names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``evaluate`` options to ``parser``."""
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a league run directory (smartpay-marl train --output)")
    parser.add_argument("--episodes", type=int, default=DEFAULT_EPISODES, help="episodes per pairing (default 200)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed shared by every pairing (default 0)")
    parser.add_argument("--router-baselines", type=_parse_names, metavar="NAMES",
                        help="comma-separated agents.registry routers to include, or 'none' "
                             "(default: the routers the run scored its fraudster against)")  # fmt: skip
    parser.add_argument("--fraudster-baselines", type=_parse_names, metavar="NAMES",
                        help="comma-separated agents.registry fraudsters to include, or 'none' "
                             "(default: the fraudsters the run scored its router against)")  # fmt: skip
    parser.add_argument("--max-snapshots", type=int, metavar="N",
                        help="at most N snapshots per role, evenly spaced in time (default: all)")  # fmt: skip
    parser.add_argument("--players", type=_parse_names, default=[], metavar="NAMES",
                        help="comma-separated extra players to include, e.g. a mixture router_nash@12 "
                             "(one member drawn per episode); without extra mixtures, the run's meta-Nash "
                             "mixtures <role>_nash@<iteration> are written to RUN_DIR/mixtures/")  # fmt: skip
    parser.add_argument("--output", metavar="DIR", help="where to write the report (default: RUN_DIR/eval)")
    parser.add_argument("--max-envs", type=int, default=DEFAULT_MAX_ENVS, help="largest batch of envs stepped together")
    parser.add_argument("--quiet", action="store_true", help="print only errors")


def main(args: argparse.Namespace) -> int:
    """Run :func:`run_evaluation` from parsed arguments; errors (e.g. RunLoadError) go to the CLI's one-line report."""
    chosen = {Role.ROUTER: args.router_baselines, Role.FRAUDSTER: args.fraudster_baselines}
    baselines = {role: names for role, names in chosen.items() if names is not None}
    run_evaluation(
        args.run_dir,
        episodes=args.episodes,
        seed=args.seed,
        baselines=baselines,
        max_snapshots=args.max_snapshots,
        output=args.output,
        max_envs=args.max_envs,
        verbose=not args.quiet,
        extra_players=args.players,
    )
    return 0
