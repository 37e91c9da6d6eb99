"""Render league evaluations for people and programs: markdown report, JSON, CSV and PNG figures.

:func:`write_evaluation` writes everything ``smartpay-marl evaluate`` leaves in
``RUN_DIR/eval/``. The functions only format data they are given; playing,
fitting and solving happen in :mod:`league.evaluation.evaluate`. Tables,
heatmap, JSON cleaning and the matplotlib set-up are :mod:`agents.reporting`'s,
the one renderer that the ``baselines`` command shares.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from agents.reporting import json_safe, markdown_table, plot_payoff_heatmap, pyplot, save_figure
from league.core.players import PlayerKind, Role
from league.core.rundir import read_matchups, read_progress
from league.evaluation.results import Evaluation

FILES = {
    "report": "report.md",
    "payoff_json": "payoff.json",
    "payoff_csv": "payoff.csv",
    "heatmap": "payoff_heatmap.png",
    "ratings": "ratings.png",
    "learning_curves": "learning_curves.png",
}
#: Players per side above which the heatmap's cells show whole numbers (one decimal would not fit).
_DECIMALS_LIMIT = 24


# ---------------------------------------------------------------------- writing everything


def write_evaluation(
    evaluation: Evaluation, output: Path, run_dir: Path, progress_rows: list[dict[str, str]] | None = None
) -> dict[str, Path]:
    """Write the report, payoff files and figures into ``output``; returns them by kind.

    ``progress_rows`` are the run's ``progress.csv`` rows, read here when None;
    :func:`league.evaluation.evaluate.run_evaluation` reads them before it plays,
    so an unreadable progress file stops it before any file is written.
    """
    rows = read_progress(run_dir) if progress_rows is None else progress_rows
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    files = {kind: output / name for kind, name in FILES.items()}
    files["payoff_json"].write_text(json.dumps(payoff_document(evaluation), indent=2))
    write_payoff_csv(evaluation, files["payoff_csv"])
    plot_heatmap(evaluation, files["heatmap"])
    plot_ratings(evaluation, files["ratings"])
    if rows:
        plot_learning_curves(rows, files["learning_curves"])
    else:
        del files["learning_curves"]
    files["report"].write_text(markdown_report(evaluation, files, read_matchups(run_dir)))
    return files


def _player_rows(evaluation: Evaluation, role: Role) -> list[dict[str, Any]]:
    """One dict per player of ``role``: origin, Nash weight, regret, exploitability, rating."""
    meta, ratings = evaluation.meta, evaluation.ratings
    records = evaluation.population.side(role)
    if role is Role.ROUTER:
        nash, regret, exploit = meta.router_nash, meta.router_regret, meta.router_exploitability
        worst = evaluation.play.mean.min(axis=1)
    else:
        nash, regret, exploit = meta.fraudster_nash, meta.fraudster_regret, meta.fraudster_exploitability
        worst = evaluation.play.mean.max(axis=0)
    rows = []
    for k, record in enumerate(records):
        index = ratings.index(record.name)
        rows.append({
            **asdict(record),
            "nash": float(nash[k]),
            "regret": float(regret[k]),
            "exploitability": float(exploit[k]),
            "worst_case_router_return": float(worst[k]),
            "elo": float(ratings.elo[index]),
            "elo_se": None if ratings.elo_se is None else float(ratings.elo_se[index]),
        })  # fmt: skip
    return rows


def _main_name(role: Role) -> str:
    return f"{role.value}_main"


def payoff_document(evaluation: Evaluation) -> dict[str, Any]:
    """The content of ``payoff.json``."""
    play, meta, ratings = evaluation.play, evaluation.meta, evaluation.ratings
    mains = {}
    for role in Role:
        name = _main_name(role)
        if name in meta.router_names + meta.fraudster_names:
            mains[f"main_{role.value}_exploitability"] = meta.exploitability_of(name)
    return json_safe({
        "run_dir": evaluation.settings.run_dir,
        "iteration": evaluation.iteration,
        "command": evaluation.settings.command(),
        "settings": asdict(evaluation.settings),
        "routers": _player_rows(evaluation, Role.ROUTER),
        "fraudsters": _player_rows(evaluation, Role.FRAUDSTER),
        "router_return": {"mean": play.mean, "ci95_low": play.low, "ci95_high": play.high},
        "router_win_rate": play.win_rate,
        "meta_game": {
            "value": meta.value,
            "router_nash": meta.router_nash,
            "fraudster_nash": meta.fraudster_nash,
            "uniform_nash_conv": meta.uniform_nash_conv,
            **mains,
            "unit": f"reward units per episode ({_unit(evaluation)})",
            "exploitability_is": "a lower bound: the gain of the other side's best population member over the value",
        },
        "ratings": {
            "model": "Bradley-Terry, P(router i beats fraudster j) = sigmoid(r_i + b - r_j), soft wins",
            "role_advantage_logit": ratings.role_advantage,
            "role_advantage_elo": ratings.role_advantage_elo,
        },
        "wall_s": evaluation.wall_s,
    })  # fmt: skip


def write_payoff_csv(evaluation: Evaluation, path: Path) -> None:
    """``payoff.csv``: one row per pairing (long format)."""
    play = evaluation.play
    with Path(path).open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["router", "fraudster", "mean_router_return", "ci95_low", "ci95_high", "router_win_rate",
                         "episodes", "seed"])  # fmt: skip
        for i, router in enumerate(play.router_names):
            for j, fraudster in enumerate(play.fraudster_names):
                numbers = (play.mean[i, j], play.low[i, j], play.high[i, j], play.win_rate[i, j])
                writer.writerow([router, fraudster, *(f"{x:.6g}" for x in numbers), play.episodes, play.seed])


# ---------------------------------------------------------------------- markdown


def _fmt(value: float | None, digits: int = 2, sign: bool = False) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def _label(name: str, kind: str) -> str:
    return f"**{name}**" if kind == PlayerKind.MAIN.value else name


def player_table(evaluation: Evaluation, role: Role) -> str:
    """Markdown table of one side: Nash weight, regret, exploitability, worst case and rating."""
    worst = "lowest router return" if role is Role.ROUTER else "highest router return"
    lines = [
        f"| {role.value} | kind | iteration | Nash weight | regret | exploitability | {worst} | BT Elo (± 95%) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in _player_rows(evaluation, role):
        se = row["elo_se"]
        elo = f"{row['elo']:.0f}" + ("" if se is None else f" ± {1.96 * se:.0f}")
        iteration = "" if row["iteration"] is None else str(row["iteration"])
        lines.append(
            f"| {_label(row['name'], row['kind'])} | {row['kind']} | {iteration} | {_fmt(row['nash'], 3)} | {_fmt(row['regret'])} "
            f"| {_fmt(row['exploitability'])} | {_fmt(row['worst_case_router_return'], sign=True)} | {elo} |"
        )
    return "\n".join(lines)


def payoff_table(evaluation: Evaluation) -> str:
    """Markdown matrix of mean router return ± 95% CI half-width (rows routers, columns fraudsters)."""
    play = evaluation.play
    half_widths = (play.high - play.low) / 2
    cells = [[f"{mean:+.2f} ± {half:.2f}" for mean, half in zip(means, halves)]
             for means, halves in zip(play.mean, half_widths)]  # fmt: skip
    return markdown_table(play.router_names, play.fraudster_names, cells)


def _unit(evaluation: Evaluation) -> str:
    """What one reward unit is in dollars at the evaluated game's reward_scale."""
    scale = float(evaluation.settings.game.get("reward_scale", 0.01))
    return f"1.0 = ${1.0 / scale:,.0f} at reward_scale {scale:g}"


