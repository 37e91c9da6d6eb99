"""The league's snapshot format: weights as tensors plus a JSON spec, loadable without running any code.

A snapshot directory holds two files::

    spec.json           {"format": "smartpay-marl-snapshot", "format_version": 1, "role": "router",
                         "module_class": "DefaultPPOTorchRLModule", "observation_size": 47,
                         "action_nvec": [3, 3, 3], "hidden": [64, 64], "activation": "tanh"}
    weights.pt          the module's state dict, saved with ``torch.save`` (tensors only)

Loading reads ``spec.json`` as JSON, checks it against an allow-list (module
class, activation, sizes), builds the module from the spec, and reads
``weights.pt`` with ``torch.load(weights_only=True)``, whose unpickler only
rebuilds tensors and plain containers: a crafted file cannot run code. The
tensors must match the module's parameters exactly (names and shapes).

Why ``torch.load(weights_only=True)`` rather than safetensors: it needs no new
dependency (torch is already there), and since torch 2.6 it is the default,
restricted loader that PyTorch itself recommends for untrusted weights.

:func:`snapshot_checksum` (sha256 over the spec and the weights) is recorded in
the league state when a snapshot is taken; :func:`load_snapshot` with
``expected_checksum`` refuses a snapshot whose files changed since.

RLlib's own module checkpoints (``class_and_ctor_args.pkl`` and
``module_state.pkl``) unpickle arbitrary objects. The league no longer writes
them as snapshots; an old-format snapshot is refused with a clear message
unless ``SMARTPAY_MARL_TRUST_PICKLES=1`` is set. The learners' modules inside
an algorithm checkpoint are read by :func:`load_checkpoint_module` with a
restricted unpickler that only rebuilds numpy arrays, so no code runs there
either.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from smartpay_marl.layout import AGENT_OF_ROLE, ROLES

FORMAT = "smartpay-marl-snapshot"
FORMAT_VERSION = 1
SPEC_FILE = "spec.json"
WEIGHTS_FILE = "weights.pt"
SNAPSHOT_FILES = (SPEC_FILE, WEIGHTS_FILE)
#: Module classes a snapshot may name; the value is where the class lives.
ALLOWED_MODULE_CLASSES = {
    "DefaultPPOTorchRLModule": "ray.rllib.algorithms.ppo.torch.default_ppo_torch_rl_module",
}
ALLOWED_ACTIVATIONS = ("tanh", "relu", "linear", "swish", "silu", "elu")
#: Set to 1 to load old-format (pickled RLlib) snapshots, which can run code from the file.
TRUST_PICKLES_ENV = "SMARTPAY_MARL_TRUST_PICKLES"
#: The layer names of RLlib's default PPO module, used to read a learner's module out of an algorithm checkpoint.
_ACTOR_LAYER = "encoder.actor_encoder.net.mlp."


class CheckpointError(ValueError):
    """A module checkpoint is missing, incomplete or unreadable."""


#: Files an RLlib module checkpoint directory must hold.
MODULE_CHECKPOINT_FILES = ("class_and_ctor_args.pkl", "module_state.pkl")


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


class SnapshotError(CheckpointError):
    """A snapshot is missing, incomplete, corrupt, of another format, or not the one the league recorded."""


class LegacySnapshotError(SnapshotError):
    """A snapshot in the old pickled RLlib format, which is refused unless pickles are trusted."""


# ---------------------------------------------------------------------- spec


def make_spec(role: str, hidden: list[int], game=None, activation: str = "tanh") -> dict[str, Any]:
    """The spec of a learner module of ``role`` with layer sizes ``hidden`` in ``game`` (default game if None)."""
    from smartpay_marl.config import GameConfig
    from smartpay_marl.spaces import build_action_spaces, build_observation_spaces

    agent = AGENT_OF_ROLE[role]
    game = game or GameConfig()
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "role": role,
        "module_class": "DefaultPPOTorchRLModule",
        "observation_size": int(build_observation_spaces()[agent].shape[0]),
        "action_nvec": [int(n) for n in build_action_spaces(game)[agent].nvec],
        "hidden": [int(h) for h in hidden],
        "activation": activation,
    }


def check_spec(spec: Any, where: str | Path) -> dict[str, Any]:
    """``spec`` if it is a valid snapshot spec; :class:`SnapshotError` naming ``where`` otherwise."""

    def bad(message: str) -> SnapshotError:
        return SnapshotError(f"snapshot spec {where}: {message}")

    if not isinstance(spec, dict):
        raise bad(f"must be a JSON object, got {type(spec).__name__}")
    if spec.get("format") != FORMAT:
        raise bad(f"format must be {FORMAT!r}, got {spec.get('format')!r}")
    version = spec.get("format_version")
    if version != FORMAT_VERSION or isinstance(version, bool):
        raise bad(f"has format_version {version!r}; this code reads format_version {FORMAT_VERSION}")
    if spec.get("role") not in ROLES:
        raise bad(f"role must be one of {ROLES}, got {spec.get('role')!r}")
    if spec.get("module_class") not in ALLOWED_MODULE_CLASSES:
        raise bad(f"module_class must be one of {sorted(ALLOWED_MODULE_CLASSES)}, got {spec.get('module_class')!r}")
    if spec.get("activation") not in ALLOWED_ACTIVATIONS:
        raise bad(f"activation must be one of {ALLOWED_ACTIVATIONS}, got {spec.get('activation')!r}")
    for key in ("observation_size",):
        if not _positive_int(spec.get(key)):
            raise bad(f"{key} must be an integer > 0, got {spec.get(key)!r}")
    for key in ("action_nvec", "hidden"):
        value = spec.get(key)
        if not isinstance(value, list) or not value or not all(_positive_int(v) for v in value):
            raise bad(f"{key} must be a non-empty list of integers > 0, got {value!r}")
    unknown = sorted(set(spec) - {"format", "format_version", "role", "module_class", "observation_size",
                                  "action_nvec", "hidden", "activation"})  # fmt: skip
    if unknown:
        raise bad(f"unknown keys {unknown}")
    return spec


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= 1_000_000


def build_module(spec: dict[str, Any]):
    """A fresh torch RL module built from a checked spec (no file is read)."""
    return module_spec(spec).build()


def module_spec(spec: dict[str, Any]):
    """The RLlib ``RLModuleSpec`` a snapshot spec describes: the one definition of a learner module's architecture.

    Training (:func:`agents.rllib_modules.learner_module_spec`), snapshots and
    checkpoints all build their modules from here, so what is trained is what
    a snapshot restores.
    """
    import importlib

    import gymnasium as gym
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    from smartpay_marl.spaces import build_observation_spaces

    module_class = getattr(importlib.import_module(ALLOWED_MODULE_CLASSES[spec["module_class"]]), spec["module_class"])
    observation_space = build_observation_spaces()[AGENT_OF_ROLE[spec["role"]]]
    if tuple(observation_space.shape) != (spec["observation_size"],):  # another game version: keep its size
        observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(spec["observation_size"],), dtype=np.float32)
    return RLModuleSpec(
        module_class=module_class,
        observation_space=observation_space,
        action_space=gym.spaces.MultiDiscrete(spec["action_nvec"]),
        model_config=DefaultModelConfig(
            fcnet_hiddens=list(spec["hidden"]), fcnet_activation=spec["activation"], vf_share_layers=False
        ),
    )


# ---------------------------------------------------------------------- save


def save_snapshot(module_or_state, path: str | Path, spec: dict[str, Any]) -> str:
    """Write ``spec.json`` and ``weights.pt`` to the directory ``path`` atomically; returns the checksum.

    ``module_or_state`` is a torch RL module or its state dict (names -> numpy arrays or tensors).
    An existing directory at ``path`` is replaced.
    """
    import torch

    spec = check_spec(dict(spec), path)
    state = module_or_state.get_state() if hasattr(module_or_state, "get_state") else module_or_state
    tensors = {str(name): torch.as_tensor(np.asarray(value)).clone() for name, value in dict(state).items()}
    module = build_module(spec)
    _check_weights(module, tensors, path)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    try:
        (temp / SPEC_FILE).write_text(json.dumps(spec, indent=2, sort_keys=True))
        buffer = io.BytesIO()
        torch.save(tensors, buffer)
        (temp / WEIGHTS_FILE).write_bytes(buffer.getvalue())
        for name in SNAPSHOT_FILES:
            with open(temp / name, "rb") as handle:
                os.fsync(handle.fileno())
        if target.exists():
            shutil.rmtree(target)
        os.replace(temp, target)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return snapshot_checksum(target)


# ---------------------------------------------------------------------- checks


def snapshot_checksum(path: str | Path) -> str:
    """``sha256:<hex>`` over the spec and the weights of the snapshot at ``path``."""
    digest = hashlib.sha256()
    for name in SNAPSHOT_FILES:
        data = (Path(path) / name).read_bytes()
        digest.update(name.encode() + b"\0" + len(data).to_bytes(8, "little"))
        digest.update(data)
    return f"sha256:{digest.hexdigest()}"


def is_legacy_snapshot(path: str | Path) -> bool:
    """True for an RLlib module checkpoint directory (pickles) without the safe format's files."""
    path = Path(path)
    return not (path / SPEC_FILE).exists() and any((path / name).exists() for name in MODULE_CHECKPOINT_FILES)


