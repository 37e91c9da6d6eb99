"""Play every scripted router against every scripted fraudster and print the table of mean router returns.

One round robin from one seed, so every pairing faces the same customers and
coin flips (common random numbers). Prints a markdown matrix of mean router
returns, a per-router summary against the neutral fraudster and the elapsed
time. --json PATH also writes every pairing's statistics with 95% confidence
intervals; --png PATH writes the matrix as a heatmap.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from agents.evaluation import DEFAULT_MAX_ENVS, RoundRobinResult, round_robin
from agents.registry import FRAUDSTERS, ROUTERS, make_policy
from agents.reporting import markdown_matrix, markdown_router_summary, save_heatmap


def run_baselines(
    episodes: int = 200,
    seed: int = 0,
    json_path: str | Path | None = None,
    png_path: str | Path | None = None,
    difficulty: str = "medium",
    max_cycles: int = 200,
    max_envs: int = DEFAULT_MAX_ENVS,
    quiet: bool = False,
    **config_fields: Any,
) -> RoundRobinResult:
    """Round robin of all registered routers against all registered fraudsters; print and save the results.

    Args:
        episodes: episodes per pairing.
        seed: one seed for every pairing.
        json_path: where to write the matrix, names and per-pairing statistics.
        png_path: where to write the heatmap.
        difficulty, max_cycles, config_fields: the game.
        max_envs: largest batch of environments stepped together.
        quiet: do not print.
    """
    start = time.perf_counter()
    routers = [make_policy(name, role="router") for name in ROUTERS]
    fraudsters = [make_policy(name, role="fraudster") for name in FRAUDSTERS]
    result = round_robin(
        routers, fraudsters, episodes=episodes, seed=seed, max_envs=max_envs,
        difficulty=difficulty, max_cycles=max_cycles, **config_fields,
    )  # fmt: skip
    for path in (json_path, png_path):
        if path is not None:  # --json out/b.json should not fail because out/ does not exist yet
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    if json_path is not None:
        result.to_json(json_path)
    if png_path is not None:
        save_heatmap(result, png_path)
    elapsed = time.perf_counter() - start
    if not quiet:
        pairings = len(routers) * len(fraudsters)
        print(
            f"Mean router return, {episodes} episodes per pairing, seed {seed}, difficulty {difficulty}, "
            f"{max_cycles} steps (bold: best router per fraudster; v: best attack per router)\n"
        )
        print(markdown_matrix(result))
        print()
        if "neutral" in result.fraudster_names:
            print(markdown_router_summary(result, "neutral"))
            print()
        print(f"{pairings} pairings x {episodes} episodes in {elapsed:.1f} s")
        for label, path in (("JSON", json_path), ("heatmap", png_path)):
            if path is not None:
                print(f"{label}: {path}")
    return result


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``baselines`` options to ``parser``."""
    parser.add_argument("--episodes", type=int, default=200, help="episodes per pairing (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="seed shared by every pairing (default 0)")
    parser.add_argument("--difficulty", choices=("easy", "medium", "hard"), default="medium",
                        help="game preset (default medium)")  # fmt: skip
    parser.add_argument("--max-cycles", type=int, default=200, help="steps per episode (default 200)")
    parser.add_argument("--max-envs", type=int, default=DEFAULT_MAX_ENVS, help="largest batch of envs")
    parser.add_argument("--json", dest="json_path", metavar="PATH", help="write matrix and statistics as JSON")
    parser.add_argument("--png", dest="png_path", metavar="PATH", help="write the heatmap as PNG")
    parser.add_argument("--transaction-log", metavar="PATH",
                        help="replay this CSV/Parquet log as the customers (docs/transaction_logs.md)")  # fmt: skip
    parser.add_argument("--transaction-log-mapping", metavar="PATH", help="column mapping YAML for the log")


def main(args: argparse.Namespace) -> int:
    """Run :func:`run_baselines` from parsed arguments; returns the exit status."""
    run_baselines(
        episodes=args.episodes,
        seed=args.seed,
        json_path=args.json_path,
        png_path=args.png_path,
        difficulty=args.difficulty,
        max_cycles=args.max_cycles,
        max_envs=args.max_envs,
        **_log_fields(args),
    )
    return 0


def _log_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The transaction-log game fields given on the command line (none when no log is named)."""
    fields = {"transaction_log": getattr(args, "transaction_log", None),
              "transaction_log_mapping": getattr(args, "transaction_log_mapping", None)}  # fmt: skip
    return {name: value for name, value in fields.items() if value is not None}


if __name__ == "__main__":
    _parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(_parser)
    raise SystemExit(main(_parser.parse_args()))
