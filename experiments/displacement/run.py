"""Learned non-transitivity on the fraud-displacement game: one self-play run, its snapshots cross-played.

1. **Train** ``configs/self_play.yaml``'s league (self-play: latest main
   against latest main) with the game replaced by
   ``configs/game/displacement.yaml``, at a modest budget
   (``--iterations`` x ``--batch`` env steps), taking a snapshot of each main
   player every ``--snapshot-every`` iterations.
2. **Cross-play** every router snapshot (and the final main) against every
   fraudster snapshot (and the final main), plus the scripted players of the
   displacement round robin that the scripted Nash supports, all from one
   seed (common random numbers).
3. **Measure**, on the learned players only:

   - how alike opponents rank the learned routers (and fraudsters): the mean
     pairwise Spearman correlation between two opponents' rankings, as
     ``experiments/regimes/run.py`` computes it (1: every opponent ranks
     them alike, a transitive population);
   - the cycle measures of :mod:`agents.cycles` (Nash supports, best
     responses, cyclic share, 3-cycles, best-response loop);
   - whether snapshots cycle in time: with ``P_k`` the self-play pair
     (router snapshot k, fraudster snapshot k) and
     ``M[P_a, P_b] = A[r_a, f_b] - A[r_b, f_a]`` (a beats b when positive),
     the share of consecutive triples where ``P_{k+2}`` beats ``P_{k+1}``,
     ``P_{k+1}`` beats ``P_k`` and yet ``P_k`` beats ``P_{k+2}``, and how
     often a later snapshot pair loses to an earlier one.

Writes ``report.md`` and ``results.json`` next to this file (or in
``--output``); the run
directory goes to ``--runs`` (default ``/tmp``, not committed). Resumable: a
finished training run (``done`` marker) is reused.

Run::

    PYTHONHASHSEED=0 PYTHONPATH=$PWD python experiments/displacement/run.py        # 1M env steps, ~13 min on 2 shared cores
    PYTHONHASHSEED=0 PYTHONPATH=$PWD python experiments/displacement/run.py --iterations 96 --snapshot-every 8 \
        --output experiments/displacement/long                                        # 2.5M env steps
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import yaml

HERE = Path(__file__).parent
ROOT = HERE.parents[1]


def train_config(args) -> dict:
    data = yaml.safe_load((ROOT / "configs" / "self_play.yaml").read_text())
    data["game"] = yaml.safe_load((ROOT / "configs" / "game" / "displacement.yaml").read_text())
    data.update(
        name=f"displacement-self_play-s{args.seed}-it{args.iterations}", seed=args.seed, iterations=args.iterations,
        checkpoint_every=args.iterations, eval_every=max(1, args.iterations // 4), eval_episodes=64,
        calibrate_win=False,
        eval_opponents={"router": ["neutral", "mixed", "max_everything", "adaptive"],
                        "fraudster": ["smartpay_heuristic", "velocity_rules", "risk_3ds_band"]},
    )  # fmt: skip
    data["league"]["snapshot_rule"] = {"every_iterations": args.snapshot_every}
    data["league"]["slots_per_side"] = args.iterations // args.snapshot_every + 1  # keep every snapshot
    data["league"]["win_definition"] = {"reference": 30.0, "scale": 3.0}
    data["ppo"]["train_batch_size"] = args.batch
    data["ppo"]["minibatch_size"] = min(data["ppo"]["minibatch_size"], args.batch)
    data["resources"]["num_envs_per_env_runner"] = max(1, args.batch // data["game"]["max_cycles"])
    return data


def train(args, log) -> Path:
    from league.core.config import make_train_config
    from league.rllib.train import train as train_league

    data = train_config(args)
    run_dir = Path(args.runs) / data["name"]
    marker = run_dir / "done"
    if marker.exists() and json.loads(marker.read_text()).get("config") == data:
        log(f"reusing {run_dir}")
        return run_dir
    log(f"train: {data['iterations']} iterations x {data['ppo']['train_batch_size']:,} env steps into {run_dir}")
    began = time.perf_counter()
    train_league(make_train_config(data), run_dir, verbose=False)
    marker.write_text(json.dumps({"wall_s": time.perf_counter() - began, "config": data}))
    return run_dir


def iteration_of(name: str) -> int:
    """``router_main@it12`` -> 12; the live main player (no ``@``) sorts last."""
    return int(name.split("@it")[1]) if "@it" in name else 10**9


def load_learned(run_dir: Path, role: str):
    from league.evaluation.loading import load_player, open_run

    run = open_run(run_dir)
    names = sorted((p.name for p in run.learned_players(role)), key=iteration_of)
    policies = []
    for name in names:
        policy = load_player(run, name)
        policy.name = name
        policies.append(policy)
    return run, policies


def ranking_agreement(matrix: np.ndarray) -> tuple[float, float]:
    """Mean pairwise Spearman correlation of routers' (rows) and fraudsters' (columns) rankings across opponents."""

    def agreement(columns: np.ndarray) -> float:  # one ranking per column
        ranks = columns.argsort(axis=0).argsort(axis=0).astype(float)
        if ranks.shape[0] < 2 or ranks.shape[1] < 2:
            return float("nan")
        correlation = np.corrcoef(ranks.T)
        return float(np.nanmean(correlation[np.triu_indices_from(correlation, k=1)]))

    return agreement(matrix), agreement(-matrix.T)


def snapshot_cycles(matrix: np.ndarray) -> dict:
    """Time cycles among self-play pairs P_k = (router k, fraudster k) of a square learned matrix (see the docstring)."""
    from agents.cycles import three_cycles

    k = min(matrix.shape)
    pairs = np.array([[matrix[a, b] - matrix[b, a] for b in range(k)] for a in range(k)])  # pairs[a, b] > 0: P_a beats P_b
    triples = [(i, i + 1, i + 2) for i in range(k - 2)]
    cyclic = [t for t in triples if pairs[t[2], t[1]] > 0 and pairs[t[1], t[0]] > 0 and pairs[t[0], t[2]] > 0]
    later_loses = [(a, b) for a in range(k) for b in range(a + 1, k) if pairs[b, a] < 0]
    wins = (pairs > 0).astype(float)
    return {
        "pairs": k,
        "consecutive_triples": len(triples),
        "consecutive_triples_cyclic": len(cyclic),
        "cyclic_triples": [list(map(int, t)) for t in cyclic],
        "later_pair_loses_to_earlier": len(later_loses),
        "ordered_pairs": k * (k - 1) // 2,
        "three_cycles_among_pairs": float(np.trace(wins @ wins @ wins) / 3.0),
        "pair_triangles": k * (k - 1) * (k - 2) // 6,
        "pair_three_cycles_in_symmetrised_game": three_cycles(matrix[:k, :k])["three_cycles"],
    }


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--batch", type=int, default=25_600, help="env steps per iteration")
    parser.add_argument("--snapshot-every", type=int, default=4)
    parser.add_argument("--episodes", type=int, default=64, help="cross-play episodes per pairing")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", default="/tmp/displacement_runs")
    parser.add_argument("--output", type=Path, default=HERE, help="where report.md and results.json go")
    return parser.parse_args(argv)


def cross_play(args, run_dir: Path, log):
    """Every learned and chosen scripted router against every such fraudster: the play and the learned counts."""
    from agents.evaluation import round_robin
    from agents.registry import DISPLACEMENT_NASH_FRAUDSTERS, DISPLACEMENT_NASH_ROUTERS, round_robin_players
    from league.evaluation.loading import torch_threads

    run, routers = load_learned(run_dir, "router")
    _, fraudsters = load_learned(run_dir, "fraudster")
    game = run.game
    scripted_routers, scripted_fraudsters = round_robin_players(game)
    routers += [p for p in scripted_routers if p.name in DISPLACEMENT_NASH_ROUTERS]
    fraudsters += [p for p in scripted_fraudsters if p.name in DISPLACEMENT_NASH_FRAUDSTERS]
    learned_r = sum("@" in p.name or p.name.endswith("_main") for p in routers)
    learned_f = sum("@" in p.name or p.name.endswith("_main") for p in fraudsters)
    log(f"cross-play: {len(routers)} routers x {len(fraudsters)} fraudsters x {args.episodes} episodes")
    with torch_threads(1):
        play = round_robin(routers, fraudsters, episodes=args.episodes, seed=10_000 + args.seed, config=game)
    return play, learned_r, learned_f


def measure(play, learned_r: int, learned_f: int, args, run_dir: Path, command: str) -> dict:
    """The results record: the cross-play matrix, the ranking agreement, the meta-games and the snapshot cycles."""
    from agents.cycles import meta_game_summary

    matrix = play.matrix
    learned = matrix[:learned_r, :learned_f]
    spearman_routers, spearman_fraudsters = ranking_agreement(learned)
    return {
        "command": command,
        "train": json.loads((run_dir / "done").read_text()),
        "routers": play.router_names,
        "fraudsters": play.fraudster_names,
        "learned_routers": learned_r,
        "learned_fraudsters": learned_f,
        "matrix": matrix.tolist(),
        "episodes": args.episodes,
        "spearman_routers": spearman_routers,
        "spearman_fraudsters": spearman_fraudsters,
        "learned_meta_game": meta_game_summary(learned, play.router_names[:learned_r], play.fraudster_names[:learned_f]),
        "all_meta_game": meta_game_summary(matrix, play.router_names, play.fraudster_names),
        "snapshot_cycles": snapshot_cycles(learned),
        "crossplay_wall_s": play.wall_time_s,
    }


def render_report(results: dict, args) -> str:
    """``report.md`` from the results record."""
    from agents.cycles import markdown_meta_game
    from agents.reporting import markdown_table

    cycles = results["snapshot_cycles"]
    cells = [[f"{v:+.1f}" for v in row] for row in results["matrix"]]
    report = [
        "# Learned non-transitivity on the displacement game",
        "",
        f"Self-play league (`configs/self_play.yaml`, game `configs/game/displacement.yaml`): "
        f"{results['train']['config']['iterations']} iterations x {args.batch:,} env steps, a snapshot of each main "
        f"player every {args.snapshot_every} iterations; training took {results['train']['wall_s'] / 60:.1f} min on a "
        f"shared 2-core machine (other jobs ran at the same time). Cross-play: {args.episodes} episodes per pairing, "
        f"seed {10_000 + args.seed}, {results['crossplay_wall_s']:.0f} s.",
        "",
        "## How alike opponents rank the learned players",
        "",
        f"- learned routers: mean pairwise Spearman {results['spearman_routers']:.2f} across the "
        f"{results['learned_fraudsters']} learned fraudsters (the regime study's default-game figure: 0.87)",
        f"- learned fraudsters: mean pairwise Spearman {results['spearman_fraudsters']:.2f} across the "
        f"{results['learned_routers']} learned routers",
        "",
        "## Do snapshots cycle?",
        "",
        f"- consecutive snapshot pairs (P_k, P_k+1, P_k+2) forming a cycle: {cycles['consecutive_triples_cyclic']} "
        f"of {cycles['consecutive_triples']} {cycles['cyclic_triples']}",
        f"- a later snapshot pair losing to an earlier one: {cycles['later_pair_loses_to_earlier']} of "
        f"{cycles['ordered_pairs']} ordered pairs; 3-cycles among the {cycles['pairs']} pairs: "
        f"{cycles['three_cycles_among_pairs']:.0f} of {cycles['pair_triangles']} triangles",
        "",
        "## Meta-game of the learned players",
        "",
        markdown_meta_game(results["learned_meta_game"]),
        "",
        "## Meta-game of learned and scripted players",
        "",
        markdown_meta_game(results["all_meta_game"]),
        "",
        "## Cross-play (mean router return)",
        "",
        markdown_table(results["routers"], results["fraudsters"], cells),
        "",
        "## Reproduce",
        "",
        f"    {results['command']}",
        "",
    ]
    return "\n".join(report)


def main(argv=None) -> int:
    args = parse_args(argv)
    command = "PYTHONHASHSEED=0 PYTHONPATH=$PWD python experiments/displacement/run.py " + shlex.join(
        argv if argv is not None else sys.argv[1:]
    )
    args.output.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - began:7.1f} s] {message}", flush=True)

    run_dir = train(args, log)
    play, learned_r, learned_f = cross_play(args, run_dir, log)
    results = measure(play, learned_r, learned_f, args, run_dir, command)
    (args.output / "results.json").write_text(json.dumps(results, indent=2))
    (args.output / "report.md").write_text(render_report(results, args))
    log(f"wrote {args.output / 'report.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
