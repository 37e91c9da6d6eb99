"""Transaction logs a session may replay: only files inside the server's ``--logs`` directory.

A session config may name a transaction log (``config.transaction_log``, a CSV
or Parquet log replayed as the customer stream). The name comes from the
network, so it is never used as a path as given: :func:`guard_transaction_log`
takes it from the raw config dict before GameConfig parses anything, and

- refuses it (403) when the server was started without ``--logs DIR``;
- refuses absolute paths, ``..`` and empty or hidden components (422; the
  request schema's pattern already excludes them);
- joins it to the ``--logs`` directory, resolves symlinks, and refuses it (403)
  unless the resolved file is still inside the resolved directory;
- answers 404 when no such file exists there;

and puts the resolved absolute path in its place. The check does not depend
on GameConfig having the field, so it holds before and after it is added.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Any

from league.serving.errors import BadInput, Forbidden, NotFound
from league.serving.schemas import SAFE_RELATIVE_PATH, TRANSACTION_LOG_FIELD

_SAFE = re.compile(SAFE_RELATIVE_PATH)
FIELD = f"config.{TRANSACTION_LOG_FIELD}"


class LogDirectory:
    """The directory named by ``serve --logs``: the only place a session's transaction log may come from."""

    def __init__(self, directory: str | Path):
        self.root = Path(directory).resolve()
        if not self.root.is_dir():
            raise BadInput(f"--logs must be an existing directory, got {directory}")

    def resolve(self, name: Any) -> Path:
        """The file ``name`` (relative to the directory) as an absolute path inside it; refuses anything else."""
        if not isinstance(name, str):
            raise BadInput(f"{FIELD}: must be a path relative to the server's --logs directory, got {type(name).__name__}")
        parts = PurePosixPath(name).parts
        if name.startswith("/") or "\\" in name or any(p in ("", ".", "..") for p in parts) or not _SAFE.match(name):
            raise BadInput(
                f"{FIELD}: must be a path relative to the server's --logs directory, without '..', a leading '/' or "
                f"components starting with '.', got {name[:200]!r}"
            )
        candidate = (self.root / name).resolve()
        if not candidate.is_relative_to(self.root):  # a symlink inside the directory that points out of it
            raise Forbidden(f"{FIELD}: {name!r} leads outside the server's --logs directory; only files inside it may be replayed")
        if not candidate.is_file():
            raise NotFound(f"{FIELD}: no transaction log {name!r} in the server's --logs directory")
        return candidate


def guard_transaction_log(fields: dict[str, Any], logs: LogDirectory | None) -> dict[str, Any]:
    """``fields`` (a session's raw config dict) with its transaction log resolved inside ``logs``; refuses otherwise."""
    if fields.get(TRANSACTION_LOG_FIELD) is None:
        return {k: v for k, v in fields.items() if k != TRANSACTION_LOG_FIELD}
    if logs is None:
        raise Forbidden(f"{FIELD}: this server replays no transaction logs; start it with serve --logs DIR to allow them")
    return {**fields, TRANSACTION_LOG_FIELD: str(logs.resolve(fields[TRANSACTION_LOG_FIELD]))}
