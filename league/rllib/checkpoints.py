"""Which checkpoint a resumed run continues from, and whether it is whole.

``train --resume`` must never continue from a checkpoint that would silently
lose work: RLlib's ``Algorithm.from_checkpoint`` quietly keeps a module's
initial weights when its directory is missing. :func:`validate_checkpoint`
therefore checks, without starting Ray:

- the checkpoint's ``league_state.json`` parses;
- ``algorithm_state.pkl`` and ``class_and_ctor_args.pkl`` exist, are not empty
  and unpickle (a resume trusts the run directory like code anyway: RLlib's
  checkpoints are pickles);
- every learning player's module, and every opponent slot's module, is under
  ``learner_group/learner/rl_module/<name>`` with readable weights;
- every snapshot of the league is inside the run directory, complete, and has
  the checksum recorded when it was saved.

:func:`choose_resume_checkpoint` takes the newest checkpoint (at or before the
one ``checkpoints/latest`` names) whose own files are whole, and says which
newer ones it skipped and why. Broken snapshots are not a reason to go back
(older checkpoints share the same snapshot files): they stop the resume with an
error naming them, unless ``retire_broken`` takes them out of the league (an
``snapshot_retired`` event in its history), so that PFSP never picks them.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from league.core.players import PlayerKind
from league.core.rundir import LEARNER_MODULES, STATE_FILE, RunDir, RunDirError
from league.core.state import LeagueFileError, LeagueState
from smartpay_marl.layout import ROLES

ALGORITHM_FILES = ("algorithm_state.pkl", "class_and_ctor_args.pkl")
MODULE_FILES = ("module_state.pkl", "class_and_ctor_args.pkl")


class ResumeError(ValueError):
    """A run cannot be resumed: no checkpoint is whole, or snapshots of the league are broken."""


@dataclass
class Problems:
    """What is wrong with one checkpoint: its own files, and the league's snapshots (by name)."""

    checkpoint: list[str] = field(default_factory=list)
    snapshots: dict[str, str] = field(default_factory=dict)

    def all(self) -> list[str]:
        return [*self.checkpoint, *self.snapshots.values()]

    def __bool__(self) -> bool:
        return bool(self.checkpoint or self.snapshots)


@dataclass
class ResumePoint:
    """The checkpoint to resume from and its league state (after retiring broken snapshots, if asked)."""

    directory: Path
    state: LeagueState
    skipped: dict[str, list[str]]  # newer checkpoint name -> its problems
    retired: list[str]


def validate_checkpoint(run_dir: RunDir | str | Path, directory: Path, state: LeagueState | None = None) -> list[str]:
    """Every problem of ``directory`` (and of the snapshots its league state names), one line each; [] if whole."""
    return check_checkpoint(run_dir, directory, state).all()


def check_checkpoint(run_dir: RunDir | str | Path, directory: Path, state: LeagueState | None = None) -> Problems:
    """:func:`validate_checkpoint`, with the checkpoint's own problems and the snapshots' kept apart."""
    paths = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
    directory = Path(directory)
    problems = Problems()
    if not directory.is_dir():
        problems.checkpoint.append(f"checkpoint {directory} does not exist")
        return problems
    if state is None:
        try:
            state = LeagueState.load(directory / STATE_FILE)
        except LeagueFileError as error:
            problems.checkpoint.append(str(error))
    for name in ALGORITHM_FILES:
        problem = _pickle_problem(directory / name)
        if problem:
            problems.checkpoint.append(problem)
    if state is None:
        return problems
    if not (directory / LEARNER_MODULES).is_dir():
        problems.checkpoint.append(f"{directory} is incomplete: missing {LEARNER_MODULES} (the learners' weights)")
        modules = []
    else:
        modules = [p.name for p in state.learning_players()]
        modules += [slot for role in ROLES for slot in state.slot_ids(role)]
    for module in modules:
        problem = _module_problem(directory / LEARNER_MODULES / module)
        if problem:
            problems.checkpoint.append(problem)
    for snapshot in state.snapshots():
        problem = snapshot_problem(paths, state, snapshot.name)
        if problem:
            problems.snapshots[snapshot.name] = problem
    return problems


def _pickle_problem(path: Path) -> str | None:
    if not path.is_file():
        return f"{path} is missing"
    if path.stat().st_size == 0:
        return f"{path} is empty"
    try:
        with path.open("rb") as handle:
            pickle.load(handle)  # noqa: S301  (a resume trusts its run directory like code; see the README)
    except Exception as error:  # noqa: BLE001  (any failure means the file cannot be restored)
        return f"{path} is unreadable: {type(error).__name__}: {str(error)[:160]}"
    return None


def _module_problem(path: Path) -> str | None:
    """Why the module directory at ``path`` cannot be restored; None if it can."""
    from agents.snapshot_format import read_module_state
    from agents.learned import CheckpointError

    if not path.is_dir():
        return f"module directory {path} is missing"
    for name in MODULE_FILES:
        file = path / name
        if not file.is_file() or file.stat().st_size == 0:
            return f"module directory {path} is incomplete: {name} is {'empty' if file.is_file() else 'missing'}"
    try:
        read_module_state(path)
    except CheckpointError as error:
        return str(error)
    return None


