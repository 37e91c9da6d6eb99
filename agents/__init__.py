"""Policies that play smartpay-marl: the Policy interface, scripted baselines, evaluation and reports.

- :mod:`agents.base`: :class:`Policy` (``act(obs (N, d)) -> actions (N, k)``),
  :class:`RandomPolicy`.
- :mod:`agents.learned`: :class:`~agents.learned.ModulePolicy`, a trained RLlib module as a Policy.
- :mod:`agents.routers`, :mod:`agents.fraudsters`: scripted, batched numpy players.
- :mod:`agents.registry`: ``ROUTERS`` / ``FRAUDSTERS`` name -> factory, :func:`make_policy`.
- :mod:`agents.evaluation`: :func:`evaluate` one pairing, :func:`round_robin` all pairings.
- :mod:`agents.reporting`, :mod:`agents.baselines`: the one renderer (tables, heatmap, strict JSON), the ``baselines`` command.
- :mod:`agents.meta_game`: the zero-sum meta-game (Nash, NashConv, PRD, the meta-solver registry),
  used by the round robin and by the league; :mod:`agents.cycles`: how cyclic a payoff matrix is.
- :mod:`agents.displacement`: the scripted guards and segment rings of the displacement game.
"""

from agents.base import Policy, RandomPolicy
from agents.evaluation import PairingStats, RoundRobinResult, evaluate, round_robin
from agents.registry import FRAUDSTERS, ROUTERS, make_policy

__all__ = [
    "Policy", "RandomPolicy", "PairingStats", "RoundRobinResult", "evaluate", "round_robin",
    "FRAUDSTERS", "ROUTERS", "make_policy",
]  # fmt: skip
