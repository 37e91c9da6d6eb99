"""Do both sides learn? Fraudsters trained alone against scripted routers, and a router against scripted fraudsters.

Targets (issue 10), each over several seeds with 95% intervals and equal env-step budgets:

1. A fraudster trained against each of ``risk_threshold``, ``risk_3ds_band``,
   ``velocity_rules`` and ``smartpay_heuristic`` at least matches the best
   scripted fraudster against that router; against ``smartpay_heuristic`` its
   gain over ``neutral`` is at least 1.5x the best scripted attack's gain.
   Trained with the zero-sum signal and with the counterfactual baseline.
2. A router trained against the scripted fraudster population beats
   ``velocity_rules`` against that population by at least 5% mean return.

Every learned player is scored greedily against its opponents on the same
episodes (common random numbers: seed 10,000 + run seed) as the scripted
players it is compared with. Results go to ``results.md`` and ``results.json``
next to this script (or ``--output``); each run's ``progress.csv`` is kept
under ``runs/``.

Run (about 40 minutes on 2 cores at the default budget)::

    python experiments/both_sides_learn/run.py --budget 1000000 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np

from agents.registry import FRAUDSTER_PANEL, RULE_ROUTERS

HERE = Path(__file__).parent
ROUTERS = list(RULE_ROUTERS)
FRAUDSTERS = list(FRAUDSTER_PANEL)
ROUTER_OPPONENTS = list(FRAUDSTER_PANEL)  # a list: it goes into the run's config, compared with the saved one
BATCH = 51_200  # 256 games x 200 steps: every iteration ends every episode


# PPO settings changed from the command line (``--ppo vf_clip_param=1e6``); they also name the runs.
PPO_OVERRIDES: dict = {}


def parse_override(text: str) -> tuple[str, object]:
    """``key=value`` with a YAML-typed value (``hidden=[128,128]``, ``lr=1e-3``)."""
    import yaml

    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--ppo takes key=value, got {text!r}")
    return key, yaml.safe_load(value)


def override_tag() -> str:
    """The overrides as a run-name suffix: ``vf_clip_param=1000000, hidden=[128, 128]`` -> ``-hidden.128_128-vf_clip_param.1000000``."""
    tag = ""
    for key, value in sorted(PPO_OVERRIDES.items()):
        text = str(value).translate(str.maketrans({" ": None, "[": None, "]": None, ",": "_"}))
        tag += f"-{key}.{text}"
    return tag


def base_config(name: str, seed: int, budget: int, eval_episodes: int) -> dict:
    iterations = max(1, budget // BATCH)
    name = name.replace(f"-s{seed}", f"{override_tag()}-s{seed}")
    data = {
        "name": name,
        "seed": seed,
        "iterations": iterations,
        "checkpoint_every": iterations,
        "eval_every": max(1, iterations // 4),
        "eval_episodes": eval_episodes,
        "calibrate_win": False,
        "game": {"difficulty": "medium", "max_cycles": 200},
        "league": {
            "regime": "fixed",
            "snapshot_rule": {"every_iterations": 1000},
            "slots_per_side": 1,
            "num_main_exploiters": 0,
            "num_league_exploiters": 0,
            "win_definition": {"reference": 30.0, "scale": 3.0},
        },
        "ppo": {
            "gamma": 0.995, "lambda": 0.98, "lr": 3e-4, "train_batch_size": BATCH,
            "minibatch_size": 4096, "num_epochs": 4, "entropy_coeff": 0.01, "hidden": [64, 64],
        },  # fmt: skip
        "resources": {"num_env_runners": 1, "num_envs_per_env_runner": 256},
    }
    data["ppo"].update(PPO_OVERRIDES)
    return data


def fraudster_config(router: str, signal: str, seed: int, budget: int, eval_episodes: int) -> dict:
    data = base_config(f"fraudster-vs-{router}-{signal}-s{seed}", seed, budget, eval_episodes)
    data["league"]["scripted_opponents"] = [f"router_scripted:{router}"]
    data["eval_opponents"] = {"router": [], "fraudster": [router]}
    data["fraudster_baseline"] = "counterfactual" if signal == "counterfactual" else "none"
    return data


def router_config(seed: int, budget: int, eval_episodes: int) -> dict:
    data = base_config(f"router-vs-population-s{seed}", seed, budget, eval_episodes)
    data["league"]["scripted_opponents"] = [f"fraudster_scripted:{name}" for name in ROUTER_OPPONENTS]
    data["eval_opponents"] = {"router": ROUTER_OPPONENTS, "fraudster": []}
    return data


def train_one(data: dict, runs: Path) -> list[dict]:
    from league.core.config import make_train_config
    from league.core.rundir import read_progress
    from league.rllib.train import train

    run_dir = runs / data["name"]
    marker = run_dir / "done"
    finished = marker.read_text() if marker.exists() else None
    # Resumable: a finished run is reused, but only if it was trained with these settings (a marker
    # from before the settings were recorded is empty; its iterations must match the budget).
    same = finished == json.dumps(data, sort_keys=True) or (
        finished == "" and int(read_progress(run_dir)[-1]["iteration"]) == data["iterations"]
    )
    if same:
        keep_progress(run_dir, runs)
        return read_progress(run_dir)
    if run_dir.exists():
        shutil.rmtree(run_dir)
    train(make_train_config(data), run_dir, verbose=False)
    marker.write_text(json.dumps(data, sort_keys=True))
    for heavy in ("checkpoints", "snapshots"):
        shutil.rmtree(run_dir / heavy, ignore_errors=True)
    keep_progress(run_dir, runs)
    return read_progress(run_dir)


def keep_progress(run_dir: Path, runs: Path) -> None:
    """Copy the run's progress.csv to ``<runs>/../progress/<run>.csv`` (run directories are not committed)."""
    target = runs.parent / "progress"
    target.mkdir(exist_ok=True)
    shutil.copy(run_dir / "progress.csv", target / f"{run_dir.name}.csv")


