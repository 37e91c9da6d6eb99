"""How far can a PPO router get against one fixed, known ring? A ceiling for every regime's router.

The regime study found the routers carrying almost all of every regime's
NashConv, and every learned router's worst case in the cross-play to be a
big-ticket attack. This diagnostic asks whether that is a matter of the
opponents a regime chooses (which a league could fix) or of the router's
learner (which no choice of opponents fixes at this budget): it trains PPO
routers from scratch against one scripted ring alone, the easiest curriculum
there is, for twice the oracle's budget, and compares their curve with the
scripted routers and with the study's learned routers against the same ring.

The ring is played as a one-member mixture of a study run (the run's own
scripted training opponent), so the best response is the oracle's own code
(``league.rllib.exploit``, warm start off) on the run's game and PPO
settings; nothing of the run is changed (it is copied first).

Run::

    python experiments/regimes/router_ceiling.py --game displacement        # after the study's fixed-s0 run exists

Writes ``experiments/regimes/<game>/router_ceiling/``: ``result.json`` (the
oracle's file, every curve point), ``report.md`` and ``curves.png``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from study_config import GAMES  # noqa: E402
from study_diagnosis import is_learned  # noqa: E402

DEFAULT_BUDGET = 3_276_800  # twice the study's oracle
DEFAULT_SEEDS = (0, 1, 2)
EPISODES = 128
EVAL_SEED = 10_000  # the study's evaluation seed
#: Memoryless rules for the guarded channel: the guard's decision for every payment with the channel's signature,
#: without counting the window's budget (review and 3-D Secure beyond it pass unchecked, as the game rules).
MEMORYLESS_RULES = {"block": dict(review_capacity=0, threeds_capacity=0, overflow="block"),
                    "challenge": dict(review_capacity=0, threeds_capacity=None, overflow="block"),
                    "review": dict(review_capacity=None, threeds_capacity=0, overflow="block")}  # fmt: skip
#: Scripted routers shown beside the curve (the study's cross-play holds their returns).
REFERENCE_ROUTERS = ("guard_big_ticket", "risk_3ds_band", "velocity_rules", "smartpay_heuristic")


def parse(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--game", choices=sorted(GAMES), default="displacement")
    parser.add_argument("--ring", default="fraud_surge",
                        help="the scripted ring (one of the study's training rings; on displacement fraud_surge "
                             "plays the big-ticket channel)")  # fmt: skip
    parser.add_argument("--channel", default="big_ticket",
                        help="the look-alike segment whose memoryless rules are played against the ring (displacement)")
    parser.add_argument("--run", default="fixed-s0", help="the study run whose game, PPO settings and roster are used")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS))
    parser.add_argument("--budget", type=int, default=DEFAULT_BUDGET, help="env steps per best response")
    parser.add_argument("--runs", type=Path, help="the study's run directories (default experiments/regimes/<game>/runs)")
    parser.add_argument("--report-only", action="store_true",
                        help="rewrite report.md and curves.png from result.json and the study's cross-play")
    args = parser.parse_args(argv)
    args.study = HERE / args.game
    args.runs = args.runs or args.study / "runs"
    args.output = args.study / "router_ceiling"
    return args


def ring_mixture(run_dir: Path, ring: str, work: Path) -> tuple[Path, str]:
    """A copy of ``run_dir`` holding a one-member fraudster mixture of the scripted ``ring``; its name."""
    member = f"fraudster_scripted:{ring}"
    state = json.loads((run_dir / "league_state.json").read_text())
    if member not in {p["name"] for p in state["players"]}:
        raise SystemExit(f"{member} is not a player of {run_dir}; its scripted players: "
                         + ", ".join(p["name"] for p in state["players"] if p["kind"] == "scripted"))  # fmt: skip
    copy = work / run_dir.name
    if copy.exists():
        shutil.rmtree(copy)
    # The copy keeps no mixture of its own: iteration 0 names the one-member mixture, which no run writes.
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("eval", "tensorboard", "mixtures"))
    from league.evaluation.mixture import Mixture, mixture_name, write_mixture

    name = mixture_name("fraudster", "nash", 0)
    write_mixture(copy, Mixture(name, "fraudster", "nash", 0, [member], [1.0],
                                f"router_ceiling: the scripted ring {ring} alone"))  # fmt: skip
    return copy, name


def run_game(run_dir: Path):
    from league.evaluation.loading import open_run

    return open_run(run_dir).game


def references(study: Path, ring: str) -> dict[str, float]:
    """Router returns against ``ring`` in the study's cross-play: scripted references and each learned main."""
    pairs = json.loads((study / "crossplay.json").read_text())["pairs"]
    found = {name: pairs[name][ring] for name in REFERENCE_ROUTERS if name in pairs and ring in pairs[name]}
    found.update({name: row[ring] for name, row in sorted(pairs.items()) if name.endswith("/main") and ring in row})
    return found


