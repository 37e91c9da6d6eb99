"""Training throughput of league training: the vectorised env runner against RLlib's stock runner, in one run.

For each setting it trains a few iterations of the given league config
(evaluation and win calibration off) and reports, per iteration after the
first (start-up):

- end-to-end env steps/s: sampled env steps over the wall time of the whole
  iteration (sampling, learner update, league bookkeeping);
- sampling env steps/s per env runner: env steps over the env runner's own
  sampling time;
- the game's share and the module forward passes' share of sampling time
  (vectorised runner only: the stock runner does not time forward passes
  separately).

Settings compared, all with the config's league, PPO and one env runner:

- ``vector``: the config as written (``resources.env_runner: vector``);
- ``stock-64``: RLlib's ``MultiAgentEnvRunner`` with 64 env copies and a
  32,000-step batch (its best measured setting).

Run (about 3 minutes on 2 cores)::

    python experiments/training_throughput.py --config configs/quickstart.yaml --iterations 6

``--address`` joins a running Ray cluster (e.g. the two-node recipe in the
README) and ``--env-runners`` overrides the number of env runners, to measure
scale-out.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def measure(config, iterations: int, address: str | None) -> list[dict]:
    import ray

    from league.core.state import LeagueState
    from league.rllib.runtime import LeagueRuntime
    from league.rllib.train import run_iteration

    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        ray.init(address="local", include_dashboard=False, log_to_driver=False, configure_logging=False)
    rows = []
    try:
        with tempfile.TemporaryDirectory() as run_dir:
            runtime = LeagueRuntime(config, Path(run_dir), LeagueState.new(config.league))
            runtime.write_run_files()
            algorithm = runtime.algorithm_config().build_algo()
            start = time.perf_counter()
            for _ in range(iterations):
                began = time.perf_counter()
                row = run_iteration(runtime, algorithm, start)
                row["iteration_s"] = time.perf_counter() - began
                row["sampled"] = row["env_steps"] - (rows[-1]["env_steps"] if rows else 0)
                rows.append(row)
            algorithm.stop()
    finally:
        ray.shutdown()
    return rows


def summarise(name: str, config, rows: list[dict]) -> str:
    steady = rows[1:] or rows
    end_to_end = np.mean([r["sampled"] / r["iteration_s"] for r in steady])
    sampling = [r["sampled"] / r["sample_s"] / max(1, config.resources.num_env_runners) for r in steady if r.get("sample_s")]
    env_share = [r["env_share"] for r in steady if isinstance(r.get("env_share"), float)]
    forward_share = [r["forward_share"] for r in steady if isinstance(r.get("forward_share"), float)]
    parts = [
        f"{name:<10} batch {config.ppo.train_batch_size:>6,}  envs/runner {config.resources.num_envs_per_env_runner:>4}  "
        f"runners {config.resources.num_env_runners}:  end-to-end {end_to_end:>8,.0f} env steps/s",
    ]
    if sampling:
        parts.append(f"sampling {np.mean(sampling):>9,.0f} env steps/s per runner")
    if env_share:
        parts.append(f"game {100 * np.mean(env_share):.1f}% of sampling")
    if forward_share:
        parts.append(f"forward passes {100 * np.mean(forward_share):.1f}%")
    return "  ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="configs/quickstart.yaml")
    parser.add_argument("--iterations", type=int, default=6)
    parser.add_argument("--env-runners", type=int, help="override resources.num_env_runners")
    parser.add_argument("--address", help="join this Ray cluster")
    parser.add_argument("--settings", nargs="+", default=["vector", "stock-64"], choices=["vector", "stock-64"])
    args = parser.parse_args()

    from league.core.config import load_train_config, make_train_config

    base = load_train_config(args.config).model_dump(by_alias=True)
    base.update({"eval_every": 0, "calibrate_win": False})
    if args.env_runners is not None:
        base["resources"]["num_env_runners"] = args.env_runners
    lines = []
    for setting in args.settings:
        data = {**base, "resources": dict(base["resources"]), "ppo": dict(base["ppo"])}
        if setting == "stock-64":
            data["resources"].update(env_runner="stock", num_envs_per_env_runner=64)
            data["ppo"]["train_batch_size"] = 32_000
            data["fraudster_baseline"] = "none"
        config = make_train_config(data)
        rows = measure(config, args.iterations, args.address)
        for row in rows:
            print(f"  {setting} iteration {row['iteration']}: {row['sampled'] / row['iteration_s']:,.0f} env steps/s end to end", flush=True)
        lines.append(summarise(setting, config, rows))
        print(lines[-1], flush=True)
    print(f"\n{args.config}, mean of iterations 2-{args.iterations}:")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
