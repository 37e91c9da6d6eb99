"""Transaction logs a session may replay: only files inside the server's ``--logs`` directory.

A session config may name a transaction log (``config.transaction_log``, a CSV
or Parquet log replayed as the customer stream) and its column mapping
(``config.transaction_log_mapping``). The name comes from the
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
from league.serving.schemas import LOG_PATH_FIELDS, SAFE_RELATIVE_PATH

_SAFE = re.compile(SAFE_RELATIVE_PATH)


class LogDirectory:
    """The directory named by ``serve --logs``: the only place a session's transaction log may come from."""

    def __init__(self, directory: str | Path):
        self.root = Path(directory).resolve()
        if not self.root.is_dir():
            raise BadInput(f"--logs must be an existing directory, got {directory}")

    def resolve(self, name: Any, field: str = "transaction_log") -> Path:
        """The file ``name`` (relative to the directory) as an absolute path inside it; refuses anything else."""
        where = f"config.{field}"  # the field the caller sent, named in every message
        if not isinstance(name, str):
            raise BadInput(f"{where}: must be a path relative to the server's --logs directory, got {type(name).__name__}")
        parts = PurePosixPath(name).parts
        if name.startswith("/") or "\\" in name or any(p in ("", ".", "..") for p in parts) or not _SAFE.match(name):
            raise BadInput(
                f"{where}: must be a path relative to the server's --logs directory, without '..', a leading '/' or "
                f"components starting with '.', got {name[:200]!r}"
            )
        candidate = (self.root / name).resolve()
        if not candidate.is_relative_to(self.root):  # a symlink inside the directory that points out of it
            raise Forbidden(f"{where}: {name!r} leads outside the server's --logs directory; only files inside it may be replayed")
        if not candidate.is_file():
            raise NotFound(f"{where}: no transaction log {name!r} in the server's --logs directory")
        return candidate


def guard_transaction_log(fields: dict[str, Any], logs: LogDirectory | None) -> dict[str, Any]:
    """``fields`` (a session's raw config dict) with its log files resolved inside ``logs``; refuses otherwise.

    Covers every field that names a file (:data:`league.serving.schemas.LOG_PATH_FIELDS`: the log and its
    column mapping), so no request can make the server open a file outside ``--logs``.
    """
    guarded = dict(fields)
    for field in LOG_PATH_FIELDS:
        if guarded.get(field) is None:
            guarded.pop(field, None)
            continue
        if logs is None:
            raise Forbidden(f"config.{field}: this server replays no transaction logs; start it with serve --logs DIR to allow them")
        guarded[field] = str(logs.resolve(guarded[field], field))
    return guarded
