"""Does the league work? Training regimes at equal env-step budgets, compared by exploitability.

For every regime (``fixed``, ``self_play``, ``fictitious``, ``pfsp`` with one
main exploiter and one league exploiter per side, and ``pfsp_sp``: the same
league with AlphaStar's 35% of the main players' games in self-play; see
``REGIME_NOTES``) and seed, it trains a league for the same number of env
steps (``--budget``; under ``pfsp`` the exploiters share that budget with the
main players, as in AlphaStar), then measures every final main player:

1. **Cross-play** of all final main players and the scripted population
   (common random numbers), with the zero-sum meta-game's Nash mixture and
   value ``v``.
2. **Exploitability by best response**: a fresh PPO opponent trained against
   the frozen main player for ``--br-budget`` env steps
   (:func:`league.rllib.exploit.run_exploit`, curve points included). A
   router's exploitability is ``v - (its return against the best response)``;
   a fraudster's is ``(the best-response router's return) - v``. The same
   ``v`` (from step 1) serves every player, so the numbers compare across
   regimes. The same formulas with the best opponent in the cross-play
   population give a second lower bound; the headline reports the larger.
3. **Returns against the scripted baselines** at the end of training (the
   last evaluation row of ``progress.csv``).

Everything is resumable: a finished training run (``done`` marker), the
cross-play (``crossplay.json``) and each best response (``exploit_*.json``)
are reused when the script is run again with the same output directory.

Writes ``report.md`` (tables with 95% t-intervals over seeds, settings, the
exact command, wall time), ``exploitability.png`` (bars per regime and side),
``learning_curves.png`` (returns against the scripted baselines per regime)
and ``best_response_curves.png``; ``results.json`` holds every number.

Run::

    python experiments/regimes/run.py                  # the full study (3 seeds)
    python experiments/regimes/run.py --quick          # 1 seed, small budgets, < 20 minutes on 2 cores (writes quick/)
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import yaml

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
REGIMES = ("fixed", "self_play", "fictitious", "pfsp", "pfsp_sp")
#: What each regime name means in this study (``regime_config``).
REGIME_NOTES = {
    "fixed": "each side trains against the other side's scripted population",
    "self_play": "latest main against latest main",
    "fictitious": "uniform over the other side's main and its snapshots",
    "pfsp": "AlphaStar's league with its PFSP branch only: mains by squared PFSP over the other side's snapshots and "
            "scripted baselines, plus 1 main and 1 league exploiter per side",
    "pfsp_sp": "AlphaStar's league as configured by default: the mains' games 35% self-play, 50% PFSP, 15% verification",
}
#: AlphaStar's main agents played 35% of their games in self-play.
ALPHASTAR_SELF_PLAY_SHARE = 0.35
SCRIPTED_ROUTERS = ("risk_threshold", "risk_3ds_band", "velocity_rules", "smartpay_heuristic")
SCRIPTED_FRAUDSTERS = ("neutral", "fraud_surge", "stealth_fraud", "velocity_attack", "card_testing", "max_everything")
SIDES = ("router", "fraudster")
#: The full study: 15 leagues of 2 million env steps and 30 best responses of 768,000: 54 million env
#: steps, 60 minutes on 2 cores as measured (leagues with six learning modules train at 12,000-18,000 env
#: steps/s end to end, single best responses near 20,000). In the first study (study_1M/: leagues of
#: 1 million, best responses of 1 million) the router best responses had flattened by 0.5 million steps
#: and the fraudster best responses did not improve on their untrained start, so the best responses
#: shrank a little and the leagues doubled.
FULL = {"budget": 2_048_000, "br_budget": 768_000, "seeds": [0, 1, 2], "episodes": 256, "eval_points": 4}
QUICK = {"budget": 409_600, "br_budget": 204_800, "seeds": [0], "episodes": 128, "eval_points": 4}
SECTIONS = (
    "## Headline",
    "## Exploitability by best response",
    "## Cross-play and meta-game",
    "## Returns against the scripted baselines",
    "## Best-response learning curves",
    "## Settings",
    "## Reproduce",
)


# ---------------------------------------------------------------------- configs


def regime_config(regime: str, seed: int, budget: int, base: dict) -> dict:
    """The quick-start league's game and PPO settings under ``regime``, trained for ``budget`` env steps."""
    data = json.loads(json.dumps(base))  # a deep copy
    batch = data["ppo"]["train_batch_size"]
    iterations = max(2, budget // batch)
    data.update(
        name=f"{regime}-s{seed}",
        seed=seed,
        iterations=iterations,
        checkpoint_every=iterations,
        eval_every=max(1, iterations // 5),
        calibrate_win=False,
    )
    league = data["league"]
    league.update(regime="pfsp" if regime == "pfsp_sp" else regime, num_main_exploiters=0, num_league_exploiters=0)
    league["snapshot_rule"] = {"every_iterations": max(1, iterations // 10)}
    league.setdefault("win_definition", {"reference": 30.0, "scale": 3.0})
    scripted = [f"fraudster_scripted:{name}" for name in SCRIPTED_FRAUDSTERS if name != "neutral"]
    scripted += [f"router_scripted:{name}" for name in SCRIPTED_ROUTERS]
    if regime == "fixed":
        league["scripted_opponents"] = scripted
    elif regime in ("pfsp", "pfsp_sp"):
        league.update(num_main_exploiters=1, num_league_exploiters=1, scripted_opponents=scripted)
        league["slots_per_side"] = max(int(league.get("slots_per_side", 4)), 3)  # a slot per learner of a side
        if regime == "pfsp_sp":
            league["main_self_play_share"] = ALPHASTAR_SELF_PLAY_SHARE
        else:  # the PFSP branch alone
            league.update(main_self_play_share=0.0, main_verification_share=0.0)
    else:
        league["scripted_opponents"] = []
    return data


def base_config(path: Path, batch: int | None) -> dict:
    data = yaml.safe_load(path.read_text())
    if batch:
        data["ppo"]["train_batch_size"] = batch
        data["ppo"]["minibatch_size"] = min(data["ppo"]["minibatch_size"], batch)
        data["resources"]["num_envs_per_env_runner"] = max(1, batch // data["game"].get("max_cycles", 200))
    data.pop("name", None)
    return data


# ---------------------------------------------------------------------- phases


def train_runs(args, base: dict, runs: Path, log) -> dict[str, Path]:
    from league.core.config import make_train_config
    from league.rllib.train import train

    done = {}
    for regime in args.regimes:
        for seed in args.seeds:
            data = regime_config(regime, seed, args.budget, base)
            run_dir = runs / data["name"]
            marker = run_dir / "done"
            finished = json.loads(marker.read_text()) if marker.exists() else {}
            if finished.get("config") != data:  # not trained yet, or trained with other settings
                if run_dir.exists():
                    shutil.rmtree(run_dir)
                log(f"train {data['name']}: {data['iterations']} iterations x {data['ppo']['train_batch_size']:,} env steps")
                began = time.perf_counter()
                train(make_train_config(data), run_dir, verbose=False)
                marker.write_text(json.dumps({"wall_s": time.perf_counter() - began, "config": data}))
            done[data["name"]] = run_dir
    return done


def cross_play_mains(args, run_dirs: dict[str, Path], output: Path, log) -> dict:
    from agents.registry import make_policy
    from league.evaluation.evaluate import analyse_meta_game, cross_play
    from league.evaluation.loading import load_player, open_run, torch_threads

    path = output / "crossplay.json"
    names = sorted(run_dirs)
    if path.exists():
        cached = json.loads(path.read_text())
        if cached.get("runs") == names and cached.get("episodes") == args.episodes and cached.get("budget") == args.budget:
            return cached
    routers, fraudsters = [], []
    for name in names:
        run = open_run(run_dirs[name])
        for side, bucket in (("router", routers), ("fraudster", fraudsters)):
            policy = load_player(run, f"{side}_main")
            policy.name = f"{name}/{side}_main"
            bucket.append(policy)
    routers += [make_policy(name, "router") for name in SCRIPTED_ROUTERS]
    fraudsters += [make_policy(name, "fraudster") for name in SCRIPTED_FRAUDSTERS]
    game = open_run(run_dirs[names[0]]).game
    win = open_run(run_dirs[names[0]]).state.config.win_definition
    log(f"cross-play: {len(routers)} routers x {len(fraudsters)} fraudsters, {args.episodes} episodes each")
    with torch_threads(1):
        play = cross_play(routers, fraudsters, args.episodes, args.seed_eval, game, win, log=lambda *_: None)
    meta = analyse_meta_game(play.mean, play.router_names, play.fraudster_names)
    document = {
        "runs": names,
        "budget": args.budget,
        "episodes": args.episodes,
        "seed": args.seed_eval,
        "routers": play.router_names,
        "fraudsters": play.fraudster_names,
        "mean": play.mean.tolist(),
        "value": float(meta.value),
        "router_nash": dict(zip(play.router_names, np.asarray(meta.router_nash).tolist())),
        "fraudster_nash": dict(zip(play.fraudster_names, np.asarray(meta.fraudster_nash).tolist())),
        "wall_s": play.wall_s,
    }
    path.write_text(json.dumps(document, indent=2))
    return document


def exploit_mains(args, run_dirs: dict[str, Path], value: float, log) -> dict[str, dict]:
    """Bound each main player's exploitability with ``run_exploit``, against the study's common game value.

    The value and the evaluation seed go in as arguments; nothing is written into the run's ``eval/payoff.json``.
    """
    from league.rllib.exploit import file_stem, run_exploit

    results = {}
    # eval_points evaluations from a doubling schedule: 0, budget / 2^(points - 2), ..., budget / 2, budget.
    first_eval = max(1, args.br_budget >> max(0, args.eval_points - 2))
    for name, run_dir in sorted(run_dirs.items()):
        eval_dir = run_dir / "eval"
        for side in SIDES:
            player = f"{side}_main"
            path = eval_dir / f"{file_stem(player)}.json"
            cached = json.loads(path.read_text()) if path.exists() else None
            if not cached or cached.get("budget") != args.br_budget or cached.get("value") != value \
                    or "seeds" not in cached:
                log(f"best response to {name}/{player}: at most {args.br_budget:,} env steps")
                run_exploit(run_dir, player, args.br_budget, episodes=args.episodes, value=value,
                            value_episodes=args.episodes, eval_seed=args.seed_eval, first_eval=first_eval,
                            verbose=False)  # fmt: skip
                cached = json.loads(path.read_text())
            # The study's tables show the last curve point too: the strongest seed's final gain.
            strongest = max(cached["seeds"], key=lambda run: run["best_gain"])
            cached["exploitability_final"] = strongest["final_gain"]
            cached["curve"] = strongest["curve"]
            results[f"{name}/{player}"] = cached
    return results


# ---------------------------------------------------------------------- report


def interval(values) -> tuple[float, float]:
    """Mean and the half-width of its 95% t-interval over seeds (0 with one value); NaN when there is none."""
    from agents.evaluation import mean_estimate

    finite = [v for v in values if v is not None and np.isfinite(v)]
    estimate = mean_estimate(np.asarray(finite, dtype=float))
    if len(finite) == 1:
        return estimate.mean, 0.0
    return estimate.mean, estimate.half_width


def fmt(values, sign: bool = True) -> str:
    mean, half = interval(values)
    if not np.isfinite(mean):
        return "-"
    text = f"{mean:+.2f}" if sign else f"{mean:.2f}"
    return f"{text} ± {half:.2f}" if half else text


def final_vs_scripted(run_dir: Path, side: str) -> float | None:
    from league.core.rundir import read_progress

    values = [float(r[f"{side}_main_vs_scripted"]) for r in read_progress(run_dir) if r.get(f"{side}_main_vs_scripted")]
    return values[-1] if values else None


def population_exploitability(crossplay: dict, player: str) -> float:
    """How far the best opponent in the cross-play population (every final main and the scripted players) gets past v."""
    mean = np.asarray(crossplay["mean"])
    if player in crossplay["routers"]:
        return float(crossplay["value"] - mean[crossplay["routers"].index(player)].min())
    return float(mean[:, crossplay["fraudsters"].index(player)].max() - crossplay["value"])


def main_vs_main_share(run_dir: Path, side: str) -> float | None:
    """Mean probability, over training iterations, that ``side``'s main player drew the other side's main as opponent."""
    from league.core.rundir import read_progress

    other = f"{'fraudster' if side == 'router' else 'router'}_main"
    shares = [json.loads(r[f"{side}_main_opponent_players"]).get(other, 0.0)
              for r in read_progress(run_dir) if r.get(f"{side}_main_opponent_players")]  # fmt: skip
    return float(np.mean(shares)) if shares else None


def ranking_agreement(crossplay: dict) -> tuple[float, float]:
    """Mean pairwise Spearman correlation of the learned players' rankings, across opponents, for each side."""
    mean = np.asarray(crossplay["mean"])
    routers = [i for i, name in enumerate(crossplay["routers"]) if "/" in name]
    fraudsters = [j for j, name in enumerate(crossplay["fraudsters"]) if "/" in name]
    learned = mean[np.ix_(routers, fraudsters)]

    def agreement(columns: np.ndarray) -> float:  # columns: one ranking per column
        ranks = columns.argsort(axis=0).argsort(axis=0).astype(float)
        if ranks.shape[0] < 2 or ranks.shape[1] < 2:
            return float("nan")
        correlation = np.corrcoef(ranks.T)
        return float(correlation[np.triu_indices_from(correlation, k=1)].mean())

    # A router's return ranks routers best-first; a fraudster is better the lower that return.
    return agreement(learned), agreement(-learned.T)


def recorded_wall_s(rows: dict, crossplay: dict, exploits: dict) -> float:
    """Seconds spent making every piece of the study, as each piece recorded it (so a resumed study adds up)."""
    training = sum(w for row in rows.values() for w in row["train_wall_s"] if w)
    return training + crossplay.get("wall_s", 0.0) + sum(result.get("wall_s", 0.0) for result in exploits.values())


def shown_path(path) -> str:
    """``path`` relative to the repository when it lies inside it (reports should not name this machine's folders)."""
    resolved = Path(path).resolve()
    return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else str(path)


def build_report(args, run_dirs, crossplay, exploits, wall_s: float, command: str) -> tuple[str, dict]:
    rows = {}
    for regime in args.regimes:
        names = [f"{regime}-s{seed}" for seed in args.seeds]
        rows[regime] = row = {
            "router_exploitability": [exploits[f"{n}/router_main"]["exploitability"] for n in names],
            "fraudster_exploitability": [exploits[f"{n}/fraudster_main"]["exploitability"] for n in names],
            "router_exploitability_final": [exploits[f"{n}/router_main"]["exploitability_final"] for n in names],
            "fraudster_exploitability_final": [exploits[f"{n}/fraudster_main"]["exploitability_final"] for n in names],
            "router_vs_scripted": [final_vs_scripted(run_dirs[n], "router") for n in names],
            "fraudster_vs_scripted": [final_vs_scripted(run_dirs[n], "fraudster") for n in names],
            "router_nash": [crossplay["router_nash"].get(f"{n}/router_main", 0.0) for n in names],
            "fraudster_nash": [crossplay["fraudster_nash"].get(f"{n}/fraudster_main", 0.0) for n in names],
            "train_wall_s": [json.loads((run_dirs[n] / "done").read_text()).get("wall_s") for n in names],
            "router_population_exploitability": [population_exploitability(crossplay, f"{n}/router_main") for n in names],
            "fraudster_population_exploitability": [population_exploitability(crossplay, f"{n}/fraudster_main") for n in names],
            "router_main_vs_main_share": [main_vs_main_share(run_dirs[n], "router") for n in names],
            "fraudster_main_vs_main_share": [main_vs_main_share(run_dirs[n], "fraudster") for n in names],
        }
        for side in SIDES:  # the tightest lower bound on exploitability this study has
            row[f"{side}_exploitability_bound"] = [
                max(a, b) for a, b in zip(row[f"{side}_exploitability"], row[f"{side}_population_exploitability"])
            ]
    lines = [
        "# Training regimes compared at equal budgets",
        "",
        f"{len(args.regimes)} regimes x {len(args.seeds)} seed(s); each league trained for {args.budget:,} env steps, "
        f"each best response for {args.br_budget:,}. Intervals are 95% t-intervals over seeds"
        + (" (one seed: no interval; a single run)." if len(args.seeds) == 1 else "."),
        "",
        SECTIONS[0],
        "",
        "Exploitability of the final main players (lower is better), in reward units per episode (1.0 = $100 at reward_scale 0.01) against the study's "
        f"meta-game value v = {crossplay['value']:+.2f}: the larger of two lower bounds, the best response's best "
        "point and the best opponent in the cross-play population (both broken down below).",
        "",
        "| regime | router exploitability | fraudster exploitability | router vs scripted | fraudster vs scripted |",
        "|---|---:|---:|---:|---:|",
    ]
    for regime, row in rows.items():
        lines.append(
            f"| {regime} | {fmt(row['router_exploitability_bound'])} | {fmt(row['fraudster_exploitability_bound'])} | "
            f"{fmt(row['router_vs_scripted'])} | {fmt(row['fraudster_vs_scripted'])} |"
        )
    lines += ["", "Per seed (router / fraudster exploitability, seeds " + ", ".join(map(str, args.seeds)) + "): " + "; ".join(
        f"{regime} " + ", ".join(f"{r:+.1f} / {f:+.1f}" for r, f in zip(row["router_exploitability_bound"], row["fraudster_exploitability_bound"]))
        for regime, row in rows.items()
    ) + "."]  # fmt: skip
    lines += ["", "Regimes: " + "; ".join(f"`{r}`: {REGIME_NOTES[r]}" for r in rows) + "."]
    lines += ["", "Goal: a PFSP-league router with at most half the exploitability of self-play and of fixed-opponent training."]
    for league_regime in ("pfsp", "pfsp_sp"):
        if league_regime not in rows:
            continue
        a = np.mean(rows[league_regime]["router_exploitability_bound"])
        for other in ("self_play", "fixed"):
            if other in rows:
                b = np.mean(rows[other]["router_exploitability_bound"])
                verdict = "met" if a <= 0.5 * b else "not met"
                lines.append(f"- {league_regime} {a:+.2f} against {other} {b:+.2f}: {verdict} (this measurement).")
    lines += [
        "",
        "How often each main player met the other side's current main during training (mean over iterations of "
        "its opponent probabilities; self_play is 1 by definition, fixed 0):",
        "",
        "| regime | router_main vs fraudster_main | fraudster_main vs router_main |",
        "|---|---:|---:|",
    ]
    for regime, row in rows.items():
        lines.append(f"| {regime} | {fmt(row['router_main_vs_main_share'], sign=False)} | {fmt(row['fraudster_main_vs_main_share'], sign=False)} |")
    lines += [
        "",
        SECTIONS[1],
        "",
        "Best point and final point of each best response's curve (the best point is a slightly optimistic "
        "estimate; the final one is the one where the curve has flattened if the budget was large enough).",
        "",
        "| regime | router (best / final) | fraudster (best / final) | router within population | fraudster within population |",
        "|---|---:|---:|---:|---:|",
    ]
    for regime, row in rows.items():
        lines.append(
            f"| {regime} | {fmt(row['router_exploitability'])} / {fmt(row['router_exploitability_final'])} | "
            f"{fmt(row['fraudster_exploitability'])} / {fmt(row['fraudster_exploitability_final'])} | "
            f"{fmt(row['router_population_exploitability'])} | {fmt(row['fraudster_population_exploitability'])} |"
        )
    lines += ["", "Within population: v minus the router's return against the best fraudster in the cross-play "
              "(every regime's final fraudster_main and the scripted fraudsters); for a fraudster, the best router's "
              "return minus v."]  # fmt: skip
    lines += ["", "![exploitability](exploitability.png)", "", SECTIONS[2], "",
              f"All final main players and the scripted population, {crossplay['episodes']} episodes per pairing "
              f"(seed {crossplay['seed']}). Meta-game value {crossplay['value']:+.2f}.", "",
              "| regime | router Nash weight | fraudster Nash weight |", "|---|---:|---:|"]  # fmt: skip
    for regime, row in rows.items():
        lines.append(f"| {regime} | {fmt(row['router_nash'], sign=False)} | {fmt(row['fraudster_nash'], sign=False)} |")
    scripted_r = {k: v for k, v in crossplay["router_nash"].items() if "/" not in k and v > 1e-3}
    scripted_f = {k: v for k, v in crossplay["fraudster_nash"].items() if "/" not in k and v > 1e-3}
    lines += ["", f"Scripted players in the Nash mixtures: routers {scripted_r or 'none'}; fraudsters {scripted_f or 'none'}."]
    router_agreement, fraudster_agreement = ranking_agreement(crossplay)
    lines += ["", "How transitive the learned players are: the mean Spearman correlation between two opponents' "
              f"rankings of the learned routers is {router_agreement:.2f}, and of the learned fraudsters "
              f"{fraudster_agreement:.2f} (1: every opponent ranks them the same, a transitive game in which "
              "self-play has little to gain from a league; near 0: strategy cycles, where a league should help)."]  # fmt: skip
    lines += ["", SECTIONS[3], "", "Last evaluation of training (greedy, against the config's scripted evaluation opponents).",
              "", "| regime | router_main | fraudster_main |", "|---|---:|---:|"]  # fmt: skip
    for regime, row in rows.items():
        lines.append(f"| {regime} | {fmt(row['router_vs_scripted'])} | {fmt(row['fraudster_vs_scripted'])} |")
    lines += ["", "![learning curves](learning_curves.png)", "", SECTIONS[4], "", "![best-response curves](best_response_curves.png)",
              "", SECTIONS[5], "",
              f"- league budget {args.budget:,} env steps per run; best-response budget {args.br_budget:,}; "
              f"{args.eval_points} evaluation points of {args.episodes} episodes;",
              f"- base config `{shown_path(args.config)}` (game, PPO, batch), regimes as in `regime_config` of this script;",
              "- training wall time per run (s): " + ", ".join(f"{r} {np.mean([w for w in row['train_wall_s'] if w]):.0f}" for r, row in rows.items()),
              f"- wall time of the study's pieces (training, cross-play, best responses, as recorded when each was made): "
              f"{recorded_wall_s(rows, crossplay, exploits) / 60:.1f} min on this machine; this invocation took {wall_s / 60:.1f} min.", "", SECTIONS[6], "", "```bash", command, "```", ""]  # fmt: skip
    return "\n".join(lines), rows


def plot(args, rows, run_dirs, exploits, output: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from league.core.rundir import read_progress

    figure, axis = plt.subplots(figsize=(7, 4))
    width = 0.38
    x = np.arange(len(rows))
    for offset, side in ((-width / 2, "router"), (width / 2, "fraudster")):
        stats = [interval(row[f"{side}_exploitability_bound"]) for row in rows.values()]
        axis.bar(x + offset, [m for m, _ in stats], width, yerr=[h for _, h in stats], capsize=4, label=f"{side}_main")
    axis.set_xticks(x, list(rows))
    axis.axhline(0, color="black", linewidth=0.8)
    axis.set_ylabel("exploitability lower bound (reward units per episode; 1.0 = $100)")
    axis.set_title("Exploitability: best response or cross-play population (lower is better)")
    axis.legend()
    figure.tight_layout()
    figure.savefig(output / "exploitability.png", dpi=110)
    plt.close(figure)

    figure, axes = plt.subplots(1, 2, figsize=(12, 4))
    for axis, side in zip(axes, SIDES):
        for regime in rows:
            for k, seed in enumerate(args.seeds):
                progress = read_progress(run_dirs[f"{regime}-s{seed}"])
                points = [(int(r["env_steps"]), float(r[f"{side}_main_vs_scripted"])) for r in progress if r.get(f"{side}_main_vs_scripted")]
                if points:
                    color = f"C{list(rows).index(regime)}"
                    axis.plot(*zip(*points), color=color, alpha=0.8, label=regime if k == 0 else None)
        axis.set_title(f"{side}_main against the scripted baselines")
        axis.set_xlabel("env steps")
        axis.set_ylabel("mean episode return")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(output / "learning_curves.png", dpi=110)
    plt.close(figure)

    figure, axes = plt.subplots(1, 2, figsize=(12, 4))
    for axis, side in zip(axes, SIDES):
        for regime in rows:
            for k, seed in enumerate(args.seeds):
                curve = exploits[f"{regime}-s{seed}/{side}_main"]["curve"]
                axis.plot([p["env_steps"] for p in curve], [p["gain"] for p in curve], marker="o", markersize=3,
                          color=f"C{list(rows).index(regime)}", alpha=0.8, label=regime if k == 0 else None)  # fmt: skip
        axis.set_title(f"best response to {side}_main: gain over v")
        axis.set_xlabel("best-response env steps")
        axis.set_ylabel("gain (reward units per episode; 1.0 = $100)")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(output / "best_response_curves.png", dpi=110)
    plt.close(figure)


# ---------------------------------------------------------------------- main


def parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 seed and small budgets (under 20 minutes on 2 cores)")
    parser.add_argument("--config", default=str(ROOT / "configs" / "quickstart.yaml"), help="base config (game, PPO)")
    parser.add_argument("--regimes", nargs="+", default=list(REGIMES), choices=REGIMES)
    parser.add_argument("--seeds", type=int, nargs="+")
    parser.add_argument("--budget", type=int, help="env steps per league run")
    parser.add_argument("--br-budget", type=int, help="env steps per best response")
    parser.add_argument("--episodes", type=int, help="episodes per evaluation and per cross-play pairing")
    parser.add_argument("--eval-points", type=int, help="best-response evaluations along its curve")
    parser.add_argument("--batch", type=int, help="override the config's train batch (tests use a tiny one)")
    parser.add_argument("--seed-eval", type=int, default=10_000, help="seed of the cross-play and evaluations")
    parser.add_argument("--output", type=Path, help="default: experiments/regimes (--quick: experiments/regimes/quick)")
    args = parser.parse_args(argv)
    if args.output is None:
        args.output = HERE / "quick" if args.quick else HERE
    preset = QUICK if args.quick else FULL
    for key, value in preset.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def main(argv=None) -> int:
    args = parse(argv)
    command = shlex.join([sys.executable.rsplit("/", 1)[-1], "experiments/regimes/run.py", *(argv if argv is not None else sys.argv[1:])])
    output = args.output
    runs = output / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    def log(message: str) -> None:
        print(f"[{(time.perf_counter() - started) / 60:5.1f} min] {message}", flush=True)

    base = base_config(Path(args.config), args.batch)
    run_dirs = train_runs(args, base, runs, log)
    crossplay = cross_play_mains(args, run_dirs, output, log)
    exploits = exploit_mains(args, run_dirs, crossplay["value"], log)
    wall_s = time.perf_counter() - started
    report, rows = build_report(args, run_dirs, crossplay, exploits, wall_s, command)
    plot(args, rows, run_dirs, exploits, output)
    (output / "report.md").write_text(report)
    (output / "results.json").write_text(json.dumps({"rows": rows, "crossplay_value": crossplay["value"],
                                                     "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}},
                                                    indent=2))  # fmt: skip
    log(f"wrote {output / 'report.md'}")
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