def trust_pickles() -> bool:
    return os.environ.get(TRUST_PICKLES_ENV, "") not in ("", "0")


def check_snapshot(path: str | Path, expected_checksum: str | None = None, what: str | None = None) -> Path:
    """``path`` if it is a complete snapshot whose checksum is ``expected_checksum`` (when given)."""
    path = Path(path)
    label = what or f"snapshot {path}"
    if not path.exists():
        raise SnapshotError(f"{label}: not found: {path}")
    if not path.is_dir():
        raise SnapshotError(f"{label}: must be a directory, got a file: {path}")
    if is_legacy_snapshot(path):
        raise LegacySnapshotError(
            f"{label}: {path} is an old-format RLlib module checkpoint (pickle files, which run code when loaded); "
            f"retrain, or set {TRUST_PICKLES_ENV}=1 to load it if you trust where it came from"
        )
    missing = [name for name in SNAPSHOT_FILES if not (path / name).is_file()]
    if missing:
        raise SnapshotError(f"{label}: {path} is incomplete: missing {', '.join(missing)}")
    if expected_checksum is not None:
        found = snapshot_checksum(path)
        if found != expected_checksum:
            raise SnapshotError(
                f"{label}: {path} does not match the checksum recorded in the league state "
                f"(changed or corrupted since it was saved)"
            )
    return path