def main_players_table(evaluation: Evaluation) -> str:
    """The main router and fraudster at a glance."""
    lines = ["| player | exploitability within the population | regret vs Nash | Nash weight | BT Elo |",
             "|---|---:|---:|---:|---:|"]  # fmt: skip
    for role in Role:
        for row in _player_rows(evaluation, role):
            if row["kind"] == PlayerKind.MAIN.value:
                lines.append(f"| {row['name']} (iteration {row['iteration']}) | {_fmt(row['exploitability'])} "
                             f"| {_fmt(row['regret'])} | {_fmt(row['nash'], 3)} | {row['elo']:.0f} |")  # fmt: skip
    return "\n".join(lines)


def _support(names: Sequence[str], weights: np.ndarray) -> str:
    order = np.argsort(-weights)
    return ", ".join(f"{names[k]} {weights[k]:.3f}" for k in order if weights[k] > 1e-3) or "none"


#: Opponent columns shown in the training-games matrix; the rest are summed in one column.
MATCHUP_COLUMNS = 10


def training_matchups_table(rows: Sequence[dict[str, str]]) -> str:
    """Markdown matrix of the games played in training (``matchups.csv``): learners x opponents, games and win rate.

    Each cell is ``games (learner's win rate)`` over the whole run; opponents are the
    columns in order of games played, at most :data:`MATCHUP_COLUMNS` of them, the
    others summed under ``other``.
    """
    if not rows:
        return "No `matchups.csv` in the run directory (a run from before the league recorded its games)."
    games: dict[tuple[str, str], float] = {}
    wins: dict[tuple[str, str], float] = {}
    for row in rows:
        key = (row["learner"], row["opponent"])
        games[key] = games.get(key, 0.0) + float(row["games"])
        wins[key] = wins.get(key, 0.0) + float(row.get("learner_wins") or 0.0)
    learners = sorted({learner for learner, _ in games})
    by_opponent: dict[str, float] = {}
    for (_, opponent), count in games.items():
        by_opponent[opponent] = by_opponent.get(opponent, 0.0) + count
    opponents = sorted(by_opponent, key=lambda name: (-by_opponent[name], name))
    shown, rest = opponents[:MATCHUP_COLUMNS], opponents[MATCHUP_COLUMNS:]
    header = shown + (["other"] if rest else [])
    cells = []
    for learner in learners:
        row = []
        for group in [[name] for name in shown] + ([rest] if rest else []):
            count = sum(games.get((learner, name), 0.0) for name in group)
            won = sum(wins.get((learner, name), 0.0) for name in group)
            row.append(f"{count:.0f} ({won / count:.0%})" if count else "")
        total = sum(count for (name, _), count in games.items() if name == learner)
        won = sum(value for (name, _), value in wins.items() if name == learner)
        cells.append([*row, f"{total:.0f} ({won / total:.0%})"])
    return markdown_table(learners, [*header, "all"], cells, corner="learner \\ opponent")


