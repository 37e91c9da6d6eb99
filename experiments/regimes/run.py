"""Does a league beat self-play? Five training regimes at equal env-step budgets, on a named game.

For every seed and regime (``fixed``, ``self_play``, ``fictitious``,
``pfsp``: the AlphaStar league with its default branch shares and one main
and one league exploiter per side, ``psro``; see ``study_config``) the study

1. **trains** the run for the same number of env steps (``--budget``; a
   league's exploiters and PSRO's best responses spend part of it);
2. **names its outputs**: each side's main player and the run's meta-Nash
   mixture (the Nash of the cross-play of the run's own population; PSRO's
   own final meta-strategy);
3. **runs the oracle** on all four outputs: two PPO best responses each, one
   warm-started from the run's strongest learned responder and one from
   scratch, for ``--oracle-budget`` env steps, with the plateau check at the
   last doubling (``flattened``);
4. **cross-plays** every output of every run with the game's scripted
   population (training set and held-out set; common random numbers), whose
   meta-game value ``v`` is the common value of every exploitability;
5. **reports**: exploitability per side, NashConv, paired differences
   against self-play by seed, the oracle's flags and curves, returns against
   held-out scripted players, each main's share of the samples, and the diagnostics of
   ``study_diagnosis`` (which side carries NashConv, the routers' worst opponents, the
   oracle's last doubling, late learning, who meets whom in a league, cycles).

Everything is resumable: finished runs (``done``), mixtures, oracle results
and cross-play pairings are reused, so a study longer than a session is
continued by running the same command again. The report is rewritten after
every finished seed, from the seeds finished so far. ``pieces/`` keeps a copy
of every small result file (run markers, progress logs, league states,
mixtures, oracle results) next to the report, so the tables can be checked
without the run directories.

Run::

    python experiments/regimes/run.py --game displacement           # 3 seeds (writes experiments/regimes/displacement/)
    python experiments/regimes/run.py --game medium
    python experiments/regimes/run.py --game displacement --quick   # 1 seed, small budgets, < 20 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))  # the study's modules sit next to this script

from study_config import GAMES, REGIMES, ROOT, SIDES, Budgets, base_config, regime_config  # noqa: E402
from study_phases import (  # noqa: E402
    ORACLE_STARTS,
    CrossPlayCache,
    cross_play,
    oracle_path,
    run_oracle,
    run_outputs,
    train_run,
)
from study_diagnosis import diagnose  # noqa: E402
from study_report import SECTIONS, Study, plot, render  # noqa: E402
from study_tables import KINDS, comparisons, ranking_agreement, read_oracles, regime_rows, study_value  # noqa: E402

#: The full study. League budget: 64 iterations of the quick-start batch, enough for every exploiter of a
#: pfsp league to have been snapshotted several times (snapshots every 6 iterations). Oracle: 1.6M env
#: steps per best response, 8 per run; the calibration (experiments/exploit_calibration/) found curves
#: still rising at 3.3M, so every flag is reported and a figure from a rising curve is a lower bound.
FULL = {"budgets": Budgets(3_276_800, 409_600, 1_638_400, 128), "seeds": [0, 1, 2]}
QUICK = {"budgets": Budgets(204_800, 102_400, 51_200, 32), "seeds": [0]}
__all__ = ["SECTIONS", "main", "parse"]


def parse(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--game", choices=sorted(GAMES), default="displacement", help="the study's game")
    parser.add_argument("--quick", action="store_true", help="one seed and small budgets (under 20 minutes)")
    parser.add_argument("--regimes", nargs="+", default=list(REGIMES), choices=REGIMES)
    parser.add_argument("--seeds", type=int, nargs="+")
    parser.add_argument("--budget", type=int, help="env steps per run (all its learners together)")
    parser.add_argument("--psro-steps", type=int, help="env steps per PSRO best response")
    parser.add_argument("--oracle-budget", type=int, help="env steps per best response of the oracle")
    parser.add_argument("--episodes", type=int, help="episodes per cross-play pairing and oracle evaluation")
    parser.add_argument("--batch", type=int, help="override the base config's train batch (tests use a tiny one)")
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "quickstart.yaml", help="base config")
    parser.add_argument("--seed-eval", type=int, default=10_000, help="seed of the cross-play and oracle evaluations")
    parser.add_argument("--output", type=Path, help="default experiments/regimes/<game>/ (--quick: .../<game>/quick/)")
    parser.add_argument("--runs", type=Path, help="run directories (default: OUTPUT/runs, not committed)")
    args = parser.parse_args(argv)
    preset = QUICK if args.quick else FULL
    defaults = preset["budgets"]
    args.budgets = Budgets(args.budget or defaults.league_steps, args.psro_steps or defaults.psro_best_response_steps,
                           args.oracle_budget or defaults.oracle_steps, args.episodes or defaults.episodes, args.batch)  # fmt: skip
    args.seeds = args.seeds or preset["seeds"]
    args.output = args.output or (HERE / args.game / "quick" if args.quick else HERE / args.game)
    args.runs = args.runs or args.output / "runs"
    return args


def shown_path(path: Path) -> str:
    """``path`` relative to the repository when inside it: reports never name this machine's folders."""
    resolved = Path(path).resolve()
    return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else str(path)


