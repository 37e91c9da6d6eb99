"""The league's snapshot format: a round trip, checksums, clear errors, and files that cannot run code."""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from agents.learned import CheckpointError, ModulePolicy, load_module_policy
from agents.rllib_modules import learner_module_spec
from agents.snapshot_format import (
    TRUST_PICKLES_ENV,
    LegacySnapshotError,
    SnapshotError,
    load_checkpoint_module,
    load_snapshot,
    make_spec,
    read_module_state,
    save_snapshot,
    snapshot_checksum,
)

HIDDEN = [16, 8]


class _Payload:
    """Unpickling this runs ``touch <marker>``: the attack a crafted file would carry."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _module(role: str = "router", seed: int = 0):
    torch.manual_seed(seed)
    return learner_module_spec(role, HIDDEN).build()


def _observations(module, count: int = 32) -> np.ndarray:
    return np.random.default_rng(1).random((count, module.observation_space.shape[0]), dtype=np.float32)


@pytest.mark.parametrize("role", ["router", "fraudster"])
def test_round_trip_gives_the_same_logits_and_a_stable_checksum(tmp_path, role):
    module = _module(role)
    checksum = save_snapshot(module, tmp_path / "snap", make_spec(role, HIDDEN))
    assert sorted(p.name for p in (tmp_path / "snap").iterdir()) == ["spec.json", "weights.pt"]
    assert checksum == snapshot_checksum(tmp_path / "snap") and checksum.startswith("sha256:")
    restored = load_snapshot(tmp_path / "snap", expected_checksum=checksum)
    observations = _observations(module)
    expected = ModulePolicy(module, "a", role).logits(observations)
    torch.testing.assert_close(ModulePolicy(restored, "b", role).logits(observations), expected)
    policy = load_module_policy(tmp_path / "snap", "router_main@it1", role, expected_checksum=checksum)
    torch.testing.assert_close(policy.logits(observations), expected)
    # Saving the same weights from their state dict (as the league does) gives the same files.
    assert save_snapshot(module.get_state(), tmp_path / "again", make_spec(role, HIDDEN)) == checksum


def test_damaged_snapshots_name_the_path(tmp_path):
    snap = tmp_path / "router_main@it3"
    checksum = save_snapshot(_module(), snap, make_spec("router", HIDDEN))
    weights = snap / "weights.pt"
    original = weights.read_bytes()
    weights.write_bytes(b"garbage")
    with pytest.raises(SnapshotError, match=r"router_main@it3 does not match the checksum"):
        load_snapshot(snap, expected_checksum=checksum)
    with pytest.raises(SnapshotError, match=r"weights .*router_main@it3/weights\.pt are corrupt or unreadable"):
        load_snapshot(snap)
    weights.write_bytes(original[: len(original) // 2])
    with pytest.raises(SnapshotError, match=r"corrupt or unreadable"):
        load_snapshot(snap)
    weights.unlink()
    with pytest.raises(SnapshotError, match=r"router_main@it3 is incomplete: missing weights\.pt"):
        load_snapshot(snap)
    shutil.rmtree(snap)
    with pytest.raises(SnapshotError, match=r"not found: .*router_main@it3$"):
        load_snapshot(snap)


def test_spec_is_checked_against_an_allow_list(tmp_path):
    snap = tmp_path / "snap"
    save_snapshot(_module(), snap, make_spec("router", HIDDEN))
    spec = json.loads((snap / "spec.json").read_text())
    for key, value, message in [
        ("module_class", "os.system", "module_class must be one of"),
        ("format_version", 99, "format_version 99"),
        ("hidden", [0, 8], "hidden must be a non-empty list of integers > 0"),
        ("activation", "__import__", "activation must be one of"),
    ]:
        (snap / "spec.json").write_text(json.dumps({**spec, key: value}))
        with pytest.raises(SnapshotError, match=message):
            load_snapshot(snap)
    (snap / "spec.json").write_text(json.dumps({**spec, "hidden": [32, 8]}))  # weights of another size
    with pytest.raises(SnapshotError, match=r"do not fit the module"):
        load_snapshot(snap)


def test_crafted_weights_file_runs_no_code(tmp_path):
    snap = tmp_path / "snap"
    save_snapshot(_module(), snap, make_spec("router", HIDDEN))
    marker = tmp_path / "pwned"
    torch.save({"x": _Payload(marker)}, snap / "weights.pt")  # a valid torch file that carries a payload
    with pytest.raises(SnapshotError, match="corrupt or unreadable"):
        load_snapshot(snap)
    assert not marker.exists()


def test_old_format_snapshots_are_refused_unless_pickles_are_trusted(tmp_path, monkeypatch):
    legacy = tmp_path / "router_main@it1"
    module = _module()
    module.save_to_path(str(legacy))  # what the league wrote before: RLlib's pickled module checkpoint
    monkeypatch.delenv(TRUST_PICKLES_ENV, raising=False)
    with pytest.raises(LegacySnapshotError, match=rf"old-format RLlib module checkpoint.*{TRUST_PICKLES_ENV}=1"):
        load_snapshot(legacy)
    monkeypatch.setenv(TRUST_PICKLES_ENV, "1")
    observations = _observations(module)
    torch.testing.assert_close(
        ModulePolicy(load_snapshot(legacy), "a", "router").logits(observations),
        ModulePolicy(module, "b", "router").logits(observations),
    )


def test_learner_modules_are_read_from_checkpoints_without_running_code(tmp_path):
    directory = tmp_path / "rl_module" / "fraudster_main"
    module = _module("fraudster", seed=3)
    module.save_to_path(str(directory))
    restored = load_checkpoint_module(directory, "fraudster")
    observations = _observations(module)
    torch.testing.assert_close(
        ModulePolicy(restored, "a", "fraudster").logits(observations),
        ModulePolicy(module, "b", "fraudster").logits(observations),
    )
    marker = tmp_path / "pwned"
    (directory / "module_state.pkl").write_bytes(pickle.dumps({"w": _Payload(marker)}))
    with pytest.raises(CheckpointError, match=r"fraudster_main is corrupt or unreadable.*refusing to load posix\.system|"
                                              r"fraudster_main is corrupt or unreadable.*refusing to load os\.system"):  # fmt: skip
        read_module_state(directory)
    with pytest.raises(CheckpointError, match="corrupt or unreadable"):
        load_checkpoint_module(directory, "fraudster")
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="expects router observations"):
        module.save_to_path(str(directory))
        load_checkpoint_module(directory, "router")  # a fraudster's weights do not fit a router
