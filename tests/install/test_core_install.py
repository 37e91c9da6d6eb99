"""``pip install smartpay-marl`` without extras: the game, its PettingZoo suite and ``demo`` work, with no Ray or torch.

The test builds a fresh virtual environment and installs a copy of this
source tree into it, so it needs the package registries (or the machine's
wheel cache) and takes about a minute; hence ``slow``.
"""

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

REPO = Path(__file__).resolve().parents[2]
#: What must not come with the core: the league's and the server's heavy dependencies.
HEAVY = ("ray", "torch", "scipy", "matplotlib", "fastapi", "uvicorn")
INSTALL_TIMEOUT_S = 900

CHECK = textwrap.dedent(
    """
    import importlib.util, sys, warnings
    import smartpay_marl, agents, smartpay_marl.wrappers
    from pettingzoo.test import api_test, parallel_api_test
    warnings.simplefilter("ignore", UserWarning)
    parallel_api_test(smartpay_marl.parallel_env(max_cycles=50), num_cycles=100)
    api_test(smartpay_marl.env(max_cycles=50), num_cycles=100)
    parallel_api_test(smartpay_marl.wrappers.uniform_parallel_env(shared_size="even", max_cycles=50), num_cycles=100)
    heavy = {heavy!r}
    print("imported:", [name for name in heavy if name in sys.modules])
    print("installed:", [name for name in heavy if importlib.util.find_spec(name) is not None])
    """
).format(heavy=HEAVY)


def _run(command, timeout, **kwargs):
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, **kwargs)


@pytest.fixture(scope="module")
def core_venv(tmp_path_factory):
    """A fresh venv with this source tree installed without extras (from a copy: the build writes into the tree)."""
    root = tmp_path_factory.mktemp("core")
    source = root / "source"
    shutil.copytree(
        REPO,
        source,
        ignore=shutil.ignore_patterns(".git", ".venv", "runs", "__pycache__", "*.egg-info", "build", ".pytest_cache", ".hypothesis"),
    )
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    install = _run([str(python), "-m", "pip", "install", "--quiet", str(source)], INSTALL_TIMEOUT_S, env=env)
    assert install.returncode == 0, install.stderr[-3000:]
    return venv, env, root


def test_core_install_runs_the_game_without_ray_or_torch(core_venv):
    venv, env, root = core_venv
    # Run from outside the source tree, so that only the installed package can be imported.
    result = _run([str(venv / "bin" / "python"), "-c", CHECK], 600, env=env, cwd=root)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Passed Parallel API test" in result.stdout and "Passed API test" in result.stdout
    assert "imported: []" in result.stdout, result.stdout
    assert "installed: []" in result.stdout, result.stdout


def test_core_install_demo_runs_and_train_names_the_extra(core_venv):
    venv, env, root = core_venv
    demo = _run([str(venv / "bin" / "smartpay-marl"), "demo", "--steps", "3"], 600, env=env, cwd=root)
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert "episode of 200 steps" in demo.stdout
    train = _run([str(venv / "bin" / "smartpay-marl"), "train", "--config", str(REPO / "configs" / "quickstart.yaml")], 120, env=env, cwd=root)
    assert train.returncode == 2
    assert train.stderr.strip() == (
        "smartpay-marl train: error: needs ray, torch, scipy, not installed; "
        "install the 'league' extra: pip install 'smartpay-marl[league]'"
    )