def scripted_scores(eval_episodes: int, seed: int) -> dict:
    """Mean returns of the scripted players on the evaluation episodes of run seed ``seed``."""
    from agents.evaluation import evaluate
    from agents.registry import make_policy
    from league.core.config import make_train_config

    game = make_train_config(router_config(seed, BATCH, eval_episodes)).game_config()
    fraudster_vs_router = {
        router: {
            fraudster: evaluate(make_policy(router, "router"), make_policy(fraudster, "fraudster"),
                                episodes=eval_episodes, seed=seed + 10_000, config=game).fraudster_return.mean
            for fraudster in FRAUDSTERS
        }
        for router in ROUTERS
    }  # fmt: skip
    velocity = [
        evaluate(make_policy("velocity_rules", "router"), make_policy(f, "fraudster"),
                 episodes=eval_episodes, seed=seed + 10_000, config=game).router_return.mean
        for f in ROUTER_OPPONENTS
    ]  # fmt: skip
    return {"fraudster_vs_router": fraudster_vs_router, "velocity_rules_vs_population": float(np.mean(velocity))}


def interval(values: list[float]) -> tuple[float, float]:
    """Mean and the half-width of its 95% t-interval over seeds (0 for one value)."""
    from agents.evaluation import mean_estimate

    estimate = mean_estimate(np.asarray(values, dtype=float))
    return estimate.mean, (0.0 if np.isnan(estimate.half_width) else estimate.half_width)


def paired_gain(learned: list[float], scripted: list[float]) -> str:
    """The per-seed difference, in dollars and as a share of the scripted return, with 95% t-intervals."""
    mean, half = interval([a - b for a, b in zip(learned, scripted)])
    ratio, ratio_half = interval([a / b - 1 for a, b in zip(learned, scripted)])
    return f"{mean:+.2f} ± {half:.2f} per episode, {100 * ratio:+.1f}% ± {100 * ratio_half:.1f}%."