def markdown_report(
    evaluation: Evaluation, files: dict[str, Path], matchups: Sequence[dict[str, str]] | None = None
) -> str:
    """The whole ``report.md``; ``matchups`` are the run's ``matchups.csv`` rows (the games played in training)."""
    s, play, meta, ratings = evaluation.settings, evaluation.play, evaluation.meta, evaluation.ratings
    win = s.win_definition
    game = ", ".join(f"{k}={v}" for k, v in s.game.items() if k in ("difficulty", "max_cycles")) or "defaults"
    figures = "\n".join(f"- `{path.name}`" for kind, path in files.items() if path.suffix == ".png")
    pairings = len(play.router_names) * len(play.fraudster_names)
    return f"""# League evaluation: `{s.run_dir}`

League iteration {evaluation.iteration}; evaluated {s.started_utc}.

## Reproduce

```
{s.command()}
```

## Settings

- Population: {len(play.router_names)} routers x {len(play.fraudster_names)} fraudsters (main players and exploiters from the newest checkpoint, every snapshot{'' if s.max_snapshots is None else f' (at most {s.max_snapshots} per role)'}, the league's scripted players, and the baselines below).
{_same_as_note(evaluation)}- Baselines (agents.registry): routers {', '.join(s.baselines.get('router', [])) or 'none'}; fraudsters {', '.join(s.baselines.get('fraudster', [])) or 'none'}.
- {play.episodes} episodes per pairing, seed {play.seed} for every pairing (common random numbers); learned players act greedily (argmax).
- Game: {game} (full config in `payoff.json`).
- Win definition (the run's): router_win = sigmoid((return - {win['reference']:.3g}) / {win['scale']:.3g}) per episode.
- {pairings} pairings in {play.wall_s:.1f} s of play; {evaluation.wall_s:.1f} s in all (restoring {evaluation.load_s:.1f} s).

## Main players

{main_players_table(evaluation)}

Exploitability within the population: how far below the game value the best fraudster of the population pushes a router (value - its lowest return), or how far above it the best router pushes a fraudster (its highest router return - value). It is a lower bound on the player's exploitability, from the weakest oracle (the other side's members as they are); `smartpay-marl exploit` trains best responses for a tighter one. Regret is the same against the other side's Nash mixture instead of its best member. NashConv is the sum of both sides' exploitabilities. All figures are in reward units per episode: {_unit(evaluation)}.

The Nash mixtures are saved as players `router_nash@{evaluation.iteration}` and `fraudster_nash@{evaluation.iteration}` (one member drawn per episode): their exploitability within this population is 0 by construction, so bound it with `smartpay-marl exploit RUN_DIR --player router_nash@{evaluation.iteration}`.

## Meta-game

Zero-sum Nash equilibrium of the empirical payoff matrix (mean router return): value **{meta.value:+.3f}**.

- Router Nash mixture: {_support(meta.router_names, meta.router_nash)}
- Fraudster Nash mixture: {_support(meta.fraudster_names, meta.fraudster_nash)}
- NashConv of the uniform mixture over the population: {meta.uniform_nash_conv:.3f}

### Routers

{player_table(evaluation, Role.ROUTER)}

### Fraudsters

{player_table(evaluation, Role.FRAUDSTER)}

Ratings: Bradley-Terry on the soft wins of every episode, P(router i beats fraudster j) = sigmoid(r_i + b - r_j), with the role term b = {ratings.role_advantage:+.3f} logits ({ratings.role_advantage_elo:+.0f} Elo) so both roles share one scale; each role's ratings are centred at 1500.

## Payoff matrix

Mean router return ± 95% confidence half-width over {play.episodes} episodes.

{payoff_table(evaluation)}

## Games played in training

Games each learner trained on, by opponent, over the whole run (from `matchups.csv`), with the learner's win rate (soft wins under the run's win definition) in brackets.

{training_matchups_table(matchups or [])}

## Figures

{figures}
"""


