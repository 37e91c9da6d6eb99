"""Train a league with RLlib: ``smartpay-marl train --config configs/<name>.yaml``.

Runs on an embedded local Ray instance by default, or joins an existing Ray
cluster with ``--address`` (or the ``RAY_ADDRESS`` variable). Prints one short
line per iteration (iteration, env steps, steps/s, ETA, the main players'
returns, league size, the main router's likeliest opponents), appends the full
row (every PFSP weight included) to ``RUN_DIR/progress.csv``, writes
TensorBoard event files to ``RUN_DIR/tensorboard/``, checkpoints every
``checkpoint_every`` iterations, and ends with a summary and
``RUN_DIR/learning_curve.png``. ``--resume RUN_DIR`` continues a stopped or
killed run from its newest complete checkpoint.
"""

from __future__ import annotations

import csv
import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from league.core.players import Role
from league.core.config import TrainConfig, load_train_config, make_train_config
from league.core.rundir import RunDir, read_progress
from league.core.state import LeagueState
from league.rllib.ray_setup import ray_session
from smartpay_marl.layout import OTHER_ROLE

if TYPE_CHECKING:  # the runtime imports RLlib; it is imported where training starts, so --help stays fast
    from league.rllib.runtime import LeagueRuntime

#: How long an iteration waits for crashed env runners to be restarted before giving up.
RESTART_WAIT_S = 300.0

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


def add_arguments(parser) -> None:
    parser.add_argument("--config", metavar="FILE", help="YAML run config (see configs/); required unless --resume")
    parser.add_argument("--output", metavar="DIR", help="run directory (default: runs/<name>-<UTC time>)")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue this run from its newest checkpoint")
    parser.add_argument("--address", help="join this Ray cluster (default: $RAY_ADDRESS, else a local instance)")
    parser.add_argument("--iterations", type=int, metavar="N", help="train until this many iterations in total")
    parser.add_argument("--quiet", action="store_true", help="no per-iteration lines")
    parser.add_argument("--retire-broken-snapshots", action="store_true",
                        help="with --resume: take snapshots whose files are missing or damaged out of the league")  # fmt: skip


def main(args) -> int:
    from league.rllib.psro import is_psro_request, main_from_train

    if is_psro_request(args):  # regime psro has its own driver; --iterations counts its epochs
        return main_from_train(args)
    if args.iterations is not None and args.iterations < 1:
        raise ValueError(f"--iterations must be >= 1, got {args.iterations}")
    if args.resume:
        import sys

        from league.rllib.checkpoints import prepare_resume

        resume = prepare_resume(args.resume, args.iterations, getattr(args, "retire_broken_snapshots", False),
                                warn=lambda line: print(line, file=sys.stderr, flush=True))  # fmt: skip
        run_dir, config, checkpoint, state = resume.run_dir, resume.config, resume.checkpoint, resume.state
    else:
        if not args.config:
            raise ValueError("give --config FILE (or --resume RUN_DIR)")
        config = load_train_config(args.config)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        run_dir = RunDir(args.output or Path("runs") / f"{config.name}-{stamp}")
        if run_dir.state.exists():
            raise ValueError(f"{run_dir} already holds a run; use --resume {run_dir} or another --output")
        checkpoint, state = None, None
    if args.iterations is not None and not args.resume:
        config = make_train_config({**config.model_dump(by_alias=True), "iterations": args.iterations})
    train(config, run_dir.root, state=state, checkpoint=checkpoint, address=args.address, verbose=not args.quiet)
    return 0


def train(
    config: TrainConfig,
    run_dir: Path,
    state: LeagueState | None = None,
    checkpoint: Path | None = None,
    address: str | None = None,
    verbose: bool = True,
) -> LeagueRuntime:
    """Train until ``config.iterations``; resume from ``checkpoint`` when given."""
    from league.rllib.runtime import LeagueRuntime, calibrated_win_definition

    log = print if verbose else (lambda *a, **k: None)
    if state is None:
        league_config = config.league
        if config.calibrate_win:
            win = calibrated_win_definition(config)
            league_config = league_config.model_copy(update={"win_definition": win})
            log(f"win definition: router wins an episode with probability sigmoid((return - {win.reference:.2f}) / {win.scale:.2f})")
        state = LeagueState.new(league_config)
    runtime = LeagueRuntime(config, run_dir, state)
    runtime.write_run_files()
    tensorboard = TensorBoardLog(run_dir, log)
    with ray_session(address):
        try:
            wall_offset = 0.0
            if checkpoint is not None:
                from ray.rllib.algorithms.algorithm import Algorithm

                from league.rllib.checkpoints import ResumeError, resumed_wall_s

                wall_offset = resumed_wall_s(run_dir, state.iteration)  # wall_s goes on from the checkpoint's row
                try:
                    algorithm = Algorithm.from_checkpoint(str(checkpoint))
                except Exception as error:  # noqa: BLE001  (one line naming the checkpoint; --debug has the rest)
                    first = (str(error).strip().splitlines() or [""])[0][:200]
                    raise ResumeError(f"cannot restore algorithm checkpoint {checkpoint}: {type(error).__name__}: {first}") from error
                _truncate_progress(run_dir, state.iteration)
                log(f"resumed {run_dir} at iteration {state.iteration} from {checkpoint.name}")
            else:
                algorithm = runtime.algorithm_config().build_algo()
                _truncate_progress(run_dir, 0)
                if config.eval_every:
                    row = {"iteration": 0, "env_steps": 0, **evaluate_mains(runtime, algorithm)}
                    _write_progress(run_dir, row)
                    tensorboard.write(row)
            _report_placement(algorithm, log)
            log(PROGRESS_LEGEND)
            start = time.perf_counter() - wall_offset
            first_iteration = state.iteration
            while state.iteration < config.iterations:
                row = with_player_names(run_iteration(runtime, algorithm, start), runtime)
                _write_progress(run_dir, row)
                tensorboard.write(row)
                log(format_progress(row, config.iterations, first_iteration))
                if state.iteration % config.checkpoint_every == 0 or state.iteration == config.iterations:
                    runtime.save_checkpoint(algorithm)
            summary = summarize(runtime)
            log(summary)
            plot_learning_curve(run_dir)
            algorithm.stop()
        finally:
            tensorboard.close()
    return runtime


