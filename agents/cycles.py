"""How cyclic a router-versus-fraudster payoff matrix is: meta-game Nash, best responses, non-transitivity.

A league only pays for itself in a game with strategy cycles (Balduzzi et al.,
ICML 2019; Czarnecki et al., NeurIPS 2020). :func:`meta_game_summary` turns a
payoff matrix ``A`` (routers x fraudsters, the router's mean return; the
fraudster gets ``-A``) into plain data:

- the zero-sum **Nash** of the meta-game (solved by
  :func:`agents.meta_game.solve_zero_sum`): support and weights per
  side, and the value;
- **best responses**: for each router, how many fraudsters it is the best
  router against (and the same for fraudsters);
- **the cyclic share** (:func:`cyclic_share`): the Hodge decomposition of
  the matrix as a flow on the complete bipartite graph of routers and
  fraudsters. Its gradient (transitive) part is the additive fit
  ``a_i - b_j`` (a strength per player); the complete bipartite graph has no
  triangles, so all of the rest is harmonic, i.e. cyclic. The share is the
  cyclic part's squared norm over the matrix's squared norm around its mean:
  0 for a game where a strength per player explains every payoff, 1 for
  matching pennies;
- **3-cycles** (:func:`three_cycles`) of the symmetrised game, in which each
  player is a (router, fraudster) pair playing both roles against another
  pair, ``M[(r, f), (r', f')] = A[r, f'] - A[r', f]`` (Balduzzi 2019's
  construction); the count is that of the tournament of signs of ``M``
  (Czarnecki 2020 use the same count, from the diagonal of a cubed sign
  matrix), with its share of all triangles;
- **the best-response cycle** (:func:`best_response_cycle`): the loop that
  alternating pure best responses fall into from the strongest router. A
  pure saddle point is a loop of one router and one fraudster; a longer loop
  is a strategy cycle (guard geo -> attack velocity -> guard velocity -> ...).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from agents.meta_game import solve_zero_sum
from smartpay_marl.layout import ROLES

#: Weights at or below this are outside a Nash support.
SUPPORT_TOLERANCE = 1e-4


def cyclic_share(A: np.ndarray) -> float:
    """Share of the payoff matrix's variation that is cyclic (harmonic in the bipartite Hodge decomposition)."""
    matrix = np.asarray(A, dtype=np.float64)
    centred = matrix - matrix.mean()
    residual = centred - centred.mean(axis=1, keepdims=True) - centred.mean(axis=0, keepdims=True)
    total = float(np.sum(centred**2))
    return float(np.sum(residual**2) / total) if total > 0 else 0.0


def symmetrised_game(A: np.ndarray) -> np.ndarray:
    """The antisymmetric game of (router, fraudster) pairs: ``M[(r, f), (r', f')] = A[r, f'] - A[r', f]``."""
    matrix = np.asarray(A, dtype=np.float64)
    rows, cols = matrix.shape
    r, f = np.divmod(np.arange(rows * cols), cols)
    return matrix[r[:, None], f[None, :]] - matrix[r[None, :], f[:, None]]


def three_cycles(A: np.ndarray, tolerance: float = 1e-9) -> dict[str, float]:
    """Cyclic triangles of the sign tournament of :func:`symmetrised_game`, and their share of all triangles.

    Ties (``|M| <= tolerance``) count as neither win nor loss; the count is then
    that of the tournament's cyclic triangles among strict wins, computed as
    ``trace(W^3) / 3`` from the win matrix ``W``.
    """
    game = symmetrised_game(A)
    wins = (game > tolerance).astype(np.float64)
    n = wins.shape[0]
    cyclic = float(np.trace(wins @ wins @ wins) / 3.0)
    triangles = n * (n - 1) * (n - 2) / 6.0
    return {"players": n, "three_cycles": cyclic, "share_of_triangles": cyclic / triangles if triangles else 0.0}


