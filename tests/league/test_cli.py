"""The ``smartpay-marl`` command line as a new user meets it: help, errors, progress lines, the README's main job.

Most tests run the CLI in process or in a fresh interpreter without Ray. The
last one runs the README's main command line (with one iteration) from a
temporary directory, then ``--resume``, ``evaluate``, ``exploit`` and
``baselines`` on relative paths, as a user would.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

from league import cli

ROOT = Path(__file__).parents[2]
SMOKE = ROOT / "configs" / "smoke.yaml"


def _python(code: str, cwd: Path = ROOT, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip


# ---------------------------------------------------------------------- help


@pytest.mark.parametrize("command", [None, *cli.SUBCOMMANDS])
def test_help_imports_neither_ray_nor_torch_and_reads_as_plain_text(command):
    argv = ["--help"] if command is None else [command, "--help"]
    result = _python(f"""
        import sys
        from league.cli import main
        try:
            main({argv!r})
        except SystemExit:
            pass
        print("HEAVY", sorted(m for m in ("ray", "torch") if m in sys.modules))
    """)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "HEAVY []" in result.stdout, f"--help of {command} imported Ray or torch"
    text = result.stdout
    assert "usage: smartpay-marl" in text
    assert "``" not in text and ":func:" not in text and ":class:" not in text
    assert "Wire it into a CLI" not in text


def test_every_option_has_help():
    parser = cli.build_parser()
    for sub in parser._subparsers._group_actions[0].choices.values():
        for action in sub._actions:
            if action.option_strings and action.dest != "help":
                assert action.help, f"{sub.prog} {action.option_strings[0]} has no help"


# ---------------------------------------------------------------------- errors


def _edited_smoke(tmp_path: Path, old: str, new: str) -> Path:
    text = SMOKE.read_text()
    assert old in text
    path = tmp_path / "config.yaml"
    path.write_text(text.replace(old, new))
    return path


def _error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_a_config_typo_is_one_line_with_a_suggestion_and_exit_2(tmp_path, capsys):
    config = _edited_smoke(tmp_path, "iterations: 3", "iteratons: 3")
    assert cli.main(["train", "--config", str(config)]) == 2
    line = _error_line(capsys)
    assert line.startswith("smartpay-marl train: error: ")
    assert str(config) in line and "iteratons" in line and "did you mean 'iterations'?" in line


def test_a_bad_game_field_names_the_dotted_field_and_the_allowed_values_once(tmp_path, capsys):
    config = _edited_smoke(tmp_path, "difficulty: medium", "difficulty: medum")
    assert cli.main(["train", "--config", str(config)]) == 2
    line = _error_line(capsys)
    assert "game.difficulty" in line and "'easy', 'medium' or 'hard'" in line and "'medum'" in line
    # Not the nested repetition: pydantic's "Value error," and the whole game mapping echoed back.
    assert "Value error" not in line and "{" not in line
    assert line.count("medum") == 1


def test_a_nested_key_typo_gets_a_suggestion(tmp_path, capsys):
    config = _edited_smoke(tmp_path, "num_epochs: 2", "num_epoch: 2")
    assert cli.main(["train", "--config", str(config)]) == 2
    assert "ppo.num_epoch" in (line := _error_line(capsys)) and "did you mean 'num_epochs'?" in line


def test_missing_and_malformed_files_are_user_errors(tmp_path, capsys):
    assert cli.main(["train", "--config", str(tmp_path / "nope.yaml")]) == 2
    assert "not found" in _error_line(capsys)
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\n  bad: [\n")
    assert cli.main(["train", "--config", str(broken)]) == 2
    line = _error_line(capsys)
    assert str(broken) in line and "line 2" in line
    assert cli.main(["evaluate", str(tmp_path / "no_run"), "--episodes", "4"]) == 2
    assert "smartpay-marl evaluate: error:" in _error_line(capsys)


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_shows_the_traceback(tmp_path, where):
    config = _edited_smoke(tmp_path, "iterations: 3", "iteratons: 3")
    argv = ["train", "--config", str(config)]
    argv = ["--debug", *argv] if where == "before" else [*argv, "--debug"]
    with pytest.raises(ValueError, match="iteratons"):
        cli.main(argv)
    # --debug lasts for the call only: later commands (and their subprocesses) stay quiet.
    assert cli.DEBUG_ENV not in os.environ


def test_unexpected_errors_exit_1_with_their_type_and_ctrl_c_exits_130(monkeypatch, capsys):
    from smartpay_marl import demo

    def broken(args):
        raise RuntimeError("the simulator caught fire")

    monkeypatch.setattr(demo, "main", broken)
    assert cli.main(["demo"]) == 1
    assert _error_line(capsys) == "smartpay-marl demo: error: RuntimeError: the simulator caught fire"

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(demo, "main", interrupted)
    assert cli.main(["demo"]) == 130
    assert capsys.readouterr().err.strip() == "interrupted"


def test_a_subcommand_usage_error_exits_2(capsys):
    assert cli.main(["demo", "--steps", "0"]) == 2
    assert _error_line(capsys) == "smartpay-marl demo: error: --steps must be >= 1"


# ---------------------------------------------------------------------- progress lines and logs


def _fake_runtime():
    league = SimpleNamespace(scripted_opponents=["fraudster_scripted:stealth_fraud", "router_scripted:velocity_rules"])
    return SimpleNamespace(
        state=SimpleNamespace(slots={"fraudster_slot_0": "fraudster_main@it10", "fraudster_slot_1": "fraudster_main@it5"}),
        config=SimpleNamespace(league=league),
    )


def _row(**extra):
    row = {
        "iteration": 12, "env_steps": 49_152, "wall_s": 96.0, "steps_per_s": 3410.5, "env_share": 0.03,
        "router_main_train_return": 30.12, "fraudster_main_train_return": -30.2,
        "router_snapshots": 2, "fraudster_snapshots": 2, "snapshots_taken": "",
        "router_main_opponents": json.dumps({"fraudster_slot_0": 0.41, "fraudster_scripted_stealth_fraud": 0.3,
                                             "fraudster_main": 0.19, "fraudster_slot_1": 0.1}),
        "fraudster_main_opponents": json.dumps({"router_main": 0.6, "router_scripted_velocity_rules": 0.4}),
    }  # fmt: skip
    row.update(extra)
    return row


def test_progress_line_fits_100_columns_and_names_snapshots_not_slots():
    from league.rllib.progress import format_progress
    from league.rllib.train import with_player_names

    row = with_player_names(_row(), _fake_runtime())
    assert json.loads(row["router_main_opponent_players"]) == {
        "fraudster_main@it10": 0.41, "fraudster_scripted:stealth_fraud": 0.3, "fraudster_main": 0.19,
        "fraudster_main@it5": 0.1,
    }  # fmt: skip
    line = format_progress(row, total_iterations=60, first_iteration=0)
    assert len(line) <= 100, line
    assert "slot" not in line and "{" not in line
    assert line.startswith("it 12/60") and "49k" in line and "3,410/s" in line
    assert "ETA 6m24s" in line  # 8 s per iteration so far, 48 to go
    assert "R +30.1" in line and "F -30.2" in line and "2R/2F" in line
    assert re.search(r"vs main@it10 41%, stealth_fraud 30%", line)
    # With the scores against scripted baselines and long names, it still fits.
    scored = with_player_names(_row(router_main_vs_scripted=31.05, fraudster_main_vs_scripted=-32.1,
                                    iteration=1234, env_steps=12_345_678), _fake_runtime())  # fmt: skip
    line = format_progress(scored, total_iterations=2000, first_iteration=1000)
    assert len(line) <= 100 and "[+31.1]" in line and "12.3M" in line and "main@it10" in line


def test_tensorboard_events_hold_returns_throughput_and_pfsp_weights(tmp_path):
    from league.rllib.progress import TensorBoardLog
    from league.rllib.train import with_player_names

    board = TensorBoardLog(tmp_path)
    board.write(with_player_names(_row(), _fake_runtime()))
    board.close()
    events = list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    assert len(events) == 1
    data = events[0].read_bytes()
    # TensorBoard tags allow no '@' or ':'; tensorboardX writes them as '_'.
    for tag in (b"return/router_main_train", b"throughput/env_steps_per_s", b"pfsp_router_main/fraudster_main_it10",
                b"pfsp_fraudster_main/router_scripted_velocity_rules"):  # fmt: skip
        assert tag in data, tag


def test_ray_noise_is_dropped_and_everything_else_kept():
    result = _python("""
        import logging, os, sys
        logging.basicConfig(level=logging.INFO)
        from league.rllib import ray_setup
        ray_setup.quiet_ray_logs()
        logging.getLogger("ray.tune.utils.util").warning("Install gputil for GPU system monitoring.")
        logging.getLogger("ray.tune.utils.util").warning("a warning worth reading")
        quiet = ray_setup._StderrLineFilter(ray_setup._QUIET_STDERR_LINES)
        os.write(2, b"[2026-11-23 05:49:11,720 E 7380 7380] core_worker.cc:2465: Actor with class name: "
                    b"'VectorLeagueEnvRunner' and ID: 'ab' has constructor arguments in the object store and "
                    b"max_restarts > 0. If the arguments go out of scope\\n")
        os.write(2, b"a real error from the core\\n")
        quiet.close()
        print("done")
    """)
    assert result.returncode == 0 and "done" in result.stdout, result.stderr
    assert "gputil" not in result.stderr and "a warning worth reading" in result.stderr
    assert "core_worker.cc" not in result.stderr and "a real error from the core" in result.stderr


# ---------------------------------------------------------------------- the README's main job


def readme_main_command() -> list[str]:
    """The README's main command line without its install steps (everything up to the last ``&&``)."""
    text = (ROOT / "README.md").read_text()
    after = text.split("<!-- main-command -->", 1)[1]
    block = re.search(r"```(?:bash|sh)?\n(.*?)```", after, re.S).group(1)
    command = " ".join(line.strip() for line in block.splitlines() if line.strip()).rsplit("&&", 1)[-1]
    words = shlex.split(command)
    assert words[0] == "smartpay-marl", command
    return words


