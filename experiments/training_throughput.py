"""Training throughput: env steps per second of league training, and the share of sampling time the game costs.

The share is the wall time spent inside the game's ``reset``/``step`` divided
by the wall time of sampling (both measured in the env runner, summed over env
runners); the target is under 15%, so that the game is never the bottleneck.

Run (about 2 minutes on 2 cores)::

    python experiments/training_throughput.py --config configs/quickstart.yaml --iterations 6

The first iteration is reported but left out of the means (start-up).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="configs/quickstart.yaml")
    parser.add_argument("--iterations", type=int, default=6)
    parser.add_argument("--env-runners", type=int, help="override resources.num_env_runners")
    args = parser.parse_args()

    import ray

    from league.rllib.runtime import LeagueRuntime
    from league.core.state import LeagueState
    from league.rllib.train import run_iteration
    from league.core.config import load_train_config, make_train_config

    config = load_train_config(args.config)
    data = config.model_dump(by_alias=True)
    data.update({"eval_every": 0, "calibrate_win": False})
    if args.env_runners is not None:
        data["resources"]["num_env_runners"] = args.env_runners
    config = make_train_config(data)
    ray.init(include_dashboard=False, log_to_driver=False)
    rows = []
    with tempfile.TemporaryDirectory() as run_dir:
        runtime = LeagueRuntime(config, Path(run_dir), LeagueState.new(config.league))
        runtime.write_run_files()
        algorithm = runtime.algorithm_config().build_algo()
        start = time.perf_counter()
        for _ in range(args.iterations):
            row = run_iteration(runtime, algorithm, start)
            rows.append(row)
            print(f"iteration {row['iteration']}: {row['steps_per_s']} env steps/s, env share {row['env_share']}", flush=True)
        algorithm.stop()
    ray.shutdown()
    steady = rows[1:] or rows
    print(
        f"\n{args.config} with {config.resources.num_env_runners} env runner(s), "
        f"{config.ppo.train_batch_size} steps per iteration: "
        f"{np.mean([r['steps_per_s'] for r in steady]):.0f} env steps/s of training, "
        f"{100 * np.mean([r['env_share'] for r in steady]):.1f}% of sampling time inside the game "
        f"(mean of iterations 2-{len(rows)})"
    )


if __name__ == "__main__":
    main()
