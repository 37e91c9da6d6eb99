"""The learner's update alone, per setting: seconds per update of one quickstart train batch, in one process.

It samples one train batch of the config with the vectorised runner (in the
driver, ``num_env_runners: 0``), then for each setting builds the learner and
times ``learner_group.update`` on that same batch (``--repeats`` times after
one warm-up update; each update starts from the weights the last left, as in
training). Nothing else runs in the process, so the figures are less noisy
than whole iterations. With one torch thread the CPU time of the updating
thread (``time.thread_time``) is also given: it does not count the time the
thread waits for a core, so on a loaded machine it is the steadier figure.

Settings: ``rllib`` (RLlib's per-episode learner connectors, KL term on: the
league before issue 25), ``bulk`` (:class:`league.rllib.learner.BulkPPOBatch`,
KL on), ``bulk-nokl`` (bulk, KL off), ``rllib-nokl``; a ``-1t`` suffix
runs the same with one torch thread, the others with torch's default (one
per core). These use RLlib's per-component MultiCategorical in the loss;
``fast-1t`` is today's default: bulk, KL off, one thread and the fast loss
distribution (:mod:`league.rllib.fast_distribution`).

Run (about 2 minutes on 2 cores)::

    python experiments/learner_update_bench.py --config configs/quickstart.yaml --repeats 4
    python experiments/learner_update_bench.py --repeats 6 --settings rllib-1t bulk-1t rllib-nokl-1t bulk-nokl-1t
    python experiments/learner_update_bench.py --repeats 8 --settings bulk-nokl-1t fast-1t
    python experiments/learner_update_bench.py --network-floor      # the bare networks' minibatch step
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

_STOCK_DISTRIBUTION = {"fast_loss_distribution": False}
SETTINGS = {
    "rllib": {"bulk_batch": False, "use_kl_loss": True, **_STOCK_DISTRIBUTION},
    "bulk": {"bulk_batch": True, "use_kl_loss": True, **_STOCK_DISTRIBUTION},
    "bulk-nokl": {"bulk_batch": True, "use_kl_loss": False, **_STOCK_DISTRIBUTION},
    "bulk-nokl-1t": {"bulk_batch": True, "use_kl_loss": False, "learner_torch_threads": 1, **_STOCK_DISTRIBUTION},
    "rllib-nokl": {"bulk_batch": False, "use_kl_loss": False, **_STOCK_DISTRIBUTION},
    "rllib-1t": {"bulk_batch": False, "use_kl_loss": True, "learner_torch_threads": 1, **_STOCK_DISTRIBUTION},
    "bulk-1t": {"bulk_batch": True, "use_kl_loss": True, "learner_torch_threads": 1, **_STOCK_DISTRIBUTION},
    "rllib-nokl-1t": {"bulk_batch": False, "use_kl_loss": False, "learner_torch_threads": 1, **_STOCK_DISTRIBUTION},
    # Today's defaults: the fast loss distribution (league.rllib.fast_distribution).
    "fast-1t": {"bulk_batch": True, "use_kl_loss": False, "learner_torch_threads": 1, "fast_loss_distribution": True},
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


def network_floor(config_path: str, rounds: int = 5, steps: int = 20) -> list[str]:
    """CPU time of one minibatch step of the bare networks: each side's policy and value MLPs, Adam, one thread.

    The same layer sizes, activation and minibatch as the config's learner, a stand-in loss (no PPO
    arithmetic): what one of the update's minibatch steps would cost if everything around the network
    were free. The fastest of ``rounds`` rounds of ``steps`` steps.
    """
    import torch

    from league.core.config import load_train_config
    from smartpay_marl.layout import AGENT_OF_ROLE
    from smartpay_marl.spaces import build_action_spaces, build_observation_spaces

    config = load_train_config(config_path)
    observations, actions = build_observation_spaces(), build_action_spaces(config.game_config())
    torch.set_num_threads(1)
    lines = []
    for role, agent in AGENT_OF_ROLE.items():
        def mlp(outputs: int) -> torch.nn.Module:
            layers, width = [], observations[agent].shape[0]
            for hidden in config.ppo.hidden:
                layers += [torch.nn.Linear(width, hidden), torch.nn.Tanh()]
                width = hidden
            return torch.nn.Sequential(*layers, torch.nn.Linear(width, outputs))

        policy, value = mlp(int(actions[agent].nvec.sum())), mlp(1)
        optimizer = torch.optim.Adam([*policy.parameters(), *value.parameters()], lr=config.ppo.lr)
        rows = torch.randn(config.ppo.minibatch_size, observations[agent].shape[0])
        best = float("inf")
        for _ in range(rounds):
            began = time.thread_time()
            for _ in range(steps):
                loss = policy(rows).logsumexp(-1).mean() + value(rows).pow(2).mean()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            best = min(best, (time.thread_time() - began) / steps)
        lines.append(f"{role:<10} network only: {best * 1000:.2f} ms CPU per minibatch step of "
                     f"{config.ppo.minibatch_size:,} rows (policy and value MLPs {config.ppo.hidden}, Adam, 1 thread)")  # fmt: skip
    return lines


def main() -> None:
    import ray
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="configs/quickstart.yaml")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--network-floor", action="store_true", help="time the bare networks' minibatch step only")
    args = parser.parse_args()
    if args.network_floor:
        print("\n".join(network_floor(args.config)))
        return

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
            cpu_seconds: dict[str, list[float]] = {name: [] for name in args.settings}
            for repeat in range(args.repeats + 1):  # round robin, so that the machine's load drifts over all alike
                for name, algorithm in algorithms.items():
                    torch.set_num_threads(SETTINGS[name].get("learner_torch_threads") or default_threads)
                    began, began_cpu = time.perf_counter(), time.thread_time()
                    algorithm.learner_group.update(episodes=episodes, **update_kwargs(algorithm))
                    if repeat:  # the first round is a warm-up
                        seconds[name].append(time.perf_counter() - began)
                        cpu_seconds[name].append(time.thread_time() - began_cpu)
            for name, algorithm in algorithms.items():
                algorithm.stop()
                threads = SETTINGS[name].get("learner_torch_threads") or default_threads
                times = seconds[name]
                line = (f"{name:<14} update median {np.median(times):.3f} s  min {np.min(times):.3f} s  "
                        f"for {rows:,} env steps: {rows / np.median(times):>8,.0f} env steps/s (median)  "
                        f"torch threads {threads}; CPU time of the updating thread median "
                        f"{np.median(cpu_seconds[name]):.3f} s")  # fmt: skip
                lines.append(line)
    finally:
        ray.shutdown()
    print(f"\n{args.config}: learner update of one train batch, {args.repeats} rounds after a warm-up round")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
