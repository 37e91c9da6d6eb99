"""When to freeze a learning player into a historical snapshot.

A ``SnapshotRule`` combines two triggers, either of which may be switched off (None):

- periodic: at least ``every_iterations`` iterations have passed since the last
  snapshot (since iteration 0 if there has been none);
- AlphaStar-style: the learner's win rate against all its current opponents has
  reached ``win_rate_threshold``.

A snapshot is due when any enabled trigger fires, but never sooner than
``min_iterations_between`` iterations after the previous snapshot, and never twice
in the same iteration (snapshot names embed the iteration). With both triggers off,
the rule never takes snapshots.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SnapshotRule(BaseModel):
    """Decides, once per training iteration, whether a learner should be snapshotted."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    every_iterations: int | None = Field(default=10, ge=1)
    win_rate_threshold: float | None = Field(default=None, gt=0.0, le=1.0)
    min_iterations_between: int = Field(default=0, ge=0)

    def should_snapshot(
        self,
        iteration: int,
        last_snapshot_iteration: int | None,
        win_rate_vs_opponents: float | None,
    ) -> bool:
        """True if the learner should be snapshotted at ``iteration``.

        ``last_snapshot_iteration`` is None if the learner has no snapshot yet.
        ``win_rate_vs_opponents`` is the learner's win rate against its current
        opponents, or None if unknown (then the threshold trigger cannot fire).
        """
        if iteration < 0:
            raise ValueError(f"iteration must be >= 0, got {iteration}")
        if last_snapshot_iteration is not None and not 0 <= last_snapshot_iteration <= iteration:
            raise ValueError(
                f"last_snapshot_iteration must be in [0, iteration={iteration}], got {last_snapshot_iteration}"
            )
        if win_rate_vs_opponents is not None and not 0.0 <= win_rate_vs_opponents <= 1.0:
            raise ValueError(f"win_rate_vs_opponents must be in [0, 1], got {win_rate_vs_opponents!r}")

        since_last = iteration - (last_snapshot_iteration or 0)
        if last_snapshot_iteration is not None and since_last < max(1, self.min_iterations_between):
            return False
        periodic_due = self.every_iterations is not None and since_last >= self.every_iterations
        threshold_due = (
            self.win_rate_threshold is not None
            and win_rate_vs_opponents is not None
            and win_rate_vs_opponents >= self.win_rate_threshold
        )
        return periodic_due or threshold_due