def final(rows: list[dict], key: str) -> float:
    values = [float(r[key]) for r in rows if r.get(key)]
    return values[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=int, default=1_000_000, help="env steps per training run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--signals", nargs="+", default=["zero_sum", "counterfactual"])
    parser.add_argument("--routers", nargs="*", default=ROUTERS, help="routers to train fraudsters against (none: only the router part)")
    parser.add_argument("--eval-episodes", type=int, default=256)
    parser.add_argument("--skip-router", action="store_true", help="only the fraudster part")
    parser.add_argument("--output", type=Path, default=HERE, help="where results.md and results.json go")
    parser.add_argument("--ppo", type=parse_override, action="append", default=[], metavar="KEY=VALUE",
                        help="change a PPO setting for every run (repeatable), e.g. vf_clip_param=1e6")
    parser.add_argument("--runs", type=Path, help="where the training runs go (default: OUTPUT/runs; shared between reports)")
    args = parser.parse_args()
    PPO_OVERRIDES.update(dict(args.ppo))
    runs = args.runs or args.output / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    args.output.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    results: dict = {"settings": vars(args) | {"output": str(args.output), "runs": str(runs), "batch": BATCH}, "fraudster": {}, "router": {}}
    scripted = {seed: scripted_scores(args.eval_episodes, seed) for seed in args.seeds}
    all_rows = []
    for router in args.routers:
        for signal in args.signals:
            finals = []
            for seed in args.seeds:
                rows = train_one(fraudster_config(router, signal, seed, args.budget, args.eval_episodes), runs)
                all_rows.append(rows)
                finals.append(final(rows, "fraudster_main_vs_scripted"))
                print(f"fraudster vs {router} ({signal}, seed {seed}): {finals[-1]:+.2f}", flush=True)
            results["fraudster"].setdefault(router, {})[signal] = finals
    if not args.skip_router:
        finals = []
        for seed in args.seeds:
            rows = train_one(router_config(seed, args.budget, args.eval_episodes), runs)
            all_rows.append(rows)
            finals.append(final(rows, "router_main_vs_scripted"))
            print(f"router vs population (seed {seed}): {finals[-1]:+.2f}", flush=True)
        results["router"] = {"learned": finals}
    results["scripted"] = {str(seed): value for seed, value in scripted.items()}
    results["wall_s"] = round(time.perf_counter() - started, 1)
    results["train_wall_s"] = round(sum(float(read_rows[-1]["wall_s"]) for read_rows in all_rows if read_rows), 1)
    (args.output / "results.json").write_text(json.dumps(results, indent=2))
    (args.output / "results.md").write_text(report(results, args))
    if not args.skip_router:
        plot_router_curves(runs, args, results)
    print(report(results, args))


def plot_router_curves(runs: Path, args, results: dict) -> None:
    """``router_curves.png``: each seed's greedy router against the population, with velocity_rules on its episodes."""
    from agents.reporting import pyplot
    from league.core.rundir import read_progress

    plt = pyplot()
    figure, axis = plt.subplots(figsize=(7, 4))
    for k, seed in enumerate(args.seeds):
        rows = read_progress(runs / router_config(seed, args.budget, args.eval_episodes)["name"])
        points = [(int(r["env_steps"]), float(r["router_main_vs_scripted"])) for r in rows if r.get("router_main_vs_scripted")]
        axis.plot(*zip(*points[1:]), marker="o", markersize=3, color=f"C{k}", label=f"learned router, seed {seed}")
        velocity = results["scripted"][str(seed)]["velocity_rules_vs_population"]
        axis.axhline(velocity, color=f"C{k}", linestyle=":", linewidth=1)
    axis.set_xlabel("env steps")
    axis.set_ylabel("mean return against the scripted population")
    axis.set_title("Router vs scripted fraudsters (dotted: velocity_rules on the same episodes)")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(args.output / "router_curves.png", dpi=110)
    plt.close(figure)


