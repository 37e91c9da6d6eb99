"""Summarise several runs of the README's main job (one per seed): learning curves and a table with 95% intervals.

Each run is ``smartpay-marl train --config configs/quickstart.yaml`` with its
``seed`` changed. The main players are scored during training against the
config's scripted evaluation opponents (greedy, ``eval_episodes`` episodes,
seed ``seed + 10,000``); this script scores scripted comparators on exactly
the same episodes: ``velocity_rules`` (the best scripted router) against the
router's evaluation opponents, and every scripted fraudster against the
fraudster's.

Run (after training, e.g. with ``--output /tmp/runs/qs_seed0`` and so on)::

    python experiments/quickstart/summarize.py /tmp/runs/qs_seed0 /tmp/runs/qs_seed1 /tmp/runs/qs_seed2

Writes ``summary.md``, ``learning_curves.png`` and each run's ``progress.csv``
and ``config.yaml`` (as ``seed<N>/``) next to this script.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np

from agents.registry import FRAUDSTER_PANEL

HERE = Path(__file__).parent
SCRIPTED_FRAUDSTERS = FRAUDSTER_PANEL


def interval(values, sign: str = "+") -> str:
    """``mean ± half-width`` of the 95% t-interval over seeds (the mean alone for one value)."""
    from agents.evaluation import mean_estimate

    estimate = mean_estimate(np.asarray(values, dtype=float))
    if len(values) < 2:
        return f"{estimate.mean:{sign}.2f}"
    return f"{estimate.mean:{sign}.2f} ± {estimate.half_width:.2f}"


def scored(rows, key):
    return [(int(r["env_steps"]), float(r[key])) for r in rows if r.get(key)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--output", type=Path, default=HERE)
    args = parser.parse_args()

    from agents.evaluation import evaluate
    from agents.registry import make_policy
    from league.core.rundir import read_progress
    from league.evaluation.loading import open_run

    table = {key: [] for key in ("router_start", "router_end", "fraudster_start", "fraudster_end", "velocity_rules",
                                  "best_scripted_fraudster", "minutes", "env_steps")}  # fmt: skip
    best_names = []
    curves = []
    for run_dir in args.runs:
        run = open_run(run_dir)
        config = run.config
        rows = read_progress(run_dir)
        router, fraudster = scored(rows, "router_main_vs_scripted"), scored(rows, "fraudster_main_vs_scripted")
        curves.append((config.seed, router, fraudster))
        table["router_start"].append(router[0][1])
        table["router_end"].append(router[-1][1])
        table["fraudster_start"].append(fraudster[0][1])
        table["fraudster_end"].append(fraudster[-1][1])
        table["minutes"].append(float(rows[-1]["wall_s"]) / 60)
        table["env_steps"].append(int(rows[-1]["env_steps"]))
        seed, episodes, game = config.seed + 10_000, config.eval_episodes, run.game
        router_opponents, fraudster_opponents = config.eval_opponents["router"], config.eval_opponents["fraudster"]
        velocity = [evaluate(make_policy("velocity_rules", "router"), make_policy(name, "fraudster"), episodes=episodes,
                             seed=seed, config=game).router_return.mean for name in router_opponents]  # fmt: skip
        table["velocity_rules"].append(float(np.mean(velocity)))
        by_fraudster = {
            name: float(np.mean([evaluate(make_policy(r, "router"), make_policy(name, "fraudster"), episodes=episodes,
                                          seed=seed, config=game).fraudster_return.mean for r in fraudster_opponents]))
            for name in SCRIPTED_FRAUDSTERS
        }  # fmt: skip
        best = max(by_fraudster, key=by_fraudster.get)
        best_names.append(best)
        table["best_scripted_fraudster"].append(by_fraudster[best])
        target = args.output / f"seed{config.seed}"
        target.mkdir(parents=True, exist_ok=True)
        for name in ("progress.csv", "config.yaml", "versions.json"):
            shutil.copy(Path(run_dir) / name, target / name)

    n = len(args.runs)
    lines = [
        f"# The quick-start league over {n} seeds",
        "",
        "Made by `smartpay-marl train --config configs/quickstart.yaml --output /tmp/runs/qs_seed<N>` with `seed: <N>` "
        f"(seeds {', '.join(str(c[0]) for c in curves)}), then `python experiments/quickstart/summarize.py "
        + " ".join(str(r) for r in args.runs) + "`.",
        "",
        f"Each run: {int(np.mean(table['env_steps'])):,} env steps in {interval(table['minutes'], sign='')} minutes on 2 cores "
        "(the machine was shared with other jobs). Mean return against the scripted evaluation opponents "
        "(greedy, the same episodes for the learned and the scripted players); 95% t-intervals over seeds.",
        "",
        "| | untrained (iteration 0) | end of training | scripted comparator (same episodes) |",
        "|---|---:|---:|---:|",
        f"| `router_main` vs scripted fraudsters | {interval(table['router_start'])} | {interval(table['router_end'])} | "
        f"{interval(table['velocity_rules'])} (`velocity_rules`) |",
        f"| `fraudster_main` vs scripted routers | {interval(table['fraudster_start'])} | {interval(table['fraudster_end'])} | "
        f"{interval(table['best_scripted_fraudster'])} (best scripted fraudster: {', '.join(sorted(set(best_names)))}) |",
        "",
        "Per seed (router end / velocity_rules; fraudster end / best scripted): "
        + "; ".join(
            f"seed {c[0]}: {table['router_end'][k]:+.2f} / {table['velocity_rules'][k]:+.2f}, "
            f"{table['fraudster_end'][k]:+.2f} / {table['best_scripted_fraudster'][k]:+.2f}"
            for k, c in enumerate(curves)
        ),
        "",
        "![learning curves](learning_curves.png)",
        "",
    ]
    (args.output / "summary.md").write_text("\n".join(lines))
    plot(curves, table, args.output / "learning_curves.png")
    print("\n".join(lines))


def plot(curves, table, path: Path) -> None:
    from agents.reporting import pyplot

    plt = pyplot()

    figure, axes = plt.subplots(1, 2, figsize=(12, 4))
    for axis, index, title, comparator, label in (
        (axes[0], 1, "router_main vs scripted fraudsters", np.mean(table["velocity_rules"]), "velocity_rules"),
        (axes[1], 2, "fraudster_main vs scripted routers", np.mean(table["best_scripted_fraudster"]), "best scripted fraudster"),
    ):  # fmt: skip
        for seed, *series in curves:
            points = series[index - 1]
            axis.plot([p[0] for p in points], [p[1] for p in points], marker="o", markersize=3, label=f"seed {seed}")
        axis.axhline(comparator, color="black", linestyle="--", linewidth=1, label=label)
        axis.set_title(title)
        axis.set_xlabel("env steps")
        axis.set_ylabel("mean episode return")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


if __name__ == "__main__":
    main()
