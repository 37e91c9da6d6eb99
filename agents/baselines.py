"""Play every scripted router against every scripted fraudster and print the table of mean router returns.

One round robin from one seed, so every pairing faces the same customers and
coin flips (common random numbers). Prints a markdown matrix of mean router
returns, a per-router summary against the neutral fraudster and the elapsed
time, then the meta-game: its zero-sum Nash (support and weights per side,
value), how often each router is the best response, and how cyclic the matrix
is (:mod:`agents.cycles`). --game PATH plays any game YAML (like those under
configs/game/; --difficulty and --max-cycles then override it only when
given). --json PATH also writes every pairing's statistics with 95%
confidence intervals and the meta-game; --png PATH writes the matrix as a
heatmap.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from agents.cycles import markdown_meta_game, meta_game_summary
from agents.evaluation import DEFAULT_MAX_ENVS, RoundRobinResult, round_robin
from agents.registry import round_robin_players
from agents.reporting import markdown_matrix, markdown_router_summary, save_heatmap
from smartpay_marl.config import GameConfig, load_game_config, make_game_config


def run_baselines(
    episodes: int = 200,
    seed: int = 0,
    json_path: str | Path | None = None,
    png_path: str | Path | None = None,
    difficulty: str = "medium",
    max_cycles: int = 200,
    max_envs: int = DEFAULT_MAX_ENVS,
    quiet: bool = False,
    game: GameConfig | None = None,
    **config_fields: Any,
) -> RoundRobinResult:
    """Round robin of all registered routers against all registered fraudsters; print and save the results.

    Args:
        episodes: episodes per pairing.
        seed: one seed for every pairing.
        json_path: where to write the matrix, names and per-pairing statistics.
        png_path: where to write the heatmap.
        difficulty, max_cycles, config_fields: the game, when ``game`` is None.
        max_envs: largest batch of environments stepped together.
        quiet: do not print.
        game: the game as a config (e.g. from ``--game PATH``); wins over the other game arguments.

    The result's ``meta_game`` attribute holds :func:`agents.cycles.meta_game_summary` of the matrix.
    """
    start = time.perf_counter()
    if game is None:
        game = make_game_config(difficulty=difficulty, max_cycles=max_cycles, **config_fields)
    routers, fraudsters = round_robin_players(game)
    result = round_robin(routers, fraudsters, episodes=episodes, seed=seed, max_envs=max_envs, config=game)
    result.meta_game = meta_game_summary(result.matrix, result.router_names, result.fraudster_names)
    for path in (json_path, png_path):
        if path is not None:  # --json out/b.json should not fail because out/ does not exist yet
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    if json_path is not None:
        payload = json.loads(result.to_json())
        payload["meta_game"] = result.meta_game
        Path(json_path).write_text(json.dumps(payload, indent=2))
    if png_path is not None:
        save_heatmap(result, png_path)
    elapsed = time.perf_counter() - start
    if not quiet:
        pairings = len(routers) * len(fraudsters)
        print(
            f"Mean router return, {episodes} episodes per pairing, seed {seed}, difficulty {game.difficulty}, "
            f"{game.max_cycles} steps{' (fraud displacement on)' if game.displacement else ''} "
            f"(bold: best router per fraudster; v: best attack per router)\n"
        )
        print(markdown_matrix(result))
        print()
        if "neutral" in result.fraudster_names:
            print(markdown_router_summary(result, "neutral"))
            print()
        print(markdown_meta_game(result.meta_game))
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
    parser.add_argument("--game", metavar="PATH", help="game config YAML (e.g. configs/game/displacement.yaml)")
    parser.add_argument("--difficulty", choices=("easy", "medium", "hard"), default=None,
                        help="game preset (default medium; overrides --game's when given)")  # fmt: skip
    parser.add_argument("--max-cycles", type=int, default=None,
                        help="steps per episode (default 200; overrides --game's when given)")  # fmt: skip
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
        max_envs=args.max_envs,
        game=game_from_arguments(args),
    )
    return 0


def game_from_arguments(args: argparse.Namespace) -> GameConfig:
    """The game of ``--game PATH`` (default: medium), with ``--difficulty``, ``--max-cycles`` and the log flags when given."""
    overrides = {
        name: value
        for name, value in (
            ("difficulty", getattr(args, "difficulty", None)),
            ("max_cycles", getattr(args, "max_cycles", None)),
            ("transaction_log", getattr(args, "transaction_log", None)),
            ("transaction_log_mapping", getattr(args, "transaction_log_mapping", None)),
        )
        if value is not None
    }
    if getattr(args, "game", None):
        return load_game_config(args.game, **overrides)
    return make_game_config(**{"difficulty": "medium", "max_cycles": 200, **overrides})


if __name__ == "__main__":
    _parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(_parser)
    raise SystemExit(main(_parser.parse_args()))