def _same_as_note(evaluation: Evaluation) -> str:
    same = evaluation.population.same_as
    if not same:
        return ""
    pairs = ", ".join(f"`{snapshot}` is `{player}`" for snapshot, player in sorted(same.items()))
    return f"- Not repeated (same weights as the live player, restored from the same iteration): {pairs}.\n"


def summary(evaluation: Evaluation) -> str:
    """A few lines for the console."""
    meta = evaluation.meta
    lines = [f"  meta-game value {meta.value:+.3f}"]
    for role in Role:
        name = _main_name(role)
        if name in meta.router_names + meta.fraudster_names:
            lines.append(f"  {name}: exploitability within the population {meta.exploitability_of(name):.3f}")
    lines.append(f"  router Nash: {_support(meta.router_names, meta.router_nash)}")
    lines.append(f"  fraudster Nash: {_support(meta.fraudster_names, meta.fraudster_nash)}")
    return "\n".join(lines)


# ---------------------------------------------------------------------- figures


def plot_heatmap(evaluation: Evaluation, path: Path) -> Path:
    """Mean router return per pairing, every cell labelled; players ordered by snapshot time.

    Colours diverge at the meta-game value (green: the router does better than
    the value, red: worse) and span the bulk of the values, so the usual 25-35
    spread is not washed out by one extreme pairing. The figure grows with the
    population so that labels stay readable at 20+ players per side.
    """
    play, value = evaluation.play, evaluation.meta.value
    rows, columns = play.mean.shape
    # Cells are at least 0.36 x 0.62 inches (until the 40-inch cap), room for "-63.0" at 7 points.
    return plot_payoff_heatmap(
        play.mean, play.router_names, play.fraudster_names, path,
        centre=value,
        colorbar_label=f"mean router return (centre: game value {value:+.2f})",
        title=f"Cross-play, {play.episodes} episodes per pairing, seed {play.seed}",
        axis_labels=("fraudster (baselines, then by snapshot time)", "router (baselines, then by snapshot time)"),
        digits=1 if max(rows, columns) <= _DECIMALS_LIMIT else 0,
        label_size=7 if max(rows, columns) <= 30 else 6,
        figsize=(min(0.62 * columns + 4.5, 40), min(0.36 * rows + 3.0, 40)),
        dpi=110,
    )  # fmt: skip


