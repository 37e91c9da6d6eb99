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

import pickle
from pathlib import Path

import numpy as np
import torch

from agents.base import Policy


class CheckpointError(ValueError):
    """A module checkpoint is missing, incomplete or unreadable."""


#: Files an RLlib module checkpoint directory must hold.
MODULE_CHECKPOINT_FILES = ("class_and_ctor_args.pkl", "module_state.pkl")


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


def check_module_checkpoint(path: str | Path) -> Path:
    """Return ``path`` if it is a complete module checkpoint; otherwise raise :class:`CheckpointError`."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"module checkpoint not found: {path}")
    if not path.is_dir():
        raise CheckpointError(f"module checkpoint must be a directory, got a file: {path}")
    missing = [name for name in MODULE_CHECKPOINT_FILES if not (path / name).is_file()]
    if missing:
        raise CheckpointError(f"module checkpoint {path} is incomplete: missing {', '.join(missing)}")
    return path


def load_module(path: str | Path):
    """Restore an RLlib RL module from its checkpoint directory, with clear errors.

    This unpickles ``class_and_ctor_args.pkl`` and ``module_state.pkl``, which can
    run code: only for directories trusted like code (see :mod:`agents.snapshot_format`).
    """
    from ray.rllib.core.rl_module.rl_module import RLModule

    path = check_module_checkpoint(path)
    try:
        return RLModule.from_checkpoint(path)
    except (pickle.UnpicklingError, EOFError, RuntimeError, ValueError, KeyError, AttributeError, OSError) as error:
        raise CheckpointError(f"module checkpoint {path} is corrupt or unreadable: {type(error).__name__}: {error}") from None


def load_module_policy(
    path: str | Path, name: str, role: str, deterministic: bool = True, expected_checksum: str | None = None
) -> ModulePolicy:
    """A :class:`ModulePolicy` for the league snapshot saved at ``path`` (safe format; no code runs)."""
    from agents.snapshot_format import load_snapshot

    module = load_snapshot(path, expected_checksum=expected_checksum)
    return ModulePolicy(module, name=name, role=role, deterministic=deterministic)
