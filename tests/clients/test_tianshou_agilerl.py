"""Tianshou and AgileRL drive the game through the wrappers: the scripts of experiments/clients, at a smaller size.

Neither library is in the ``dev`` extra (AgileRL pins ``pettingzoo<1.27`` and
brings jax and wandb), so these tests run only where one is installed, e.g.
the venvs made by ``experiments/clients/install.sh``.
"""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = ROOT / "experiments" / "clients"


def _run(script: str, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, str(CLIENTS / script), *args], capture_output=True, text=True, timeout=600, env=env, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def _assert_only_real_actions_played(output: str, steps: int) -> None:
    for agent, nvec in (("router_0", "[3, 4, 2]"), ("fraudster_0", "[5, 4, 4, 5]")):
        assert f"{agent}: {steps} actions played" in output and f"all inside {nvec}" in output, output


@pytest.mark.skipif(importlib.util.find_spec("tianshou") is None, reason="tianshou is not installed")
def test_tianshou_dqn_plays_only_real_actions():
    output = _run("tianshou_dqn.py", "2")  # 2 rounds of 100 AEC steps: 100 actions per agent
    assert "200 AEC steps and 20 updates" in output
    _assert_only_real_actions_played(output, 100)


@pytest.mark.skipif(importlib.util.find_spec("agilerl") is None, reason="agilerl is not installed")
@pytest.mark.parametrize("mode", ["own", "max"])
def test_agilerl_maddpg_plays_only_real_actions(mode):
    output = _run("agilerl_maddpg.py", mode, "150")
    assert "150 steps, 3 episodes ended" in output
    _assert_only_real_actions_played(output, 150)
