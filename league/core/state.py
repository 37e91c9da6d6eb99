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
import warnings
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

FORMAT_VERSION = 2
"""Version of the league state file format that this code writes.

Version 2 (AlphaStar's league, issue 18) decays the payoff per game instead of once per
update call, keeps per-pair game counts and a minimum of games before a win rate is
used, and adds the player rules. Version 1 files load when their payoff did not decay
(decay 1.0, where per call and per game are the same), with a note of the defaults
assumed (:func:`upgrade_from_version_1`); version 1 files with another decay are refused.
"""


class LeagueFileError(ValueError):
    """A league state file is missing, unreadable, or not a valid league state."""


class LeagueFormatNote(UserWarning):
    """An older league state file was read with defaults assumed for what it did not record."""


class UnknownPlayerError(KeyError):
    """A player name that is not in the league."""

    def __str__(self) -> str:  # KeyError would otherwise show the message in quotes
        return str(self.args[0]) if self.args else ""


#: AlphaStar's values of the player rules: the defaults under regime ``pfsp``.
ALPHASTAR_RULES: dict[str, Any] = {
    "main_self_play_share": 0.35,
    "main_verification_share": 0.15,
    "main_self_play_fallback_win_rate": 0.3,
    "verification_win_rate": 0.7,
    "main_exploiter_fallback_win_rate": 0.2,
    "main_exploiter_reset_on_snapshot": True,
    "league_exploiter_reset_probability": 0.25,
}
#: The same settings switched off: their values under every other regime (where they do not apply).
RULES_OFF: dict[str, Any] = {
    "main_self_play_share": 0.0,
    "main_verification_share": 0.0,
    "main_self_play_fallback_win_rate": 0.0,
    "verification_win_rate": 0.7,
    "main_exploiter_fallback_win_rate": 0.0,
    "main_exploiter_reset_on_snapshot": False,
    "league_exploiter_reset_probability": 0.0,
}
#: AlphaStar's snapshot threshold: a win rate above this against every opponent (regime ``pfsp``).
ALPHASTAR_SNAPSHOT_WIN_RATE = 0.7