def best_response_counts(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """How many fraudsters each router is the best response to, and how many routers each fraudster is.

    Ties share the credit (each tied best response counts 1 / number tied).
    """
    matrix = np.asarray(A, dtype=np.float64)
    router_best = np.isclose(matrix, matrix.max(axis=0, keepdims=True), rtol=0.0, atol=1e-12)
    fraudster_best = np.isclose(matrix, matrix.min(axis=1, keepdims=True), rtol=0.0, atol=1e-12)
    routers = (router_best / router_best.sum(axis=0, keepdims=True)).sum(axis=1)
    fraudsters = (fraudster_best / fraudster_best.sum(axis=1, keepdims=True)).sum(axis=0)
    return routers, fraudsters


def best_response_cycle(A: np.ndarray, start: int | None = None) -> list[tuple[int, int]]:
    """The loop of alternating pure best responses: ``[(router, fraudster), ...]`` until a pair repeats.

    Starts from router ``start`` (default: the router with the best worst case).
    """
    matrix = np.asarray(A, dtype=np.float64)
    router = int(np.argmax(matrix.min(axis=1))) if start is None else int(start)
    seen: dict[tuple[int, int], int] = {}
    path: list[tuple[int, int]] = []
    while True:
        fraudster = int(np.argmin(matrix[router]))
        pair = (router, fraudster)
        if pair in seen:
            return path[seen[pair] :]
        seen[pair] = len(path)
        path.append(pair)
        router = int(np.argmax(matrix[:, fraudster]))


def meta_game_summary(A: np.ndarray, router_names: Sequence[str], fraudster_names: Sequence[str]) -> dict[str, Any]:
    """Nash, best-response counts and cycle measures of a payoff matrix, as plain data (JSON-ready)."""

    matrix = np.asarray(A, dtype=np.float64)
    nash = solve_zero_sum(matrix)
    router_br, fraudster_br = best_response_counts(matrix)
    cycle = best_response_cycle(matrix)

    def support(names, weights):
        order = np.argsort(-weights)
        return {names[k]: round(float(weights[k]), 4) for k in order if weights[k] > SUPPORT_TOLERANCE}

    return {
        "nash": {
            "value": float(nash.value),
            "router_support": support(router_names, nash.row_strategy),
            "fraudster_support": support(fraudster_names, nash.col_strategy),
        },
        "router_best_response_counts": {name: float(c) for name, c in zip(router_names, router_br)},
        "fraudster_best_response_counts": {name: float(c) for name, c in zip(fraudster_names, fraudster_br)},
        "cyclic_share": cyclic_share(matrix),
        "three_cycles": three_cycles(matrix),
        "best_response_cycle": [[router_names[r], fraudster_names[f]] for r, f in cycle],
    }


def markdown_meta_game(summary: dict[str, Any]) -> str:
    """The summary of :func:`meta_game_summary` as short markdown, for the ``baselines`` output."""
    nash = summary["nash"]
    lines = [f"Meta-game Nash (zero-sum), value {nash['value']:+.2f}:"]
    for side in ROLES:
        weights = ", ".join(f"{name} {w:.3f}" for name, w in nash[f"{side}_support"].items())
        lines.append(f"- {side} support ({len(nash[f'{side}_support'])}): {weights}")
    counts = summary["router_best_response_counts"]
    total = sum(counts.values())
    best = ", ".join(f"{name} {c:g}/{total:g}" for name, c in sorted(counts.items(), key=lambda kv: -kv[1]) if c > 0)
    lines.append(f"- best router per fraudster: {best}")
    cycles = summary["three_cycles"]
    lines.append(
        f"- non-transitivity: cyclic share {summary['cyclic_share']:.3f} (bipartite Hodge); "
        f"{cycles['three_cycles']:,.0f} 3-cycles of {cycles['players']} symmetrised players "
        f"({100 * cycles['share_of_triangles']:.2f}% of triangles)"
    )
    loop = " -> ".join(f"{r} / {f}" for r, f in summary["best_response_cycle"])
    lines.append(f"- best-response loop ({len(summary['best_response_cycle'])} pairs): {loop}")
    return "\n".join(lines)