class Progress:
    """Timestamped progress lines on stdout, and the wall time of this invocation."""

    def __init__(self):
        self.started = time.perf_counter()

    def __call__(self, message: str) -> None:
        print(f"[{(time.perf_counter() - self.started) / 60:6.1f} min] {message}", flush=True)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started


def study_seed(args, seed: int, base: dict, state: dict, log: Progress) -> None:
    """Train, name the outputs of and run the oracle on every regime at one seed."""
    game = GAMES[args.game]
    for regime in args.regimes:
        config = regime_config(regime, seed, args.budgets, base, game)
        name = config["name"]
        run_dir = args.runs / name
        state["configs"][name] = config
        state["train_wall_s"][name] = train_run(config, run_dir, log)
        state["run_dirs"][name] = run_dir
        outputs = run_outputs(run_dir, regime, args.budgets.episodes, args.seed_eval, log)
        state["outputs"][name] = outputs
        for side in SIDES:
            for kind in KINDS:
                for start in ORACLE_STARTS:
                    run_oracle(run_dir, outputs[side].player(kind), start, seed, args.budgets, args.seed_eval, log)


def copy_pieces(state: dict, report_dir: Path) -> None:
    """The small files behind every table, next to the report (the run directories stay uncommitted)."""
    for name, run_dir in state["run_dirs"].items():
        target = report_dir / "pieces" / name
        files = [run_dir / "done", run_dir / "progress.csv", run_dir / "league_state.json", run_dir / "psro.json"]
        files += sorted((run_dir / "mixtures").glob("*.json"))
        for output in state["outputs"][name].values():
            files += [oracle_path(run_dir, output.player(kind), start) for kind in KINDS for start in ORACLE_STARTS]
        for path in files:
            if path.is_file():
                destination = target / path.relative_to(run_dir)
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, destination)


