"""The learner's update alone, per setting: seconds per update of one quickstart train batch, in one process.

It samples one train batch of the config with the vectorised runner (in the
driver, ``num_env_runners: 0``), then for each setting builds the learner and
times ``learner_group.update`` on that same batch (``--repeats`` times after
one warm-up update; each update starts from the weights the last left, as in
training). Nothing else runs in the process, so the figures are less noisy
than whole iterations.

Settings: ``rllib`` (RLlib's per-episode learner connectors, KL term on: the
league before issue 25), ``bulk`` (:class:`league.rllib.learner.BulkPPOBatch`,
KL on), ``bulk-nokl`` (bulk, KL off), ``rllib-nokl``; a ``-1t`` suffix
runs the same with one torch thread, the others with torch's default (one
per core).

Run (about 2 minutes on 2 cores)::

    python experiments/learner_update_bench.py --config configs/quickstart.yaml --repeats 4
    python experiments/learner_update_bench.py --repeats 6 --settings rllib-1t bulk-1t rllib-nokl-1t bulk-nokl-1t
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

SETTINGS = {
    "rllib": {"bulk_batch": False, "use_kl_loss": True},
    "bulk": {"bulk_batch": True, "use_kl_loss": True},
    "bulk-nokl": {"bulk_batch": True, "use_kl_loss": False},
    "bulk-nokl-1t": {"bulk_batch": True, "use_kl_loss": False, "learner_torch_threads": 1},
    "rllib-nokl": {"bulk_batch": False, "use_kl_loss": False},
    "rllib-1t": {"bulk_batch": False, "use_kl_loss": True, "learner_torch_threads": 1},
    "bulk-1t": {"bulk_batch": True, "use_kl_loss": True, "learner_torch_threads": 1},
    "rllib-nokl-1t": {"bulk_batch": False, "use_kl_loss": False, "learner_torch_threads": 1},
}


def build(base: dict, ppo: dict, run_dir: Path):
    from league.core.config import make_train_config
    from league.core.state import LeagueState
    from league.rllib.runtime import LeagueRuntime

    data = {**base, "ppo": {**base["ppo"], **ppo}, "resources": {**base["resources"], "num_env_runners": 0}}
    config = make_train_config(data)
    runtime = LeagueRuntime(config, run_dir, LeagueState.new(config.league))
    runtime.write_run_files()
    algorithm = runtime.algorithm_config().build_algo()
    runtime.prepare_iteration(algorithm)
    return runtime, algorithm


def update_kwargs(algorithm) -> dict:
    config = algorithm.config
    return dict(num_epochs=config.num_epochs, minibatch_size=config.minibatch_size, shuffle_batch_per_epoch=True,
                timesteps={"num_env_steps_sampled_lifetime": 0})  # fmt: skip


def main() -> None:
    import ray
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="configs/quickstart.yaml")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    args = parser.parse_args()

    from league.core.config import load_train_config

    base = load_train_config(args.config).model_dump(by_alias=True)
    base.update({"eval_every": 0, "calibrate_win": False})
    default_threads = torch.get_num_threads()
    ray.init(address="local", include_dashboard=False, log_to_driver=False, configure_logging=False)
    lines = []
    try:
        with tempfile.TemporaryDirectory() as run_dir:
            _, sampler = build(base, {}, Path(run_dir) / "sampler")
            episodes = sampler.env_runner.sample()
            rows = sum(len(e) for e in episodes)
            sampler.stop()
            algorithms = {name: build(base, SETTINGS[name], Path(run_dir) / name)[1] for name in args.settings}
            seconds: dict[str, list[float]] = {name: [] for name in args.settings}
            for repeat in range(args.repeats + 1):  # round robin, so that the machine's load drifts over all alike
                for name, algorithm in algorithms.items():
                    torch.set_num_threads(SETTINGS[name].get("learner_torch_threads") or default_threads)
                    began = time.perf_counter()
                    algorithm.learner_group.update(episodes=episodes, **update_kwargs(algorithm))
                    if repeat:  # the first round is a warm-up
                        seconds[name].append(time.perf_counter() - began)
            for name, algorithm in algorithms.items():
                algorithm.stop()
                threads = SETTINGS[name].get("learner_torch_threads") or default_threads
                times = seconds[name]
                line = (f"{name:<14} update median {np.median(times):.3f} s  min {np.min(times):.3f} s  "
                        f"for {rows:,} env steps: {rows / np.median(times):>8,.0f} env steps/s (median)  "
                        f"torch threads {threads}")  # fmt: skip
                lines.append(line)
    finally:
        ray.shutdown()
    print(f"\n{args.config}: learner update of one train batch, {args.repeats} rounds after a warm-up round")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
