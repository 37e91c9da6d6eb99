"""Memory of a growing league: RSS of the learner (driver) and env runner while snapshots pile up.

The league keeps ``slots_per_side`` frozen opponent modules however many
snapshots it has taken; snapshots live on disk. This study trains a tiny
league that snapshots both main players every iteration (so 60 iterations
give 60 snapshots per side) with 4 slots per side and records, per iteration,
the resident memory of the driver process (which hosts the learner) and of
the env runner (read from ``/proc``, so Linux only), and the number of
modules each holds.

Run (about 3 minutes on 2 cores)::

    python experiments/league_memory.py --iterations 60 --output experiments/league_memory

It writes ``memory.csv``, ``memory.png`` and ``memory.md`` in the output folder.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def rss_bytes() -> int:
    """Resident memory of this process (Linux: /proc/self/status)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status; this study needs Linux")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=60)
    parser.add_argument("--output", default=str(ROOT / "experiments" / "league_memory"))
    args = parser.parse_args()

    import ray

    from league.rllib.runtime import LeagueRuntime
    from league.core.state import LeagueState
    from league.rllib.train import run_iteration
    from league.core.config import make_train_config

    config_data = yaml.safe_load((ROOT / "configs" / "smoke.yaml").read_text())
    config_data.update({"name": "league_memory", "iterations": args.iterations, "eval_every": 0})
    config_data["league"]["slots_per_side"] = 4
    # The figures in memory.md were measured with RLlib's stock env runner (one game per runner).
    config_data["resources"].update(num_env_runners=1, env_runner="stock", num_envs_per_env_runner=1)
    config = make_train_config(config_data)
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    rows = []
    with tempfile.TemporaryDirectory() as run_dir:
        runtime = LeagueRuntime(config, Path(run_dir), LeagueState.new(config.league))
        runtime.write_run_files()
        algorithm = runtime.algorithm_config().build_algo()
        start = time.perf_counter()
        for _ in range(args.iterations):
            run_iteration(runtime, algorithm, start)
            runner_rss, runner_modules = algorithm.env_runner_group.foreach_env_runner(
                lambda runner: (rss_bytes(), len(runner.module.keys())),
                local_env_runner=False,
            )[0]
            rows.append(
                {
                    "iteration": runtime.state.iteration,
                    "snapshots_per_side": len(runtime.state.snapshots("router")),
                    "driver_rss_mb": round(rss_bytes() / 2**20, 1),
                    "env_runner_rss_mb": round(runner_rss / 2**20, 1),
                    "learner_modules": len(algorithm.learner_group.get_weights()),
                    "env_runner_modules": runner_modules,
                }
            )
            print(rows[-1], flush=True)
        algorithm.stop()
    ray.shutdown()

    with (output / "memory.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    plot(rows, output / "memory.png")
    summary(rows, output / "memory.md", args)


def plot(rows: list[dict], path: Path) -> None:
    from agents.reporting import pyplot

    plt = pyplot()

    figure, axis = plt.subplots(figsize=(7, 4))
    snapshots = [r["snapshots_per_side"] for r in rows]
    axis.plot(snapshots, [r["driver_rss_mb"] for r in rows], label="driver + learner RSS")
    axis.plot(snapshots, [r["env_runner_rss_mb"] for r in rows], label="env runner RSS")
    axis.set_xlabel("snapshots per side in the league")
    axis.set_ylabel("resident memory (MiB)")
    axis.set_title("League memory with 4 opponent slots per side")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def summary(rows: list[dict], path: Path, args) -> None:
    def at(index: int) -> dict:
        return rows[index]

    early = at(min(9, len(rows) - 1))
    last = at(-1)
    text = f"""# League memory with bounded opponent slots

Command: `python experiments/league_memory.py --iterations {args.iterations} --output {args.output}`

| | after {early['iteration']} iterations ({early['snapshots_per_side']} snapshots per side) | after {last['iteration']} iterations ({last['snapshots_per_side']} snapshots per side) |
|---|---:|---:|
| driver + learner RSS (MiB) | {early['driver_rss_mb']} | {last['driver_rss_mb']} |
| env runner RSS (MiB) | {early['env_runner_rss_mb']} | {last['env_runner_rss_mb']} |
| modules on the learner | {early['learner_modules']} | {last['learner_modules']} |
| modules on the env runner | {early['env_runner_modules']} | {last['env_runner_modules']} |

The module counts stay at 2 learners + 8 slots + 1 scripted opponent however
many snapshots the league holds; snapshots live on disk. Per-iteration figures
are in `memory.csv` and `memory.png`.
"""
    path.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