def snapshot_problem(paths: RunDir, state: LeagueState, name: str) -> str | None:
    """Why the snapshot ``name`` cannot be loaded; None if it can (files complete, checksum as recorded)."""
    from agents.learned import CheckpointError
    from agents.snapshot_format import check_snapshot, read_spec

    player = state.player(name)
    if player.kind is not PlayerKind.HISTORICAL:
        return None
    if not player.checkpoint_path:
        return f"snapshot {name!r} has no checkpoint_path"
    try:
        path = paths.inside(player.checkpoint_path, f"checkpoint_path of snapshot {name!r}")
        check_snapshot(path, state.snapshot_checksums.get(name), what=f"snapshot {name!r}")
        if state.snapshot_checksums.get(name) is None:
            read_spec(path)
    except (RunDirError, CheckpointError) as error:
        return str(error)
    return None


def candidate_checkpoints(paths: RunDir) -> list[Path]:
    """Checkpoint directories to try, newest first: those at or before the one ``latest`` names (all if none)."""
    latest = paths.latest_checkpoint_name()  # RunDirError for a pointer that is not a checkpoint name
    found = paths.checkpoint_dirs()
    if latest is None:
        return found
    limit = RunDir.checkpoint_iteration(Path(latest))
    return [d for d in found if RunDir.checkpoint_iteration(d) <= limit]


def choose_resume_checkpoint(
    run_dir: RunDir | str | Path,
    retire_broken: bool = False,
    warn: Callable[[str], None] | None = None,
) -> ResumePoint:
    """The newest checkpoint that validates, or :class:`ResumeError` naming what is missing.

    ``warn`` gets one line per skipped checkpoint and per retired snapshot.
    """
    paths = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
    warn = warn or (lambda line: None)
    if not paths.root.is_dir():
        raise ResumeError(f"run directory not found: {paths.root}")
    candidates = candidate_checkpoints(paths)
    if not candidates:
        raise ResumeError(f"{paths.root} has no checkpoint to resume from (nothing under {paths.checkpoints})")
    skipped: dict[str, list[str]] = {}
    for directory in candidates:
        problems = check_checkpoint(paths, directory)
        if problems.checkpoint:
            skipped[directory.name] = problems.checkpoint
            warn(f"warning: skipping checkpoint {directory.name}: {'; '.join(problems.checkpoint)}")
            continue
        state = LeagueState.load(directory / STATE_FILE)
        retired: list[str] = []
        if problems.snapshots:
            if not retire_broken:
                names = ", ".join(problems.snapshots)
                raise ResumeError(
                    f"cannot resume {paths.root} from {directory.name}: broken snapshot(s) {names}: "
                    f"{'; '.join(problems.snapshots.values())}; "
                    "resume with --retire-broken-snapshots to take them out of the league"
                )
            for name, problem in problems.snapshots.items():
                state.retire_snapshot(name, reason=problem)
                retired.append(name)
                warn(f"warning: retired snapshot {name}: {problem}")
        return ResumePoint(directory, state, skipped, retired)
    details = "; ".join(f"{name}: {', '.join(problems)}" for name, problems in skipped.items())
    raise ResumeError(f"cannot resume {paths.root}: no checkpoint is complete ({details})")


# ---------------------------------------------------------------------- the resume of `smartpay-marl train`


@dataclass
class Resume:
    """Everything ``train --resume`` needs, checked before Ray starts or any file is written."""

    run_dir: RunDir
    config: object  # league.core.config.TrainConfig
    checkpoint: Path
    state: LeagueState


def prepare_resume(
    run_dir: str | Path,
    iterations: int | None = None,
    retire_broken: bool = False,
    warn: Callable[[str], None] | None = None,
) -> Resume:
    """Open ``run_dir`` for a resume: its config, the newest whole checkpoint, and a run length that adds work.

    Raises a ``ValueError`` subclass (or ``FileNotFoundError``) with one line naming the file or
    option at fault; nothing in the run directory is changed (retired snapshots are recorded
    in the returned state, which the run saves at its next checkpoint).
    """
    from league.core.config import load_train_config, make_train_config
    from league.core.rundir import read_progress

    paths = RunDir(run_dir)
    if not paths.root.is_dir():
        raise ResumeError(f"run directory not found: {paths.root}")
    if not paths.config.is_file():
        raise ResumeError(f"{paths.root} is not a league run directory: missing {paths.config}")
    config = load_train_config(paths.config)
    point = choose_resume_checkpoint(paths, retire_broken=retire_broken, warn=warn)
    done = point.state.iteration
    if point.skipped and warn is not None:
        warn(f"warning: resuming from {point.directory.name} (iteration {done}); the iterations after it are trained again")
    if iterations is not None:
        if iterations <= done:
            raise ResumeError(
                f"--iterations {iterations} is not more than the {done} iterations already done "
                f"(checkpoint {point.directory.name} of {paths.root}); give a larger total"
            )
        config = make_train_config({**config.model_dump(by_alias=True), "iterations": iterations})
    elif config.iterations <= done:
        raise ResumeError(
            f"{paths.root} has already run its {config.iterations} iterations (checkpoint {point.directory.name}); "
            f"pass --iterations N with N > {done} to train further"
        )
    read_progress(paths.root)  # a damaged progress.csv is reported now, not after Ray has started
    return Resume(paths, config, point.directory, point.state)


def resumed_wall_s(run_dir: str | Path, iteration: int) -> float:
    """The ``wall_s`` of the progress row of ``iteration`` (the checkpoint resumed from); 0.0 if there is none."""
    from league.core.rundir import read_progress

    for row in reversed(read_progress(run_dir)):
        try:
            if int(row["iteration"]) <= iteration and row.get("wall_s"):
                return float(row["wall_s"])
        except (TypeError, ValueError):
            continue
    return 0.0
