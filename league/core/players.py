"""Who takes part in the league: the two roles, the kinds of player, and player records.

A player is a named policy that can sit on one side of the game. Learning players
(main agents and exploiters) are trained; frozen players are either historical
snapshots of a learning player or scripted baselines that are fixed code.

Naming conventions (the names are the keys used everywhere else in the league):

- learning players: ``"<role>_main"``, ``"<role>_main_exploiter_<i>"``,
  ``"<role>_league_exploiter_<i>"``;
- snapshots: ``"<learner name>@it<iteration>"``, e.g. ``"router_main@it12"``;
- scripted baselines: ``"<role>_scripted:<policy>"``, e.g. ``"fraudster_scripted:neutral"``.
"""

from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Role is the game layout's one role type; the league's modules import it from here.
from smartpay_marl.layout import Role


class Regime(str, Enum):
    """How learners choose their opponents."""

    FIXED = "fixed"
    SELF_PLAY = "self_play"
    FICTITIOUS = "fictitious"
    PFSP = "pfsp"
    PSRO = "psro"  # trained by league.rllib.psro: best responses to the meta-strategy, epoch by epoch


class PlayerKind(str, Enum):
    """What a player is for, following AlphaStar's league."""

    MAIN = "main"
    MAIN_EXPLOITER = "main_exploiter"
    LEAGUE_EXPLOITER = "league_exploiter"
    HISTORICAL = "historical"
    SCRIPTED = "scripted"


LEARNING_KINDS: frozenset[PlayerKind] = frozenset(
    {PlayerKind.MAIN, PlayerKind.MAIN_EXPLOITER, PlayerKind.LEAGUE_EXPLOITER}
)

SCRIPTED_SEPARATOR = ":"


class Player(BaseModel):
    """One named policy in the league. Immutable; the league replaces, never edits, players."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    role: Role
    kind: PlayerKind
    parent: str | None = None
    """Name of the learning player a historical snapshot was taken from; None otherwise."""
    created_iteration: int = Field(default=0, ge=0)
    checkpoint_path: str | None = None
    """Where a snapshot's weights live on disk; None for players without saved weights."""

    @property
    def learning(self) -> bool:
        """True for players that are still being trained (main agents and exploiters)."""
        return self.kind in LEARNING_KINDS

    @property
    def frozen(self) -> bool:
        """True for players whose policy never changes (snapshots and scripted baselines)."""
        return not self.learning

    @model_validator(mode="after")
    def _check_consistency(self) -> Player:
        prefix = f"{self.role.value}_"
        if not self.name.startswith(prefix):
            raise ValueError(
                f"name {self.name!r} must start with {prefix!r} because role is {self.role.value!r}"
            )
        if any(ch.isspace() for ch in self.name):
            raise ValueError(f"name {self.name!r} must not contain whitespace")
        if self.kind is PlayerKind.HISTORICAL and self.parent is None:
            raise ValueError(
                f"parent must name the learning player that historical {self.name!r} was taken from"
            )
        if self.kind is not PlayerKind.HISTORICAL and self.parent is not None:
            raise ValueError(
                f"parent must be None for kind {self.kind.value!r} (got {self.parent!r}); only historical players have one"
            )
        return self


def learning_player_name(role: Role, kind: PlayerKind, index: int = 0) -> str:
    """The conventional name of a learning player; exploiters are numbered from 0."""
    if kind is PlayerKind.MAIN:
        return f"{role.value}_main"
    if kind in (PlayerKind.MAIN_EXPLOITER, PlayerKind.LEAGUE_EXPLOITER):
        if index < 0:
            raise ValueError(f"index must be >= 0, got {index}")
        return f"{role.value}_{kind.value}_{index}"
    raise ValueError(f"kind must be one of main, main_exploiter, league_exploiter; got {kind.value!r}")


def snapshot_name(learner_name: str, iteration: int) -> str:
    """The name of the snapshot of ``learner_name`` taken at ``iteration``."""
    if iteration < 0:
        raise ValueError(f"iteration must be >= 0, got {iteration}")
    return f"{learner_name}@it{iteration}"


def scripted_player_name(role: Role, policy: str) -> str:
    """The name of the scripted baseline ``policy`` playing ``role``."""
    if not policy or SCRIPTED_SEPARATOR in policy or any(ch.isspace() for ch in policy):
        raise ValueError(
            f"policy must be a non-empty name without whitespace or {SCRIPTED_SEPARATOR!r}, got {policy!r}"
        )
    return f"{role.value}_scripted{SCRIPTED_SEPARATOR}{policy}"


def parse_scripted_name(name: str) -> tuple[Role, str]:
    """Split ``"<role>_scripted:<policy>"`` into its role and policy name."""
    head, sep, policy = name.partition(SCRIPTED_SEPARATOR)
    for role in Role:
        if sep and head == f"{role.value}_scripted" and policy and not any(ch.isspace() for ch in policy):
            return role, policy
    raise ValueError(
        f"scripted player name {name!r} must look like 'router_scripted:<policy>' or 'fraudster_scripted:<policy>'"
    )


def make_scripted_player(name: str) -> Player:
    """Build the player record of a scripted baseline from its name."""
    role, _ = parse_scripted_name(name)
    return Player(name=name, role=role, kind=PlayerKind.SCRIPTED)


def make_learning_players(num_main_exploiters: int, num_league_exploiters: int) -> list[Player]:
    """The standard learning roster: for each role a main player, then its exploiters.

    Order is router players first, then fraudster players; within a role: main,
    main exploiters, league exploiters.
    """
    counts = {"num_main_exploiters": num_main_exploiters, "num_league_exploiters": num_league_exploiters}
    for field, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{field} must be an integer >= 0, got {value!r}")
    players: list[Player] = []
    for role in Role:
        players.append(Player(name=learning_player_name(role, PlayerKind.MAIN), role=role, kind=PlayerKind.MAIN))
        for kind, count in (
            (PlayerKind.MAIN_EXPLOITER, num_main_exploiters),
            (PlayerKind.LEAGUE_EXPLOITER, num_league_exploiters),
        ):
            for index in range(count):
                players.append(Player(name=learning_player_name(role, kind, index), role=role, kind=kind))
    return players
