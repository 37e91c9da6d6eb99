"""Training throughput of league training: the league's learner and overlap against RLlib's stock runner, in one run.

For each setting it trains a few iterations of the given league config
(evaluation and win calibration off) and reports, per iteration after the
first (start-up; with overlap also the pipeline fill):

- end-to-end env steps/s: sampled env steps over the wall time of the whole
  iteration (sampling, learner update, league bookkeeping);
- the learner's share: wall time inside ``learner_group.update`` over the
  iteration's wall time, and its seconds per iteration;
- sampling env steps/s per env runner: env steps over the env runner's own
  sampling time;
- the game's share and the module forward passes' share of sampling time
  (vectorised runner only).

Settings compared, all with the config's league and one env runner:

- ``stock-64``: RLlib's ``MultiAgentEnvRunner`` with 64 env copies and a
  32,000-step batch (its best measured setting), RLlib's learner connectors;
- ``vector-rllib``: the vectorised env runner with RLlib's per-episode learner
  connectors and the KL term on (the league before issue 25);
- ``vector``: the config as written (``ppo.bulk_batch``, ``ppo.use_kl_loss``
  as the config says);
- ``vector-overlap``: ``vector`` with ``ppo.overlap_sampling: true``;
- ``vector-overlap-2t``: ``vector-overlap`` with two torch threads in the learner.

Every setting's learner uses ``ppo.learner_torch_threads`` (default 1) unless
it says otherwise.

Run (about 5 minutes on an idle 2-core machine)::

    python experiments/training_throughput.py --config configs/quickstart.yaml --iterations 8

``--address`` joins a running Ray cluster (e.g. the two-node recipe in
docs/speed.md) and ``--env-runners`` overrides the number of env runners, to
measure scale-out.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

SETTINGS = ("stock-64", "vector-rllib", "vector", "vector-overlap", "vector-overlap-2t")


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
            learner_seconds: list[float] = []
            update = algorithm.learner_group.update

            def timed_update(*args, **kwargs):  # the learner's own wall time, whatever the training step does
                began = time.perf_counter()
                try:
                    return update(*args, **kwargs)
                finally:
                    learner_seconds.append(time.perf_counter() - began)

            algorithm.learner_group.update = timed_update
            start = time.perf_counter()
            for _ in range(iterations):
                began = time.perf_counter()
                before = len(learner_seconds)
                row = run_iteration(runtime, algorithm, start)
                row["iteration_s"] = time.perf_counter() - began
                row["learner_s"] = sum(learner_seconds[before:])
                row["sampled"] = row["env_steps"] - (rows[-1]["env_steps"] if rows else 0)
                rows.append(row)
            algorithm.stop()
    finally:
        ray.shutdown()
    return rows


def summarise(name: str, config, rows: list[dict]) -> str:
    steady = rows[2:] if config.ppo.overlap_sampling else rows[1:]
    steady = steady or rows
    end_to_end = np.mean([r["sampled"] / r["iteration_s"] for r in steady])
    learner_share = np.mean([r["learner_s"] / r["iteration_s"] for r in steady])
    learner_s = np.mean([r["learner_s"] for r in steady])
    iteration_s = np.mean([r["iteration_s"] for r in steady])
    # sample_s is the env runners' sampling seconds summed over runners, so this is the rate per runner.
    sampling = [r["sampled"] / r["sample_s"] for r in steady if r.get("sample_s")]
    env_share = [r["env_share"] for r in steady if isinstance(r.get("env_share"), float)]
    forward_share = [r["forward_share"] for r in steady if isinstance(r.get("forward_share"), float)]
    parts = [
        f"{name:<17} batch {config.ppo.train_batch_size:>6,}  runners {config.resources.num_env_runners}:  "
        f"end-to-end {end_to_end:>7,.0f} env steps/s  iteration {iteration_s:.2f} s  "
        f"learner {learner_s:.2f} s ({100 * learner_share:.0f}%)",
    ]
    if sampling:
        parts.append(f"sampling {np.mean(sampling):>8,.0f}/s per runner")
    if env_share:
        parts.append(f"game {100 * np.mean(env_share):.0f}%")
    if forward_share:
        parts.append(f"forward {100 * np.mean(forward_share):.0f}% of sampling")
    return "  ".join(parts)


def setting_config(base: dict, setting: str):
    from league.core.config import make_train_config

    data = {**base, "resources": dict(base["resources"]), "ppo": dict(base["ppo"])}
    if setting == "stock-64":
        data["resources"].update(env_runner="stock", num_envs_per_env_runner=64)
        data["ppo"].update(train_batch_size=32_000, bulk_batch=False, use_kl_loss=True, overlap_sampling=False)
        data["fraudster_baseline"] = "none"
    elif setting == "vector-rllib":
        data["ppo"].update(bulk_batch=False, use_kl_loss=True, overlap_sampling=False)
    elif setting == "vector":
        data["ppo"].update(overlap_sampling=False)
    elif setting == "vector-overlap":
        data["ppo"].update(overlap_sampling=True)
    elif setting == "vector-overlap-2t":
        data["ppo"].update(overlap_sampling=True, learner_torch_threads=2)
    return make_train_config(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="configs/quickstart.yaml")
    parser.add_argument("--iterations", type=int, default=8)
    parser.add_argument("--env-runners", type=int, help="override resources.num_env_runners")
    parser.add_argument("--address", help="join this Ray cluster")
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=SETTINGS)
    args = parser.parse_args()

    from league.core.config import load_train_config

    base = load_train_config(args.config).model_dump(by_alias=True)
    base.update({"eval_every": 0, "calibrate_win": False})
    if args.env_runners is not None:
        base["resources"]["num_env_runners"] = args.env_runners
    lines = []
    for setting in args.settings:
        config = setting_config(base, setting)
        rows = measure(config, args.iterations, args.address)
        for row in rows:
            print(f"  {setting} iteration {row['iteration']}: {row['sampled'] / row['iteration_s']:,.0f} env steps/s "
                  f"end to end, learner {row['learner_s']:.2f} s of {row['iteration_s']:.2f} s", flush=True)  # fmt: skip
        lines.append(summarise(setting, config, rows))
        print(lines[-1], flush=True)
    print(f"\n{args.config}, mean of the steady iterations (2-{args.iterations}; 3-{args.iterations} with overlap):")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