class LeagueConfig(BaseModel):
    """Everything that defines how the league is run.

    The player rules (``main_*``, ``verification_win_rate``, ``main_exploiter_*``,
    ``league_exploiter_*``) are AlphaStar's league rules (see docs/league_parity.md);
    they apply under regime ``pfsp`` only, where their defaults are AlphaStar's
    values. Under the other regimes they are switched off, and setting one is an error.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    regime: Regime = Regime.PFSP
    router_weighting: PFSPWeighting = Field(
        PFSPWeighting.SQUARED, description="PFSP weighting of the router main's PFSP and verification branches"
    )
    fraudster_weighting: PFSPWeighting = Field(
        PFSPWeighting.SQUARED, description="PFSP weighting of the fraudster main's PFSP and verification branches"
    )
    main_self_play_share: float = Field(
        default=ALPHASTAR_RULES["main_self_play_share"], ge=0.0, le=1.0,
        description="main players: share of games in the self-play branch (the other side's current main)",
    )
    main_verification_share: float = Field(
        default=ALPHASTAR_RULES["main_verification_share"], ge=0.0, le=1.0,
        description=(
            "main players: share of games in the verification branch (past main exploiters it still loses to, "
            "else past mains it forgot, else self-play); the rest is the PFSP branch over all past players"
        ),
    )
    main_self_play_fallback_win_rate: float = Field(
        default=ALPHASTAR_RULES["main_self_play_fallback_win_rate"], ge=0.0, le=1.0,
        description="self-play branch: below this win rate against the other main, play its snapshots (variance PFSP)",
    )
    verification_win_rate: float = Field(
        default=ALPHASTAR_RULES["verification_win_rate"], gt=0.0, le=1.0,
        description=(
            "verification branch: a past main exploiter is a threat below 1 - this win rate, "
            "a past main is forgotten below this win rate"
        ),
    )
    main_exploiter_fallback_win_rate: float = Field(
        default=ALPHASTAR_RULES["main_exploiter_fallback_win_rate"], ge=0.0, le=1.0,
        description="main exploiters: below this win rate against the main, play the main's snapshots (variance PFSP)",
    )
    main_exploiter_reset_on_snapshot: bool = Field(
        default=ALPHASTAR_RULES["main_exploiter_reset_on_snapshot"],
        description="main exploiters: re-initialise the weights (and optimizer) after each snapshot",
    )
    league_exploiter_weighting: PFSPWeighting = Field(
        PFSPWeighting.LINEAR_CAPPED, description="PFSP weighting of league exploiters over the league's frozen players"
    )
    league_exploiter_reset_probability: float = Field(
        default=ALPHASTAR_RULES["league_exploiter_reset_probability"], ge=0.0, le=1.0,
        description="league exploiters: probability of re-initialising after a snapshot",
    )
    both_learners_train: bool = Field(
        default=False,
        description=(
            "False (AlphaStar): every game trains one learner, its opponent plays a frozen copy of its current "
            "weights. True: a game between two learners trains both (the learner drawn for it and its opponent)"
        ),
    )
    snapshot_rule: SnapshotRule = Field(default_factory=SnapshotRule)
    slots_per_side: int = Field(default=4, ge=1)
    payoff_decay: float = Field(
        default=0.995, gt=0.0, le=1.0,
        description=(
            "decay of the payoff sums per game. AlphaStar and DI-engine use 0.99 per game, a memory of about "
            "100 games of a pair; here a whole batch of games (256 in the quick-start) is played with the same "
            "weights, so 0.99 would forget everything before the current iteration for a pair that gets a third "
            "of them. 0.995 (memory about 200 games, half-life 139) keeps two to three iterations of the busiest "
            "pair and about twenty of a snapshot met ten times an iteration"
        ),
    )
    payoff_min_games: float = Field(
        default=8.0, ge=0.0,
        description="decayed games a pair needs before its win rate is used; until then it is 0.5 (DI-engine: 8)",
    )
    win_definition: WinDefinition = Field(default_factory=WinDefinition)
    num_main_exploiters: int = Field(default=1, ge=0)
    num_league_exploiters: int = Field(default=1, ge=0)
    scripted_opponents: list[str] = Field(default_factory=list)
    """Names of scripted baseline players, e.g. ``"fraudster_scripted:neutral"``."""

    @model_validator(mode="before")
    @classmethod
    def _rule_defaults_follow_the_regime(cls, data: Any) -> Any:
        """Fill in the player rules left out: AlphaStar's values under ``pfsp``, switched off under other regimes."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        regime = data.get("regime", Regime.PFSP)
        pfsp = (regime.value if isinstance(regime, Regime) else regime) == Regime.PFSP.value
        for name, value in (ALPHASTAR_RULES if pfsp else RULES_OFF).items():
            data.setdefault(name, value)
        rule = data.get("snapshot_rule")
        if pfsp and (rule is None or isinstance(rule, dict)):
            rule = dict(rule or {})
            rule.setdefault("win_rate_threshold", ALPHASTAR_SNAPSHOT_WIN_RATE)
            # AlphaStar: no snapshot before half the step budget, then one when the threshold is passed.
            every = rule.get("every_iterations", SnapshotRule.model_fields["every_iterations"].default)
            rule.setdefault("min_iterations_between", every // 2 if every else 0)
            data["snapshot_rule"] = rule
        return data

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
    def _rules_need_pfsp(self) -> LeagueConfig:
        if self.regime is not Regime.PFSP:
            for name, off in RULES_OFF.items():
                if getattr(self, name) != off:
                    raise ValueError(
                        f"{name} applies to regime 'pfsp' only (regime is {self.regime.value!r}); "
                        f"remove it or set {off}"
                    )
        shares = self.main_self_play_share + self.main_verification_share
        if shares > 1.0 + 1e-12:
            raise ValueError(
                f"main_self_play_share + main_verification_share must be <= 1 (the rest is the PFSP branch), "
                f"got {self.main_self_play_share} + {self.main_verification_share}"
            )
        return self

    @property
    def main_pfsp_share(self) -> float:
        """Share of a main player's games in the PFSP branch over all past players (AlphaStar: 0.5)."""
        return max(0.0, 1.0 - self.main_self_play_share - self.main_verification_share)

    @model_validator(mode="after")
    def _fixed_regime_has_opponents(self) -> LeagueConfig:
        if self.regime is Regime.FIXED and not self.scripted_opponents:
            raise ValueError("scripted_opponents must name at least one scripted player when regime is 'fixed'")
        return self

    def slots_needed(self) -> int:
        """Opponent slots per side that training needs: one per learner of a side that can meet snapshots.

        Each such learner draws its own slot contents every iteration
        (:mod:`league.core.slots`), which is what makes the opponents it plays follow
        its configured mix exactly.
        """
        if self.regime in (Regime.PFSP, Regime.FICTITIOUS):
            return 1 + self.num_main_exploiters + self.num_league_exploiters
        return 1


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
        payoff = PayoffTable(decay=config.payoff_decay, min_games=config.payoff_min_games)
        return cls(config=config, players=players, payoff=payoff)

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
        if self.payoff.min_games != self.config.payoff_min_games:
            raise ValueError(
                f"payoff.min_games ({self.payoff.min_games}) must equal config.payoff_min_games "
                f"({self.config.payoff_min_games})"
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
        notes: list[str] = []
        if found == 1 and not isinstance(found, bool):
            try:
                data, notes = upgrade_from_version_1(data)
            except ValueError as error:
                raise LeagueFileError(f"league state file '{target}' has format_version 1 and {error}") from None
        elif isinstance(found, bool) or found != FORMAT_VERSION:
            raise LeagueFileError(
                f"league state file '{target}' has format_version {found!r}; "
                f"this code supports format_version {FORMAT_VERSION} (and reads 1)"
            )
        for note in notes:
            warnings.warn(f"league state file '{target}': {note}", LeagueFormatNote, stacklevel=2)
        try:
            return cls.model_validate(data)
        except ValidationError as error:
            raise LeagueFileError(
                f"league state file '{target}' does not match the league state schema: {error}"
            ) from error


def upgrade_from_version_1(data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A version-1 state as version 2, with one note per default assumed; ValueError if it cannot be converted.

    Version 1 decayed a pair's sums once per update call (once per iteration), so its
    sums cannot be turned into per-game ones unless the decay was 1.0 (plain sums,
    the version-1 default): such files are converted exactly, other ones refused.
    """
    data = json.loads(json.dumps(data))  # a deep copy
    payoff = data.get("payoff") if isinstance(data.get("payoff"), dict) else {}
    config = data.get("config") if isinstance(data.get("config"), dict) else {}
    decay = payoff.get("decay", 1.0)
    if decay != 1.0:
        raise ValueError(
            f"payoff decay {decay!r}, applied once per iteration; this code decays per game and cannot convert "
            "those sums (version-1 files load only with decay 1.0); start a new run"
        )
    notes = []
    for opponents in (payoff.get("stats") or {}).values():
        for record in (opponents or {}).values():
            if isinstance(record, dict):
                record.setdefault("played", int(round(float(record.get("games", 0)))))
    notes.append("payoff decay 1.0 read as per game (the same sums); played counts taken from the game counts")
    payoff.setdefault("min_games", 0.0)
    config.setdefault("payoff_min_games", 0.0)
    notes.append("payoff_min_games assumed 0 (version 1 used every recorded game)")
    if "main_self_play_share" not in config:
        config["main_self_play_share"] = 0.0
    # Version 1 trained both learners of a game, and its algorithm checkpoints have no frozen opponent copies.
    config.setdefault("both_learners_train", True)
    regime = config.get("regime", Regime.PFSP.value)
    defaults = ALPHASTAR_RULES if regime == Regime.PFSP.value else RULES_OFF
    assumed = {name: config.setdefault(name, value) for name, value in defaults.items()}
    notes.append(
        "player rules not in the file take this version's values: "
        + ", ".join(f"{name}={value}" for name, value in assumed.items())
        + "; both_learners_train assumed true (version 1 trained both learners of a game, and its checkpoints "
        "have no frozen opponent copies); the snapshot threshold now compares the lowest win rate, not a "
        "PFSP-weighted mean"
    )
    data["format_version"] = FORMAT_VERSION
    return data, notes


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
