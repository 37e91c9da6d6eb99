"""Learned players: an RLlib RL module (live or restored from disk) behind the batched Policy interface.

Restoring needs neither an ``Algorithm`` nor Ray. League snapshots are restored
by :func:`load_module_policy` through :mod:`agents.snapshot_format` (a JSON spec
plus tensors; loading runs no code from the files). :func:`load_module` is
RLlib's own ``RLModule.from_checkpoint``, which unpickles classes and
arguments from the directory: use it only on directories you trust like code.
:class:`ModulePolicy` runs
``forward_inference`` in torch on a numpy batch. The training pipeline applies
no observation connector beyond numpy-to-tensor conversion (the env's
observations are already scaled to their boxes), so none has to be replayed;
the action is the mode of the MultiDiscrete distribution (argmax of each
sub-action's logits), or a sample from it when ``deterministic=False``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from agents.base import Policy

# Re-exported: the module files' format and its errors live in agents.snapshot_format, which imports
# nothing from here, so the two modules no longer import each other.
from agents.snapshot_format import (  # noqa: F401
    MODULE_CHECKPOINT_FILES,
    CheckpointError,
    check_module_checkpoint,
    load_module,
    load_snapshot,
)


class ModulePolicy(Policy):
    """Batched actions from an RLlib torch RL module.

    Args:
        module: a torch ``RLModule`` whose action space is MultiDiscrete.
        name: the player's name in tables.
        role: ``"router"`` or ``"fraudster"``.
        deterministic: take the most likely action (default) or sample one.
        seed: seed of the sampling generator (``deterministic=False``).
    """

    def __init__(self, module, name: str, role: str, deterministic: bool = True, seed: int = 0):
        self.module = module
        self.name = name
        self.role = role
        self.action_nvec = tuple(int(n) for n in module.action_space.nvec)
        self.deterministic = deterministic
        self._splits = list(self.action_nvec)
        self._generator = torch.Generator().manual_seed(seed)
        module.eval()

    def reset(self, num_envs: int, seed: int | None = None) -> None:
        if seed is not None:
            self._generator.manual_seed(seed)

    @torch.no_grad()
    def logits(self, observations: np.ndarray) -> torch.Tensor:
        batch = {"obs": torch.as_tensor(np.asarray(observations, dtype=np.float32))}
        return self.module.forward_inference(batch)["action_dist_inputs"]

    def act(self, observations: np.ndarray) -> np.ndarray:
        parts = torch.split(self.logits(observations), self._splits, dim=-1)
        if self.deterministic:
            actions = [part.argmax(dim=-1) for part in parts]
        else:
            actions = [torch.multinomial(torch.softmax(p, dim=-1), 1, generator=self._generator)[:, 0] for p in parts]
        return torch.stack(actions, dim=-1).numpy().astype(np.int64)


def load_module_policy(
    path: str | Path, name: str, role: str, deterministic: bool = True, expected_checksum: str | None = None
) -> ModulePolicy:
    """A :class:`ModulePolicy` for the league snapshot saved at ``path`` (safe format; no code runs)."""
    module = load_snapshot(path, expected_checksum=expected_checksum)
    return ModulePolicy(module, name=name, role=role, deterministic=deterministic)
