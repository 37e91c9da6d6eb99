"""Does replaying an export of the generator play like the generator? Compare two baselines round robins.

Run (shared machine; about a minute):

    smartpay-marl export-log --rows 200000 --output /tmp/export.parquet --seed 0
    smartpay-marl baselines --episodes 200 --json experiments/transaction_logs/baselines_generator.json
    smartpay-marl baselines --episodes 200 --transaction-log /tmp/export.parquet \
        --json experiments/transaction_logs/baselines_log.json
    python experiments/transaction_logs/fidelity.py

Prints, for every scripted router against every scripted fraudster, the mean router return under
the generator and under the replayed export, and the largest gap measured in standard errors.
"""

import json
import math
from pathlib import Path

HERE = Path(__file__).parent


def main() -> None:
    generator = json.loads((HERE / "baselines_generator.json").read_text())
    replay = json.loads((HERE / "baselines_log.json").read_text())
    gaps = []
    print("| router | fraudster | generator | replayed log | gap / s.e. |")
    print("|---|---|---:|---:|---:|")
    for row_g, row_r in zip(generator["pairings"], replay["pairings"]):
        for g, r in zip(row_g, row_r):
            n = len(g["episode_router_returns"])
            var = lambda xs: sum((x - sum(xs) / n) ** 2 for x in xs) / (n - 1)  # noqa: E731
            se = math.sqrt(var(g["episode_router_returns"]) / n + var(r["episode_router_returns"]) / n)
            gap = (r["router_return"]["mean"] - g["router_return"]["mean"]) / se if se > 0 else 0.0
            gaps.append(abs(gap))
            if g["fraudster"] in ("neutral", "fraud_surge", "card_testing"):
                print(f"| {g['router']} | {g['fraudster']} | {g['router_return']['mean']:.2f} | {r['router_return']['mean']:.2f} | {gap:+.1f} |")
    within = sum(g <= 2 for g in gaps)
    print(f"\n{len(gaps)} pairings: largest gap {max(gaps):.1f} s.e.; {within} within 2 s.e. "
          f"(independent samples: the log fixes the customers, the seed picks windows)")


if __name__ == "__main__":
    main()
