"""The project's one renderer of payoff matrices: markdown tables, annotated heatmap PNGs and strict JSON.

The ``baselines`` round robin, ``smartpay-marl evaluate``'s cross-play, the
exploit and PSRO records and the experiments all render through here:
:func:`markdown_table` and :func:`plot_payoff_heatmap` take a matrix and its
names, :func:`json_safe` (from :mod:`agents.strict_json`, which the result
types use too) cleans any record for strict JSON, and :func:`pyplot` is the
one matplotlib set-up (the Agg backend: no display needed).

A matrix holds mean router returns (rows routers, columns fraudsters). In a
zero-sum game the best router against a fraudster is the column's maximum and
the best attack on a router is the row's minimum; :func:`save_heatmap` marks both.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from agents.evaluation import Estimate, RoundRobinResult
from agents.strict_json import json_safe

__all__ = [
    "PAYOFF_CORNER", "annotate_cells", "diverging_norm", "json_safe", "markdown_matrix", "markdown_router_summary",
    "markdown_table", "plot_payoff_heatmap", "pyplot", "save_figure", "save_heatmap",
]  # fmt: skip

#: The corner cell of a payoff matrix's markdown table.
PAYOFF_CORNER = "router \\ fraudster"


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend, so figures are written without a display."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(figure, path: str | Path, dpi: int = 110) -> Path:
    """Write ``figure`` to ``path`` as a PNG and free it (pyplot keeps every open figure until it is closed)."""
    path = Path(path)
    figure.savefig(path, dpi=dpi)
    pyplot().close(figure)
    return path


def markdown_table(row_names: Sequence[str], column_names: Sequence[str], cells: Sequence[Sequence[str]],
                   corner: str = PAYOFF_CORNER) -> str:  # fmt: skip
    """A markdown matrix: one row per name with its cells, numbers right-aligned under the column names."""
    lines = [f"| {corner} | " + " | ".join(column_names) + " |", "|---|" + "---:|" * len(column_names)]
    lines += [f"| {name} | " + " | ".join(row) + " |" for name, row in zip(row_names, cells)]
    return "\n".join(lines)


def _percent(estimate: Estimate) -> str:
    return "n/a" if not np.isfinite(estimate.mean) else f"{100 * estimate.mean:.1f}%"


def markdown_matrix(result: RoundRobinResult, digits: int = 1) -> str:
    """Mean router return per pairing; the best router of each column in bold, each row's best attack marked ``v``."""
    matrix = result.matrix
    best_router = matrix.argmax(axis=0)
    best_attack = matrix.argmin(axis=1)
    cells = []
    for i in range(len(result.router_names)):
        row = []
        for j in range(len(result.fraudster_names)):
            cell = f"{matrix[i, j]:.{digits}f}"
            if best_router[j] == i:
                cell = f"**{cell}**"
            if best_attack[i] == j:
                cell += " v"
            row.append(cell)
        cells.append(row)
    return markdown_table(result.router_names, result.fraudster_names, cells)


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