def _cli_prefix() -> list[str]:
    script = Path(sys.executable).parent / "smartpay-marl"
    return [str(script)] if script.exists() else [sys.executable, "-m", "league.cli"]


@pytest.mark.ray
@pytest.mark.slow
def test_readme_main_command_and_follow_ups_work_from_any_directory_with_relative_paths(tmp_path):
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}

    def run(*words: str) -> subprocess.CompletedProcess:
        result = subprocess.run([*_cli_prefix(), *words], cwd=tmp_path, env=env, capture_output=True, text=True,
                                timeout=900)  # fmt: skip
        assert result.returncode == 0, f"{words}: {result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        return result

    main = readme_main_command()
    assert "--output" not in main  # the default output is what is being tested
    trained = run(*main[1:], "--iterations", "1")
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1, runs
    run_dir = Path("runs") / runs[0].name
    assert (tmp_path / run_dir / "checkpoints" / "latest").is_file()
    assert list((tmp_path / run_dir / "tensorboard").glob("events.out.tfevents.*"))
    progress = [line for line in trained.stdout.splitlines() if line.startswith("it ")]
    assert progress and all(len(line) <= 100 for line in progress), progress
    # Ray's start-up noise stays out of the user's terminal.
    for noise in ("Token authentication is enabled", "new API stack", "core_worker.cc", "gputil", "RLModule(config="):
        assert noise not in trained.stderr + trained.stdout, noise

    run("train", "--resume", str(run_dir), "--iterations", "2")
    assert (tmp_path / run_dir / "checkpoints" / "latest").read_text().strip().endswith("2")
    run("evaluate", str(run_dir), "--episodes", "4")
    assert (tmp_path / run_dir / "eval" / "report.md").is_file()
    run("exploit", str(run_dir), "--player", "router_main", "--budget", "400", "--episodes", "4",
        "--eval-points", "2", "--value-episodes", "4")  # fmt: skip
    assert (tmp_path / run_dir / "eval" / "exploit_router_main.json").is_file()
    run("baselines", "--episodes", "4", "--json", "out/b.json", "--png", "out/b.png")
    assert (tmp_path / "out" / "b.json").is_file() and (tmp_path / "out" / "b.png").is_file()
