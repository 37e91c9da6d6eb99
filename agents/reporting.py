"""Render a round robin for people: markdown tables and an annotated heatmap PNG.

The matrix holds mean router returns (rows routers, columns fraudsters). In a
zero-sum game the best router against a fraudster is the column's maximum and
the best attack on a router is the row's minimum; the heatmap marks both.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from agents.evaluation import Estimate, RoundRobinResult


def _percent(estimate: Estimate) -> str:
    return "n/a" if not np.isfinite(estimate.mean) else f"{100 * estimate.mean:.1f}%"


def markdown_matrix(result: RoundRobinResult, digits: int = 1) -> str:
    """Mean router return per pairing; the best router of each column in bold, each row's best attack marked ``v``."""
    matrix = result.matrix
    best_router = matrix.argmax(axis=0)
    best_attack = matrix.argmin(axis=1)
    header = "| router \\ fraudster | " + " | ".join(result.fraudster_names) + " |"
    lines = [header, "|---|" + "---:|" * len(result.fraudster_names)]
    for i, router in enumerate(result.router_names):
        cells = []
        for j in range(len(result.fraudster_names)):
            cell = f"{matrix[i, j]:.{digits}f}"
            if best_router[j] == i:
                cell = f"**{cell}**"
            if best_attack[i] == j:
                cell += " v"
            cells.append(cell)
        lines.append(f"| {router} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown_router_summary(result: RoundRobinResult, fraudster: str = "neutral") -> str:
    """Per router against one fraudster: approval rates, chargeback ratio, fraud loss, review and 3DS rates, cost."""
    lines = [
        f"| router (vs {fraudster}) | legit approval | approval | chargeback ratio | fraud loss (bps) "
        "| review rate | 3DS rate | cost / tx ($) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for router in result.router_names:
        s = result.stats(router, fraudster)
        ratio = s.chargeback_ratio.mean
        loss = s.fraud_loss_bps.mean
        lines.append(
            f"| {router} | {_percent(s.legit_approval_rate)} | {_percent(s.approval_rate)} "
            f"| {'n/a' if not np.isfinite(ratio) else f'{100 * ratio:.2f}%'} "
            f"| {'n/a' if not np.isfinite(loss) else f'{loss:.0f}'} "
            f"| {_percent(s.review_rate)} | {_percent(s.threeds_rate)} | {s.cost_per_transaction.mean:.2f} |"
        )
    return "\n".join(lines)


def save_heatmap(result: RoundRobinResult, path: str | Path, title: str | None = None) -> Path:
    """Write the matrix as an annotated heatmap PNG.

    A black frame marks each column's best router (highest return); a white
    dot marks each row's best fraudster (lowest router return).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    matrix = result.matrix
    rows, columns = matrix.shape
    figure, axes = plt.subplots(figsize=(1.1 * columns + 3.0, 0.5 * rows + 2.0))
    limit = float(np.nanmax(np.abs(matrix))) or 1.0
    image = axes.imshow(matrix, cmap="RdYlGn", vmin=-limit, vmax=limit, aspect="auto")
    axes.set_xticks(range(columns), result.fraudster_names, rotation=35, ha="right")
    axes.set_yticks(range(rows), result.router_names)
    axes.set_xlabel("fraudster")
    axes.set_ylabel("router")
    for i in range(rows):
        for j in range(columns):
            axes.text(j, i, f"{matrix[i, j]:.1f}", ha="center", va="center", fontsize=8)
    for j, i in enumerate(matrix.argmax(axis=0)):
        axes.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="black", linewidth=2.5))
    for i, j in enumerate(matrix.argmin(axis=1)):
        axes.plot(j + 0.36, i - 0.28, marker="o", markersize=5, color="white", markeredgecolor="black")
    figure.colorbar(image, ax=axes, label="mean router return")
    axes.set_title(
        title
        or f"Mean router return ({result.episodes} episodes per pairing, seed {result.seed})\n"
        "frame: best router per fraudster; dot: best fraudster per router",
        fontsize=9,
    )
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