def plot_ratings(evaluation: Evaluation, path: Path) -> Path:
    """Bradley-Terry Elo of each snapshot against its creation iteration, one panel per role.

    Routers are drawn with the role term added, so a router and a fraudster at
    the same height are an even match. Learners are stars at their checkpoint
    iteration; scripted players are dashed horizontal lines.
    """
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    ratings = evaluation.ratings
    figure, axes = plt.subplots(1, 2, figsize=(13, 4.5), sharey=True)
    labelled_baselines = []
    for axis, role in zip(axes, Role):
        shift = ratings.role_advantage_elo if role is Role.ROUTER else 0.0
        records = evaluation.population.side(role)
        snapshots = [r for r in records if r.kind == PlayerKind.HISTORICAL.value]
        baselines: list[tuple[float, str]] = []
        by_parent: dict[str, list] = {}
        for record in snapshots:
            by_parent.setdefault(record.name.split("@")[0], []).append(record)
        for parent, group in by_parent.items():
            x = [r.iteration for r in group]
            y, err = _elo_with_error(ratings, [r.name for r in group], shift)
            axis.errorbar(x, y, yerr=err, marker="o", markersize=3, capsize=2, label=f"{parent} snapshots")
        for record in records:
            y, _ = _elo_with_error(ratings, [record.name], shift)
            if record.learned and record.kind != PlayerKind.HISTORICAL.value:
                axis.plot([record.iteration], y, marker="*", markersize=11, linestyle="none",
                          label=f"{record.name} (checkpoint)")  # fmt: skip
            elif not record.learned:
                axis.axhline(y[0], linestyle="--", linewidth=0.8, color="grey")
                baselines.append((y[0], record.name.split(":")[-1]))
        axis.set_title(f"{role.value}s" + (" (with role term)" if role is Role.ROUTER else ""))
        axis.set_xlabel("league iteration (snapshot created)")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7, loc="best")
        labelled_baselines.append((axis, baselines))
    axes[0].set_ylabel("Bradley-Terry rating (Elo, ± 95%)")
    # Label the baselines' lines outside the plot, to the right, spread apart so none overlap.
    for axis, baselines in labelled_baselines:
        _label_lines_right(axis, baselines)
    figure.tight_layout(w_pad=2.0)
    return save_figure(figure, path, dpi=110)


def _label_lines_right(axis, lines: list[tuple[float, str]], min_gap: float = 0.045) -> None:
    """Name horizontal lines just right of ``axis``, moved apart to at least ``min_gap`` of the axis height."""
    if not lines:
        return
    low, high = axis.get_ylim()
    gap = min_gap * (high - low)
    lines = sorted(lines)
    positions = []
    for y, _ in lines:
        positions.append(max(y, positions[-1] + gap) if positions else y)
    overflow = positions[-1] - high
    if overflow > 0:  # pushed past the top: shift the whole column down, keeping the gaps
        positions = [p - overflow for p in positions]
    for (y, name), position in zip(lines, positions):
        axis.annotate(
            name, xy=(1.0, y), xycoords=("axes fraction", "data"), xytext=(1.015, position),
            textcoords=("axes fraction", "data"), fontsize=6, color="dimgrey", va="center", ha="left",
            annotation_clip=False, arrowprops={"arrowstyle": "-", "color": "lightgrey", "linewidth": 0.6},
        )  # fmt: skip


def _elo_with_error(ratings, names: list[str], shift: float) -> tuple[list[float], list[float] | None]:
    indices = [ratings.index(name) for name in names]
    values = [float(ratings.elo[k]) + shift for k in indices]
    errors = None if ratings.elo_se is None else [1.96 * float(ratings.elo_se[k]) for k in indices]
    return values, errors


def plot_learning_curves(rows: list[dict[str, str]], path: Path) -> Path:
    """From ``progress.csv``: each main player's return against scripted baselines and in training, and throughput."""
    plt = pyplot()
    figure, axes = plt.subplots(1, 3, figsize=(15, 4))
    for axis, role in zip(axes, Role):
        for key, label in ((f"{role.value}_main_vs_scripted", "vs scripted baselines"),
                           (f"{role.value}_main_train_return", "in training (league)")):  # fmt: skip
            points = _series(rows, "env_steps", key)
            if points:
                axis.plot(*zip(*points), marker="o", markersize=3, label=label)
        axis.set_title(f"{role.value}_main")
        axis.set_xlabel("env steps")
        axis.set_ylabel("mean episode return")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    points = _series(rows, "env_steps", "steps_per_s")
    if points:
        axes[2].plot(*zip(*points), marker="o", markersize=3)
    axes[2].set_title("sampling throughput")
    axes[2].set_xlabel("env steps")
    axes[2].set_ylabel("env steps / s")
    axes[2].grid(alpha=0.3)
    figure.tight_layout()
    return save_figure(figure, path, dpi=110)


def _series(rows: list[dict[str, str]], x_key: str, y_key: str) -> list[tuple[float, float]]:
    """(x, y) pairs of the rows where both columns hold numbers."""
    points = []
    for row in rows:
        try:
            points.append((float(row[x_key]), float(row[y_key])))
        except (KeyError, TypeError, ValueError):
            continue
    return points
