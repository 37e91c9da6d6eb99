"""The league's persistent state: config, roster, payoff table, history and opponent slots.

``LeagueState`` is saved as one JSON file so that a training run can stop and resume.
Saving is atomic (temp file in the same directory, fsync, ``os.replace``), so a crash
never leaves a half-written state behind. Loading reports every problem as a
``LeagueFileError`` that names the file.

Opponent slots: the trainer keeps ``slots_per_side`` live policy slots per role into
which snapshot weights are loaded. ``assign_slot`` maps a snapshot to a slot: the slot
already holding it, else a free slot, else the least-recently-used slot of that role
(whose snapshot is evicted). Slot ids look like ``"router_slot_0"``.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from league.core.payoff import PayoffTable
from league.core.pfsp import PFSPWeighting
from league.core.players import (
    Regime,
    Player,
    PlayerKind,
    Role,
    make_learning_players,
    make_scripted_player,
    parse_scripted_name,
)
from league.core.players import snapshot_name as snapshot_name_for
from league.core.snapshots import SnapshotRule
from league.core.win import WinDefinition

FORMAT_VERSION = 1
"""Version of the league state file format that this code reads and writes."""


class LeagueFileError(ValueError):
    """A league state file is missing, unreadable, or not a valid league state."""


class UnknownPlayerError(KeyError):
    """A player name that is not in the league."""

    def __str__(self) -> str:  # KeyError would otherwise show the message in quotes
        return str(self.args[0]) if self.args else ""


class LeagueConfig(BaseModel):
    """Everything that defines how the league is run."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    regime: Regime = Regime.PFSP
    router_weighting: PFSPWeighting = PFSPWeighting.SQUARED
    fraudster_weighting: PFSPWeighting = PFSPWeighting.SQUARED
    main_self_play_share: float = Field(default=0.0, ge=0.0, le=1.0)
    """Under ``pfsp``, the share of a main player's games played against the other side's current main;
    the rest are drawn by PFSP over the whole league. AlphaStar's main agents used 0.35."""
    snapshot_rule: SnapshotRule = Field(default_factory=SnapshotRule)
    slots_per_side: int = Field(default=4, ge=1)
    payoff_decay: float = Field(default=1.0, gt=0.0, le=1.0)
    win_definition: WinDefinition = Field(default_factory=WinDefinition)
    num_main_exploiters: int = Field(default=1, ge=0)
    num_league_exploiters: int = Field(default=1, ge=0)
    scripted_opponents: list[str] = Field(default_factory=list)
    """Names of scripted baseline players, e.g. ``"fraudster_scripted:neutral"``."""

    @field_validator("scripted_opponents")
    @classmethod
    def _scripted_names_valid(cls, names: list[str]) -> list[str]:
        for name in names:
            parse_scripted_name(name)
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"scripted_opponents must not repeat names, repeated: {duplicates}")
        return names

    @model_validator(mode="after")
    def _self_play_share_needs_pfsp(self) -> LeagueConfig:
        if self.main_self_play_share and self.regime is not Regime.PFSP:
            raise ValueError(
                f"main_self_play_share applies to regime 'pfsp' only (regime is {self.regime.value!r}); remove it or set 0"
            )
        return self

    @model_validator(mode="after")
    def _fixed_regime_has_opponents(self) -> LeagueConfig:
        if self.regime is Regime.FIXED and not self.scripted_opponents:
            raise ValueError("scripted_opponents must name at least one scripted player when regime is 'fixed'")
        return self


def slot_id(role: Role, index: int) -> str:
    """The id of live opponent slot ``index`` for ``role``."""
    return f"{role.value}_slot_{index}"