def read_spec(path: str | Path) -> dict[str, Any]:
    spec_path = Path(path) / SPEC_FILE
    try:
        spec = json.loads(spec_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SnapshotError(f"snapshot spec {spec_path} is unreadable: {type(error).__name__}: {error}") from None
    return check_spec(spec, spec_path)


def _read_weights(path: Path) -> dict[str, Any]:
    import torch

    weights_path = path / WEIGHTS_FILE
    try:
        tensors = torch.load(weights_path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001  (any failure of the restricted loader means a bad file)
        text = str(error)
        if "Weights only load failed" in text:
            text = "the restricted tensor loader refused it (not a plain tensor file)"
        message = text.splitlines()[0][:160] if text else ""
        raise SnapshotError(f"snapshot weights {weights_path} are corrupt or unreadable: {type(error).__name__}: {message}") from None
    if not isinstance(tensors, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in tensors.items()):
        raise SnapshotError(f"snapshot weights {weights_path} must hold a mapping of names to tensors")
    return tensors


def _check_weights(module, tensors: dict[str, Any], where: str | Path) -> None:
    """The tensors must be exactly the module's parameters: same names, same shapes."""
    expected = {name: tuple(value.shape) for name, value in module.state_dict().items()}
    found = {name: tuple(np.shape(value)) for name, value in tensors.items()}
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    if missing or unexpected:
        raise SnapshotError(
            f"weights for {where} do not fit the module: missing {missing[:4]}, unexpected {unexpected[:4]}"
        )
    wrong = [f"{name} {found[name]} != {expected[name]}" for name in expected if found[name] != expected[name]]
    if wrong:
        raise SnapshotError(f"weights for {where} do not fit the module: {'; '.join(wrong[:3])}")


# ---------------------------------------------------------------------- load


def load_snapshot(path: str | Path, expected_checksum: str | None = None, what: str | None = None):
    """The torch RL module of the snapshot at ``path``; no pickle is read (see the module docstring).

    An old-format snapshot loads only when ``SMARTPAY_MARL_TRUST_PICKLES=1``.
    """
    path = Path(path)
    try:
        check_snapshot(path, expected_checksum, what)
    except LegacySnapshotError:
        if not trust_pickles():
            raise
        return load_module(path)
    spec = read_spec(path)
    module = build_module(spec)
    tensors = _read_weights(path)
    _check_weights(module, tensors, path)
    module.set_state(tensors)
    return module


# ---------------------------------------------------------------------- learners inside algorithm checkpoints


class _ArraysOnly(pickle.Unpickler):
    """An unpickler that rebuilds numpy arrays in (ordered) dicts and refuses every other global."""

    ALLOWED = {
        ("collections", "OrderedDict"),
        ("numpy", "dtype"),
        ("numpy", "ndarray"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.multiarray", "scalar"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} (only numpy arrays are allowed)")
        return super().find_class(module, name)


def read_module_state(path: str | Path) -> dict[str, np.ndarray]:
    """The state dict in an RLlib module checkpoint's ``module_state.pkl``, read without running code."""
    state_path = Path(path) / "module_state.pkl"
    try:
        with state_path.open("rb") as handle:
            state = _ArraysOnly(handle).load()
    except Exception as error:  # noqa: BLE001
        raise CheckpointError(f"module checkpoint {path} is corrupt or unreadable: {type(error).__name__}: {error}") from None
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, np.ndarray) for k, v in state.items()):
        raise CheckpointError(f"module checkpoint {path} is corrupt or unreadable: {state_path} is not a mapping of arrays")
    return dict(state)


def spec_from_state(role: str, state: dict[str, np.ndarray], activation: str = "tanh") -> dict[str, Any]:
    """The spec of RLlib's default PPO module whose weights are ``state`` (layer sizes read off the shapes)."""
    layers = sorted(
        (int(key[len(_ACTOR_LAYER):].split(".")[0]), value)
        for key, value in state.items()
        if key.startswith(_ACTOR_LAYER) and key.endswith(".weight")
    )
    logits = state.get("pi.net.mlp.0.weight")
    if not layers or logits is None:
        raise CheckpointError("not the weights of a default PPO module (no actor encoder or policy head)")
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "role": role,
        "module_class": "DefaultPPOTorchRLModule",
        "observation_size": int(layers[0][1].shape[1]),
        "action_nvec": [int(logits.shape[0])],  # replaced by the game's split below
        "hidden": [int(value.shape[0]) for _, value in layers],
        "activation": activation,
    }


