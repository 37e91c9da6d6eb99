"""Scale-out of league training: 2 env runners on a 2-node local Ray cluster measured, k runners and m learners projected.

1. Measured: starts a two-node Ray cluster on this machine (head and worker
   node, one CPU each, GCS on ``--port``; the recipe the tests use), trains
   the config with 2 env runners (one per node) with and without overlap via
   ``experiments/training_throughput.py``'s ``measure``, and stops that
   cluster only.
2. Projected: from the per-runner sampling rate ``S`` and the single-learner
   update rate ``L`` measured in the same run, and the rest of the driver's
   iteration ``O`` (seconds), the iteration time for a batch of ``B`` env
   steps with ``k`` env runners and ``m`` data-parallel learners is

   - sequential: ``B / (k S) + B / (m L) + O``
   - overlapped: ``max(B / (k S), B / (m L)) + O``

   assuming every runner and learner has its own core and learners scale
   linearly (no gradient all-reduce cost): an upper bound, labelled projected.

Run (about 3 minutes on 2 cores)::

    python experiments/scaling.py --config configs/quickstart.yaml --iterations 6 --port 6425
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "experiments"))


def start_cluster(port: str, env: dict) -> None:
    from tests.league.rllib.test_resume_and_faults import RAY_START

    subprocess.run([*RAY_START, "--head", f"--port={port}", "--include-dashboard=false"], check=True, env=env,
                   capture_output=True, timeout=180)  # fmt: skip
    subprocess.run([*RAY_START, f"--address=127.0.0.1:{port}"], check=True, env=env, capture_output=True, timeout=180)


def steady(rows: list[dict], overlap: bool) -> list[dict]:
    return (rows[2:] if overlap else rows[1:]) or rows


def projection(batch: int, sampling: float, learner: float, other: float) -> str:
    lines = [
        "| env runners k | learners m | sequential (projected) | overlapped (projected) |",
        "|---:|---:|---:|---:|",
    ]
    for k in (1, 2, 4, 8, 16):
        for m in (1, 2, 4):
            sample_s, learn_s = batch / (k * sampling), batch / (m * learner)
            sequential = batch / (sample_s + learn_s + other)
            overlapped = batch / (max(sample_s, learn_s) + other)
            lines.append(f"| {k} | {m} | {sequential:,.0f} | {overlapped:,.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="configs/quickstart.yaml")
    parser.add_argument("--iterations", type=int, default=6)
    parser.add_argument("--port", default="6425", help="GCS port of this script's own cluster")
    args = parser.parse_args()

    import os

    from league.core.config import load_train_config
    from tests.league.rllib.test_resume_and_faults import cluster_env, stop_ray_cluster
    from training_throughput import measure, setting_config

    base = load_train_config(args.config).model_dump(by_alias=True)
    base.update({"eval_every": 0, "calibrate_win": False})
    base["resources"]["num_env_runners"] = 2
    env = cluster_env()
    os.environ.pop("RAY_ADDRESS", None)
    os.environ["RAY_AUTH_MODE"] = "disabled"
    results = {}
    try:
        start_cluster(args.port, env)
        for setting in ("vector", "vector-overlap"):
            config = setting_config(base, setting)
            rows = steady(measure(config, args.iterations, f"127.0.0.1:{args.port}"), config.ppo.overlap_sampling)
            results[setting] = {
                "end_to_end": float(np.mean([r["sampled"] / r["iteration_s"] for r in rows])),
                "iteration_s": float(np.mean([r["iteration_s"] for r in rows])),
                "learner_s": float(np.mean([r["learner_s"] for r in rows])),
                # sample_s sums both runners' sampling seconds: env steps over it is the rate per runner.
                "sampling_per_runner": float(np.mean([r["sampled"] / r["sample_s"] for r in rows if r.get("sample_s")])),
            }
            print(setting, results[setting], flush=True)
    finally:
        stop_ray_cluster(args.port)
    batch = base["ppo"]["train_batch_size"]
    sequential = results["vector"]
    sampling = sequential["sampling_per_runner"]
    learner = batch / sequential["learner_s"]
    # The rest of the driver's sequential iteration: neither the learner nor the runners' sampling (parallel, so
    # the slower runner's share, approximated by the mean).
    other = max(0.0, sequential["iteration_s"] - sequential["learner_s"] - batch / (2 * sampling))
    print(f"\nMeasured, {args.config}, 2 env runners on a 2-node local cluster (1 CPU per node), "
          f"mean of the steady iterations of {args.iterations}:")  # fmt: skip
    for setting, figures in results.items():
        print(f"  {setting:<15} end-to-end {figures['end_to_end']:>7,.0f} env steps/s  iteration "
              f"{figures['iteration_s']:.2f} s  learner {figures['learner_s']:.2f} s  sampling "
              f"{figures['sampling_per_runner']:,.0f}/s per runner")  # fmt: skip
    print(f"\nProjection inputs (measured above, sequential run): S = {sampling:,.0f} env steps/s per runner, "
          f"L = {learner:,.0f} env steps/s per learner, O = {other:.2f} s per iteration, B = {batch:,}")  # fmt: skip
    print(projection(batch, sampling, learner, other))


if __name__ == "__main__":
    main()
