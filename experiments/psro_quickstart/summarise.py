"""A report of one PSRO run from its ``psro.json`` and mixtures: ``python summarise.py RUN_DIR OUT_DIR``.

Writes ``OUT_DIR/report.md`` (every epoch's meta-strategies, best-response gains and NashConv bound, the
payoff matrix, the final mixtures) and copies ``psro.json``, ``config.yaml`` and ``mixtures/`` next to it.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from agents.reporting import markdown_table


def main(run_dir: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    document = json.loads((run_dir / "psro.json").read_text())
    shutil.copy(run_dir / "psro.json", out / "psro.json")
    shutil.copy(run_dir / "config.yaml", out / "config.yaml")
    shutil.copytree(run_dir / "mixtures", out / "mixtures", dirs_exist_ok=True)
    lines = [
        "# PSRO on the quickstart game",
        "",
        f"Meta-solver `{document['meta_solver']}`; {len(document['epochs'])} epochs; payoff pairings of "
        f"{document['payoff_episodes']} episodes (seed {document['eval_seed']}); wall {document['wall_s']:.0f} s "
        "on a shared 2-core machine. Unit: reward units per episode (1.0 = $100 at reward_scale 0.01).",
        "",
        "| epoch | trained against (router meta) | (fraudster meta) | router BR gain | fraudster BR gain | "
        "NashConv bound | env steps | wall s |",
        "|---:|---|---|---:|---:|---:|---:|---:|",
    ]
    for epoch in document["epochs"]:
        def support(meta):
            return ", ".join(f"{name} {weight:.2f}" for name, weight in meta.items() if weight >= 0.01)

        lines.append(f"| {epoch['epoch']} | {support(epoch['router_meta'])} | {support(epoch['fraudster_meta'])} | "
                     f"{epoch['router_best_response_gain']:+.3f} | {epoch['fraudster_best_response_gain']:+.3f} | "
                     f"{max(0.0, epoch['router_best_response_gain']) + max(0.0, epoch['fraudster_best_response_gain']):.3f} | {epoch['env_steps']:,} | {epoch['wall_s']:.0f} |")
    lines += ["", "Router BR gain: the new router's return against the fraudster meta-strategy minus the meta-game "
              "value; fraudster BR gain likewise. Their sum bounds the NashConv of the epoch's meta-strategies "
              "from below once each is clipped at 0 (each side's gap is >= 0: the meta-strategy is itself a candidate); "
              "a negative gain means that epoch's PPO best response (fixed budget) played worse than the "
              "meta-strategy it was trained against.", "",
              "## Payoff matrix (mean router return)", "",
              markdown_table(document["routers"], document["fraudsters"],
                             [[f"{v:+.2f}" for v in row] for row in document["payoff"]])]  # fmt: skip
    last = len(document["epochs"])
    lines += ["", f"## Final mixtures (epoch {last})", ""]
    for role in ("router", "fraudster"):
        mixture = json.loads((run_dir / "mixtures" / f"{role}_{document['meta_solver']}@{last}.json").read_text())
        members = ", ".join(f"`{m}` {w:.3f}" for m, w in zip(mixture["members"], mixture["weights"]))
        lines.append(f"- `{mixture['name']}` (value {mixture['value']:+.3f}): {members}")
    (out / "report.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
