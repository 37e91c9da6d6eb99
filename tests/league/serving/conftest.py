"""Fixtures for the serving tests: a tiny league run on disk (built without Ray) and the real server process."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).parents[3]
SMOKE = REPO / "configs" / "smoke.yaml"
RUN_NAME = "tiny"
MAX_SESSIONS = 8


def build_tiny_run(run_dir: Path) -> Path:
    """A league run directory like training writes, with untrained modules (no Ray instance is started).

    Players: router_main and fraudster_main (RLlib modules in checkpoints/iter_00001), the snapshots
    router_main@it1 and fraudster_main@it1 (the league's snapshot format, checksums in the league state),
    and the scripted fraudster_scripted:neutral from the smoke config.
    """
    import torch

    from agents.rllib_modules import learner_module_spec
    from agents.snapshot_format import make_spec, save_snapshot
    from league.core.config import load_train_config
    from league.core.rundir import LEARNER_MODULES, RunDir
    from league.core.state import LeagueState

    config = load_train_config(SMOKE)
    paths = RunDir(run_dir)
    paths.make()
    shutil.copy(SMOKE, paths.config)
    state = LeagueState.new(config.league)
    checkpoint = paths.checkpoint_dir(1)
    for offset, role in enumerate(("router", "fraudster")):
        torch.manual_seed(100 + offset)
        snapshot = learner_module_spec(role, config.ppo.hidden, config.game_config()).build()
        relative = RunDir.snapshot_relative(f"{role}_main@it1")
        checksum = save_snapshot(snapshot, run_dir / relative, make_spec(role, config.ppo.hidden, config.game_config()))
        state.add_snapshot(f"{role}_main", 1, relative, checksum=checksum)
        torch.manual_seed(200 + offset)
        main = learner_module_spec(role, config.ppo.hidden, config.game_config()).build()
        main.save_to_path(checkpoint / LEARNER_MODULES / f"{role}_main")
    paths.latest_pointer.write_text(RunDir.checkpoint_name(1))
    state.save(paths.state)
    return run_dir


@pytest.fixture(scope="session")
def runs_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    build_tiny_run(root / RUN_NAME)
    (root / "not_a_run").mkdir()
    return root


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(args: list[str], timeout_s: float = 60.0) -> tuple[subprocess.Popen, str]:
    """``python -m league.cli serve ARGS`` on a free loopback port; waits until /health answers."""
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "league.cli", "serve", "--port", str(port), "--log-level", "warning", *args],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}:\n{process.stdout.read()}")
        try:
            with opener.open(url + "/health", timeout=2) as response:
                if response.status == 200:
                    return process, url
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"the server did not answer /health within {timeout_s} s:\n{process.stdout.read()}")


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="package")
def server(runs_dir):
    """The real server process, with the tiny run under --runs and at most MAX_SESSIONS sessions."""
    process, url = start_server(["--runs", str(runs_dir), "--max-sessions", str(MAX_SESSIONS),
                                 "--max-sessions-per-client", str(MAX_SESSIONS)])  # fmt: skip
    yield url
    stop_server(process)
