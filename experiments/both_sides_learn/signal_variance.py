"""Per-episode standard deviation of the fraudster's return under the zero-sum and the counterfactual signal.

Scripted routers against scripted fraudsters, every pairing on the same 256
seeded episodes (medium difficulty, 200 steps). Run::

    python experiments/both_sides_learn/signal_variance.py > experiments/both_sides_learn/signal_variance.txt
"""

from agents.registry import FRAUDSTER_PANEL, RULE_ROUTERS, make_policy
from agents.reporting import markdown_table
from league.evaluation.counterfactual import signal_matrices
from smartpay_marl.config import make_game_config

ROUTERS = ["allow_all", *RULE_ROUTERS]
FRAUDSTERS = list(FRAUDSTER_PANEL)

if __name__ == "__main__":
    routers = [make_policy(name, "router") for name in ROUTERS]
    fraudsters = [make_policy(name, "fraudster") for name in FRAUDSTERS]
    zero_sum, counterfactual, zero_sum_std, counterfactual_std = signal_matrices(
        routers, fraudsters, episodes=256, seed=0, config=make_game_config(difficulty="medium")
    )
    print("per-episode std of the fraudster's return: zero-sum / counterfactual (256 episodes, seed 0)\n")
    cells = [[f"{zero_sum_std[i, j]:.2f} / {counterfactual_std[i, j]:.2f}" for j in range(len(FRAUDSTERS))]
             for i in range(len(ROUTERS))]  # fmt: skip
    print(markdown_table(ROUTERS, FRAUDSTERS, cells, corner="router"))
    attacks = [j for j, name in enumerate(FRAUDSTERS) if name != "neutral"]
    ratio = counterfactual_std[:, attacks].mean() / zero_sum_std[:, attacks].mean()
    print(f"\nmean over the attacking fraudsters: zero-sum {zero_sum_std[:, attacks].mean():.2f}, "
          f"counterfactual {counterfactual_std[:, attacks].mean():.2f} (ratio {ratio:.2f})")
