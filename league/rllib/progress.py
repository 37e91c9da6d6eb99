"""The progress record of a training run: ``progress.csv``, TensorBoard, the progress line and the curve.

:class:`ProgressRecord` is what ``train`` writes each progress row through:
one CSV row in ``RUN_DIR/progress.csv`` (:data:`PROGRESS_FIELDS`, every PFSP
weight included), scalars in ``RUN_DIR/tensorboard/``
(:class:`TensorBoardLog`) and, for iteration rows, one short line on the
terminal (:func:`format_progress`). :func:`plot_learning_curve` draws
``RUN_DIR/learning_curve.png`` from the CSV at the end.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Callable

import numpy as np

from league.core.rundir import RunDir, read_progress

PROGRESS_FIELDS = (
    "iteration",
    "env_steps",
    "wall_s",
    "steps_per_s",
    "env_share",  # wall time inside the game's reset/step / wall time of sampling, summed over env runners
    "forward_share",  # wall time in module forward passes / wall time of sampling (vector env runner only)
    "router_main_train_return",
    "fraudster_main_train_return",
    "router_main_vs_scripted",
    "fraudster_main_vs_scripted",
    "router_snapshots",
    "fraudster_snapshots",
    "snapshots_taken",
    "learner_shares",  # {learner: share of the iteration's trained games}: one learner per game unless both_learners_train
    "router_main_opponents",  # {module id: probability}, as RLlib sees it
    "fraudster_main_opponents",
    "router_main_opponent_players",  # the same by player name (snapshot, scripted policy or learner)
    "fraudster_main_opponent_players",
)
#: Width of a progress line: fits a 100-column terminal without wrapping.
PROGRESS_WIDTH = 100


PROGRESS_LEGEND = (
    "columns: iteration/total, env steps, env steps/s, ETA, mean training return of router_main (R) and\n"
    "fraudster_main (F) [vs scripted baselines when scored], snapshots per side, router_main's likeliest\n"
    "PFSP opponents. Every weight: progress.csv; curves: tensorboard --logdir <run dir>/tensorboard"
)


def json_weights(value: Any) -> dict[str, float]:
    """PFSP weights from a progress row's cell: a dict, or its JSON text; {} when it is neither."""
    if isinstance(value, dict):
        return {str(k): float(v) for k, v in value.items()}
    try:
        loaded = json.loads(value) if value else {}
    except (TypeError, ValueError):
        return {}
    return {str(k): float(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}


def _short_player(name: str, role: str) -> str:
    """A player's name without what the column already says: its side, and ``scripted:`` for baselines."""
    if ":" in name:
        return name.split(":", 1)[1]
    return name.removeprefix(f"{role}_")


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _steps(count: int) -> str:
    """Env steps in at most 6 characters: 4,000 / 246k / 12.3M."""
    if count < 10_000:
        return f"{count:,}"
    return f"{count / 1e3:.0f}k" if count < 1_000_000 else f"{count / 1e6:.1f}M"


def format_progress(
    row: dict[str, Any], total_iterations: int | None = None, first_iteration: int = 0, width: int = PROGRESS_WIDTH
) -> str:
    """One progress line of at most ``width`` characters (see :data:`PROGRESS_LEGEND` for the columns).

    The ETA extrapolates the mean wall time of this session's iterations
    (evaluations and checkpoints included) to ``total_iterations``. As many of
    router_main's likeliest opponents are listed (up to 3) as fit.
    """

    def number(key: str) -> float | None:
        value = row.get(key, "")
        try:
            value = float(value)
        except (TypeError, ValueError):
            return None
        return value if np.isfinite(value) else None

    def returns(label: str, main: str) -> str:
        train, scored = number(f"{main}_train_return"), number(f"{main}_vs_scripted")
        text = f"{label} " + ("  -  " if train is None else f"{train:+.1f}")
        return text + ("" if scored is None else f" [{scored:+.1f}]")

    iteration = int(row["iteration"])
    total = f"/{total_iterations}" if total_iterations else ""
    rate = number("steps_per_s")
    wall = number("wall_s")
    done = iteration - first_iteration
    eta = "ETA  -"
    if total_iterations and wall is not None and done > 0:
        eta = f"ETA {_duration(wall / done * max(total_iterations - iteration, 0))}"
    parts = [
        f"it {iteration:>{len(str(total_iterations or iteration))}}{total}",
        f"{_steps(int(number('env_steps') or 0)):>6}",
        "    -/s" if rate is None else f"{rate:>5,.0f}/s",
        f"{eta:<9}",
        returns("R", "router_main"),
        returns("F", "fraudster_main"),
        f"{row.get('router_snapshots', 0)}R/{row.get('fraudster_snapshots', 0)}F",
    ]
    line = "  ".join(parts)
    weights = json_weights(row.get("router_main_opponent_players") or row.get("router_main_opponents"))
    ranked = [(_short_player(name, "fraudster"), weight) for name, weight in sorted(weights.items(), key=lambda i: -i[1])]
    for k in range(min(3, len(ranked)), 0, -1):
        shown = "  vs " + ", ".join(f"{name} {weight:.0%}" for name, weight in ranked[:k])
        if len(line) + len(shown) <= width:
            return line + shown
    if ranked:  # not even one opponent fits: shorten its name rather than overflow
        name, weight = ranked[0]
        room = width - len(line) - len(f"  vs  {weight:.0%}")
        if room >= 4:
            return line + f"  vs {name if len(name) <= room else name[: room - 1] + '~'} {weight:.0%}"
    return line


class TensorBoardLog:
    """TensorBoard event files in ``RUN_DIR/tensorboard/``: returns, throughput, league size and PFSP weights.

    Each progress row becomes scalars at step = env steps. Uses tensorboardX,
    which comes with Ray; without it the log is skipped with one notice.
    """

    def __init__(self, run_dir: Path, log=print):
        self.directory = RunDir(run_dir).tensorboard
        self.log = log
        self.writer = None
        self.unavailable = False

    def _open(self, step: int):
        if self.writer is None and not self.unavailable:
            try:
                from tensorboardX import SummaryWriter
            except ImportError:
                self.unavailable = True
                self.log("tensorboardX is not installed: no TensorBoard event files (pip install tensorboardX)")
                return None
            # purge_step: a resumed run drops the events it is about to repeat.
            self.writer = SummaryWriter(logdir=str(self.directory), purge_step=step or None)
        return self.writer

    def write(self, row: dict[str, Any]) -> None:
        step = int(float(row.get("env_steps") or 0))
        writer = self._open(step)
        if writer is None:
            return
        scalars = {
            "return/router_main_train": "router_main_train_return",
            "return/fraudster_main_train": "fraudster_main_train_return",
            "return/router_main_vs_scripted": "router_main_vs_scripted",
            "return/fraudster_main_vs_scripted": "fraudster_main_vs_scripted",
            "throughput/env_steps_per_s": "steps_per_s",
            "throughput/env_share": "env_share",
            "throughput/wall_s": "wall_s",
            "league/iteration": "iteration",
            "league/router_snapshots": "router_snapshots",
            "league/fraudster_snapshots": "fraudster_snapshots",
        }
        for tag, key in scalars.items():
            try:
                value = float(row[key])
            except (KeyError, TypeError, ValueError):
                continue
            if np.isfinite(value):
                writer.add_scalar(tag, value, step)
        for main in ("router_main", "fraudster_main"):
            weights = json_weights(row.get(f"{main}_opponent_players") or row.get(f"{main}_opponents"))
            for player, weight in weights.items():
                writer.add_scalar(f"pfsp_{main}/{player}", weight, step)
        writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def write_progress(run_dir: Path, row: dict[str, Any]) -> None:
    """Append ``row`` to ``progress.csv`` (with the header when the file is new)."""
    path = RunDir(run_dir).progress
    new = not path.exists()
    with path.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=PROGRESS_FIELDS, extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerow(row)


def truncate_progress(run_dir: Path, iteration: int) -> None:
    """Drop progress rows after ``iteration`` (a resumed run repeats them)."""
    path = RunDir(run_dir).progress
    if not path.exists():
        return
    with path.open() as handle:
        rows = [row for row in csv.DictReader(handle) if int(row["iteration"]) <= iteration]
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=PROGRESS_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


class ProgressRecord:
    """Where a run's progress rows go: the CSV, TensorBoard, and a line on the terminal for each iteration."""

    def __init__(self, run_dir: Path, total_iterations: int, log: Callable[..., None] = print):
        self.run_dir = Path(run_dir)
        self.total_iterations = total_iterations
        self.log = log
        self.tensorboard = TensorBoardLog(self.run_dir, log)
        self.first_iteration = 0

    def start(self, iteration: int) -> None:
        """Continue the record after ``iteration`` (0: a new run): later rows of an earlier session are dropped."""
        truncate_progress(self.run_dir, iteration)
        self.first_iteration = iteration

    def write(self, row: dict[str, Any]) -> None:
        """A row before training (iteration 0's scores): the CSV and TensorBoard only."""
        write_progress(self.run_dir, row)
        self.tensorboard.write(row)

    def write_iteration(self, row: dict[str, Any]) -> None:
        """An iteration's row: the CSV, TensorBoard and its progress line."""
        self.write(row)
        self.log(format_progress(row, self.total_iterations, self.first_iteration))

    def close(self) -> None:
        self.tensorboard.close()


def plot_learning_curve(run_dir: Path) -> Path | None:
    """``learning_curve.png``: the main players' returns (vs scripted baselines, in training) and throughput."""
    from league.evaluation.report import plot_learning_curves

    rows = read_progress(run_dir)
    if not rows:
        return None
    return plot_learning_curves(rows, RunDir(run_dir).learning_curve)