def run_iteration(runtime: LeagueRuntime, algorithm, start: float) -> dict[str, Any]:
    """One training iteration of the league; returns its progress row."""
    from league.rllib.plumbing import counter

    state, config = runtime.state, runtime.config
    runtime.prepare_iteration(algorithm)
    began = time.perf_counter()
    result = algorithm.train()
    waited = 0.0
    while counter((result.get("env_runners") or {}).get("num_env_steps_sampled")) == 0 and config.resources.num_env_runners:
        # Every env runner is down (crashed, being restarted by Ray): an iteration without samples
        # trains nothing, so it does not count; wait for the restart and try again.
        if waited >= RESTART_WAIT_S:
            raise RuntimeError(f"no env runner sampled for {RESTART_WAIT_S:.0f} s; is the Ray cluster healthy?")
        time.sleep(2.0)
        waited += 2.0
        result = algorithm.train()
    seconds = time.perf_counter() - began - waited
    state.iteration += 1
    recorded = runtime.record_results(result)
    taken = runtime.take_snapshots(algorithm)
    runners = result.get("env_runners", {}) or {}
    sampled = counter(runners.get("num_env_steps_sampled"))
    # Our own running total: RLlib's lifetime counter restarts when a crashed env runner is replaced.
    previous = next((e["env_steps"] for e in reversed(state.history) if e.get("event") == "iteration"), 0)
    steps = max(previous + sampled, counter(result.get("num_env_steps_sampled_lifetime")))
    sample_seconds = recorded["sample_seconds"]
    row: dict[str, Any] = {
        "iteration": state.iteration,
        "env_steps": steps,
        "wall_s": round(time.perf_counter() - start, 2),
        "steps_per_s": round(sampled / seconds, 1) if seconds > 0 else "",
        "env_share": round(recorded["env_seconds"] / sample_seconds, 4) if sample_seconds else "",
        "forward_share": round(recorded["forward_seconds"] / sample_seconds, 4) if sample_seconds else "",
        "sample_s": round(sample_seconds, 4),
        "router_main_train_return": _round(recorded["mean_return"].get("router_main")),
        "fraudster_main_train_return": _round(recorded["mean_return"].get("fraudster_main")),
        "router_snapshots": len(state.snapshots(Role.ROUTER)),
        "fraudster_snapshots": len(state.snapshots(Role.FRAUDSTER)),
        "snapshots_taken": " ".join(taken),
        "learner_shares": json.dumps({k: round(v, 3) for k, v in recorded["learner_shares"].items()}),
        "router_main_opponents": json.dumps({k: round(v, 3) for k, v in runtime.last_plan.get("router_main", {}).items()}),
        "fraudster_main_opponents": json.dumps({k: round(v, 3) for k, v in runtime.last_plan.get("fraudster_main", {}).items()}),
    }
    if config.eval_every and state.iteration % config.eval_every == 0:
        row.update(evaluate_mains(runtime, algorithm))
    state.record_event("iteration", env_steps=steps, episodes=recorded["episodes"])
    return row


def evaluate_mains(runtime: LeagueRuntime, algorithm) -> dict[str, float]:
    """Mean return of each main player against its scripted evaluation opponents (same seed every time)."""
    from league.evaluation.loading import torch_threads

    learners = {p.name for p in runtime.state.learning_players()}
    scores: dict[str, float] = {}
    with torch_threads(1):  # small batches: extra torch threads only fight the simulator for the cores
        for role, opponents in runtime.config.eval_opponents.items():
            if opponents and f"{role}_main" in learners:
                scores[f"{role}_main_vs_scripted"] = _score_main(runtime, algorithm, role, opponents)
    return scores