def diverging_norm(matrix: np.ndarray, centre: float, width: float = 3.0):
    """A colour norm diverging at ``centre`` whose ends fit the bulk of the data, not its outliers.

    The ends lie ``width`` robust standard deviations (1.4826 x the median
    absolute deviation) beyond the median and the centre, clipped to the data's
    range, so one extreme pairing (a block-all router, say) does not wash out
    every other cell; cells beyond an end take the end colour.
    """
    from matplotlib.colors import TwoSlopeNorm

    values = np.asarray(matrix, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return TwoSlopeNorm(vcenter=centre, vmin=centre - 1.0, vmax=centre + 1.0)
    median = float(np.median(values))
    sigma = 1.4826 * float(np.median(np.abs(values - median))) or float(np.std(values)) or 1.0
    low = max(float(values.min()), min(median, centre) - width * sigma)
    high = min(float(values.max()), max(median, centre) + width * sigma)
    # Keep the centre strictly inside (TwoSlopeNorm needs vmin < vcenter < vmax).
    margin = 0.05 * max(high - low, sigma)
    return TwoSlopeNorm(vcenter=centre, vmin=min(low, centre - margin), vmax=max(high, centre + margin))


def annotate_cells(axes, image, matrix: np.ndarray, digits: int = 1, fontsize: float = 8.0) -> None:
    """Write every cell's value on a heatmap, in black or white for contrast with the cell's colour."""
    matrix = np.asarray(matrix, dtype=float)
    rows, columns = matrix.shape
    for i in range(rows):
        for j in range(columns):
            value = matrix[i, j]
            if not np.isfinite(value):
                continue
            red, green, blue, _ = image.cmap(image.norm(value))
            dark = 0.299 * red + 0.587 * green + 0.114 * blue < 0.5
            axes.text(j, i, f"{value:.{digits}f}", ha="center", va="center", fontsize=fontsize,
                      color="white" if dark else "black")  # fmt: skip


def plot_payoff_heatmap(
    matrix: np.ndarray,
    router_names: Sequence[str],
    fraudster_names: Sequence[str],
    path: str | Path,
    *,
    centre: float,
    colorbar_label: str,
    title: str,
    axis_labels: tuple[str, str] = ("fraudster", "router"),
    mark_best: bool = False,
    digits: int = 1,
    label_size: float | None = None,
    figsize: tuple[float, float] | None = None,
    dpi: int = 120,
) -> Path:
    """Write a payoff matrix as a heatmap PNG with every cell's value written on it.

    Colours diverge at ``centre`` (green: better for the router) and span the
    bulk of the values (:func:`diverging_norm`). With ``mark_best`` a black
    frame marks each column's best router (highest return) and a white dot each
    row's best fraudster (lowest router return).
    """
    from matplotlib.patches import Rectangle

    plt = pyplot()
    matrix = np.asarray(matrix, dtype=float)
    rows, columns = matrix.shape
    figure, axes = plt.subplots(figsize=figsize or (1.1 * columns + 3.0, 0.5 * rows + 2.0))
    image = axes.imshow(matrix, cmap="RdYlGn", norm=diverging_norm(matrix, centre), aspect="auto")
    ticks = {} if label_size is None else {"fontsize": label_size}
    axes.set_xticks(range(columns), fraudster_names, rotation=35 if label_size is None else 45, ha="right", **ticks)
    axes.set_yticks(range(rows), router_names, **ticks)
    axes.set_xlabel(axis_labels[0])
    axes.set_ylabel(axis_labels[1])
    annotate_cells(axes, image, matrix, digits=digits, **({} if label_size is None else {"fontsize": label_size}))
    if mark_best:
        for j, i in enumerate(matrix.argmax(axis=0)):
            axes.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="black", linewidth=2.5))
        for i, j in enumerate(matrix.argmin(axis=1)):
            axes.plot(j + 0.36, i - 0.28, marker="o", markersize=5, color="white", markeredgecolor="black")
    figure.colorbar(image, ax=axes, label=colorbar_label, extend="both")
    axes.set_title(title, fontsize=9)
    figure.tight_layout()
    return save_figure(figure, path, dpi=dpi)


def save_heatmap(result: RoundRobinResult, path: str | Path, title: str | None = None) -> Path:
    """Write a round robin as an annotated heatmap PNG, centred at its median pairing, best replies marked."""
    matrix = result.matrix
    centre = float(np.nanmedian(matrix)) if np.isfinite(matrix).any() else 0.0
    return plot_payoff_heatmap(
        matrix, result.router_names, result.fraudster_names, path,
        centre=centre,
        colorbar_label=f"mean router return (centre: median {centre:.1f})",
        title=title or f"Mean router return ({result.episodes} episodes per pairing, seed {result.seed})\n"
        "frame: best router per fraudster; dot: best fraudster per router",
        mark_best=True,
    )  # fmt: skip
