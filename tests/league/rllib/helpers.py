"""Shared pieces of the RLlib tests: the smoke config with overrides, and a built league algorithm."""

from __future__ import annotations

from pathlib import Path

import yaml

from league.core.config import make_train_config
from league.core.state import LeagueState

ROOT = Path(__file__).parents[3]
SMOKE = ROOT / "configs" / "smoke.yaml"


def smoke_data(**changes) -> dict:
    """The smoke config as a dict, with dotted overrides (``smoke_data(**{"ppo.lr": 1e-3})``)."""
    data = yaml.safe_load(SMOKE.read_text())
    for dotted, value in changes.items():
        node = data
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return data


def build(tmp_path, **changes):
    """A league runtime and its built PPO algorithm on the smoke config, ready for its first iteration."""
    from league.rllib.runtime import LeagueRuntime

    config = make_train_config(smoke_data(**changes))
    runtime = LeagueRuntime(config, tmp_path / "run", LeagueState.new(config.league))
    runtime.write_run_files()
    algorithm = runtime.algorithm_config().build_algo()
    runtime.prepare_iteration(algorithm)
    return runtime, algorithm