def load_checkpoint_module(path: str | Path, role: str, game=None):
    """A learner's module from ``<checkpoint>/learner_group/learner/rl_module/<name>``, without unpickling code.

    The module is built from the game's spaces for ``role`` and the layer sizes
    in the weights; a module trained on another version of the game (other
    observation size or action sizes) is refused with the sizes in the message.
    """
    path = check_module_checkpoint(path)
    state = read_module_state(path)
    try:
        found = spec_from_state(role, state)
    except CheckpointError as error:
        raise CheckpointError(f"module checkpoint {path}: {error}") from None
    expected = make_spec(role, found["hidden"], game)
    if found["observation_size"] != expected["observation_size"]:
        raise CheckpointError(
            f"module checkpoint {path} expects {role} observations of shape ({found['observation_size']},), "
            f"but the current game gives ({expected['observation_size']},): it was trained on another version "
            "of the game and cannot be played here"
        )
    if found["action_nvec"][0] != sum(expected["action_nvec"]):
        raise CheckpointError(
            f"module checkpoint {path} emits {found['action_nvec'][0]} {role} action logits, "
            f"but the run's game expects action sizes {tuple(expected['action_nvec'])}"
        )
    module = build_module(expected)
    _check_weights(module, state, path)
    module.set_state(state)
    return module
