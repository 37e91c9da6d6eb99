"""Memory and time of loading a large transaction log: resident memory before, after and at peak.

Run: python experiments/transaction_logs/log_memory.py LOG [MAPPING]
(make LOG with smartpay-marl export-log --rows 10000000 --output /tmp/big.parquet).
Prints one JSON line; peak is the process's maximum resident set (ru_maxrss), so run it in a fresh process.
"""

import json
import resource
import sys
import time


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    import numpy as np  # noqa: F401  (imported before the baseline reading, like the game itself)
    import pyarrow.parquet  # noqa: F401

    from smartpay_marl.transaction_log import load_transaction_log

    before = rss_mb()
    start = time.perf_counter()
    log = load_transaction_log(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)
    seconds = time.perf_counter() - start
    after = rss_mb()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({
        "log": sys.argv[1], "rows": log.num_rows, "arrays_mb": round(log.nbytes / 2**20, 1),
        "rss_before_mb": round(before, 1), "rss_after_mb": round(after, 1), "peak_rss_mb": round(peak, 1),
        "added_after_load_mb": round(after - before, 1), "added_at_peak_mb": round(peak - before, 1),
        "load_s": round(seconds, 2),
    }))


if __name__ == "__main__":
    main()
