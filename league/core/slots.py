"""Which snapshots to load into the bounded opponent slots, so that the games played follow the configured mix.

The league keeps ``slots_per_side`` live modules per side for frozen snapshots
(``league.core.state``); the matchmaker's mix for a learner may spread over
more snapshots than that. Loading the likeliest snapshots and renormalising over
them would play a different mix from the configured one (the mains met in 53% of
games against a configured 35% before this module). Instead, every iteration:

1. each learner that can meet snapshots of a side gets its own share of that
   side's slots (at least one; the slots left over go to the learners with the
   largest snapshot mass);
2. each of its slots is filled by an independent draw from the learner's mix
   restricted to snapshots (draws of the same snapshot share one slot module);
3. in this iteration the learner plays each of its slot draws with probability
   ``M / k``, where ``M`` is its configured probability of meeting any snapshot and
   ``k`` its number of draws; its other opponents (mains, scripted players) keep
   their configured probabilities.

For every learner and snapshot ``j``, the expected probability of playing ``j``
in an iteration is ``M * E[count of j] / k = M * p(j) / M = p(j)``: over iterations
the games played follow the configured mix exactly, and every iteration's mix is
a proper distribution. ``tests/league/core/test_slots.py`` checks the played
frequencies with a chi-square test.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from league.core.players import Player, PlayerKind, Role


@dataclass
class SlotDraw:
    """One iteration's slot contents and the mixes the learners play with them.

    Attributes:
        wanted: snapshots to have loaded, per role (each at most ``capacity``).
        mixes: learner name -> {opponent player name: probability this iteration}.
    """

    wanted: dict[Role, list[str]]
    mixes: dict[str, dict[str, float]]


def draw_slots(
    learners: Sequence[Player],
    targets: Mapping[str, Mapping[str, float]],
    players: Mapping[str, Player],
    capacity: int,
    rng: np.random.Generator,
) -> SlotDraw:
    """Draw the slot contents for one iteration; see the module docstring.

    Args:
        learners: the learning players trained this iteration.
        targets: learner name -> its configured opponent mix {player name: probability}.
        players: every player of the league by name (to tell snapshots and roles apart).
        capacity: slots per side.
        rng: the iteration's generator.
    """
    snapshot_mass = {learner.name: _snapshot_part(targets[learner.name], players) for learner in learners}
    wanted: dict[Role, list[str]] = {}
    mixes = {learner.name: {n: p for n, p in targets[learner.name].items() if not _is_snapshot(n, players)} for learner in learners}
    for role in Role:  # the role of the snapshots
        needing = [learner for learner in learners if learner.role is role.opponent and snapshot_mass[learner.name]]
        if not needing:
            wanted[role] = []
            continue
        if len(needing) > capacity:
            raise ValueError(
                f"{len(needing)} learners meet {role.value} snapshots but there are {capacity} {role.value} slots; "
                "slots_per_side must be at least the number of learners per side"
            )
        counts = _share_slots(capacity, [sum(snapshot_mass[learner.name].values()) for learner in needing])
        chosen: set[str] = set()
        for learner, count in zip(needing, counts):
            part = snapshot_mass[learner.name]
            names = sorted(part)
            weights = np.array([part[name] for name in names])
            mass = float(weights.sum())
            draws = rng.choice(len(names), size=count, replace=True, p=weights / mass)
            mix = mixes[learner.name]
            for index in draws.tolist():
                mix[names[index]] = mix.get(names[index], 0.0) + mass / count
                chosen.add(names[index])
        wanted[role] = sorted(chosen)
    return SlotDraw(wanted=wanted, mixes=mixes)


def _is_snapshot(name: str, players: Mapping[str, Player]) -> bool:
    player = players.get(name)
    return player is not None and player.kind is PlayerKind.HISTORICAL


def _snapshot_part(target: Mapping[str, float], players: Mapping[str, Player]) -> dict[str, float]:
    return {name: p for name, p in target.items() if p > 0 and _is_snapshot(name, players)}


def _share_slots(capacity: int, masses: Sequence[float]) -> list[int]:
    """Slots per learner: an equal share, the remainder to the largest snapshot masses (ties: roster order)."""
    base, extra = divmod(capacity, len(masses))
    order = sorted(range(len(masses)), key=lambda i: (-masses[i], i))
    counts = [base] * len(masses)
    for i in order[:extra]:
        counts[i] += 1
    return counts
