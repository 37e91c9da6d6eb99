"""Where one training iteration's wall time goes, by stage: a py-spy profile of the driver of a league run.

It starts ``smartpay-marl train`` on the given config in a subprocess, waits
``--warmup`` seconds (Ray start-up, module build, the first iterations),
records the driver's main thread with ``py-spy record --idle`` (idle samples
included, so time spent waiting for the env runner counts) for
``--duration`` seconds, stops the run, and sorts every sample into one stage
(the first rule in :data:`STAGES` that matches a frame of its stack). The
table gives each stage's share of the driver's wall time.

Run (about 1 minute on 2 cores)::

    python experiments/learner_profile.py --config configs/quickstart.yaml --warmup 15 --duration 30

``--raw FILE`` keeps py-spy's collapsed stacks; ``--from-raw FILE`` re-reads
such a file instead of running anything.
"""

from __future__ import annotations

import argparse
import collections
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: ``(stage, frame names that put a sample in it)``, checked in this order; a frame name is py-spy's
#: function name (``Class.method``) without the file.
STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (STARTUP := "start-up: Ray, win calibration, algorithm build (left out of the shares)",
     ("AlgorithmConfig.build_algo", "init_ray", "calibrated_win_definition", "LeagueRuntime.algorithm_config",
      "Algorithm.from_checkpoint")),
    ("evaluation of the mains (evaluate_mains)", ("evaluate_mains",)),
    ("snapshots (take_snapshots)", ("LeagueRuntime.take_snapshots",)),
    ("checkpoints (save_checkpoint)", ("LeagueRuntime.save_checkpoint",)),
    ("league: slots and mapping (prepare_iteration)", ("LeagueRuntime.prepare_iteration",)),
    ("sampling: driver waits for the env runner", ("synchronous_parallel_sample", "OverlappedSampler.collect")),
    ("learner: value pass for GAE", ("DefaultPPOTorchRLModule.compute_values", "BulkPPOBatch.value_pass")),
    ("learner: batch building (learner connector)", ("Learner._make_batch_if_necessary",)),
    ("learner: minibatch iterator", ("MiniBatchCyclicIterator.__iter__", "Learner._create_iterator_if_necessary")),
    ("learner: KL term of the loss", ("TorchMultiCategorical.kl",)),
    ("learner: rest of the loss", ("Learner.compute_losses",)),
    ("learner: forward_train", ("RLModule.forward_train",)),
    ("learner: backward", ("Tensor.backward",)),
    ("learner: optimizer step (apply_gradients)", ("TorchLearner.apply_gradients",)),
    ("learner: other", ("Learner.update",)),
    ("weight sync to env runners", ("EnvRunnerGroup.sync_weights",)),
    ("rest of algorithm.train() (RLlib metrics, results)", ("Trainable.train",)),
    ("league bookkeeping (run_iteration rest)", ("run_iteration",)),
    ("progress.csv, TensorBoard, console (train loop rest)", ("train",)),
)


def classify(stack: list[str]) -> str:
    names = set(stack)
    for stage, frames in STAGES:
        if names.intersection(frames):
            return stage
    return "other"


def read_raw(path: Path) -> collections.Counter:
    """Samples per stage from py-spy's raw (collapsed) output, main thread only."""
    counts: collections.Counter = collections.Counter()
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        stack, _, number = line.rpartition(" ")
        frames = [frame.split(" (")[0] for frame in stack.split(";")]
        if "_run_module_as_main" not in frames:  # Ray's and torch's helper threads
            continue
        counts[classify(frames)] += int(number)
    return counts


def table(counts: collections.Counter) -> str:
    startup = counts.pop(STARTUP, 0)
    total = sum(counts.values())
    order = [stage for stage, _ in STAGES] + ["other"]
    lines = [f"{'stage':<58} {'share':>7}  samples", "-" * 76]
    learner = 0
    for stage in order:
        if counts.get(stage):
            lines.append(f"{stage:<58} {100 * counts[stage] / total:6.1f}%  {counts[stage]:>7}")
            if stage.startswith("learner:"):
                learner += counts[stage]
    lines.append("-" * 76)
    lines.append(f"{'learner update, all stages':<58} {100 * learner / total:6.1f}%  {learner:>7}")
    lines.append(f"{'total (driver main thread, idle included)':<58} {100.0:6.1f}%  {total:>7}")
    if startup:
        lines.append(f"({startup} samples of start-up recorded before training began are left out)")
    return "\n".join(lines)


def record(config: str, warmup: float, duration: float, rate: int, raw: Path, extra: list[str]) -> None:
    with tempfile.TemporaryDirectory() as run_dir:
        command = [sys.executable, "-m", "league.cli", "train", "--config", config, "--iterations", "100000",
                   "--output", str(Path(run_dir) / "run"), "--quiet", *extra]  # fmt: skip
        train = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            time.sleep(warmup)
            if train.poll() is not None:
                raise RuntimeError(f"the training run exited early (status {train.returncode}): {' '.join(command)}")
            subprocess.run(["py-spy", "record", "--idle", "--format", "raw", "-r", str(rate), "-d", str(int(duration)),
                            "-o", str(raw), "-p", str(train.pid)], check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        finally:
            os.killpg(train.pid, signal.SIGINT)
            try:
                train.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(train.pid, signal.SIGKILL)
                train.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="configs/quickstart.yaml")
    parser.add_argument("--warmup", type=float, default=15.0, help="seconds before recording starts")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds recorded")
    parser.add_argument("--rate", type=int, default=100, help="py-spy samples per second")
    parser.add_argument("--raw", type=Path, help="keep py-spy's collapsed stacks here")
    parser.add_argument("--from-raw", type=Path, help="only classify this earlier raw file")
    args = parser.parse_args()
    if args.from_raw:
        raw = args.from_raw
    else:
        raw = args.raw or Path(tempfile.mkdtemp()) / "profile.txt"
        record(args.config, args.warmup, args.duration, args.rate, raw, [])
    print(table(read_raw(raw)))


if __name__ == "__main__":
    main()
