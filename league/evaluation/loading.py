"""Restore the players of a league run directory as batched ``agents`` policies, without Ray.

A run directory (see :mod:`league.rllib.runtime`) holds the league state, the
resolved config, snapshot module checkpoints under ``snapshots/<name>/`` and
algorithm checkpoints under ``checkpoints/iter_NNNNN/`` (``checkpoints/latest``
names the newest). This module turns a player name into a
:class:`~agents.base.Policy`:

- learning players (main agents, exploiters): their module in the newest
  algorithm checkpoint, ``checkpoints/<latest>/learner_group/learner/rl_module/<name>``;
- snapshots (``router_main@it12``): ``snapshots/<name>`` (the path recorded in
  the league state);
- scripted baselines: ``<role>_scripted:<policy>`` for any policy of
  :mod:`agents.registry` (the league's own scripted opponents use these names).

Loading runs no code from the run directory: snapshots are read with
:func:`agents.snapshot_format.load_snapshot` (a JSON spec plus tensors, checked
against the checksum recorded in the league state), and learners'
``module_state.pkl`` in the algorithm checkpoint with an unpickler that only
rebuilds numpy arrays (:func:`agents.snapshot_format.load_checkpoint_module`).
Modules are played by :class:`~agents.learned.ModulePolicy` (batched
``forward_inference`` in torch); no ``Algorithm`` is built and Ray is not started. Every problem - a missing
run directory, league state or checkpoint, a partial or corrupt checkpoint, a
module whose observation or action space does not fit the current game, an
unknown player name - raises :class:`RunLoadError` (a ``ValueError``) whose
message names the path or lists the known players.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agents.base import Policy
from agents.learned import CheckpointError, ModulePolicy
from agents.snapshot_format import load_checkpoint_module, load_snapshot
from league.core.players import Player, PlayerKind, Role, parse_scripted_name, scripted_player_name
from league.core.config import TrainConfig, load_train_config
from league.core.rundir import CONFIG_FILE, LATEST, LEARNER_MODULES, STATE_FILE, RunDir, RunDirError
from league.core.state import LeagueFileError, LeagueState
from smartpay_marl.config import GameConfig
from smartpay_marl.layout import AGENT_OF_ROLE
from smartpay_marl.spaces import build_action_spaces, build_observation_spaces

#: Player kind of a scripted baseline that is not part of the league roster.
BASELINE = "baseline"
#: Player kind of a meta-strategy mixture over a run's players (``router_nash@12``, see league.evaluation.mixture).
MIXTURE = "mixture"


class RunLoadError(CheckpointError):
    """A run directory, its league state, a checkpoint or a player cannot be restored."""


@dataclass(frozen=True)
class PlayerRecord:
    """Where one restorable player comes from.

    ``iteration`` is the league iteration the weights belong to (the snapshot's
    creation iteration, or the checkpoint's for a learning player); None for
    scripted baselines. ``source`` is the module checkpoint directory, or
    ``agents.registry:<policy>`` for a scripted baseline.
    """

    name: str
    role: str
    kind: str
    iteration: int | None
    source: str
    checksum: str | None = None  # a snapshot's checksum recorded in the league state
    from_snapshot: bool = False  # a learner restored from its newest snapshot (PSRO runs keep no algorithm checkpoint)

    @property
    def learned(self) -> bool:
        """One learned module (a learner or a snapshot); scripted players and mixtures are not."""
        return self.kind not in (PlayerKind.SCRIPTED.value, BASELINE, MIXTURE)

    @property
    def mixture(self) -> bool:
        return self.kind == MIXTURE


@dataclass(frozen=True)
class LeagueRun:
    """A run directory opened for evaluation: its config, league state and newest checkpoint."""

    run_dir: Path
    config: TrainConfig
    state: LeagueState
    checkpoint_dir: Path | None  # None when the run has no complete algorithm checkpoint yet
    checkpoint_iteration: int | None

    @property
    def game(self) -> GameConfig:
        return self.config.game_config()

    def learned_players(self, role: Role | str | None = None) -> list[Player]:
        """Learning players and snapshots of ``role`` (both if None), in roster order."""
        return self.state.learning_players(role) + self.state.snapshots(role)

    def known_player_names(self) -> list[str]:
        return [p.name for p in self.state.players]

    def record(self, name: str) -> PlayerRecord:
        """Where the player ``name`` comes from; :class:`RunLoadError` listing the known players if unknown."""
        player = self._roster_player(name)
        if player is None:
            from league.evaluation.mixture import parse_mixture_name

            parsed = parse_mixture_name(name)
            if parsed is not None:
                return self._mixture_record(name, *parsed)
            return self._baseline_record(name)
        if player.kind is PlayerKind.SCRIPTED:
            _, policy = parse_scripted_name(name)
            return PlayerRecord(name, player.role.value, player.kind.value, None, f"agents.registry:{policy}")
        if player.kind is PlayerKind.HISTORICAL:
            if not player.checkpoint_path:
                raise RunLoadError(f"snapshot {name!r} in {self.run_dir / STATE_FILE} has no checkpoint_path")
            try:
                path = RunDir(self.run_dir).inside(player.checkpoint_path, f"checkpoint_path of snapshot {name!r}")
            except RunDirError as error:
                raise RunLoadError(str(error)) from None
            checksum = self.state.snapshot_checksums.get(name)
            return PlayerRecord(name, player.role.value, player.kind.value, player.created_iteration, str(path), checksum)
        if self.checkpoint_dir is None and self.config.league.regime.value == "psro":
            return self._psro_learner_record(player)
        if self.checkpoint_dir is None:
            raise RunLoadError(
                f"cannot restore learning player {name!r}: {self.run_dir} has no algorithm checkpoint "
                f"(missing {self.run_dir / 'checkpoints' / LATEST}); its snapshots can still be loaded"
            )
        path = self.checkpoint_dir / LEARNER_MODULES / name
        return PlayerRecord(name, player.role.value, player.kind.value, self.checkpoint_iteration, str(path))

    def _psro_learner_record(self, player: Player) -> PlayerRecord:
        """A PSRO run's learner is its newest best response: the newest snapshot of that learner."""
        snapshots = [p for p in self.state.snapshots(player.role) if p.parent == player.name]
        if not snapshots:
            raise RunLoadError(f"PSRO run {self.run_dir} has no best response of {player.name!r} yet")
        newest = max(snapshots, key=lambda p: p.created_iteration or 0)
        record = self.record(newest.name)
        return PlayerRecord(player.name, record.role, player.kind.value, record.iteration, record.source,
                            record.checksum, from_snapshot=True)  # fmt: skip

    def _roster_player(self, name: str) -> Player | None:
        for player in self.state.players:
            if player.name == name:
                return player
        return None

    def _baseline_record(self, name: str) -> PlayerRecord:
        """A scripted baseline outside the roster, named ``<role>_scripted:<policy>``."""
        from agents.registry import policy_names

        try:
            role, policy = parse_scripted_name(name)
        except ValueError:
            raise RunLoadError(self._unknown_player_message(name)) from None
        if policy not in policy_names(role.value):
            raise RunLoadError(
                f"unknown scripted {role.value} policy {policy!r} in {name!r}; "
                f"agents.registry has: {', '.join(policy_names(role.value))}"
            )
        return PlayerRecord(name, role.value, BASELINE, None, f"agents.registry:{policy}")

    def _mixture_record(self, name: str, role: str, solver: str, iteration: int) -> PlayerRecord:
        """A mixture written into ``RUN_DIR/mixtures/`` (by evaluate or PSRO)."""
        from league.evaluation.mixture import known_mixtures, mixture_path

        path = mixture_path(self.run_dir, name)
        if not path.is_file():
            known = ", ".join(known_mixtures(self.run_dir)) or "none"
            raise RunLoadError(
                f"no mixture {name!r} in run {self.run_dir} (missing {path}); mixtures written so far: {known}. "
                "smartpay-marl evaluate writes <role>_nash@<iteration> for the iteration it evaluates"
            )
        return PlayerRecord(name, role, MIXTURE, iteration, str(path))

    def _unknown_player_message(self, name: str) -> str:
        known = ", ".join(self.known_player_names())
        return (
            f"unknown player {name!r} in run {self.run_dir}; known players: {known}; "
            "or a scripted baseline as 'router_scripted:<policy>' / 'fraudster_scripted:<policy>', "
            "or a mixture as '<role>_nash@<iteration>'"
        )


# ---------------------------------------------------------------------- opening a run


def open_run(run_dir: str | Path) -> LeagueRun:
    """Read a run directory's config, league state and newest checkpoint pointer, with clear errors."""
    run_dir = RunDir(run_dir).root
    if not run_dir.is_dir():
        raise RunLoadError(f"run directory not found: {run_dir}")
    config_path = run_dir / CONFIG_FILE
    if not config_path.is_file():
        raise RunLoadError(f"{run_dir} is not a league run directory: missing {config_path}")
    try:
        config = load_train_config(config_path)
    except (ValueError, OSError) as error:
        raise RunLoadError(f"run config {config_path} is unreadable: {error}") from None
    try:
        state = LeagueState.load(run_dir / STATE_FILE)
    except LeagueFileError as error:
        raise RunLoadError(str(error)) from None
    checkpoint_dir = latest_checkpoint_dir(run_dir)
    iteration = _checkpoint_iteration(checkpoint_dir) if checkpoint_dir is not None else None
    return LeagueRun(run_dir, config, state, checkpoint_dir, iteration)


def latest_checkpoint_dir(run_dir: Path) -> Path | None:
    """The directory ``checkpoints/latest`` names; None if the run has no checkpoint pointer yet."""
    paths = RunDir(run_dir)
    pointer = paths.latest_pointer
    try:
        name = paths.latest_checkpoint_name()
    except RunDirError as error:
        raise RunLoadError(str(error)) from None
    if name is None:
        return None
    directory = paths.checkpoints / name
    if not directory.is_dir():
        raise RunLoadError(f"checkpoint pointer {pointer} names {name!r}, but {directory} does not exist")
    if not (directory / LEARNER_MODULES).is_dir():
        raise RunLoadError(f"algorithm checkpoint {directory} is incomplete: missing {LEARNER_MODULES}")
    return directory


def _checkpoint_iteration(directory: Path) -> int | None:
    """The iteration in a checkpoint directory name ``iter_NNNNN``."""
    return RunDir.checkpoint_iteration(directory)


# ---------------------------------------------------------------------- restoring players


def load_player(run: LeagueRun, name: str, deterministic: bool = True) -> Policy:
    """The player ``name`` of ``run`` as a batched policy named ``name``."""
    record = run.record(name)
    if record.mixture:
        return load_mixture_player(run, record, deterministic=deterministic)
    if record.learned:
        return load_module_player(record, run.game, deterministic=deterministic)
    return scripted_player(record, run.game)


def load_mixture(run: LeagueRun, record: PlayerRecord):
    """The :class:`~league.evaluation.mixture.Mixture` a mixture record names, its members checked against the run."""
    from league.evaluation.mixture import read_mixture

    try:
        mixture = read_mixture(record.source)
    except ValueError as error:
        raise RunLoadError(str(error)) from None
    if mixture.role != record.role:
        raise RunLoadError(f"mixture file {record.source} is for the {mixture.role}, but its name says {record.role}")
    for member in mixture.members:
        member_record = run.record(member)
        if member_record.mixture or member_record.role != record.role:
            raise RunLoadError(f"mixture {record.name!r}: member {member!r} is not a {record.role} player of the run")
    return mixture


def load_mixture_player(run: LeagueRun, record: PlayerRecord, deterministic: bool = True, seed: int = 0) -> Policy:
    """A mixture as a :class:`~league.evaluation.mixture.MixturePolicy` (one member drawn per episode)."""
    from league.evaluation.mixture import MixturePolicy

    mixture = load_mixture(run, record)
    members = [load_player(run, member, deterministic=deterministic) for member in mixture.members]
    return MixturePolicy(members, mixture.weights, name=record.name, seed=seed)


def load_module_player(record: PlayerRecord, game: GameConfig, deterministic: bool = True) -> ModulePolicy:
    """Restore a learned player's RL module and check that it fits ``game``."""
    if record.kind == PlayerKind.HISTORICAL.value or record.from_snapshot:
        module = restore_module(record.source, checksum=record.checksum, what=f"snapshot {record.name!r}")
    else:
        module = restore_module(record.source, role=record.role, game=game)
    check_module_spaces(module, Role(record.role), game, record.source)
    return ModulePolicy(module, name=record.name, role=record.role, deterministic=deterministic)


def restore_module(path: str | Path, role: str | None = None, game: GameConfig | None = None,
                   checksum: str | None = None, what: str | None = None):  # fmt: skip
    """A module without running code from the files; :class:`RunLoadError` for missing, partial or corrupt ones.

    With ``role``, ``path`` is a learner's module in an algorithm checkpoint
    (weights read with an arrays-only unpickler, module built for ``game``);
    without, it is a league snapshot, checked against ``checksum`` when given.
    """
    try:
        if role is not None:
            return load_checkpoint_module(path, role, game)
        return load_snapshot(path, expected_checksum=checksum, what=what)
    except CheckpointError as error:
        raise RunLoadError(str(error)) from None


def check_module_spaces(module, role: Role, game: GameConfig, source: str | Path) -> None:
    """Raise :class:`RunLoadError` unless the module's spaces are the current game's for ``role``."""
    agent = AGENT_OF_ROLE[role]
    expected_obs = build_observation_spaces()[agent].shape
    found_obs = tuple(getattr(module.observation_space, "shape", ()) or ())
    if found_obs != tuple(expected_obs):
        raise RunLoadError(
            f"module checkpoint {source} expects {role.value} observations of shape {found_obs}, "
            f"but the current game gives {tuple(expected_obs)}: it was trained on another version of the game "
            "and cannot be played here"
        )
    expected_nvec = tuple(int(n) for n in build_action_spaces(game)[agent].nvec)
    found_nvec = tuple(int(n) for n in np.asarray(getattr(module.action_space, "nvec", ())).ravel())
    if found_nvec != expected_nvec:
        raise RunLoadError(
            f"module checkpoint {source} emits {role.value} actions of sizes {found_nvec}, "
            f"but the run's game expects {expected_nvec}"
        )


def scripted_player(record: PlayerRecord, game: GameConfig) -> Policy:
    """A scripted baseline from :mod:`agents.registry`, renamed to its league name."""
    from agents.registry import make_policy
    from smartpay_marl.spaces import fraudster_action_nvec

    _, policy_name = parse_scripted_name(record.name)
    # Fraudster action sizes depend on the game's level lists; routers' never do.
    kwargs = {"action_nvec": fraudster_action_nvec(game)} if record.role == Role.FRAUDSTER.value else {}
    policy = make_policy(policy_name, record.role, **kwargs)
    policy.name = record.name
    return policy


def baseline_names(role: Role | str, policies: list[str]) -> list[str]:
    """League names (``<role>_scripted:<policy>``) of registry policies playing ``role``."""
    return [scripted_player_name(Role(role), policy) for policy in policies]


@contextmanager
def torch_threads(count: int = 1) -> Iterator[None]:
    """Run torch with ``count`` intra-op threads, then restore the previous setting.

    Evaluation feeds batches of a few hundred observations to small MLPs, where
    a second thread cannot help; on a busy machine torch's spinning worker
    threads fight the simulator for the cores and slow play down a hundredfold.
    """
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
