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

:func:`train` is a loop of named steps (:func:`new_league`,
:func:`start_algorithm`, :func:`run_iteration`, :func:`save_checkpoint_if_due`);
the progress record (CSV, TensorBoard, the line, the curve) is
:mod:`league.rllib.progress`'s.
"""

from __future__ import annotations

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
from league.rllib.progress import PROGRESS_LEGEND, ProgressRecord, json_weights, plot_learning_curve
from league.rllib.ray_setup import ray_session
from smartpay_marl.layout import OTHER_ROLE

if TYPE_CHECKING:  # the runtime imports RLlib; it is imported where training starts, so --help stays fast
    from league.rllib.runtime import LeagueRuntime

#: How long an iteration waits for crashed env runners to be restarted before giving up.
RESTART_WAIT_S = 300.0

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
    """Train until ``config.iterations``; resume from ``checkpoint`` when given.

    The steps: set up the league (or take the resumed one), start the algorithm
    (restore it, or build it and score the mains at iteration 0), then train
    iteration by iteration, each row going to the progress record and a
    checkpoint saved when one is due, and end with the summary and the curve.
    """
    from league.rllib.runtime import LeagueRuntime

    log = print if verbose else (lambda *a, **k: None)
    runtime = LeagueRuntime(config, run_dir, state if state is not None else new_league(config, log))
    runtime.write_run_files()
    record = ProgressRecord(run_dir, config.iterations, log)
    with ray_session(address):
        try:
            algorithm, wall_offset = start_algorithm(runtime, checkpoint, record, log)
            _report_placement(algorithm, log)
            log(PROGRESS_LEGEND)
            start = time.perf_counter() - wall_offset
            while runtime.state.iteration < config.iterations:
                record.write_iteration(with_player_names(run_iteration(runtime, algorithm, start), runtime))
                save_checkpoint_if_due(runtime, algorithm)
            log(summarize(runtime))
            plot_learning_curve(run_dir)
            algorithm.stop()
        finally:
            record.close()
    return runtime


def new_league(config: TrainConfig, log) -> LeagueState:
    """A fresh league state, its win definition calibrated on the scripted round robin when the config asks."""
    from league.rllib.runtime import calibrated_win_definition

    league_config = config.league
    if config.calibrate_win:
        win = calibrated_win_definition(config)
        league_config = league_config.model_copy(update={"win_definition": win})
        log(f"win definition: router wins an episode with probability sigmoid((return - {win.reference:.2f}) / {win.scale:.2f})")
    return LeagueState.new(league_config)


def start_algorithm(runtime: LeagueRuntime, checkpoint: Path | None, record: ProgressRecord, log) -> tuple[Any, float]:
    """The algorithm and the wall time already spent: restored from ``checkpoint``, or built new (0 s).

    A new run's record starts empty with the mains' iteration-0 scores (when it
    evaluates); a resumed run's record drops the rows after its checkpoint.
    """
    state, config = runtime.state, runtime.config
    if checkpoint is None:
        algorithm = runtime.algorithm_config().build_algo()
        record.start(0)
        if config.eval_every:
            record.write({"iteration": 0, "env_steps": 0, **evaluate_mains(runtime, algorithm)})
        return algorithm, 0.0
    from ray.rllib.algorithms.algorithm import Algorithm

    from league.rllib.checkpoints import ResumeError, resumed_wall_s

    wall_offset = resumed_wall_s(runtime.run_dir, state.iteration)  # wall_s goes on from the checkpoint's row
    try:
        algorithm = Algorithm.from_checkpoint(str(checkpoint))
    except Exception as error:  # noqa: BLE001  (one line naming the checkpoint; --debug has the rest)
        first = (str(error).strip().splitlines() or [""])[0][:200]
        raise ResumeError(f"cannot restore algorithm checkpoint {checkpoint}: {type(error).__name__}: {first}") from error
    record.start(state.iteration)
    log(f"resumed {runtime.run_dir} at iteration {state.iteration} from {checkpoint.name}")
    return algorithm, wall_offset


def save_checkpoint_if_due(runtime: LeagueRuntime, algorithm) -> None:
    """Checkpoint every ``checkpoint_every`` iterations and at the last one."""
    iteration, config = runtime.state.iteration, runtime.config
    if iteration % config.checkpoint_every == 0 or iteration == config.iterations:
        runtime.save_checkpoint(algorithm)


def run_iteration(runtime: LeagueRuntime, algorithm, start: float) -> dict[str, Any]:
    """One training iteration of the league; returns its progress row.

    The steps: prepare the iteration's opponents, train until some env runner
    sampled, record the results in the league, take the snapshots that are due,
    build the progress row (with the mains' scores when an evaluation is due)
    and log the iteration in the league's history.
    """
    state, config = runtime.state, runtime.config
    runtime.prepare_iteration(algorithm)
    result, seconds = train_until_sampled(algorithm, config.resources.num_env_runners)
    state.iteration += 1
    recorded = runtime.record_results(result)
    taken = runtime.take_snapshots(algorithm)
    row = progress_row(runtime, result, recorded, taken, seconds, start)
    if config.eval_every and state.iteration % config.eval_every == 0:
        row.update(evaluate_mains(runtime, algorithm))
    state.record_event("iteration", env_steps=row["env_steps"], episodes=recorded["episodes"])
    return row


def train_until_sampled(algorithm, num_env_runners: int) -> tuple[dict[str, Any], float]:
    """``algorithm.train()``'s result and its seconds, retried while every remote env runner is down."""
    from league.rllib.plumbing import counter

    began = time.perf_counter()
    result = algorithm.train()
    waited = 0.0
    while counter((result.get("env_runners") or {}).get("num_env_steps_sampled")) == 0 and num_env_runners:
        # Every env runner is down (crashed, being restarted by Ray): an iteration without samples
        # trains nothing, so it does not count; wait for the restart and try again.
        if waited >= RESTART_WAIT_S:
            raise RuntimeError(f"no env runner sampled for {RESTART_WAIT_S:.0f} s; is the Ray cluster healthy?")
        time.sleep(2.0)
        waited += 2.0
        result = algorithm.train()
    return result, time.perf_counter() - began - waited


def progress_row(runtime: LeagueRuntime, result: dict[str, Any], recorded: dict[str, Any], taken: list[str],
                 seconds: float, start: float) -> dict[str, Any]:  # fmt: skip
    """The progress row of the iteration just trained (see :data:`league.rllib.progress.PROGRESS_FIELDS`)."""
    from league.rllib.plumbing import counter

    state = runtime.state
    runners = result.get("env_runners", {}) or {}
    sampled = counter(runners.get("num_env_steps_sampled"))
    # Our own running total: RLlib's lifetime counter restarts when a crashed env runner is replaced.
    previous = next((e["env_steps"] for e in reversed(state.history) if e.get("event") == "iteration"), 0)
    steps = max(previous + sampled, counter(result.get("num_env_steps_sampled_lifetime")))
    sample_seconds = recorded["sample_seconds"]
    return {
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
        weights = json_weights(row.get(f"{main}_opponents"))
        by_player: dict[str, float] = {}
        for module_id, weight in weights.items():
            player = names.get(module_id, module_id.removesuffix(OPPONENT_COPY_SUFFIX))  # a learner's frozen copy
            by_player[player] = round(by_player.get(player, 0.0) + weight, 3)
        row[f"{main}_opponent_players"] = json.dumps(by_player)
    return row


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
