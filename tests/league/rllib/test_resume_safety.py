"""Issue 13: a resume never loses work silently, paths stay in the run, every failure is one clear line.

One smoke run (configs/smoke.yaml: 3 iterations, checkpoints iter_00002 and
iter_00003, a snapshot per side per iteration) is trained once by the CLI;
each test breaks its own copy. Failures must exit non-zero with one
``smartpay-marl train: error:`` line naming the file or field, and leave every
intact file as it was.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from league.core.state import LeagueState

pytestmark = [pytest.mark.ray, pytest.mark.slow]
ROOT = Path(__file__).parents[3]
SMOKE = ROOT / "configs" / "smoke.yaml"
MODULES = Path("learner_group") / "learner" / "rl_module"


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "league.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip


def error_line(result: subprocess.CompletedProcess, command: str = "train") -> str:
    """The single error line of a failed command (its other stderr lines are warnings)."""
    assert result.returncode != 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(f"smartpay-marl {command}: error:")]
    assert len(errors) == 1 and errors[0] == lines[-1], result.stderr
    assert "Traceback" not in result.stderr
    return errors[0]


def fingerprint(run_dir: Path) -> dict[str, str]:
    """sha256 of every file of a run directory, by relative path."""
    return {
        str(path.relative_to(run_dir)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(run_dir.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("resume") / "run"
    result = cli("train", "--quiet", "--config", str(SMOKE), "--output", str(run_dir))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["iter_00002", "iter_00003", "latest"]
    return run_dir


@pytest.fixture
def run(trained, tmp_path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(trained, copy)
    return copy


def progress_rows(run_dir: Path) -> list[dict[str, str]]:
    import csv

    with (run_dir / "progress.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


# ---------------------------------------------------------------------- the run's own files


def test_snapshots_are_tensors_plus_a_spec_with_recorded_checksums(trained):
    from agents.snapshot_format import snapshot_checksum

    state = LeagueState.load(trained / "league_state.json")
    assert len(state.snapshots()) == 6
    for snapshot in state.snapshots():
        directory = trained / snapshot.checkpoint_path
        assert sorted(p.name for p in directory.iterdir()) == ["spec.json", "weights.pt"]
        assert state.snapshot_checksums[snapshot.name] == snapshot_checksum(directory)


# ---------------------------------------------------------------------- silent resets


def test_a_missing_learner_module_falls_back_to_the_newest_whole_checkpoint(run):
    shutil.rmtree(run / "checkpoints" / "iter_00003" / MODULES / "router_main")
    before = progress_rows(run)
    result = cli("train", "--quiet", "--resume", str(run), "--iterations", "4")
    assert result.returncode == 0, result.stderr
    assert "skipping checkpoint iter_00003" in result.stderr and "rl_module/router_main is missing" in result.stderr
    assert "resuming from iter_00002" in result.stderr
    state = LeagueState.load(run / "league_state.json")
    assert state.iteration == 4
    rows = [r for r in progress_rows(run) if int(r["iteration"]) > 0]  # row 0: the untrained evaluation
    before = [r for r in before if int(r["iteration"]) > 0]
    assert [int(r["iteration"]) for r in rows] == [1, 2, 3, 4]
    # wall_s goes on from the checkpoint's row instead of restarting at 0.
    walls = [float(r["wall_s"]) for r in rows]
    assert walls == sorted(walls) and walls[2] > float(before[1]["wall_s"]) and walls[1] == float(before[1]["wall_s"])


def test_no_whole_checkpoint_is_one_line_and_nothing_changes(run):
    for checkpoint in ("iter_00002", "iter_00003"):
        shutil.rmtree(run / "checkpoints" / checkpoint / "learner_group")
    before = fingerprint(run)
    line = error_line(cli("train", "--quiet", "--resume", str(run), "--iterations", "5"))
    assert "no checkpoint is complete" in line and "iter_00003 is incomplete: missing learner_group" in line
    assert fingerprint(run) == before


def test_a_damaged_league_state_falls_back_to_an_older_checkpoint(run):
    from league.rllib.checkpoints import choose_resume_checkpoint

    (run / "checkpoints" / "iter_00003" / "league_state.json").write_text('{"format_version": 1, "play')
    warnings: list[str] = []
    point = choose_resume_checkpoint(run, warn=warnings.append)
    assert point.directory.name == "iter_00002" and point.state.iteration == 2
    assert len(warnings) == 1 and "iter_00003" in warnings[0] and "league_state.json" in warnings[0]


def test_an_empty_algorithm_state_is_named(run):
    from league.rllib.checkpoints import choose_resume_checkpoint

    newest = run / "checkpoints" / "iter_00003" / "algorithm_state.pkl"
    newest.write_bytes(b"")
    assert choose_resume_checkpoint(run).directory.name == "iter_00002"
    (run / "checkpoints" / "iter_00002" / "algorithm_state.pkl").write_bytes(b"\x80")
    before = fingerprint(run)
    line = error_line(cli("train", "--quiet", "--resume", str(run)))
    assert f"{newest} is empty" in line and "iter_00002/algorithm_state.pkl is unreadable" in line
    assert fingerprint(run) == before


# ---------------------------------------------------------------------- broken snapshots


def test_a_broken_snapshot_is_named_and_can_be_retired(run):
    from league.evaluation.loading import RunLoadError, load_player, open_run

    (run / "snapshots" / "router_main@it1" / "weights.pt").write_bytes(b"garbage")
    before = fingerprint(run)
    line = error_line(cli("train", "--quiet", "--resume", str(run), "--iterations", "5"))
    assert "router_main@it1" in line and "checksum" in line and "--retire-broken-snapshots" in line
    assert fingerprint(run) == before
    with pytest.raises(RunLoadError, match=r"router_main@it1 does not match the checksum"):
        load_player(open_run(run), "router_main@it1")  # verified on load too

    result = cli("train", "--quiet", "--resume", str(run), "--iterations", "5", "--retire-broken-snapshots")
    assert result.returncode == 0, result.stderr
    assert "retired snapshot router_main@it1" in result.stderr
    state = LeagueState.load(run / "league_state.json")
    assert state.iteration == 5 and [p.name for p in state.retired] == ["router_main@it1"]
    retired_at = next(i for i, e in enumerate(state.history) if e["event"] == "snapshot_retired")
    assert state.history[retired_at]["player"] == "router_main@it1"
    loaded_later = [e for e in state.history[retired_at:] if e["event"] == "slot_loaded"]
    assert loaded_later and all(e["player"] != "router_main@it1" for e in loaded_later)
    assert "router_main@it1" not in state.slots.values()
    run_after = open_run(run)
    assert "router_main@it1" not in run_after.known_player_names()


def test_old_format_snapshots_are_refused_with_a_clear_message(run):
    from agents.snapshot_format import TRUST_PICKLES_ENV
    from league.evaluation.loading import RunLoadError, load_player, open_run

    from agents.rllib_modules import learner_module_spec

    target = run / "snapshots" / "fraudster_main@it2"
    shutil.rmtree(target)
    learner_module_spec("fraudster", [32, 32]).build().save_to_path(str(target))  # the pickled format of old runs
    env = {k: v for k, v in os.environ.items() if k != TRUST_PICKLES_ENV}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "environ", env)
        with pytest.raises(RunLoadError, match=r"fraudster_main@it2.*old-format RLlib module checkpoint"):
            load_player(open_run(run), "fraudster_main@it2")
    line = error_line(cli("train", "--quiet", "--resume", str(run), "--iterations", "5"))
    assert "fraudster_main@it2" in line and "old-format" in line


# ---------------------------------------------------------------------- paths leave the run


@pytest.mark.parametrize("bad_path", ["../../outside/x", "/tmp/outside/x"])
def test_snapshot_paths_outside_the_run_are_rejected(run, bad_path):
    from league.evaluation.loading import RunLoadError, load_player, open_run

    for state_file in (run / "league_state.json", run / "checkpoints" / "iter_00003" / "league_state.json",
                       run / "checkpoints" / "iter_00002" / "league_state.json"):  # fmt: skip
        data = json.loads(state_file.read_text())
        for player in data["players"]:
            if player["name"] == "router_main@it1":
                player["checkpoint_path"] = bad_path
        state_file.write_text(json.dumps(data))
    line = error_line(cli("train", "--quiet", "--resume", str(run), "--iterations", "5"))
    assert "checkpoint_path of snapshot 'router_main@it1'" in line
    assert ("points outside the run directory" in line) or ("absolute path" in line)
    with pytest.raises(RunLoadError, match=r"checkpoint_path of snapshot 'router_main@it1'"):
        load_player(open_run(run), "router_main@it1")


def test_an_absolute_latest_pointer_is_rejected(run):
    from league.evaluation.loading import RunLoadError, open_run

    (run / "checkpoints" / "latest").write_text(str(run / "checkpoints" / "iter_00003"))
    line = error_line(cli("train", "--quiet", "--resume", str(run), "--iterations", "5"))
    assert "checkpoints/latest must hold a checkpoint name like iter_00012" in line
    with pytest.raises(RunLoadError, match="must hold a checkpoint name"):
        open_run(run)


# ---------------------------------------------------------------------- run length and config errors


@pytest.mark.parametrize("iterations", ["2", "3"])
def test_iterations_not_above_the_work_done_is_an_error_that_rewrites_nothing(run, iterations):
    before = fingerprint(run)
    line = error_line(cli("train", "--quiet", "--resume", str(run), "--iterations", iterations))
    assert f"--iterations {iterations} is not more than the 3 iterations already done" in line
    assert fingerprint(run) == before
    line = error_line(cli("train", "--quiet", "--resume", str(run)))  # the run's own length is done too
    assert "has already run its 3 iterations" in line
    assert fingerprint(run) == before


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "the training config is empty"),
        (None, "unknown scripted fraudster policy 'no_such'"),
        ("ppo:\n  hidden: [32, 0]\n", "ppo.hidden"),
    ],
)
def test_config_errors_are_one_line_before_ray_starts(tmp_path, text, message):
    config = tmp_path / "config.yaml"
    if text is None:
        data = yaml.safe_load(SMOKE.read_text())
        data["league"]["scripted_opponents"] = ["fraudster_scripted:no_such"]
        text = yaml.safe_dump(data)
    config.write_text(text)
    started = time.perf_counter()
    line = error_line(cli("train", "--quiet", "--config", str(config), "--output", str(tmp_path / "out")))
    assert message in line and (str(config) in line or "ppo.hidden" in line)
    assert not (tmp_path / "out").exists()
    assert time.perf_counter() - started < 30, "rejected only after Ray started"


def test_a_missing_run_directory_is_one_line(tmp_path):
    line = error_line(cli("train", "--quiet", "--resume", str(tmp_path / "nowhere")))
    assert f"run directory not found: {tmp_path / 'nowhere'}" in line


# ---------------------------------------------------------------------- evaluate


def test_evaluate_on_a_garbage_progress_file_writes_nothing(run):
    (run / "progress.csv").write_bytes(b"\xff\xfe\x00garbage\n")
    line = error_line(cli("evaluate", str(run), "--episodes", "4", "--quiet"), command="evaluate")
    assert str(run / "progress.csv") in line
    assert not (run / "eval").exists() or not any((run / "eval").iterdir())


# ---------------------------------------------------------------------- SIGKILL


def test_a_killed_run_leaves_no_ray_processes_behind(tmp_path):
    from league.rllib.watchdog import _import_psutil

    psutil = _import_psutil()

    data = yaml.safe_load(SMOKE.read_text())
    data.update(iterations=200, checkpoint_every=1, eval_every=0)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(data))
    run_dir = tmp_path / "run"
    process = subprocess.Popen([sys.executable, "-m", "league.cli", "train", "--quiet", "--config", str(config),
                                "--output", str(run_dir)], cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.time() + 240
        while time.time() < deadline and not (run_dir / "checkpoints" / "latest").exists():
            time.sleep(0.5)
        assert (run_dir / "checkpoints" / "latest").exists(), "the run never wrote a checkpoint"
        time.sleep(1.0)  # let the watchdog see every Ray process
        driver = psutil.Process(process.pid)
        ray_processes = [p for p in driver.children(recursive=True)]
        names = {p.name() for p in ray_processes}
        assert any("raylet" in name for name in names), names
        os.kill(process.pid, signal.SIGKILL)  # the driver only, as `kill -9 PID` does
        process.wait()
        deadline = time.time() + 30
        survivors = ray_processes
        while time.time() < deadline:
            survivors = [p for p in ray_processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
            if not survivors:
                break
            time.sleep(0.5)
        assert not survivors, [f"{p.pid} {p.name()}" for p in survivors]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