def memoryless_rules(game, game_name: str, channel: str, episodes: int = EPISODES) -> dict[str, dict[str, float]]:
    """Router returns, against every scripted ring of the study, of rules that see one payment at a time.

    Each rule gives every payment with ``channel``'s signature one decision
    without counting the window's budget. A router without memory (every
    learned router here: a feed-forward network, played greedily) can play
    exactly these, and cannot count as the scripted guards do. Played as the
    study's cross-play plays (same episodes and seed).
    """
    from agents.displacement import ChannelGuardRouter
    from agents.evaluation import round_robin
    from study_phases import scripted_players

    if not game.displacement:
        return {}
    rings = scripted_players(game, GAMES[game_name])["fraudster"]
    rules = [ChannelGuardRouter((channel,), window=game.capacity_window, name=f"{rule}_every_{channel}", **settings)
             for rule, settings in MEMORYLESS_RULES.items()]  # fmt: skip
    played = round_robin(rules, rings, episodes=episodes, seed=EVAL_SEED, config=game)
    return {rule: dict(zip(played.fraudster_names, map(float, row)))
            for rule, row in zip(played.router_names, played.router_returns)}  # fmt: skip


def report(args, result: dict, reference: dict[str, float], wall_s: float) -> str:
    import numpy as np

    finals = [seed["curve"][-1]["router_return"] for seed in result["seeds"]]
    learned = {n: v for n, v in reference.items() if is_learned(n)}
    lines = [f"# A PPO router against `{args.ring}` alone, on `{args.game}`", "",
             f"Best responses from scratch (the study's oracle code, warm start off) to the scripted ring "
             f"`{args.ring}`, {args.budget:,} env steps each, seeds {', '.join(map(str, args.seeds))}; "
             f"{EPISODES} greedy evaluation episodes per point (seed {EVAL_SEED}, as the study's). Router return, "
             "higher is better for the router; 1.0 = $100 per episode.", "",
             "| env steps | " + " | ".join(f"seed {s['seed']}" for s in result["seeds"]) + " |",
             "|---|" + "---:|" * len(result["seeds"])]  # fmt: skip
    steps = [p["env_steps"] for p in result["seeds"][0]["curve"]]
    for k, step in enumerate(steps):
        cells = [f"{s['curve'][k]['router_return']:+.2f}" if k < len(s["curve"]) else "-" for s in result["seeds"]]
        lines.append(f"| {step:,} | " + " | ".join(cells) + " |")
    lines += ["", f"Final points: mean {np.mean(finals):+.2f} (seeds: {', '.join(f'{v:+.2f}' for v in finals)}); "
              f"flattened: {', '.join(str(bool(s['flattened'])) for s in result['seeds'])}.", "",
              f"Against the same ring in the study's cross-play ({EPISODES} episodes, seed {EVAL_SEED}):", ""]  # fmt: skip
    lines += [f"- `{n}` (scripted): {v:+.2f}" for n, v in reference.items() if not is_learned(n)]
    if learned:
        values = list(learned.values())
        lines += [f"- the study's learned main routers ({len(values)}): mean {np.mean(values):+.2f}, "
                  f"range {min(values):+.2f} to {max(values):+.2f}"]  # fmt: skip
    rules = result.get("memoryless_rules", {})
    if rules:
        lines += ["", f"Memoryless rules for the `{args.channel}` channel (every payment with its signature gets one "
                  "decision, without counting the window's budget; a feed-forward router played greedily can play "
                  "exactly these, and no learned router here can count), against the ring and at their worst over "
                  f"the study's {len(next(iter(rules.values())))} scripted rings:", ""]  # fmt: skip
        for name, returns in rules.items():
            worst = min(returns, key=returns.get)
            lines.append(f"- `{name}`: {returns.get(args.ring, float('nan')):+.2f} against `{args.ring}`; worst case "
                         f"{returns[worst]:+.2f} (`{worst}`)")  # fmt: skip
    lines += ["", "![curves](curves.png)", "",
              f"Wall time: {wall_s / 60:.1f} min on the shared 2-core machine.", "", "```bash",
              f"python experiments/regimes/router_ceiling.py --game {args.game} --ring {args.ring}", "```"]  # fmt: skip
    return "\n".join(lines) + "\n"


