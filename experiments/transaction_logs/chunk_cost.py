"""Cost of one chunk of customers at N=4096: the generator against replaying a log (best of 15, alternating).

Run: python experiments/transaction_logs/chunk_cost.py LOG
"""

import sys
import time

import numpy as np

from smartpay_marl.config import GameConfig
from smartpay_marl.generator import chunk_steps_for, generate_chunk
from smartpay_marl.transaction_log import load_transaction_log, replay_chunk


def main(path: str, num_envs: int = 4096, repeats: int = 15) -> None:
    config, log = GameConfig(), load_transaction_log(path)
    steps, rng = chunk_steps_for(num_envs), np.random.default_rng(0)
    start_hour = np.zeros(num_envs, dtype=np.int64)
    window, cursor = rng.integers(0, log.num_rows, num_envs), np.zeros(num_envs, dtype=np.int64)
    replay_chunk(rng, config, log, num_envs, steps, 0, start_hour, window, cursor)  # compile outside the clock
    generated, replayed = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        generate_chunk(rng, config, num_envs, steps, 0, start_hour)
        generated.append(time.perf_counter() - start)
        start = time.perf_counter()
        replay_chunk(rng, config, log, num_envs, steps, 0, start_hour, window, cursor)
        replayed.append(time.perf_counter() - start)
    print(f"{path}: {steps}-step chunk at N={num_envs}: generator {min(generated) * 1e3:.1f} ms, "
          f"replay {min(replayed) * 1e3:.1f} ms")


if __name__ == "__main__":
    main(sys.argv[1])
