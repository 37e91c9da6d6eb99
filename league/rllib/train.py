"""Train a league with RLlib: ``smartpay-marl train --config configs/<name>.yaml``.

Runs on an embedded local Ray instance by default, or joins an existing Ray
cluster with ``--address`` (or the ``RAY_ADDRESS`` variable). Prints one line
per iteration, appends it to ``RUN_DIR/progress.csv``, checkpoints every
``checkpoint_every`` iterations, and ends with a summary and
``RUN_DIR/learning_curve.png``. ``--resume RUN_DIR`` continues a stopped or
killed run from its newest complete checkpoint.
"""

from __future__ import annotations

import csv
import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from league.core.players import Role
from league.core.config import TrainConfig, load_train_config, make_train_config
from league.core.rundir import STATE_FILE, RunDir, read_progress
from league.core.state import LeagueState
from league.rllib.runtime import LeagueRuntime, calibrated_win_definition

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
    "router_main_opponents",
    "fraudster_main_opponents",
)


def add_arguments(parser) -> None:
    parser.add_argument("--config", help="YAML run config (see configs/); required unless --resume")
    parser.add_argument("--output", help="run directory (default: runs/<name>-<UTC time>)")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue this run from its newest checkpoint")
    parser.add_argument("--address", help="join this Ray cluster (default: $RAY_ADDRESS, else a local instance)")
    parser.add_argument("--iterations", type=int, help="train until this many iterations in total")
    parser.add_argument("--quiet", action="store_true", help="no per-iteration lines")


def main(args) -> int:
    if args.resume:
        run_dir = RunDir(args.resume)
        config = load_train_config(run_dir.config)
        checkpoint = LeagueRuntime.latest_checkpoint(run_dir.root)
        state = LeagueState.load(checkpoint / STATE_FILE)
    else:
        if not args.config:
            raise SystemExit("train: give --config FILE (or --resume RUN_DIR)")
        config = load_train_config(args.config)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        run_dir = RunDir(args.output or Path("runs") / f"{config.name}-{stamp}")
        if run_dir.state.exists():
            raise SystemExit(f"train: {run_dir} already holds a run; use --resume {run_dir} or another --output")
        checkpoint, state = None, None
    if args.iterations is not None:
        if args.iterations < 1:
            raise SystemExit("--iterations must be >= 1")
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
    import ray

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
    address = address or os.environ.get("RAY_ADDRESS")
    if not ray.is_initialized():
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        if checkpoint is not None:
            from ray.rllib.algorithms.algorithm import Algorithm

            algorithm = Algorithm.from_checkpoint(str(checkpoint))
            _truncate_progress(run_dir, state.iteration)
            log(f"resumed {run_dir} at iteration {state.iteration} from {checkpoint.name}")
        else:
            algorithm = runtime.algorithm_config().build_algo()
            _truncate_progress(run_dir, 0)
            if config.eval_every:
                _write_progress(run_dir, {"iteration": 0, "env_steps": 0, **evaluate_mains(runtime, algorithm)})
        _report_placement(algorithm, log)
        start = time.perf_counter()
        while state.iteration < config.iterations:
            row = run_iteration(runtime, algorithm, start)
            _write_progress(run_dir, row)
            log(format_progress(row))
            if state.iteration % config.checkpoint_every == 0 or state.iteration == config.iterations:
                runtime.save_checkpoint(algorithm)
        summary = summarize(runtime)
        log(summary)
        plot_learning_curve(run_dir)
        algorithm.stop()
    finally:
        if not address:
            ray.shutdown()
    return runtime


def run_iteration(runtime: LeagueRuntime, algorithm, start: float) -> dict[str, Any]:
    """One training iteration of the league; returns its progress row."""
    state, config = runtime.state, runtime.config
    runtime.prepare_iteration(algorithm)
    began = time.perf_counter()
    result = algorithm.train()
    waited = 0.0
    while _count((result.get("env_runners") or {}).get("num_env_steps_sampled")) == 0 and config.resources.num_env_runners:
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
    sampled = _count(runners.get("num_env_steps_sampled"))
    # Our own running total: RLlib's lifetime counter restarts when a crashed env runner is replaced.
    previous = next((e["env_steps"] for e in reversed(state.history) if e.get("event") == "iteration"), 0)
    steps = max(previous + sampled, _count(result.get("num_env_steps_sampled_lifetime")))
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
    other = "fraudster" if role == "router" else "router"
    returns = []
    for name in opponents:
        opponent = make_policy(name, other)
        pair = (policy, opponent) if role == "router" else (opponent, policy)
        stats = evaluate(*pair, episodes=config.eval_episodes, seed=config.seed + 10_000, config=runtime.game)
        returns.append(stats.router_return.mean if role == "router" else stats.fraudster_return.mean)
    return round(float(np.mean(returns)), 4)


def _count(value) -> int:
    """An RLlib counter as an int; 0 when missing or NaN (e.g. the iteration an env runner crashed)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0
    return int(number) if np.isfinite(number) else 0


def _round(value: float | None) -> float | str:
    return "" if value is None else round(float(value), 4)


def format_progress(row: dict[str, Any]) -> str:
    def show(key: str, fmt: str = "{:+.2f}") -> str:
        value = row.get(key, "")
        return fmt.format(value) if isinstance(value, (int, float)) else "  -  "

    return (
        f"iter {row['iteration']:>4}  steps {row['env_steps']:>8,}  {row['wall_s']:>7.1f}s  "
        f"router {show('router_main_train_return')} (vs scripted {show('router_main_vs_scripted')})  "
        f"fraudster {show('fraudster_main_train_return')} (vs scripted {show('fraudster_main_vs_scripted')})  "
        f"league {row['router_snapshots']}R/{row['fraudster_snapshots']}F  "
        f"PFSP router_main {row['router_main_opponents']}"
        + (f"  +{row['snapshots_taken']}" if row.get("snapshots_taken") else "")
    )


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