def _score_main(runtime: LeagueRuntime, algorithm, role: str, opponents: list[str]) -> float:
    from agents.evaluation import evaluate
    from agents.registry import make_policy

    config = runtime.config
    policy = runtime.learner_policy(algorithm, f"{role}_main")
    other = OTHER_ROLE[role]
    returns = []
    for name in opponents:
        opponent = make_policy(name, other)
        pair = (policy, opponent) if role == "router" else (opponent, policy)
        stats = evaluate(*pair, episodes=config.eval_episodes, seed=config.seed + 10_000, config=runtime.game)
        returns.append(stats.router_return.mean if role == "router" else stats.fraudster_return.mean)
    return round(float(np.mean(returns)), 4)


def _round(value: float | None) -> float | str:
    return "" if value is None else round(float(value), 4)


PROGRESS_LEGEND = (
    "columns: iteration/total, env steps, env steps/s, ETA, mean training return of router_main (R) and\n"
    "fraudster_main (F) [vs scripted baselines when scored], snapshots per side, router_main's likeliest\n"
    "PFSP opponents. Every weight: progress.csv; curves: tensorboard --logdir <run dir>/tensorboard"
)


def with_player_names(row: dict[str, Any], runtime: LeagueRuntime) -> dict[str, Any]:
    """``row`` plus ``<main>_opponent_players``: its PFSP weights keyed by player name instead of RLlib module id.

    A frozen-opponent slot (``fraudster_slot_0``) is named by the snapshot it
    held this iteration, a scripted module (``fraudster_scripted_neutral``) by
    its player name (``fraudster_scripted:neutral``); learners' module ids are
    their player names already.
    """
    from league.rllib.callbacks import scripted_module_id

    from league.rllib.callbacks import OPPONENT_COPY_SUFFIX

    names = dict(runtime.state.slots)
    names.update({scripted_module_id(name): name for name in runtime.config.league.scripted_opponents})
    row = dict(row)
    for main in ("router_main", "fraudster_main"):
        weights = _json_weights(row.get(f"{main}_opponents"))
        by_player: dict[str, float] = {}
        for module_id, weight in weights.items():
            player = names.get(module_id, module_id.removesuffix(OPPONENT_COPY_SUFFIX))  # a learner's frozen copy
            by_player[player] = round(by_player.get(player, 0.0) + weight, 3)
        row[f"{main}_opponent_players"] = json.dumps(by_player)
    return row


def _json_weights(value: Any) -> dict[str, float]:
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
    weights = _json_weights(row.get("router_main_opponent_players") or row.get("router_main_opponents"))
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
            weights = _json_weights(row.get(f"{main}_opponent_players") or row.get(f"{main}_opponents"))
            for player, weight in weights.items():
                writer.add_scalar(f"pfsp_{main}/{player}", weight, step)
        writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def _write_progress(run_dir: Path, row: dict[str, Any]) -> None:
    path = run_dir / "progress.csv"
    new = not path.exists()
    with path.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=PROGRESS_FIELDS, extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerow(row)


def _truncate_progress(run_dir: Path, iteration: int) -> None:
    """Drop progress rows after ``iteration`` (a resumed run repeats them)."""
    path = run_dir / "progress.csv"
    if not path.exists():
        return
    with path.open() as handle:
        rows = [row for row in csv.DictReader(handle) if int(row["iteration"]) <= iteration]
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=PROGRESS_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def _report_placement(algorithm, log) -> None:
    import ray

    try:
        nodes = algorithm.env_runner_group.foreach_env_runner(
            lambda runner: ray.get_runtime_context().get_node_id(), local_env_runner=False
        )
    except Exception:  # noqa: BLE001  (placement is informative only)
        return
    if nodes:
        log(f"env runners: {len(nodes)} on {len(set(nodes))} node(s)")


def summarize(runtime: LeagueRuntime) -> str:
    rows = read_progress(runtime.run_dir)
    state = runtime.state
    lines = [f"run {runtime.run_dir}: {state.iteration} iterations"]
    for key in ("router_main_vs_scripted", "fraudster_main_vs_scripted"):
        values = [(int(r["iteration"]), float(r[key])) for r in rows if r.get(key)]
        if len(values) >= 2:
            (first_it, first), (last_it, last) = values[0], values[-1]
            lines.append(f"  {key}: {first:+.3f} at iteration {first_it} -> {last:+.3f} at iteration {last_it}")
    lines.append(
        f"  league: {len(state.snapshots(Role.ROUTER))} router and {len(state.snapshots(Role.FRAUDSTER))} fraudster snapshots"
    )
    return "\n".join(lines)


def plot_learning_curve(run_dir: Path) -> Path | None:
    """``learning_curve.png``: the main players' returns (vs scripted baselines, in training) and throughput."""
    from league.evaluation.report import plot_learning_curves

    rows = read_progress(run_dir)
    if not rows:
        return None
    return plot_learning_curves(rows, Path(run_dir) / "learning_curve.png")