def write_report(args, state: dict, command: str, log: Progress) -> str:
    """Cross-play what is finished, compute the tables and write report.md, results.json and the figures."""
    game = GAMES[args.game]
    cache = CrossPlayCache(args.output / "crossplay.json", args.budgets.episodes, args.seed_eval, args.game)
    routers, fraudsters = cross_play(cache, state["run_dirs"], state["outputs"], game, log)
    matrix = cache.matrix(routers, fraudsters)
    value, router_nash, fraudster_nash = study_value(matrix)
    seeds = sorted({int(name.rsplit("-s", 1)[1]) for name in state["run_dirs"]})
    rows = regime_rows(args.regimes, seeds, state["run_dirs"], state["outputs"], state["configs"], matrix, routers,
                       fraudsters, value, game, state["train_wall_s"])  # fmt: skip
    oracle_s = sum(o.wall_s for name, run_dir in state["run_dirs"].items() for out in state["outputs"][name].values()
                   for kind in KINDS for o in read_oracles(run_dir, out.player(kind)).values())  # fmt: skip
    curves = _oracle_curves(state, value)
    study = Study(
        game=args.game, regimes=args.regimes, seeds=seeds, budgets=args.budgets, value=value, rows=rows,
        comparisons=comparisons(rows), agreement=ranking_agreement(matrix, routers, fraudsters),
        crossplay_shape=matrix.shape,
        nash_support={"router": _support(routers, router_nash), "fraudster": _support(fraudsters, fraudster_nash)},
        wall_s={"train": sum(state["train_wall_s"].values()), "crossplay": cache.wall_s, "oracle": oracle_s,
                "invocation": log.elapsed},
        command=command, base_config=shown_path(args.config), quick=args.quick,
        diagnosis=diagnose(rows, matrix, routers, fraudsters, curves, state["run_dirs"]),
    )  # fmt: skip
    plot(study, state["run_dirs"], curves, args.output)
    report = render(study)
    (args.output / "report.md").write_text(report)
    (args.output / "results.json").write_text(json.dumps(_results(args, study), indent=1, default=_plain))
    copy_pieces(state, args.output)
    log(f"wrote {shown_path(args.output / 'report.md')} ({len(seeds)} seed(s))")
    return report


def _support(names, weights) -> dict[str, float]:
    return {n: float(w) for n, w in sorted(zip(names, weights), key=lambda item: -item[1]) if w > 1e-3}


def _oracle_curves(state: dict, value: float) -> dict:
    curves = {}
    for name, run_dir in state["run_dirs"].items():
        regime, seed = name.rsplit("-s", 1)
        for side, output in state["outputs"][name].items():
            sign = 1.0 if side == "router" else -1.0
            for kind in KINDS:
                for start, oracle in read_oracles(run_dir, output.player(kind)).items():
                    points = [(steps, sign * (value - ret)) for steps, ret in oracle.curve]
                    curves[(regime, int(seed), kind, side, start)] = points
    return curves


def _results(args, study: Study) -> dict:
    return {
        "game": args.game, "value": study.value, "seeds": study.seeds, "regimes": study.rows,
        "comparisons": {k: {**v, "nash_conv": vars(v["nash_conv"]), "reference": vars(v["reference"]),
                            "paired_difference": vars(v["paired_difference"])} for k, v in study.comparisons.items()},
        "ranking_agreement": {"router": study.agreement[0], "fraudster": study.agreement[1]},
        "nash_support": study.nash_support, "diagnosis": study.diagnosis, "wall_s": study.wall_s,
        "command": study.command, "code": code_commit(),
        "budgets": vars(args.budgets), "settings": {"config": shown_path(args.config), "seed_eval": args.seed_eval,
                                                     "quick": args.quick, "output": shown_path(args.output)},
    }  # fmt: skip


def code_commit() -> str:
    """The commit of the study's code, so a study resumed over several sessions can show it ran on one code."""
    import subprocess

    found = subprocess.run(["git", "rev-parse", "HEAD"], cwd=HERE, capture_output=True, text=True)
    return found.stdout.strip() if found.returncode == 0 else "unknown"


def _plain(value):
    """JSON for numpy scalars and other plain values the tables hold."""
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def main(argv=None) -> int:
    args = parse(argv)
    words = argv if argv is not None else sys.argv[1:]
    command = shlex.join(["python", "experiments/regimes/run.py", *words])
    args.output.mkdir(parents=True, exist_ok=True)
    log = Progress()
    base = base_config(GAMES[args.game], args.batch, args.config)
    state = {"configs": {}, "train_wall_s": {}, "run_dirs": {}, "outputs": {}}
    log(f"regime study on {args.game}: regimes {', '.join(args.regimes)}; seeds {args.seeds}; {args.budgets}")
    for seed in args.seeds:
        study_seed(args, seed, base, state, log)
        report = write_report(args, state, command, log)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