def plot(result: dict, reference: dict[str, float], ring: str, path: Path) -> None:
    from agents.reporting import pyplot, save_figure

    plt = pyplot()
    figure, axis = plt.subplots(figsize=(11, 4.5))
    for seed in result["seeds"]:
        points = [(p["env_steps"], p["router_return"]) for p in seed["curve"]]
        axis.plot(*zip(*points), marker="o", markersize=3, label=f"PPO router from scratch, seed {seed['seed']}")
    lines = [(n, v, "scripted") for n, v in reference.items() if not is_learned(n)]
    lines += [(n, v[ring], "memoryless rule") for n, v in result.get("memoryless_rules", {}).items() if ring in v]
    for k, (name, value, what) in enumerate(lines):
        axis.axhline(value, color=f"C{k + 3}", linestyle="--" if what == "scripted" else ":", linewidth=1,
                     label=f"{name} ({what})")
    learned = [v for n, v in reference.items() if is_learned(n)]
    if learned:
        axis.axhspan(min(learned), max(learned), color="grey", alpha=0.2, label="the study's learned main routers")
    axis.set_title(f"router return against {ring} alone")
    axis.set_xlabel("best-response env steps")
    axis.set_ylabel("router return per episode (1.0 = $100)")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    figure.tight_layout()
    save_figure(figure, path)


def main(argv=None) -> int:
    from league.rllib.exploit import WARM_NONE, file_stem, run_exploit

    args = parse(argv)
    if args.report_only:
        result = json.loads((args.output / "result.json").read_text())
        if "memoryless_rules" not in result:  # a result from before the rules were played: play them (seconds)
            result["memoryless_rules"] = memoryless_rules(run_game(args.runs / args.run), args.game, args.channel)
            (args.output / "result.json").write_text(json.dumps(result, indent=1))
        write_report(args, result, result.get("wall_s", 0.0))
        return 0
    run_dir = args.runs / args.run
    if not (run_dir / "done").exists():
        raise SystemExit(f"no finished study run at {run_dir}; run experiments/regimes/run.py --game {args.game} first")
    args.output.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    copy, target = ring_mixture(run_dir, args.ring, args.output / "work")
    print(f"training {len(args.seeds)} PPO router(s) from scratch against {args.ring}, {args.budget:,} env steps each",
          flush=True)  # fmt: skip
    run_exploit(copy, target, args.budget, episodes=EPISODES, seeds=args.seeds, warm_start=WARM_NONE, value=0.0,
                population=["router_scripted:risk_3ds_band", f"fraudster_scripted:{args.ring}"],
                value_episodes=EPISODES, min_steps=args.budget, eval_seed=EVAL_SEED, output=args.output / "work")  # fmt: skip
    result = json.loads((args.output / "work" / f"{file_stem(target)}.json").read_text())
    result["memoryless_rules"] = memoryless_rules(run_game(run_dir), args.game, args.channel)
    result["wall_s"] = time.perf_counter() - started
    result["run_dir"] = f"a copy of {args.run} of the {args.game} study"  # no machine path in committed files
    (args.output / "result.json").write_text(json.dumps(result, indent=1))
    shutil.rmtree(args.output / "work")
    print(write_report(args, result, result["wall_s"]))
    return 0


def write_report(args, result: dict, wall_s: float) -> str:
    reference = references(args.study, args.ring)
    plot(result, reference, args.ring, args.output / "curves.png")
    text = report(args, result, reference, wall_s)
    (args.output / "report.md").write_text(text)
    return text


if __name__ == "__main__":
    sys.exit(main())
