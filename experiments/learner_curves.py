"""Short learning curves of the quickstart under the learner settings that can change learning.

Trains the config once per setting for ``--iterations`` iterations (same
seed, evaluation every ``eval_every`` iterations as in the config) and prints
each main player's score against its scripted evaluation opponents at every
evaluation, plus the wall time. One seed and a short budget: it catches a
setting that breaks or slows learning, not a difference of a point or two.

Settings: ``kl`` (KL term on, RLlib's default ``kl_coeff`` 0.2: the league
before issue 25), ``nokl`` (``ppo.use_kl_loss: false``), ``nokl-overlap``
(and ``ppo.overlap_sampling: true``).

Run (about 10 minutes on an idle 2-core machine)::

    python experiments/learner_curves.py --config configs/quickstart.yaml --iterations 40 --output runs/learner_curves
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

SETTINGS = {
    "kl": {"use_kl_loss": True, "overlap_sampling": False},
    "nokl": {"use_kl_loss": False, "overlap_sampling": False},
    "nokl-overlap": {"use_kl_loss": False, "overlap_sampling": True},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="configs/quickstart.yaml")
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--output", type=Path, default=Path("runs/learner_curves"))
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    args = parser.parse_args()

    from league.core.config import load_train_config, make_train_config
    from league.rllib.train import train

    base = load_train_config(args.config).model_dump(by_alias=True)
    results = {}
    for name in args.settings:
        data = {**base, "iterations": args.iterations, "checkpoint_every": args.iterations,
                "ppo": {**base["ppo"], **SETTINGS[name]}}  # fmt: skip
        run_dir = args.output / name
        train(make_train_config(data), run_dir, verbose=False)
        with (run_dir / "progress.csv").open() as handle:
            results[name] = list(csv.DictReader(handle))
    scored = [int(r["iteration"]) for r in next(iter(results.values())) if r.get("router_main_vs_scripted")]
    print(f"{args.config}, seed {base['seed']}, {args.iterations} iterations; score vs scripted baselines "
          "(router_main / fraudster_main) at each evaluation, and the run's wall time")  # fmt: skip
    print(f"{'setting':<14}" + "".join(f"{'it ' + str(i):>17}" for i in scored) + f"{'wall s':>9}")
    for name, rows in results.items():
        by_iteration = {int(r["iteration"]): r for r in rows}
        cells = "".join(
            f"{float(by_iteration[i]['router_main_vs_scripted']):>+8.2f}/{float(by_iteration[i]['fraudster_main_vs_scripted']):<+8.2f}"
            for i in scored
        )
        print(f"{name:<14}{cells}{float(rows[-1]['wall_s']):>9.0f}")


if __name__ == "__main__":
    main()
