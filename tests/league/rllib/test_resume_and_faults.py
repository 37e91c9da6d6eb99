"""Resilience of league training: SIGKILL then --resume, a crashing env runner, a two-node Ray cluster."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from agents.snapshot_format import SNAPSHOT_FILES, snapshot_checksum
from league.core.state import LeagueState

pytestmark = [pytest.mark.ray, pytest.mark.slow]
ROOT = Path(__file__).parents[3]


def smoke_config(tmp_path: Path, **overrides) -> Path:
    config = yaml.safe_load((ROOT / "configs" / "smoke.yaml").read_text())
    for dotted, value in overrides.items():
        target = config
        *parents, leaf = dotted.split(".")
        for key in parents:
            target = target.setdefault(key, {})
        target[leaf] = value
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def train_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "league.cli", "train", "--quiet", *args]


def test_resume_after_sigkill_loses_nothing(tmp_path):
    config = smoke_config(tmp_path, iterations=40, checkpoint_every=2, eval_every=0)
    run_dir = tmp_path / "run"
    process = subprocess.Popen(train_command("--config", str(config), "--output", str(run_dir)),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    latest = run_dir / "checkpoints" / "latest"
    deadline = time.time() + 240
    while time.time() < deadline and not (latest.exists() and latest.read_text().strip() >= "iter_00004"):
        time.sleep(0.5)
    assert latest.exists(), "the run never wrote a checkpoint"
    time.sleep(1.5)  # kill it mid-way between checkpoints
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()

    checkpoint = run_dir / "checkpoints" / latest.read_text().strip()
    at_checkpoint = LeagueState.load(checkpoint / "league_state.json")
    assert 4 <= at_checkpoint.iteration < 40
    target = at_checkpoint.iteration + 2
    subprocess.run(train_command("--resume", str(run_dir), "--iterations", str(target)), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)

    final = LeagueState.load(run_dir / "league_state.json")
    assert final.iteration == target
    names = {p.name for p in final.players}
    assert {p.name for p in at_checkpoint.players} <= names, "a snapshot was lost"
    for role in ("router", "fraudster"):
        assert [p.created_iteration for p in final.snapshots(role)] == list(range(1, target + 1))
        for snapshot in final.snapshots(role):
            directory = run_dir / snapshot.checkpoint_path
            for name in SNAPSHOT_FILES:  # spec.json and weights.pt, as the checksum recorded for it covers
                assert (directory / name).is_file(), f"{directory} has no {name}"
            assert snapshot_checksum(directory) == final.snapshot_checksums[snapshot.name], snapshot.name
    for router, opponents in at_checkpoint.payoff.stats.items():
        for fraudster, record in opponents.items():
            assert final.payoff.games(router, fraudster) >= record.games, "a statistic was lost"
    with (run_dir / "progress.csv").open() as handle:
        iterations = [int(line.split(",")[0]) for line in handle.readlines()[1:]]
    assert iterations == list(range(1, target + 1)), "progress rows must not repeat after a resume"


def test_training_survives_a_crashing_env_runner(tmp_path):
    import ray

    from league.rllib.runtime import LeagueRuntime
    from league.rllib.train import run_iteration
    from league.core.config import load_train_config

    config = load_train_config(smoke_config(tmp_path, **{"resources.num_env_runners": 1}))
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        runtime = LeagueRuntime(config, tmp_path / "run", LeagueState.new(config.league))
        runtime.write_run_files()
        algorithm = runtime.algorithm_config().build_algo()
        run_iteration(runtime, algorithm, 0.0)
        # Crash the env runner's process; the fault-tolerant group takes it out of service.
        algorithm.env_runner_group.foreach_env_runner(lambda runner: os._exit(1), local_env_runner=False)
        assert algorithm.env_runner_group.num_healthy_remote_workers() == 0
        before = algorithm.learner_group.get_weights(module_ids=["router_main"])["router_main"]
        for _ in range(2):
            row = run_iteration(runtime, algorithm, 0.0)
        after = algorithm.learner_group.get_weights(module_ids=["router_main"])["router_main"]
        assert row["iteration"] == 3 and row["steps_per_s"] > 0
        assert any((before[k] != after[k]).any() for k in before), "training went on after the crash"
        assert algorithm.env_runner_group.num_healthy_remote_workers() == 1, "the env runner was restarted"
        algorithm.stop()
    finally:
        ray.shutdown()


RAY_START = ["ray", "start", "--node-ip-address=127.0.0.1", "--num-cpus=1", "--disable-usage-stats"]


def cluster_env() -> dict[str, str]:
    """The environment for `ray start` and the drivers: no inherited address, and no token auth.

    Ray 2.60's head turns token authentication on by itself once ~/.ray/auth_token
    exists, and a worker node started the same way then cannot join.
    """
    env = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"}
    return env | {"RAY_AUTH_MODE": "disabled"}


def test_training_on_a_two_node_cluster(tmp_path):
    port = "6391"
    start = RAY_START
    env = cluster_env()
    try:
        subprocess.run([*start, "--head", f"--port={port}", "--include-dashboard=false"], check=True, env=env,
                       capture_output=True, timeout=120)
        subprocess.run([*start, f"--address=127.0.0.1:{port}"], check=True, env=env, capture_output=True, timeout=120)
        config = smoke_config(tmp_path, iterations=2, eval_every=0, **{"resources.num_env_runners": 2})
        done = subprocess.run(
            [sys.executable, "-m", "league.cli", "train", "--config", str(config), "--output",
             str(tmp_path / "run"), "--address", f"127.0.0.1:{port}"],
            capture_output=True, text=True, timeout=300, env=env,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert "env runners: 2 on 2 node(s)" in done.stdout
        state = json.loads((tmp_path / "run" / "league_state.json").read_text())
        assert state["iteration"] == 2
    finally:
        stop_ray_cluster(port)


def test_local_training_keeps_its_own_ray_instance_beside_a_started_cluster(tmp_path):
    """Without --address, training starts its own Ray: it neither joins nor dies with a `ray start` cluster."""
    port = "6392"
    env = cluster_env()
    try:
        subprocess.run([*RAY_START, "--head", f"--port={port}", "--include-dashboard=false"], check=True, env=env,
                       capture_output=True, timeout=120)
        iterations = 200
        config = smoke_config(tmp_path, iterations=iterations, checkpoint_every=20, eval_every=0)
        run_dir = tmp_path / "run"
        process = subprocess.Popen(train_command("--config", str(config), "--output", str(run_dir)), env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        latest = run_dir / "checkpoints" / "latest"
        deadline = time.time() + 240
        while time.time() < deadline and process.poll() is None and not (latest.exists() and latest.read_text().strip() >= "iter_00020"):
            time.sleep(0.2)
        assert latest.exists(), "training never got going"
        stop_ray_cluster(port)  # the other cluster goes away in the middle of the run
        assert process.poll() is None and latest.read_text().strip() < f"iter_{iterations:05d}", "the run ended before the test"
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr[-3000:]
        assert LeagueState.load(run_dir / "league_state.json").iteration == iterations
    finally:
        stop_ray_cluster(port)


def _processes() -> dict[int, tuple[int, str]]:
    """``{pid: (parent pid, command line)}`` of every process, read from /proc."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            command = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            parent = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue  # the process ended while we looked
        table[int(entry)] = (parent, command)
    return table


def stop_ray_cluster(port: str) -> None:
    """End the Ray cluster whose GCS listens on ``port``, and only it.

    ``ray stop`` would end every Ray instance on the machine, including
    experiments and other test runs beside this one. The cluster's session
    name is read from its GCS server's command line; every process naming
    that session (GCS, raylets, agents) is ended with its descendants (the
    workers, whose command lines Ray renames).
    """
    table = _processes()
    sessions = {
        arg.split("=", 1)[1]
        for command in (c for _, c in table.values() if f"--gcs_server_port={port}" in c)
        for arg in command.split()
        if arg.startswith("--session-name=")
    }
    if not sessions:
        return
    doomed = {pid for pid, (_, command) in table.items() if any(s in command for s in sessions)}
    grew = True
    while grew:
        children = {pid for pid, (parent, _) in table.items() if parent in doomed} - doomed
        grew = bool(children)
        doomed |= children
    doomed.discard(os.getpid())
    for signal_number in (signal.SIGTERM, signal.SIGKILL):
        for pid in doomed:
            try:
                os.kill(pid, signal_number)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in doomed):
            time.sleep(0.2)
