"""Throughput benchmark of the game: env-steps per second for the single env and the vector env.

Run smartpay-marl bench (--game PATH: any game YAML, medium by default). It also measures the vector env replaying a
transaction log (--log-sizes, default N=4096) beside the generator. Actions are drawn ahead of time (a fixed random
sequence per env count), so the figure measures the game, not the policy.
Machines here are shared and noisy: compare figures taken in one run.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

import smartpay_marl
from smartpay_marl.layout import FRAUDSTER, ROUTER, ROUTER_ACTION_NVEC

DEFAULT_VECTOR_SIZES = (1, 64, 1024, 4096)
_ACTION_POOL = 256


def _action_pool(num_envs: int, fraudster_nvec, seed: int):
    rng = np.random.default_rng(seed)
    router = rng.integers(0, ROUTER_ACTION_NVEC, size=(_ACTION_POOL, num_envs, 3))
    fraudster = rng.integers(0, fraudster_nvec, size=(_ACTION_POOL, num_envs, 4))
    return router, fraudster


def bench_single_env(seconds: float, difficulty: str = "medium", seed: int = 0, game=None) -> float:
    """Steps per second of the PettingZoo parallel env (both agents act each step); ``game`` wins over ``difficulty``."""
    env = smartpay_marl.parallel_env(**_game_fields(game, difficulty))
    router, fraudster = _action_pool(1, env.action_space(FRAUDSTER).nvec, seed)
    env.reset(seed=seed)
    env.step({ROUTER: router[0, 0], FRAUDSTER: fraudster[0, 0]})  # compile and warm up outside the clock
    steps, start = 0, time.perf_counter()
    episode = 0
    while time.perf_counter() - start < seconds:
        env.reset(seed=seed + episode)
        episode += 1
        while env.agents:
            k = steps % _ACTION_POOL
            env.step({ROUTER: router[k, 0], FRAUDSTER: fraudster[k, 0]})
            steps += 1
    return steps / (time.perf_counter() - start)


def bench_vector_env(num_envs: int, seconds: float, difficulty: str = "medium", seed: int = 0, game=None, **config) -> float:
    """Env-steps per second of the vector env with ``num_envs`` games (resets included); ``config`` overrides fields."""
    env = smartpay_marl.vector_env(num_envs, **{**_game_fields(game, difficulty), **config})
    router, fraudster = _action_pool(num_envs, env.single_action_spaces[FRAUDSTER].nvec, seed)
    env.reset(seed=seed)
    env.step({ROUTER: router[0], FRAUDSTER: fraudster[0]})
    steps, start, episode = 0, time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        env.reset(seed=seed + episode)
        episode += 1
        done = False
        while not done:
            k = steps % _ACTION_POOL
            _, _, terms, _, _ = env.step({ROUTER: router[k], FRAUDSTER: fraudster[k]})
            done = bool(terms[ROUTER][0])
            steps += 1
    return steps * num_envs / (time.perf_counter() - start)


def _game_fields(game, difficulty: str) -> dict:
    """Config fields of the benchmarked game: ``game`` (a GameConfig) if given, else the difficulty preset."""
    return game.model_dump() if game is not None else {"difficulty": difficulty}


def run_bench(
    seconds: float = 3.0,
    sizes=DEFAULT_VECTOR_SIZES,
    json_path: str | None = None,
    log_sizes=(),
    transaction_log: str | None = None,
    game=None,
) -> dict:
    """Measure and print the table; optionally write it as JSON. ``game``: a GameConfig (default medium).

    ``log_sizes``: vector env sizes also measured replaying a transaction log
    (``transaction_log``, else a generated 200,000-row export), next to the generator.
    """
    results = {"single_env": bench_single_env(seconds, game=game)}
    print(f"{'environment':<26}{'env-steps/s':>14}")
    print(f"{'single (PettingZoo)':<26}{results['single_env']:>14,.0f}", flush=True)
    for n in sizes:
        results[f"vector_{n}"] = bench_vector_env(n, seconds, game=game)
        print(f"{f'vector N={n}':<26}{results[f'vector_{n}']:>14,.0f}", flush=True)
    what = "200-step episodes, medium difficulty" if game is None else f"{game.max_cycles}-step episodes of the given game"
    print(f"(each figure: {seconds:g} s of {what}, random actions)")
    if log_sizes:
        results.update(_bench_with_log(seconds, log_sizes, results, transaction_log, game))
    if json_path:
        Path(json_path).write_text(json.dumps(results, indent=2))
    return results


#: Rows of the log the bench exports when no --transaction-log is given.
BENCH_LOG_ROWS = 200_000
LOG_ROUNDS = 3


def _bench_with_log(seconds: float, sizes, results: dict, transaction_log: str | None, game=None) -> dict:
    """The vector env replaying a log, at each size, with the generator measured right before it."""
    import tempfile

    from smartpay_marl.log_export import export_log

    figures = {}
    with tempfile.TemporaryDirectory() as folder:
        if transaction_log is None:
            transaction_log = str(Path(folder) / "bench_log.parquet")
            export_log(transaction_log, BENCH_LOG_ROWS, seed=0)
            source = f"a {BENCH_LOG_ROWS:,}-row export of the generator"
        else:
            source = transaction_log
        print(f"\nwith a transaction log ({source}); generator and log measured in turn, "
              f"{LOG_ROUNDS} rounds each, best round shown:")
        for n in sizes:
            # Alternating rounds and keeping each side's best: a shared machine's load spikes hit both alike.
            generator = replay = 0.0
            for _ in range(LOG_ROUNDS):
                generator = max(generator, bench_vector_env(n, seconds / LOG_ROUNDS, game=game))
                replay = max(replay, bench_vector_env(n, seconds / LOG_ROUNDS, game=game, transaction_log=transaction_log))
            figures[f"vector_{n}_generator"], figures[f"vector_{n}_log"] = generator, replay
            print(f"{f'vector N={n} generator':<26}{generator:>14,.0f}")
            print(f"{f'vector N={n} log':<26}{replay:>14,.0f}   ({replay / generator:.2f} x the generator)", flush=True)
    return figures


def add_arguments(parser) -> None:
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement (default 3)")
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=list(DEFAULT_VECTOR_SIZES), metavar="N",
        help="vector env sizes to measure (default: 1 64 1024 4096)",
    )
    parser.add_argument("--json", dest="json_path", metavar="PATH", help="also write the figures to this JSON file")
    parser.add_argument("--game", metavar="PATH", help="game config YAML to benchmark (default: medium)")
    parser.add_argument(
        "--log-sizes", type=int, nargs="*", default=[4096], metavar="N",
        help="vector env sizes also measured replaying a transaction log (default: 4096; none: skip)",
    )
    parser.add_argument("--transaction-log", metavar="PATH", help="the log to replay (default: a generated export)")


def main(args) -> None:
    if args.seconds <= 0:
        raise SystemExit("--seconds must be > 0")
    if any(n < 1 for n in args.sizes):
        raise SystemExit(f"--sizes must be >= 1, got {args.sizes}")
    if any(n < 1 for n in args.log_sizes):
        raise SystemExit(f"--log-sizes must be >= 1, got {args.log_sizes}")
    game = None
    if getattr(args, "game", None):
        from smartpay_marl.config import load_game_config

        game = load_game_config(args.game)
    run_bench(args.seconds, args.sizes, args.json_path, args.log_sizes, args.transaction_log, game=game)