def report(results: dict, args) -> str:
    seeds = args.seeds
    lines = [
        "# Do both sides learn?",
        "",
        f"Made by `python experiments/both_sides_learn/run.py --budget {args.budget} --seeds {' '.join(map(str, seeds))}"
        + (f" --signals {' '.join(args.signals)} --routers {' '.join(args.routers)}" if args.routers else " --routers")
        + f" --eval-episodes {args.eval_episodes}"
        + (" --skip-router" if args.skip_router else "")
        + (f" --output {args.output}" if Path(args.output).resolve() != HERE.resolve() else "")
        + (f" --runs {args.runs}" if args.runs else "")
        + "".join(f" --ppo {key}={value}".replace(", ", ",") for key, value in sorted(PPO_OVERRIDES.items()))
        + f"`. The training loops of its runs took {results['train_wall_s'] / 60:.1f} min in all on 2 cores shared "
        "with other jobs (runs already trained are reused, so one invocation may take less).",
        "",
        f"Each run trains for {args.budget:,} env steps (batches of {BATCH:,}); the final greedy player is scored over "
        f"{args.eval_episodes} episodes against its opponent(s), on the same episodes as the scripted players "
        f"(common random numbers, seed 10,000 + run seed). Intervals are 95% t-intervals over {len(seeds)} seed(s).",
        "",
    ]
    if results["fraudster"]:
        lines += [
            "## Fraudsters trained alone against one scripted router",
            "",
            "| router | signal | learned fraudster | best scripted (which) | neutral | learned gain / best scripted gain | target met |",
            "|---|---|---:|---:|---:|---:|---|",
        ]
    for router, by_signal in results["fraudster"].items():
        best_name = max(FRAUDSTERS, key=lambda f: np.mean([results["scripted"][str(s)]["fraudster_vs_router"][router][f] for s in seeds]))
        best = [results["scripted"][str(s)]["fraudster_vs_router"][router][best_name] for s in seeds]
        neutral = [results["scripted"][str(s)]["fraudster_vs_router"][router]["neutral"] for s in seeds]
        for signal, finals in by_signal.items():
            mean, half = interval(finals)
            gain_ratio = (np.mean(finals) - np.mean(neutral)) / max(np.mean(best) - np.mean(neutral), 1e-9)
            needed = 1.5 if router == "smartpay_heuristic" else 1.0
            met = "yes" if gain_ratio >= needed else "no"
            lines.append(
                f"| {router} | {signal} | {mean:+.2f} ± {half:.2f} | {np.mean(best):+.2f} ({best_name}) | "
                f"{np.mean(neutral):+.2f} | {gain_ratio:.2f} (needs {needed}) | {met} |"
            )
    if results["router"]:
        finals = results["router"]["learned"]
        mean, half = interval(finals)
        velocity = np.mean([results["scripted"][str(s)]["velocity_rules_vs_population"] for s in seeds])
        lines += [
            "",
            "## A router trained against the scripted fraudster population",
            "",
            f"Population: {', '.join(ROUTER_OPPONENTS)} (uniform).",
            "",
            "| player | mean return against the population | vs velocity_rules |",
            "|---|---:|---:|",
            f"| learned router | {mean:+.2f} ± {half:.2f} | {100 * (mean / velocity - 1):+.1f}% (target +5%) |",
            f"| velocity_rules | {velocity:+.2f} | |",
            "",
            "Paired by seed (the same evaluation episodes), learned router minus velocity_rules: "
            + paired_gain(finals, [results["scripted"][str(s)]["velocity_rules_vs_population"] for s in seeds]),
            "",
            "Per seed (learned router, velocity_rules on the same episodes): "
            + ", ".join(
                f"seed {s}: {value:+.2f}, {results['scripted'][str(s)]['velocity_rules_vs_population']:+.2f}"
                for s, value in zip(seeds, finals)
            )
            + ".",
            "",
            "![router learning curves](router_curves.png)",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
