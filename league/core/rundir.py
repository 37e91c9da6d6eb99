"""The layout of a league run directory: every file name, in one place.

A run directory describes itself::

    RUN_DIR/
        config.yaml            the resolved training config (win definition included)
        versions.json          library versions of the run
        league_state.json      players, snapshots, payoff, history, slots (the newest)
        progress.csv           one row per iteration
        matchups.csv           the games played: iteration, learner, opponent, games, learner's wins
        learning_curve.png     the main players' learning curves
        tensorboard/           TensorBoard event files
        snapshots/<name>/      one frozen player per directory
        checkpoints/iter_NNNNN/  an RLlib algorithm checkpoint plus league_state.json
        checkpoints/latest     the name of the newest complete checkpoint
        eval/                  what ``smartpay-marl evaluate`` and ``exploit`` write

:class:`RunDir` resolves the directory to an absolute path once (RLlib's
checkpoint writers need absolute paths, and a user's relative ``--output``
must mean the directory relative to where they typed the command) and answers
every path question. Paths read back from the run's own files (a snapshot's
``checkpoint_path``, the ``latest`` pointer) must stay inside the run
directory: :meth:`RunDir.inside` rejects anything else.
"""

from __future__ import annotations

import csv
import os
import re
import tempfile
from pathlib import Path

CONFIG_FILE = "config.yaml"
VERSIONS_FILE = "versions.json"
STATE_FILE = "league_state.json"
PROGRESS_FILE = "progress.csv"
MATCHUPS_FILE = "matchups.csv"
LEARNING_CURVE_FILE = "learning_curve.png"
TENSORBOARD_DIR = "tensorboard"
SNAPSHOTS_DIR = "snapshots"
CHECKPOINTS_DIR = "checkpoints"
LATEST = "latest"
EVAL_DIR = "eval"
#: Where an algorithm checkpoint keeps each learner's module, relative to the checkpoint directory.
LEARNER_MODULES = Path("learner_group") / "learner" / "rl_module"
_CHECKPOINT_NAME = re.compile(r"^iter_(\d{5,})$")


class RunDirError(ValueError):
    """A path in a run directory is missing, malformed or points outside the run."""


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (temp file in the same directory, then rename)."""
    path = Path(path)
    descriptor, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


class RunDir:
    """A league run directory, resolved to an absolute path.

    Args:
        path: the directory, absolute or relative to the current working directory.
    """

    def __init__(self, path: str | Path):
        self.root = Path(path).expanduser().resolve()

    def __fspath__(self) -> str:
        return str(self.root)

    def __repr__(self) -> str:
        return f"RunDir({str(self.root)!r})"

    # ------------------------------------------------------------------ files
    @property
    def config(self) -> Path:
        return self.root / CONFIG_FILE

    @property
    def versions(self) -> Path:
        return self.root / VERSIONS_FILE

    @property
    def state(self) -> Path:
        return self.root / STATE_FILE

    @property
    def progress(self) -> Path:
        return self.root / PROGRESS_FILE

    @property
    def matchups(self) -> Path:
        return self.root / MATCHUPS_FILE

    @property
    def learning_curve(self) -> Path:
        return self.root / LEARNING_CURVE_FILE

    @property
    def tensorboard(self) -> Path:
        return self.root / TENSORBOARD_DIR

    @property
    def snapshots(self) -> Path:
        return self.root / SNAPSHOTS_DIR

    @property
    def checkpoints(self) -> Path:
        return self.root / CHECKPOINTS_DIR

    @property
    def eval(self) -> Path:
        return self.root / EVAL_DIR

    @property
    def latest_pointer(self) -> Path:
        return self.checkpoints / LATEST

    def make(self) -> None:
        """Create the directory and its sub-directories."""
        for directory in (self.root, self.snapshots, self.checkpoints):
            directory.mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------ snapshots and checkpoints
    @staticmethod
    def snapshot_relative(name: str) -> str:
        """The path of a snapshot's directory relative to the run directory (as stored in the league state)."""
        return str(Path(SNAPSHOTS_DIR) / name)

    @staticmethod
    def checkpoint_name(iteration: int) -> str:
        return f"iter_{iteration:05d}"

    def checkpoint_dir(self, iteration: int) -> Path:
        return self.checkpoints / self.checkpoint_name(iteration)

    def inside(self, relative: str | Path, what: str) -> Path:
        """``relative`` resolved against the run directory; an error if it leads outside it."""
        candidate = Path(relative)
        if candidate.is_absolute():
            raise RunDirError(f"{what} must be a path relative to the run directory {self.root}, got the absolute path {relative}")
        resolved = (self.root / candidate).resolve()
        if resolved != self.root and self.root not in resolved.parents:
            raise RunDirError(f"{what} {relative!r} points outside the run directory {self.root}")
        return resolved

    def latest_checkpoint_name(self) -> str | None:
        """The checkpoint ``checkpoints/latest`` names, validated; None when there is no pointer."""
        pointer = self.latest_pointer
        if not pointer.is_file():
            return None
        name = pointer.read_text(errors="replace").strip()
        if not _CHECKPOINT_NAME.match(name):
            raise RunDirError(f"{pointer} must hold a checkpoint name like iter_00012, got {name[:80]!r}")
        return name

    def checkpoint_dirs(self) -> list[Path]:
        """Every ``checkpoints/iter_NNNNN`` directory, newest first."""
        if not self.checkpoints.is_dir():
            return []
        found = [p for p in self.checkpoints.iterdir() if p.is_dir() and _CHECKPOINT_NAME.match(p.name)]
        return sorted(found, key=lambda p: int(_CHECKPOINT_NAME.match(p.name).group(1)), reverse=True)

    @staticmethod
    def checkpoint_iteration(directory: Path) -> int | None:
        match = _CHECKPOINT_NAME.match(Path(directory).name)
        return int(match.group(1)) if match else None


def _read_csv_file(path: Path, what: str, required: tuple[str, ...]) -> list[dict[str, str]]:
    """The rows of the CSV file ``path`` (empty if there is none); a clear error if it is unreadable or lacks ``required``."""
    if not path.exists():
        return []
    try:
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
    except (UnicodeDecodeError, csv.Error) as error:
        raise RunDirError(f"{path} is not a readable {what} file ({type(error).__name__}: {error})") from None
    if rows and not set(required) <= set(rows[0]):
        columns = ", ".join(required)
        raise RunDirError(f"{path} is not a {what} file: it needs the column(s) {columns}")
    return rows


def read_matchups(run_dir: str | Path) -> list[dict[str, str]]:
    """The rows of a run's ``matchups.csv`` (empty if there is none, e.g. a run from before it existed)."""
    return _read_csv_file(Path(run_dir) / MATCHUPS_FILE, "matchups", ("learner", "opponent", "games"))


def read_progress(run_dir: str | Path) -> list[dict[str, str]]:
    """The rows of a run's ``progress.csv`` (empty if there is none); a clear error if it is unreadable."""
    return _read_csv_file(Path(run_dir) / PROGRESS_FILE, "progress", ("iteration",))