class LeagueState(BaseModel):
    """The whole league at one point in training; JSON-serialisable."""

    model_config = ConfigDict(extra="forbid", validate_assignment=False)

    format_version: int = FORMAT_VERSION
    config: LeagueConfig
    players: list[Player]
    payoff: PayoffTable
    iteration: int = Field(default=0, ge=0)
    history: list[dict[str, Any]] = Field(default_factory=list)
    """Events in order, each with at least ``"iteration"`` and ``"event"`` keys."""
    slots: dict[str, str] = Field(default_factory=dict)
    """Live opponent slot id -> name of the snapshot loaded in it."""
    slot_use_order: list[str] = Field(default_factory=list)
    """Occupied slot ids, least recently used first."""
    snapshot_checksums: dict[str, str] = Field(default_factory=dict)
    """Snapshot name -> checksum of its files (``agents.snapshot_format.snapshot_checksum``) when it was saved."""
    retired: list[Player] = Field(default_factory=list)
    """Snapshots taken out of the league (e.g. broken files); kept for the record, never matched."""

    @classmethod
    def new(cls, config: LeagueConfig) -> LeagueState:
        """A fresh league at iteration 0: the learning roster and scripted players from ``config``."""
        players = make_learning_players(config.num_main_exploiters, config.num_league_exploiters)
        players += [make_scripted_player(name) for name in config.scripted_opponents]
        return cls(config=config, players=players, payoff=PayoffTable(decay=config.payoff_decay))

    @model_validator(mode="after")
    def _check_consistency(self) -> LeagueState:
        if self.format_version != FORMAT_VERSION:
            raise ValueError(f"format_version must be {FORMAT_VERSION}, got {self.format_version}")
        names = [p.name for p in self.players]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"players must have unique names, repeated: {repeated}")
        if self.payoff.decay != self.config.payoff_decay:
            raise ValueError(
                f"payoff.decay ({self.payoff.decay}) must equal config.payoff_decay ({self.config.payoff_decay})"
            )
        by_name = {p.name: p for p in self.players}
        for slot, name in self.slots.items():
            player = by_name.get(name)
            if player is None or player.kind is not PlayerKind.HISTORICAL:
                raise ValueError(f"slots[{slot!r}] must name a historical player, got {name!r}")
            if slot not in self.slot_ids(player.role):
                raise ValueError(
                    f"slots key {slot!r} is not a valid slot for {player.role.value!r} "
                    f"(allowed: {self.slot_ids(player.role)})"
                )
        retired = [p.name for p in self.retired]
        clash = sorted(set(retired) & set(names))
        if clash:
            raise ValueError(f"retired players must not also be in players: {clash}")
        if any(p.kind is not PlayerKind.HISTORICAL for p in self.retired):
            raise ValueError("retired must hold only historical players (snapshots)")
        unknown = sorted(set(self.snapshot_checksums) - set(names) - set(retired))
        if unknown:
            raise ValueError(f"snapshot_checksums names players that are not snapshots of the league: {unknown}")
        if sorted(self.slot_use_order) != sorted(self.slots):
            raise ValueError(
                f"slot_use_order must list each occupied slot once; got {self.slot_use_order}, "
                f"occupied {sorted(self.slots)}"
            )
        return self

    # Roster queries

    def player(self, name: str) -> Player:
        """The player called ``name``; raises UnknownPlayerError listing the known names."""
        for player in self.players:
            if player.name == name:
                return player
        known = ", ".join(p.name for p in self.players)
        raise UnknownPlayerError(f"unknown player {name!r}; known players: {known}")

    def learning_players(self, role: Role | str | None = None) -> list[Player]:
        """Learning players of ``role`` (both roles if None), in roster order."""
        return [p for p in self._of_role(role) if p.learning]

    def snapshots(self, role: Role | str | None = None) -> list[Player]:
        """Historical snapshots of ``role`` (both roles if None), oldest first."""
        return [p for p in self._of_role(role) if p.kind is PlayerKind.HISTORICAL]

    def _of_role(self, role: Role | str | None) -> list[Player]:
        if role is None:
            return list(self.players)
        wanted = Role(role)
        return [p for p in self.players if p.role is wanted]

    # Changes

    def record_event(self, event: str, **details: Any) -> dict[str, Any]:
        """Append ``{"iteration": self.iteration, "event": event, **details}`` to the history."""
        entry = {"iteration": self.iteration, "event": event, **details}
        self.history.append(entry)
        return entry

    def add_snapshot(
        self, learner_name: str, iteration: int, checkpoint_path: str | None, checksum: str | None = None
    ) -> Player:
        """Freeze ``learner_name`` at ``iteration`` as a new historical player named ``"<learner>@it<iteration>"``."""
        learner = self.player(learner_name)
        if not learner.learning:
            raise ValueError(f"learner_name must name a learning player; {learner_name!r} is {learner.kind.value!r}")
        name = snapshot_name_for(learner_name, iteration)
        if any(p.name == name for p in self.players):
            raise ValueError(f"snapshot {name!r} already exists; one snapshot per learner per iteration")
        snapshot = Player(
            name=name,
            role=learner.role,
            kind=PlayerKind.HISTORICAL,
            parent=learner_name,
            created_iteration=iteration,
            checkpoint_path=checkpoint_path,
        )
        self.players.append(snapshot)
        if checksum is not None:
            self.snapshot_checksums[name] = checksum
        self.history.append(
            {"iteration": iteration, "event": "snapshot", "player": name, "parent": learner_name,
             "checkpoint_path": checkpoint_path}
        )
        return snapshot

    def retire_snapshot(self, name: str, reason: str) -> Player:
        """Take the snapshot ``name`` out of the league: off the roster (so no regime matches it) and out of its slot.

        The player moves to ``retired`` and an ``snapshot_retired`` event with ``reason`` goes to the history.
        """
        player = self.player(name)
        if player.kind is not PlayerKind.HISTORICAL:
            raise ValueError(f"only snapshots can be retired; {name!r} is {player.kind.value!r}")
        self.players.remove(player)
        self.retired.append(player)
        for slot in [slot for slot, held in self.slots.items() if held == name]:
            del self.slots[slot]
            self.slot_use_order.remove(slot)
        self.record_event("snapshot_retired", player=name, reason=reason)
        return player

    # Opponent slots

    def slot_ids(self, role: Role | str) -> list[str]:
        """All slot ids of ``role``, in index order."""
        return [slot_id(Role(role), index) for index in range(self.config.slots_per_side)]

    def assign_slot(self, snapshot_name: str, role: Role | str) -> tuple[str, str | None]:
        """Put ``snapshot_name`` in a live slot of ``role``; returns ``(slot_id, evicted snapshot name or None)``.

        Reuses the slot already holding the snapshot, else the lowest free slot, else
        evicts the least-recently-used slot of that role. The chosen slot becomes the
        most recently used.
        """
        role = Role(role)
        player = self.player(snapshot_name)
        if player.kind is not PlayerKind.HISTORICAL:
            raise ValueError(f"snapshot_name must name a historical player; {snapshot_name!r} is {player.kind.value!r}")
        if player.role is not role:
            raise ValueError(f"role must be {player.role.value!r} for {snapshot_name!r}, got {role.value!r}")
        role_slots = self.slot_ids(role)
        evicted: str | None = None
        chosen = next((slot for slot in role_slots if self.slots.get(slot) == snapshot_name), None)
        if chosen is None:
            chosen = next((slot for slot in role_slots if slot not in self.slots), None)
        if chosen is None:
            chosen = next(slot for slot in self.slot_use_order if slot in role_slots)
            evicted = self.slots[chosen]
        self.slots[chosen] = snapshot_name
        if chosen in self.slot_use_order:
            self.slot_use_order.remove(chosen)
        self.slot_use_order.append(chosen)
        return chosen, evicted

    # Persistence

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the state as JSON atomically: temp file in the same directory, fsync, then ``os.replace``."""
        target = Path(path)
        text = self.model_dump_json(indent=2)
        descriptor, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp_name, target)
        except BaseException:
            if os.path.exists(temp_name):
                os.unlink(temp_name)
            raise
        _fsync_directory(target.parent)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> LeagueState:
        """Read a state saved by ``save``; any problem raises LeagueFileError naming ``path``."""
        target = Path(path)
        if not target.exists():
            raise LeagueFileError(f"league state file '{target}' does not exist")
        try:
            raw = target.read_bytes()
        except OSError as error:
            raise LeagueFileError(f"league state file '{target}' could not be read: {error}") from error
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise LeagueFileError(
                f"league state file '{target}' is not valid JSON (truncated or corrupt?): {error}"
            ) from error
        if not isinstance(data, dict):
            raise LeagueFileError(
                f"league state file '{target}' must hold a JSON object, found {type(data).__name__}"
            )
        if "format_version" not in data:
            raise LeagueFileError(
                f"league state file '{target}' has no format_version; "
                f"this code supports format_version {FORMAT_VERSION}"
            )
        found = data["format_version"]
        if isinstance(found, bool) or found != FORMAT_VERSION:
            raise LeagueFileError(
                f"league state file '{target}' has format_version {found!r}; "
                f"this code supports format_version {FORMAT_VERSION}"
            )
        try:
            return cls.model_validate(data)
        except ValidationError as error:
            raise LeagueFileError(
                f"league state file '{target}' does not match the league state schema: {error}"
            ) from error


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable; some platforms cannot open directories, which is harmless to skip."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
