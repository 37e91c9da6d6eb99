"""A run's meta-Nash mixture over its players, as one player: ``router_nash@<iteration>``.

The league's output is not one network but the equilibrium mixture of its
meta-game: the router (or fraudster) that plays member ``k`` of the
population with probability ``w_k``, drawn once per episode. This module
gives that mixture

- a name, ``<role>_<solver>@<iteration>`` (``router_nash@12``): the role,
  the meta-solver that produced the weights (see
  :data:`agents.meta_game.META_SOLVERS`) and the league iteration whose
  population it mixes; a suffix ``-<population>`` names a mixture over part
  of that population (``router_nash@12-learned``: its learned players only,
  as the regime study measures them, see :data:`POPULATIONS`);
- a file, ``RUN_DIR/mixtures/<name>.json``: the member names and weights,
  the solver and where the payoff matrix came from (``smartpay-marl
  evaluate`` and the PSRO driver write these);
- a policy, :class:`MixturePolicy`, a :class:`~agents.base.Policy` that draws
  one member per episode at :meth:`~MixturePolicy.reset` and lets that member
  play the episode. :func:`league.evaluation.loading.load_player` returns one
  for a mixture's name, so ``evaluate``, ``exploit`` and anything else that
  loads players by name accept mixtures.

Weights below :data:`MIN_WEIGHT` are dropped and the rest renormalised, so a
mixture names only the members it actually plays.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from agents.base import Policy

MIXTURES_DIR = "mixtures"
#: Members with less probability than this are left out of a mixture (solver round-off, PRD's floor).
MIN_WEIGHT = 1e-4
_NAME = re.compile(r"^(router|fraudster)_([a-z]+)@(\d+)(?:-([a-z]+))?$")
#: Parts of a population a mixture may be restricted to, by the suffix of its name.
POPULATIONS = {"learned": "the run's learned players only (learners and snapshots; no scripted players)"}


def mixture_name(role: str, solver: str, iteration: int, population: str | None = None) -> str:
    """``router_nash@12``: the mixture of ``role`` by ``solver`` over the population of iteration ``iteration``.

    ``population`` (a key of :data:`POPULATIONS`) adds a suffix for a mixture over part of that population.
    """
    if population is not None and population not in POPULATIONS:
        raise ValueError(f"population must be one of {sorted(POPULATIONS)}, got {population!r}")
    return f"{role}_{solver}@{int(iteration)}" + (f"-{population}" if population else "")


def parse_mixture_name(name: str) -> tuple[str, str, int] | None:
    """``(role, solver, iteration)`` of a mixture name, or None if ``name`` is not one."""
    found = _NAME.match(name)
    if found is None:
        return None
    role, solver, iteration, population = found.groups()
    from agents.meta_game import META_SOLVERS

    if solver not in META_SOLVERS or (population is not None and population not in POPULATIONS):
        return None
    return role, solver, int(iteration)


@dataclass
class Mixture:
    """A probability distribution over players of one role, as written in ``mixtures/<name>.json``."""

    name: str
    role: str
    solver: str
    iteration: int
    members: list[str]
    weights: list[float]
    source: str = ""  # where the payoff matrix came from (an evaluation, a PSRO epoch)
    value: float | None = None  # the meta-game's value for the router, when the solver computes one
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if len(self.members) != len(self.weights) or not self.members:
            raise ValueError(f"mixture {self.name!r}: {len(self.members)} members but {len(self.weights)} weights")
        weights = np.asarray(self.weights, dtype=float)
        if not np.all(np.isfinite(weights)) or np.any(weights < 0) or abs(weights.sum() - 1.0) > 1e-6:
            raise ValueError(f"mixture {self.name!r}: weights must be non-negative and sum to 1, got {self.weights}")


def make_mixture(role: str, solver: str, iteration: int, names: Sequence[str], weights: Sequence[float],
                 source: str = "", value: float | None = None, population: str | None = None) -> Mixture:  # fmt: skip
    """A :class:`Mixture` keeping the members with weight >= :data:`MIN_WEIGHT`, renormalised."""
    weights = np.asarray(weights, dtype=float)
    if weights.shape != (len(names),):
        raise ValueError(f"{len(names)} names but weights of shape {weights.shape}")
    keep = weights >= MIN_WEIGHT
    if not keep.any():
        keep = weights == weights.max()
    kept = weights[keep] / weights[keep].sum()
    members = [name for name, k in zip(names, keep) if k]
    return Mixture(mixture_name(role, solver, iteration, population), role, solver, int(iteration), members,
                   [float(w) for w in kept], source, value)  # fmt: skip


def mixture_path(run_dir: str | Path, name: str) -> Path:
    return Path(run_dir) / MIXTURES_DIR / f"{name}.json"


def write_mixture(run_dir: str | Path, mixture: Mixture) -> Path:
    """Write ``RUN_DIR/mixtures/<name>.json`` atomically; returns the path."""
    from league.core.rundir import atomic_write_text

    path = mixture_path(run_dir, mixture.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(asdict(mixture), indent=2))
    return path


def read_mixture(path: str | Path) -> Mixture:
    """A mixture file; ValueError naming the file if it is missing or malformed."""
    path = Path(path)
    try:
        document = json.loads(path.read_text())
        return Mixture(**document)
    except FileNotFoundError:
        raise ValueError(f"no mixture file {path}; run smartpay-marl evaluate on the run to write it") from None
    except (json.JSONDecodeError, TypeError, ValueError) as error:
        raise ValueError(f"mixture file {path} is malformed: {error}") from None


def known_mixtures(run_dir: str | Path) -> list[str]:
    """Names of the mixtures written into a run directory."""
    directory = Path(run_dir) / MIXTURES_DIR
    return sorted(p.stem for p in directory.glob("*.json")) if directory.is_dir() else []


class MixturePolicy(Policy):
    """Plays one member of a mixture per episode, drawn at :meth:`reset` with the mixture's weights.

    ``reset(num_envs, seed)`` starts ``num_envs`` episodes: it draws a member
    for each from a generator seeded by ``seed`` (the same seed gives the same
    draws), then resets every member that plays with the number of episodes it
    plays, so stateful members keep one state per episode of theirs.
    :meth:`act` hands each member the rows of its episodes. ``assignment``
    holds the current draw (the member index of every episode).

    Args:
        members: the players, all of one role with the same action sizes.
        weights: their probabilities (non-negative, summing to 1).
        name: the mixture's name (``router_nash@12``).
        seed: seed of the draws until :meth:`reset` is given another.
    """

    def __init__(self, members: Sequence[Policy], weights: Sequence[float], name: str, seed: int = 0):
        if not members:
            raise ValueError(f"mixture {name!r} has no members")
        roles = {m.role for m in members}
        sizes = {tuple(m.action_nvec) for m in members}
        if len(roles) != 1 or len(sizes) != 1:
            raise ValueError(f"mixture {name!r} mixes roles {sorted(roles)} or action sizes {sorted(sizes)}")
        weights = np.asarray(weights, dtype=float)
        if weights.shape != (len(members),) or np.any(weights < 0) or abs(weights.sum() - 1.0) > 1e-6:
            raise ValueError(f"mixture {name!r}: weights must be {len(members)} non-negative numbers summing to 1")
        self.members = list(members)
        self.weights = weights / weights.sum()
        self.name = name
        self.role = roles.pop()
        self.action_nvec = sizes.pop()
        self._rng = np.random.default_rng(seed)
        self.assignment = np.zeros(0, dtype=np.int64)

    def reset(self, num_envs: int, seed: int | None = None) -> None:
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self.assignment = self._rng.choice(len(self.members), size=num_envs, p=self.weights)
        for index, member in enumerate(self.members):
            count = int(np.count_nonzero(self.assignment == index))
            if count:
                member.reset(count, seed=None if seed is None else seed + 7919 * (index + 1))

    def member_for_episode(self, seed: int) -> Policy:
        """The member that plays one episode seeded ``seed`` (for one-episode sessions, e.g. the server's)."""
        index = int(np.random.default_rng(seed).choice(len(self.members), p=self.weights))
        return self.members[index]

    def act(self, observations: np.ndarray) -> np.ndarray:
        if observations.shape[0] != self.assignment.size:
            raise RuntimeError(f"{self.name}: act on {observations.shape[0]} envs after reset for {self.assignment.size}")
        actions = np.zeros((observations.shape[0], len(self.action_nvec)), dtype=np.int64)
        for index, member in enumerate(self.members):
            rows = np.flatnonzero(self.assignment == index)
            if rows.size:
                actions[rows] = member.act(observations[rows])
        return actions
